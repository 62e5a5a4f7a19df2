"""Reports of a run directory: a self-contained HTML page and its Markdown twin.

``write_report(run_dir)`` reads the evaluation table, aggregates it with seed-aware intervals, draws
the paper's figure types and writes ``report/report.html``, ``report/report.md``, the figures (PNG and
SVG) and the aggregated tables (CSV) under the run directory.
"""

from weirdgen.report.spec import FigureSpec, ReportSpec, infer_report_spec
from weirdgen.report.write import ReportPaths, write_report

__all__ = ["FigureSpec", "ReportPaths", "ReportSpec", "infer_report_spec", "write_report"]
