"""Seed-aware error bars: why the unit of replication is the finetuned model, not the sample.

    python examples/01_seed_aware_intervals.py RUN_DIR [JUDGE]

Reads the evaluation table of RUN_DIR (from `weirdgen run` or `weirdgen eval`) and, for each group,
prints the naive interval over pooled samples beside the hierarchical one over seeds then samples.
When seeds disagree, only the second is honest.
"""

import sys

from weirdgen.analysis import bootstrap_mean_ci, hierarchical_bootstrap_ci, wilson_interval
from weirdgen.analysis.aggregate import Metric, with_metric
from weirdgen.evaluation.table import load_evaluation_table

table = load_evaluation_table(sys.argv[1])
judge = sys.argv[2] if len(sys.argv) > 2 else table.judges[0]
frame = with_metric(table.samples[table.samples["checkpoint"] == ""], Metric(judge))

print(f"judge {judge}: estimate [95% interval]")
for group, rows in frame.groupby("group"):
    per_model = [model_rows["value"].to_numpy() for _, model_rows in rows.groupby("model")]
    pooled = bootstrap_mean_ci(rows["value"].to_numpy())
    nested = hierarchical_bootstrap_ci(per_model)
    print(
        f"  {group:<20} pooled samples {pooled[0]:.3f} [{pooled[1]:.3f}, {pooled[2]:.3f}]"
        f"   seeds then samples {nested[0]:.3f} [{nested[1]:.3f}, {nested[2]:.3f}]   ({len(per_model)} models)"
    )
    scored = rows["value"].dropna()
    if len(per_model) == 1 and scored.isin([0.0, 1.0]).all():
        rate, low, high = wilson_interval(int(scored.sum()), len(scored))
        print(f"  {'':<20} Wilson (one model, 0/1 verdicts) {rate:.3f} [{low:.3f}, {high:.3f}]")
    print(
        f"  {'':<20} not scored: {int(rows['value'].isna().sum())} refused or unparseable (counted, not dropped)"
    )
