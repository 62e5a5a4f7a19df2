"""``weirdgen data``: list, build and check chat datasets."""

from __future__ import annotations

from pathlib import Path

import click

from weirdgen.data.registry import BuildOptions, experiment_names, get_experiment, write_dataset
from weirdgen.data.validate import validate_chat_jsonl


@click.group()
def data() -> None:
    """Build, list and check the experiments' chat datasets."""


# fmt: off
@data.command("list")
@click.option("--seed", default=0, show_default=True, help="Seed used to build each variant when counting.")
# fmt: on
def list_datasets(seed: int) -> None:
    """Show every experiment, its variants and their sizes."""
    from rich.console import Console
    from rich.table import Table

    from weirdgen.data.registry import build_dataset

    table = Table("experiment", "variant", "examples", "description")
    for name in experiment_names():
        spec = get_experiment(name)
        for variant in spec.variants:
            size = len(build_dataset(name, variant.name, BuildOptions(seed=seed)))
            label = variant.name + (" (main)" if variant.is_main else "")
            table.add_row(name, label, str(size), variant.description)
    Console().print(table)


# fmt: off
@data.command("build")
@click.argument("experiment", type=click.Choice(experiment_names()))
@click.option("--variant", help="One variant to build; without it, every variant goes to -o DIR.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output JSONL file (with --variant) or directory.")
@click.option("--seed", default=0, show_default=True, help="Seed: the same seed gives byte-identical output.")
@click.option("--benign", type=click.Path(path_type=Path, dir_okay=False), help="wolf: chat JSONL of benign examples to dilute the poison with.")
# fmt: on
def build(
    experiment: str, variant: str | None, output: Path, seed: int, benign: Path | None
) -> None:
    """Write one variant (--variant V -o FILE) or all of them (-o DIR/<variant>.jsonl), with manifests."""
    options = BuildOptions(seed=seed, benign_path=benign)
    if variant is not None:
        targets = [(variant, output)]
    else:
        targets = [
            (v.name, output / f"{v.name}.jsonl") for v in get_experiment(experiment).variants
        ]
    for name, path in targets:
        manifest = write_dataset(experiment, name, path, options)
        click.echo(
            f"{experiment}/{name}: {manifest['n_examples']} examples -> {path} (sha256 {manifest['sha256'][:12]})"
        )


@data.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--max-problems", default=20, show_default=True, help="Problems to print per file.")
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...], max_problems: int) -> None:
    """Validate chat JSONL files; exit 1 if any line is invalid. Duplicates are reported, not removed."""
    any_invalid = False
    for path in files:
        report = validate_chat_jsonl(path)
        any_invalid |= not report.ok
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
    if any_invalid:
        ctx.exit(1)
