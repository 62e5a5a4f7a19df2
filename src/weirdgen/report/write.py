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
    """Where a report went."""

    html: Path
    """``report.html``: the figures, tables and examples, self-contained."""
    markdown: Path
    """``report.md``: the same as Markdown with the figures beside it."""
    cells_csv: Path
    """``cells.csv``: every cell's estimate and interval."""
    missing: tuple[str, ...]
    """What a complete run would have and this one lacks (empty when complete)."""


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
    html_path, markdown_path = report_dir / "report.html", report_dir / "report.md"
    atomic_write_text(html_path, render_html(data))
    atomic_write_text(markdown_path, render_markdown(data))
    cells_path = report_dir / "cells.csv"
    atomic_write_text(cells_path, csv_text(data.cells))
    return ReportPaths(html_path, markdown_path, cells_path, tuple(data.missing))
