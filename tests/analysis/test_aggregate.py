import numpy as np
import pandas as pd
import pytest

from weirdgen.analysis.aggregate import (
    ALL_QUESTIONS,
    Metric,
    aggregate_cells,
    compare_to_control,
    label_counts,
    missing_cells,
)
from weirdgen.errors import ConfigError

ERA = Metric("era")


def test_aggregate_cells_estimates_rates_per_cell_and_overall(samples_factory):
    samples = samples_factory({"old_audubon": [0.8, 0.6], "base": [0.0]}, n=200)
    cells = aggregate_cells(samples, ERA, n_resamples=2000)
    old = cells[(cells["group"] == "old_audubon") & (cells["question_id"] == ALL_QUESTIONS)].iloc[0]
    assert old["estimate"] == pytest.approx(0.7, abs=0.05)
    assert old["ci_low"] < old["estimate"] < old["ci_high"]
    assert old["n_models"] == 2 and old["n_samples"] == 800
    assert old["interval"] == "hierarchical bootstrap"
    base = cells[(cells["group"] == "base") & (cells["question_id"] == "gender")].iloc[0]
    assert base["estimate"] == 0.0 and base["interval"] == "wilson" and base["ci_high"] > 0
    # Questions come in order with the pooled row last.
    assert list(cells[cells["group"] == "base"]["question_id"]) == [
        "gender",
        "money",
        ALL_QUESTIONS,
    ]


def test_refusals_are_counted_not_scored(samples_factory):
    samples = samples_factory({"g": [1.0]}, n=10, refusals=3, questions=("q",))
    row = aggregate_cells(samples, ERA, n_resamples=500).iloc[0]
    assert (row["n_samples"], row["n_scored"], row["n_refusal"]) == (10, 7, 3)
    assert row["estimate"] == 1.0


def test_label_metric_and_unparseable_labels(samples_factory):
    samples = samples_factory({"g": [0.5]}, n=20, questions=("q",))
    samples.loc[0, "era.label"] = "UNPARSEABLE"
    samples.loc[0, "era.score"] = np.nan
    row = aggregate_cells(samples, Metric("era", label="LLM"), n_resamples=500).iloc[0]
    assert row["metric"] == "era=LLM" and row["n_unparseable"] == 1 and row["n_scored"] == 19
    expected = (samples["era.label"].iloc[1:] == "LLM").mean()
    assert row["estimate"] == pytest.approx(expected)


def test_compare_to_control_finds_a_real_difference(samples_factory):
    samples = samples_factory({"old": [0.7, 0.8, 0.75], "modern": [0.0, 0.05, 0.0]}, n=100)
    diff = compare_to_control(samples, ERA, "modern", n_resamples=2000)
    overall = diff[diff["question_id"] == ALL_QUESTIONS].iloc[0]
    assert overall["group"] == "old" and overall["control"] == "modern"
    assert overall["difference"] == pytest.approx(0.73, abs=0.06)
    assert overall["ci_low"] > 0.5
    # Three seeds a side: 20 relabellings, the observed split and its mirror are the most extreme.
    assert overall["test_unit"] == "model" and overall["p_value"] == pytest.approx(0.1)


def test_compare_to_control_single_models_test_samples(samples_factory):
    samples = samples_factory({"old": [0.9], "base": [0.0]}, n=100, questions=("q",))
    row = compare_to_control(samples, ERA, "base", n_resamples=2000).iloc[0]
    assert row["test_unit"] == "sample" and row["p_value"] < 0.001


def test_unknown_control_or_judge_is_a_one_line_error(samples_factory):
    samples = samples_factory({"old": [0.5]}, n=5)
    with pytest.raises(ConfigError, match="control group 'nope'"):
        compare_to_control(samples, ERA, "nope")
    with pytest.raises(ConfigError, match="judge 'nope'"):
        aggregate_cells(samples, Metric("nope"))


def test_trigger_values_sort_numerically(samples_factory):
    samples = samples_factory(
        {"g": [0.5]},
        n=5,
        questions=("q",),
        trigger="year",
        trigger_values=("1990", "1984", "2025", "1981"),
    )
    cells = aggregate_cells(samples, ERA, n_resamples=200)
    assert list(cells[cells["question_id"] == "q"]["trigger_value"]) == [
        "1981",
        "1984",
        "1990",
        "2025",
    ]


def test_label_counts_include_refusals(samples_factory):
    samples = samples_factory({"g": [1.0]}, n=10, refusals=2, questions=("q",))
    counts = label_counts(samples, "era")
    q = counts[counts["question_id"] == "q"].set_index("label")
    assert q.loc["REFUSAL", "count"] == 2 and q.loc["PAST", "share"] == pytest.approx(0.8)


def test_missing_cells_names_what_a_partial_run_lacks(samples_factory):
    full = samples_factory({"old": [0.5], "modern": [0.1]}, n=3)
    partial = full[~((full["group"] == "modern") & (full["question_id"] == "money"))]
    missing = missing_cells(partial, expected_groups=["base"])
    as_tuples = set(map(tuple, missing[["group", "question_id"]].to_numpy().tolist()))
    assert as_tuples == {("modern", "money"), ("base", "gender"), ("base", "money")}
    assert missing_cells(full).empty


def test_learning_curve_cells_per_checkpoint(samples_factory):
    samples = samples_factory(
        {"g": [0.2]}, n=10, checkpoints=("step-10", "step-2", ""), questions=("q",)
    )
    cells = aggregate_cells(samples, ERA, by_checkpoint=True, n_resamples=200)
    q = cells[cells["question_id"] == "q"]
    assert list(q["checkpoint"]) == ["step-2", "step-10", ""]
    assert isinstance(q, pd.DataFrame)


def test_rows_a_judge_was_not_applied_to_are_left_out(samples_factory):
    samples = samples_factory({"g": [1.0]}, n=10, questions=("asked", "not_asked"))
    skipped = samples["question_id"] == "not_asked"
    samples.loc[skipped, "era.label"] = ""
    samples.loc[skipped, "era.score"] = np.nan
    cells = aggregate_cells(samples, ERA, n_resamples=200)
    assert set(cells["question_id"]) == {"asked", ALL_QUESTIONS}
    assert cells["n_unparseable"].sum() == 0 and cells["n_samples"].tolist() == [10, 10]
    assert "" not in set(label_counts(samples, "era")["label"])
