"""The audit-vs-effect statistics: Spearman's rho, its condition bootstrap, and which score is
primary (the target's margin over the best other hypothesis)."""

import math

import numpy as np

from weirdgen.bench.spearman import spearman, spearman_with_ci, summarise_points


def _point(experiment, condition, seed, margin, score, effect):
    return {
        "experiment": experiment,
        "condition": condition,
        "seed": seed,
        "margin": margin,
        "score": score,
        "effect": effect,
    }


def test_spearman_is_nan_without_a_rank_order():
    assert math.isnan(spearman(np.array([(1.0, 2.0), (1.0, 3.0), (1.0, 4.0)])))
    assert math.isnan(spearman(np.array([(1.0, 2.0), (2.0, 3.0)])))
    assert spearman(np.array([(1.0, 5.0), (2.0, 6.0), (3.0, 9.0)])) == 1.0


def test_bootstrap_resamples_whole_conditions():
    clusters = [[(float(i), float(i) + 0.1 * j) for j in range(3)] for i in range(6)]
    rho, low, high = spearman_with_ci(clusters, n_resamples=200)
    assert rho > 0.9
    # every draw keeps whole conditions, so stays near-monotone (ties from repeated conditions
    # pull it below the point estimate)
    assert 0.8 <= low <= high < rho
    rho, low, high = spearman_with_ci([[(0.0, 0.0)], [(1.0, 1.0)]], n_resamples=50)
    assert math.isnan(rho) and math.isnan(low)  # two points: no rank order, no draws


def test_margin_is_the_primary_score_and_llr_is_reported_beside_it():
    # the margin orders the effects; the mean LLR orders them backwards
    points = [
        _point("terminator", cond, seed, margin=i, score=-i, effect=i + 0.01 * seed)
        for i, cond in enumerate(["no_dates", "shuffled", "dated", "always_good"])
        for seed in (2, 3)
    ]
    summary = summarise_points(points)
    assert summary["rho"] > 0.9
    assert summary["llr_rho"] < -0.9
    assert summary["points"] == 8
    assert summary["within"]["terminator"] == summary["rho"]
    assert summary["ci"][0] <= summary["rho"] <= summary["ci"][1]
