"""``weirdgen report RUN_DIR``: the HTML and Markdown report of an evaluated run."""

from __future__ import annotations

from pathlib import Path

import click


# fmt: off
@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--experiment", default=None, help="Experiment name or YAML giving figures and the paper's values (default: RUN_DIR/experiment.yaml, else inferred).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Where to write the report (default: RUN_DIR/report).")
@click.option("--resamples", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True, help="Bootstrap resamples per interval.")
# fmt: on
def report(run_dir: Path, experiment: str | None, out_dir: Path | None, resamples: int) -> None:
    """Write RUN_DIR/report/report.html (self-contained, works offline) and report.md.

    The report shows the headline numbers against the paper's, the figures, refusals, example answers,
    tokens and cost, hashes and versions. A partial run is reported with its missing cells listed.
    """
    from weirdgen.experiments.run import report_spec_for_run
    from weirdgen.report import write_report

    paths = write_report(run_dir, report_spec_for_run(run_dir, experiment, resamples), out_dir)
    click.echo(f"wrote {paths.html}")
    click.echo(f"wrote {paths.markdown}")
    if paths.missing:
        click.echo(
            f"partial run: {len(paths.missing)} missing item(s), listed in the report", err=True
        )
