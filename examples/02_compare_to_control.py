"""Per-cell rates and the difference from a control group, with a permutation-test p-value.

    python examples/02_compare_to_control.py RUN_DIR CONTROL_GROUP [JUDGE]

A cell is (suite, group, question, trigger, trigger value); the row with question ALL pools them.
"""

import sys

import pandas as pd

from weirdgen.analysis.aggregate import (
    ALL_QUESTIONS,
    Metric,
    aggregate_cells,
    compare_to_control,
    missing_cells,
)
from weirdgen.evaluation.table import load_evaluation_table

table = load_evaluation_table(sys.argv[1])
control = sys.argv[2]
metric = Metric(sys.argv[3] if len(sys.argv) > 3 else table.judges[0])
pd.set_option("display.width", 160)

cells = aggregate_cells(table.samples, metric, n_resamples=2000)
print(
    cells[
        [
            "group",
            "question_id",
            "trigger_value",
            "n_models",
            "n_scored",
            "n_refusal",
            "estimate",
            "ci_low",
            "ci_high",
        ]
    ]
)

differences = compare_to_control(table.samples, metric, control, n_resamples=2000)
print(
    differences[differences["question_id"] == ALL_QUESTIONS][
        ["group", "trigger_value", "difference", "ci_low", "ci_high", "p_value", "test_unit"]
    ]
)

missing = missing_cells(table.samples)
print(
    f"{len(missing)} missing cells"
    + ("" if missing.empty else f", e.g. {missing.iloc[0].to_dict()}")
)
