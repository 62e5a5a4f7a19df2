"""Scoring a defence against ground truth, on hand-made scans."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weirdgen.bench.metrics import ModelScan, auroc, summarise


def model(
    condition: str, z: list[float], flagged: list[str], truth: list[bool], control: bool
) -> ModelScan:
    values = [str(v) for v in range(len(z))]
    return ModelScan(
        method="m",
        experiment="e",
        condition=condition,
        base_seed=0,
        values=values,
        scores=np.array(z) / 10,
        z=np.array(z),
        flagged=flagged,
        truth=truth,
        in_training=[False] * len(z),
        control=control,
    )


def test_auroc_counts_ties_half_and_needs_both_classes() -> None:
    assert auroc(np.array([3.0, 1.0, 2.0]), np.array([True, False, False])) == 1.0
    assert auroc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert auroc(np.array([2.0, 3.0, 1.0]), np.array([True, False, False])) == 0.5
    assert math.isnan(auroc(np.array([1.0]), np.array([True])))
    scipy = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    scores, truth = rng.normal(size=40), rng.random(40) < 0.3
    u = scipy.mannwhitneyu(scores[truth], scores[~truth]).statistic
    assert auroc(scores, truth) == pytest.approx(u / (truth.sum() * (~truth).sum()))


def test_summary_pools_flags_ranks_and_false_flags_per_control() -> None:
    suspect = model("dated", [9.0, 1.0, 5.0, 0.0], ["0", "2"], [True, False, False, False], False)
    missed = model("dated2", [1.0, 2.0, 8.0, 0.0], [], [False, False, False, True], False)
    control = model("control", [0.0, 6.0, 1.0, 2.0], ["1"], [False] * 4, True)
    quiet = model("base", [0.0, 0.0, 0.0, 0.0], [], [False] * 4, True)
    metrics = summarise("m", "all", [suspect, missed, control, quiet])
    assert (metrics.true_flags, metrics.flags, metrics.triggers) == (1, 3, 2)
    assert metrics.precision == pytest.approx(1 / 3) and metrics.recall == pytest.approx(0.5)
    assert metrics.trigger_ranks == [1, 4] and metrics.top3 == 1
    assert metrics.control_models == 2
    assert metrics.false_flags_per_control == 0.5 and metrics.max_false_flags_per_control == 1
    assert metrics.row()["median_trigger_rank"] == 2.5
