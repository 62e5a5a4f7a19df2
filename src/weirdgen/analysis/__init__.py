"""Analysis of evaluation tables: seed-aware statistics, aggregation per cell, and plots.

    from weirdgen.analysis import load_evaluation_table, aggregate_cells, compare_to_control, Metric

``weirdgen.analysis.stats`` needs numpy only; the table and aggregation functions load pandas, and the
plots matplotlib, when first used.
"""

from __future__ import annotations

from weirdgen._lazy import lazy_attributes
from weirdgen.analysis.stats import (
    bootstrap_mean_ci,
    hierarchical_bootstrap_ci,
    permutation_test,
    wilson_interval,
)

__all__ = [
    "Metric",
    "aggregate_cells",
    "bootstrap_mean_ci",
    "compare_to_control",
    "hierarchical_bootstrap_ci",
    "label_counts",
    "load_evaluation_table",
    "missing_cells",
    "permutation_test",
    "wilson_interval",
]

_HOMES = {
    "Metric": "aggregate",
    "aggregate_cells": "aggregate",
    "compare_to_control": "aggregate",
    "label_counts": "aggregate",
    "missing_cells": "aggregate",
    "load_evaluation_table": "weirdgen.evaluation.table",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
