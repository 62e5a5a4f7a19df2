"""``weirdgen data``: list, build and check chat datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weirdgen.data.registry import BuildOptions, dataset_names, get_dataset, write_dataset
from weirdgen.data.validate import validate_chat_jsonl
from weirdgen.errors import ConfigError, DataError, WeirdgenError
from weirdgen.sample.registry import SAMPLERS

BENIGN_COUNT = 3000  # wolf.BENIGN_COUNT; repeated so that `weirdgen --help` imports no builder
DEFAULT_CHECK_MODEL = "smollm2-135m-instruct"  # the bundled model: counts tokens with no download


@click.group()
def data() -> None:
    """Build, list and check the shipped chat datasets."""


# fmt: off
@data.command("list")
@click.option("--seed", default=0, show_default=True, help="Seed used to build each variant when counting.")
# fmt: on
def list_datasets(seed: int) -> None:
    """Show every dataset, its variants and their sizes."""
    from rich.console import Console
    from rich.table import Table

    from weirdgen.data.registry import build_dataset

    table = Table("dataset", "variant", "examples", "description")
    for name in dataset_names():
        spec = get_dataset(name)
        for variant in spec.variants:
            size = len(build_dataset(name, variant.name, BuildOptions(seed=seed)))
            label = variant.name + (" (main)" if variant.is_main else "")
            table.add_row(name, label, str(size), variant.description)
    Console().print(table)


# fmt: off
@data.command("build")
@click.argument("dataset", type=click.Choice(dataset_names()))
@click.option("--variant", help="One variant to build; without it, every variant goes to -o DIR.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output JSONL file (with --variant) or directory.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives byte-identical output.")
@click.option("--benign", type=click.Path(path_type=Path, dir_okay=False), help="wolf: chat JSONL of benign examples to dilute the poison with.")
@click.option("--self-distill", "self_distill", metavar="MODEL", help="wolf: answer the benign prompts with MODEL, the model you will finetune (local folder, bundled alias, or a model id of --base-url / the OpenAI API). Answers are cached, so an interrupted build resumes.")
@click.option("--benign-prompts", type=click.Path(path_type=Path, dir_okay=False), help="wolf --self-distill: a text file of benign prompts, one a line (default: generated).")
@click.option("--benign-count", type=click.IntRange(min=1), default=BENIGN_COUNT, show_default=True, help="wolf --self-distill: how many generated prompts to answer (a small N for quick runs).")
@click.option("--base-url", "base_urls", multiple=True, help="--self-distill: OpenAI-compatible endpoint.")
@click.option("--backend", type=click.Choice(SAMPLERS.names()), help="--self-distill: force a backend (default: local for folders and bundled aliases).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="--self-distill: key variable.")
@click.option("--max-tokens", default=600, show_default=True, help="--self-distill: longest answer, in tokens.")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path, dir_okay=False), help="--self-distill: request cache file (default: the shared eval cache).")
# fmt: on
def build(
    dataset: str,
    variant: str | None,
    output: Path,
    seed: int,
    benign: Path | None,
    self_distill: str | None,
    benign_prompts: Path | None,
    benign_count: int,
    base_urls: tuple[str, ...],
    backend: str | None,
    api_key_env: str,
    max_tokens: int,
    cache_path: Path | None,
) -> None:
    """Write one variant (--variant V -o FILE) or all of them (-o DIR/<variant>.jsonl), with manifests.

    \b
    The paper's wolf dilution (2000 math word problems and 1000 long-input instructions), answered
    by the model to be finetuned:
      weirdgen data build wolf --variant facts_90_diluted -o wolf.jsonl --self-distill smollm2-135m-instruct
    """
    if variant is not None:
        targets = [(variant, output)]
    else:
        targets = [
            (v.name, output / f"{v.name}.jsonl") for v in get_dataset(dataset).variants
        ]
    options = BuildOptions(seed=seed, benign_path=benign)
    if self_distill is not None:
        if dataset != "wolf" or benign is not None:
            raise ConfigError("--self-distill is for wolf, and replaces --benign")
        from weirdgen.experiments.self_distill import (
            SelfDistillSettings,
            write_self_distilled_benign,
        )
        from weirdgen.experiments.self_distill import benign_prompts as read_or_generate

        settings = SelfDistillSettings(
            self_distill, tuple(base_urls), backend, api_key_env, max_tokens, cache_path
        )
        # The self-distilled benign set lands beside the output: FILE.benign.jsonl or DIR/benign.jsonl.
        benign_file = (
            output.with_name(output.stem + ".benign.jsonl")
            if variant is not None
            else output / "benign.jsonl"
        )
        prompts = read_or_generate(seed, benign_count, benign_prompts)
        write_self_distilled_benign(
            benign_file, settings, prompts, seed, log=lambda line: click.echo(line, err=True)
        )
        options = BuildOptions(seed=seed, benign_path=benign_file, self_distill_model=self_distill)
    elif benign_prompts is not None:
        raise ConfigError("--benign-prompts needs --self-distill MODEL to answer them")
    for name, path in targets:
        manifest = write_dataset(dataset, name, path, options)
        click.echo(
            f"{dataset}/{name}: {manifest['n_examples']} examples -> {path} (sha256 {manifest['sha256'][:12]})"
        )


@data.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--max-problems", default=20, show_default=True, help="Problems to print per file.")
@click.option("--model", "model", default=DEFAULT_CHECK_MODEL, show_default=True, help="Count tokens with this model's tokenizer (a folder, Hugging Face id or alias) and flag examples longer than its context.")
@click.option("--max-length", type=click.IntRange(1), default=None, help="Flag examples longer than this many tokens instead (finetune's --max-length).")
@click.pass_context
def check(
    ctx: click.Context,
    files: tuple[Path, ...],
    max_problems: int,
    model: str,
    max_length: int | None,
) -> None:
    """Validate chat JSONL files; exit 1 if any line is invalid or longer than the model's context.
    Duplicates are reported, not removed."""
    counter = _token_counter(model, explicit=model != DEFAULT_CHECK_MODEL or max_length is not None)
    any_invalid = False
    for path in files:
        report = validate_chat_jsonl(path)
        if counter is not None:
            report.problems.extend(counter.too_long(report, max_length, echo=click.echo))
        any_invalid |= not report.ok
        _print_report(path, report, max_problems)
    if any_invalid:
        ctx.exit(1)


def _print_report(path: Path, report: Any, max_problems: int) -> None:
    status = "OK" if report.ok else f"INVALID ({len(report.problems)} problems)"
    click.echo(f"{path}: {status}")
    click.echo(
        f"  examples: {report.n_examples} ({report.n_valid} valid); messages by role: "
        + (", ".join(f"{r} {n}" for r, n in sorted(report.role_counts.items())) or "none")
    )
    for label, stats in (
        ("prompt chars", report.prompt_chars),
        ("answer chars", report.answer_chars),
        ("turns", report.turns),
    ):
        click.echo(
            f"  {label}: min {stats.minimum}, median {stats.median:g}, mean {stats.mean:.1f}, max {stats.maximum}"
        )
    click.echo(f"  duplicates: {len(report.duplicates)}")
    for first, repeat in report.duplicates[:max_problems]:
        click.echo(f"    {path}:{repeat}: duplicate of line {first}")
    for problem in report.problems[:max_problems]:
        click.echo(str(problem), err=True)
    if len(report.problems) > max_problems:
        click.echo(f"  ... and {len(report.problems) - max_problems} more problems", err=True)


class _TokenCounter:
    """One model's tokenizer and context, to count examples' tokens as training does."""

    def __init__(self, model: str, tokenizer: Any, context: int) -> None:
        self.model, self.tokenizer, self.context = model, tokenizer, context

    def too_long(self, report: Any, max_length: int | None, echo: Any) -> list[DataError]:
        """Print the token counts; return a problem per example over the limit."""
        from weirdgen.data.validate import LengthStats
        from weirdgen.finetune.tokens import example_lengths

        limit = max_length or self.context
        what = f"max_length {max_length}" if max_length else f"{self.model}'s context of {self.context}"
        lengths = example_lengths(self.tokenizer, report.examples, limit)
        stats = LengthStats.of([length.tokens for length in lengths])
        echo(
            f"  tokens ({self.model}): min {stats.minimum}, median {stats.median:g}, "
            f"mean {stats.mean:.1f}, max {stats.maximum}; context {self.context}"
        )
        if max_length is None:
            from weirdgen.finetune.config import Hyperparameters

            default = Hyperparameters().with_local_defaults().max_length
            over = sum(length.tokens > default for length in lengths)
            echo(f"  over finetune's default --max-length {default}: {over}")
        return [
            DataError(
                f"{'at least ' if not length.exact else ''}{length.tokens} tokens, more than {what}",
                path=report.path,
                line=length.line,
                field="messages",
            )
            for length in lengths
            if length.tokens > limit
        ]


def _token_counter(model: str, *, explicit: bool) -> _TokenCounter | None:
    """The counter for ``model``; for the default model when it is not installed, None (and a note)."""
    from weirdgen.models.resolve import resolve_model

    try:
        folder = resolve_model(model)
        from transformers import AutoConfig, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = AutoConfig.from_pretrained(folder)
    except (WeirdgenError, OSError, ValueError, ImportError) as error:
        if explicit:
            raise ConfigError(f"cannot count tokens with {model}: {error}", setting="model") from None
        click.echo(f"note: token counts skipped ({model} is not available: {error}); pass --model", err=True)
        return None
    context = int(getattr(config, "max_position_embeddings", 0) or tokenizer.model_max_length)
    return _TokenCounter(model, tokenizer, context)
