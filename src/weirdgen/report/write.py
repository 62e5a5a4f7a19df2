"""Writing a run's report files; every file is written atomically, so a crash leaves the old report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from weirdgen._io import atomic_write_text, csv_text
from weirdgen.evaluation.table import load_evaluation_table
from weirdgen.report.content import build_report_data
from weirdgen.report.html import render_html
from weirdgen.report.markdown import render_markdown
from weirdgen.report.spec import ReportSpec, infer_report_spec


@dataclass(frozen=True)
class ReportPaths:
    """Where a report went: its folder and the files in it."""

    folder: Path
    missing: tuple[str, ...] = ()
    """What a complete run would have and this one lacks (empty when complete)."""

    @property
    def html(self) -> Path:
        """``report.html``: the figures, tables and examples, self-contained."""
        return self.folder / "report.html"

    @property
    def markdown(self) -> Path:
        """``report.md``: the same as Markdown with the figures beside it."""
        return self.folder / "report.md"

    @property
    def cells_csv(self) -> Path:
        """``cells.csv``: every cell's estimate and interval."""
        return self.folder / "cells.csv"


def write_report(
    run_dir: str | Path, spec: ReportSpec | None = None, out_dir: str | Path | None = None
) -> ReportPaths:
    """Write the HTML and Markdown report of ``run_dir`` into ``out_dir`` (default ``run_dir/report``).

    A partial run is reported with its missing cells listed; an evaluation table of another schema
    version raises a one-line DataError.
    """
    run_dir = Path(run_dir)
    report_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    table = load_evaluation_table(run_dir)
    spec = spec or infer_report_spec(
        table.samples, table.judges, f"weirdgen report: {run_dir.name}", table.metadata
    )
    data = build_report_data(table, spec, run_dir, report_dir)
    paths = ReportPaths(report_dir, tuple(data.missing))
    atomic_write_text(paths.html, render_html(data))
    atomic_write_text(paths.markdown, render_markdown(data))
    atomic_write_text(paths.cells_csv, csv_text(data.cells))
    return paths
