"""``weirdgen eval``: sample a question suite under its trigger sweeps, judge the answers, write a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weirdgen.errors import ConfigError
from weirdgen.sample.registry import SAMPLERS


def _pairs(values: tuple[str, ...], option: str) -> dict[str, list[str]]:
    """``NAME=VALUE`` options as a mapping of lists; a malformed one is a one-line error."""
    result: dict[str, list[str]] = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name or not item:
            raise ConfigError(f"{option} expects NAME=VALUE, got {value!r}")
        result.setdefault(name, []).append(item)
    return result


# fmt: off
@click.command("eval")
@click.argument("suite", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the shipped suites and judges, then exit.")
@click.option("--model", "models", multiple=True, help="Model to evaluate (repeatable): API model id, served adapter name, or local model folder.")
@click.option("--group", default="", help="Group label of these models in the table, e.g. old_audubon or base.")
@click.option("--seed", type=int, default=None, help="Finetuning seed of the model, recorded in the table's seed column.")
@click.option("--checkpoint", default="", help="Checkpoint label recorded in the table ('' for the final model).")
@click.option("--base-url", "base_url", multiple=True, help="OpenAI-compatible endpoint (repeat to share load across servers of one model).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--backend", type=click.Choice(SAMPLERS.names()), default=None, help="Force a backend (default: openai with --base-url or a model id, local for a folder).")
@click.option("--adapter", "adapters", multiple=True, help="Local backend: NAME=FOLDER of a LoRA adapter to load (repeatable).")
@click.option("--judge-model", default="", help="Model for LLM judges (e.g. gpt-4.1). Without it only offline judges can run.")
@click.option("--judge-base-url", "judge_base_url", multiple=True, help="Endpoint of the judge model (default: the OpenAI API).")
@click.option("--judge-api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable of the judge API key.")
@click.option("--judge", "judges", multiple=True, help="Run only these judges (repeatable; default: the suite's).")
@click.option("--no-judges", is_flag=True, help="Sample only; write the table without judge columns.")
@click.option("--samples", type=int, default=None, help="Samples per paraphrase and trigger value (overrides the suite).")
@click.option("--max-tokens", type=int, default=None, help="Answer length limit for every question (overrides the suite).")
@click.option("--question", "questions", multiple=True, help="Only these question ids (repeatable).")
@click.option("--trigger-value", "trigger_values", multiple=True, help="Only these trigger values, NAME=VALUE (repeatable), e.g. year=1984.")
@click.option("--concurrency", type=int, default=32, show_default=True, help="Requests in flight at once (per model).")
@click.option("--choices-per-request", type=int, default=16, show_default=True, help="Samples of one prompt drawn per API call (the API's n; 1 sends one call per sample).")
@click.option("--max-attempts", type=int, default=8, show_default=True, help="Tries per request on transient errors (429, 5xx, timeouts).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds before one request times out (then it is retried).")
@click.option("--sampling-seed", type=int, default=None, help="Send per-sample seeds derived from this (backends that honour seeds become reproducible).")
@click.option("--cache", type=click.Path(path_type=Path), default=None, help="SQLite cache file (default: $WEIRDGEN_CACHE_DIR/eval.sqlite).")
@click.option("--dry-run", is_flag=True, help="Print the requests, token and cost estimates, and exit before sending anything.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Run directory for samples.parquet, samples.csv and run.json.")
# fmt: on
def eval_command(
    suite: str | None,
    models: tuple[str, ...],
    output: Path | None,
    dry_run: bool,
    list_only: bool,
    **options: Any,
) -> None:
    """Sample SUITE (a shipped suite name or a YAML file) with each --model and judge the answers.

    Answers and verdicts are cached as they arrive: a run stopped at any point (Ctrl-C, a crash)
    resumes when the same command is run again, sending only what is missing.
    """
    import weirdgen

    if list_only:
        _print_catalogue()
        return
    if suite is None:
        raise ConfigError("name a SUITE (see weirdgen eval --list) or a suite YAML file")
    if output is None and not dry_run:
        raise ConfigError("pass -o RUN_DIR (or --dry-run)")
    if not models:
        raise ConfigError("pass at least one --model")
    # The flags are evaluate()'s parameters; only the repeatable NAME=VALUE ones need parsing.
    options["adapters"] = {
        name: paths[-1] for name, paths in _pairs(options["adapters"], "--adapter").items()
    }
    options["trigger_values"] = _pairs(options["trigger_values"], "--trigger-value") or None
    options["questions"] = list(options["questions"]) or None
    options["judges"] = list(options["judges"]) or None
    if options.pop("no_judges"):
        options["judges"], options["judge_model"] = [], ""
    frame = weirdgen.evaluate(
        suite, list(models), output=output, dry_run=dry_run, log=click.echo, **options
    )
    if output is not None and not dry_run:
        click.echo(f"{len(frame)} rows -> {output / 'samples.parquet'} (and samples.csv, run.json)")


def _print_catalogue() -> None:
    from weirdgen.evaluation.suites import expand_suite, load_suite, suite_names
    from weirdgen.judge.spec import judge_names, load_judge

    click.echo("suites:")
    for name in suite_names():
        suite = load_suite(name)
        cells = expand_suite(suite)
        click.echo(
            f"  {name}: {len(suite.questions)} questions, {len(cells)} prompts, "
            f"{sum(c.samples for c in cells)} samples by default - {suite.description}"
        )
    click.echo("judges:")
    for name in judge_names():
        judge = load_judge(name)
        click.echo(
            f"  {name} ({judge.kind}{'' if judge.is_llm else ', offline'}): {judge.description}"
        )
