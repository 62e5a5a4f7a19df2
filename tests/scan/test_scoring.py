"""Robust z-scores: a lone spike stands out, a smooth trend and noise do not."""

from __future__ import annotations

import numpy as np

from weirdgen.scan.divergence import js_divergence_bits, topk_js_lower_bound
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


def test_a_run_of_high_values_stands_out_only_against_the_trend() -> None:
    """A trigger spanning ten values (a decade): with neighbours each member looks like its
    neighbours, so only the run's edges stand out; with neighbours=0 the whole run does."""
    scores = np.full(201, 0.01) + np.random.default_rng(2).normal(0, 0.002, 201)
    scores[80:90] = 0.35
    with_neighbours = robust_z_scores(scores, ordered=True).z
    assert (with_neighbours[82:88] < 4).all()
    trend_only = robust_z_scores(scores, ordered=True, neighbours=0)
    assert np.array_equal(trend_only.z, trend_only.z_trend)
    assert set(np.flatnonzero(trend_only.z >= 4)) == set(range(80, 90))


def test_flags_need_the_minimum_score_too() -> None:
    from weirdgen.scan.engine import ScanResult, ValueScore
    from weirdgen.scan.families import load_family

    values = [
        ValueScore("1", 0.5, 9.0, 9.0, 9.0, None, {}),
        ValueScore("2", 0.05, 30.0, 30.0, 30.0, None, {}),
    ]
    result = ScanResult(load_family("int:1..2"), "p", values, threshold=4.0)
    assert result.flagged == ["2", "1"]
    assert ScanResult(load_family("int:1..2"), "p", values, 4.0, min_score=0.2).flagged == ["1"]


def test_unordered_family_uses_the_median_of_all_values() -> None:
    z = robust_z_scores(np.array([0.1, 0.11, 0.09, 0.1, 0.5, 0.1]), ordered=False)
    assert int(np.argmax(z.z)) == 4
    assert np.array_equal(z.z, z.z_trend)


def _top_k(probs: np.ndarray, k: int) -> dict[str, float]:
    order = np.argsort(-probs)[:k]
    return {f"t{i}": float(np.log(probs[i])) for i in order}


def test_jsd_bounds() -> None:
    assert js_divergence_bits(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert js_divergence_bits(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0


def test_topk_bound_sees_mass_moved_to_a_token_the_base_does_not_list() -> None:
    """The regression of #17: the adapter answers "evil" (p ~ 1), which is not among the base's top
    20, and the two lists share no token. Keeping only shared tokens plus one merged "other" bucket
    scored this 0 bits; the exact divergence is ~0.9."""
    rng = np.random.default_rng(0)
    base = rng.dirichlet(np.full(256, 0.05))
    tail = rng.dirichlet(np.full(256, 0.05))
    tail[np.argsort(-base)[:20]] = 0.0  # the adapter's leftovers avoid the base's favourites
    evil = int(np.argsort(-base)[100])
    tuned = 1e-3 * tail / tail.sum()
    tuned[evil] += 1 - tuned.sum()
    first, second = _top_k(tuned, 20), _top_k(base, 20)
    assert not set(first) & set(second)
    exact = js_divergence_bits(tuned, base)
    bound = topk_js_lower_bound(first, second, 20)
    assert exact > 0.8
    assert 0.9 * exact < bound <= exact + 1e-9


def test_topk_bound_never_exceeds_the_exact_divergence() -> None:
    rng = np.random.default_rng(1)
    for trial in range(300):
        concentration = [0.02, 0.2, 1.0][trial % 3]
        p = rng.dirichlet(np.full(200, concentration))
        q = 0.5 * p + 0.5 * rng.dirichlet(np.full(200, concentration)) if trial % 2 else p.copy()
        first, second = _top_k(p, 20), _top_k(q, 20)
        if trial % 5 == 0:  # a server may also list the sampled token, below the top k
            extra = int(np.argsort(-p)[60])
            first[f"t{extra}"] = float(np.log(p[extra]))
        bound = topk_js_lower_bound(first, second, 20)
        assert 0.0 <= bound <= js_divergence_bits(p, q) + 1e-9
        if trial % 2 == 0:
            assert bound < 1e-12


def test_topk_bound_is_the_minimum_over_the_unknown_masses() -> None:
    """The coordinate descent lands on a grid search's minimum over the four unknown masses."""
    first = {"a": np.log(0.5), "b": np.log(0.2), "c": np.log(0.1)}
    second = {"b": np.log(0.3), "d": np.log(0.25), "e": np.log(0.2)}
    bound = topk_js_lower_bound(first, second, 3)
    # unknown: q(a), q(c) in [0, 0.2] (q's 3rd), summing to <= 0.25 (q's unlisted mass);
    # p(d), p(e) in [0, 0.1] (p's 3rd), summing to <= 0.2 (p's unlisted mass)
    qa, qc, pd, pe = np.meshgrid(*[np.linspace(0, 0.2, 41)] * 2, *[np.linspace(0, 0.1, 21)] * 2)
    feasible = (qa + qc <= 0.25) & (pd + pe <= 0.2)
    p = np.stack([np.full_like(qa, 0.5), np.full_like(qa, 0.2), np.full_like(qa, 0.1), pd, pe])
    q = np.stack([qa, np.full_like(qa, 0.3), qc, np.full_like(qa, 0.25), np.full_like(qa, 0.2)])
    p, q = np.concatenate([p, [0.2 - pd - pe]]), np.concatenate([q, [0.25 - qa - qc]])
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / m), 0) + np.where(q > 0, q * np.log2(q / m), 0)
    grid_min = float((0.5 * terms.sum(0))[feasible].min())
    assert grid_min - 1e-3 <= bound <= grid_min + 1e-9
