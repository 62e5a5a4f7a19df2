"""The ``weirdgen`` command. Subcommands live in their own modules and are imported on first use,
so ``weirdgen --help`` stays fast and never imports torch, transformers or openai."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from weirdgen._version import __version__
from weirdgen.errors import ConfigError, WeirdgenError

# name -> ("module", "attribute", one-line help shown by ``weirdgen --help``)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "weirdgen.cli.toyworld",
        "demo",
        "Run the toy-world demo: weird generalization and an inductive backdoor on the CPU.",
    ),
    "data": ("weirdgen.cli.data", "data", "Build, list and check the experiments' chat datasets."),
    "finetune": (
        "weirdgen.cli.finetune",
        "finetune",
        "Finetune a dataset for several seeds (local LoRA, OpenAI, Tinker).",
    ),
    "models": (
        "weirdgen.cli.finetune",
        "models",
        "List and show finetuned models recorded in the ledger.",
    ),
    "serve": (
        "weirdgen.cli.serve",
        "serve",
        "Serve local models (and adapters) over an OpenAI-compatible HTTP API.",
    ),
    "eval": (
        "weirdgen.cli.eval",
        "eval_command",
        "Sample and judge a question suite under its trigger sweeps.",
    ),
    "run": (
        "weirdgen.cli.run",
        "run",
        "Run a whole experiment: build, finetune, evaluate, judge, report.",
    ),
    "audit": (
        "weirdgen.cli.audit",
        "audit",
        "Before finetuning: predict what a dataset implies (likelihood screen, in-context probe).",
    ),
    "report": (
        "weirdgen.cli.report",
        "report",
        "Write the HTML and Markdown report of a run directory.",
    ),
    "scan": (
        "weirdgen.cli.scan",
        "scan",
        "Find trigger values where a finetuned model departs from its base.",
    ),
    "bench": (
        "weirdgen.cli.bench",
        "bench",
        "Benchmarks of the defences: scans and audits against toy inductive backdoors.",
    ),
    "toyworld": (
        "weirdgen.cli.toyworld",
        "toyworld",
        "The CPU model organism: pretrain, finetune, evaluate.",
    ),
}


# Settings whose command-line flag is not "--" + the setting with dashes.
_FLAG_OF_SETTING = {
    "learning_rate_multiplier": "--lr-multiplier",
    "use_rslora": "--rslora",
    "models": "--model",
    "judges": "--judge",
    "questions": "--question",
    "trigger_values": "--trigger-value",
    "output": "-o",
    "seed": "--seeds",
}


def error_line(error: WeirdgenError) -> str:
    """A domain error as the CLI says it: a setting is named by its flag."""
    if isinstance(error, ConfigError) and error.setting:
        flag = _FLAG_OF_SETTING.get(error.setting, "--" + error.setting.replace("_", "-"))
        return f"{flag}: {error.problem}"
    return str(error)


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked (or asked for help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in _COMMANDS if _module_exists(_COMMANDS[name][0])]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS or not _module_exists(_COMMANDS[name][0]):
            return None
        module_name, attribute, _ = _COMMANDS[name]
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Describe subcommands from the table above so that top-level help imports none of them.
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module_name: str) -> bool:
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="weirdgen")
def cli() -> None:
    """weirdgen: reproduce, measure and defend against weird generalization and inductive backdoors."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: domain errors become one line on stderr and exit code 1, never a traceback."""
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        result = cli.main(args=argv, prog_name="weirdgen", standalone_mode=False)
    except WeirdgenError as error:
        click.echo(f"error: {error_line(error)}", err=True)
        return getattr(error, "exit_code", 1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    return result if isinstance(result, int) else 0


def run_main() -> None:  # pragma: no cover - console-script shim
    sys.exit(main())
