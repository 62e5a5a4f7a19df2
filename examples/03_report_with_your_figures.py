"""Write the HTML + Markdown report of a run with figures and reference values of your choosing.

    python examples/03_report_with_your_figures.py RUN_DIR
    chromium RUN_DIR/my-report/report.html      # or any browser; it works offline

`weirdgen report RUN_DIR` does this with the experiment's own figures; here you pick them.
"""

import sys

from weirdgen.evaluation.table import load_evaluation_table
from weirdgen.report import FigureSpec, ReportSpec, write_report

run_dir = sys.argv[1]
judges = load_evaluation_table(run_dir).judges

spec = ReportSpec(
    title="My view of this run",
    figures=tuple(FigureSpec("bars", judge, title=f"{judge} per question") for judge in judges)
    + (FigureSpec("categories", judges[0], title=f"{judges[0]} verdicts"),),
    control_group=None,  # name a group here to get differences, intervals and p-values against it
    examples_per_cell=2,
    n_resamples=2000,
)
paths = write_report(run_dir, spec, out_dir=f"{run_dir}/my-report")
print(paths.html, paths.markdown, sep="\n")
for note in paths.missing:
    print("missing:", note)
