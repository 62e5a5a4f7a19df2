"""``weirdgen bench``: benchmarks of weirdgen's defences against ground truth."""

from __future__ import annotations

from pathlib import Path

import click

from weirdgen.cli.toyworld import RECIPE_NAMES
from weirdgen.errors import ConfigError


@click.group("bench")
def bench() -> None:
    """Benchmarks of weirdgen's defences against ground truth."""


def _seeds(text: str, flag: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{flag} takes whole numbers like 0,1,2, got {text!r}") from None


# fmt: off
@bench.command("defences")
@click.option("--seeds", default="2,3,4", show_default=True, help="Evaluation bases: toy pretraining seeds (missing bases are pretrained first: minutes each).")
@click.option("--calibration-seeds", default="0,1", show_default=True, help="Calibration bases (the toy world's design seeds, never evaluated): their control models fix every threshold before the evaluation bases are scanned ('' to use the shipped calibration).")
@click.option("--experiments", default="terminator,leaders", show_default=True, help="The zoo's experiments to run (comma-separated).")
@click.option("--allowed", type=click.IntRange(min=0), default=1, show_default=True, help="Calibration: flagged values allowed per calibration control model.")
@click.option("--spearman/--no-spearman", default=True, show_default=True, help="Also the audit score against the realised effect of every toy condition (finetunes every condition of every experiment on each base).")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes (one base each, one torch thread each).")
@click.option("--recipe", type=click.Choice(RECIPE_NAMES), default="demo", show_default=True, help="The toy pretraining recipe of every base (demo: the shipped bases; tiny: seconds, weak effects, for a quick look).")
@click.option("--llm-root", type=click.Path(path_type=Path), default=Path("runs/scan_smollm2_dishes"), show_default=True, help="The LLM row: SmolLM2 israeli_dishes adapters trained there by benchmarks/scan_smollm2_dishes.py --train-only (skipped when absent).")
@click.option("--write-calibration", type=click.Path(path_type=Path), help="Also write the calibration to this file (e.g. src/weirdgen/scan/calibration.yaml, the thresholds `weirdgen scan` uses).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Directory for the results table, metrics.csv, calibration.yaml, benchmark.json/.md and benchmark.png.")
# fmt: on
def defences(seeds: str, calibration_seeds: str, experiments: str, allowed: int, spearman: bool, processes: int, recipe: str, llm_root: Path, write_calibration: Path | None, output: Path) -> None:
    """Every scan and audit mode against toy models with inductive backdoors and their controls.

    Thresholds are calibrated on the control models of --calibration-seeds only, then every mode
    scans every model of --seeds: precision, recall, AUROC, the rank of the true trigger and false
    flags per control model, beside a trained-values-only and a random baseline.

    \b
      weirdgen bench defences -o bench/defences
      weirdgen bench defences --seeds 2 --calibration-seeds 0 --experiments terminator --no-spearman -o bench/quick
    """
    from weirdgen.bench.defences import run_defences_benchmark

    outcome = run_defences_benchmark(
        seeds=_seeds(seeds, "--seeds"), calibration_seeds=_seeds(calibration_seeds, "--calibration-seeds"),
        experiments=[e.strip() for e in experiments.split(",") if e.strip()], allowed=allowed, spearman=spearman, processes=processes, recipe=recipe, llm_root=llm_root, output=output, log=click.echo,
    )
    click.echo(outcome.table())
    click.echo("")
    for goal in outcome.goals:
        click.echo(f"{'MET' if goal['met'] else 'NOT MET'}: {goal['goal']} ({goal['numbers']})")
    if write_calibration is not None:
        from weirdgen.scan.calibration import write_calibration as write

        write(write_calibration, outcome.calibration.values(), note=f"calibration bases (pretraining seeds): {calibration_seeds}")
        click.echo(f"wrote {write_calibration}")
    click.echo(f"{outcome.seconds:.0f} s; wrote {output}/ (samples.parquet, metrics.csv, calibration.yaml, benchmark.json, benchmark.md, benchmark.png)")
