"""Robust z-scores: a lone spike stands out, a smooth trend and noise do not."""

from __future__ import annotations

import numpy as np

from weirdgen.scan.divergence import js_divergence_bits, topk_distributions
from weirdgen.scan.scoring import robust_z_scores


def test_a_spike_on_a_rising_trend_is_the_only_large_z() -> None:
    rng = np.random.default_rng(0)
    scores = np.linspace(0.1, 0.5, 201) + rng.normal(0, 0.01, 201)
    scores[84] += 0.2
    z = robust_z_scores(scores, ordered=True).z
    assert int(np.argmax(z)) == 84 and z[84] > 8
    assert np.sort(z)[-2] < 4  # the trend itself is not an anomaly


def test_a_value_beside_a_spike_is_not_flagged_by_its_neighbour() -> None:
    scores = np.full(51, 0.1) + np.random.default_rng(1).normal(0, 0.005, 51)
    scores[27] = 0.6
    z = robust_z_scores(scores, ordered=True).z
    assert z[27] > 10 and abs(z[28]) < 4 and abs(z[26]) < 4


def test_unordered_family_uses_the_median_of_all_values() -> None:
    z = robust_z_scores(np.array([0.1, 0.11, 0.09, 0.1, 0.5, 0.1]), ordered=False)
    assert int(np.argmax(z.z)) == 4
    assert np.array_equal(z.z, z.z_trend)


def test_jsd_bounds_and_topk_other_bucket() -> None:
    assert js_divergence_bits(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert js_divergence_bits(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    p, q = topk_distributions({"a": np.log(0.6), "b": np.log(0.1)}, {"b": np.log(0.7)})
    assert np.allclose(p, [0.1, 0.9]) and np.allclose(q, [0.7, 0.3])  # only "b" is listed by both
