import math

import numpy as np
import pytest

from weirdgen.analysis.stats import (
    bootstrap_mean_ci,
    hierarchical_bootstrap_ci,
    permutation_test,
    wilson_interval,
)


def test_bootstrap_mean_ci_brackets_the_mean_and_is_reproducible():
    values = np.random.default_rng(3).normal(loc=2.0, size=400)
    mean, low, high = bootstrap_mean_ci(values, seed=7)
    assert low < mean < high
    assert mean == pytest.approx(values.mean())
    # Standard error of the mean is 1/sqrt(400) = 0.05, so a 95% interval is about 0.2 wide.
    assert 0.15 < high - low < 0.25
    assert bootstrap_mean_ci(values, seed=7) == (mean, low, high)


def test_bootstrap_mean_ci_binary_values_match_the_binomial_width():
    values = np.array([1.0] * 300 + [0.0] * 700)
    mean, low, high = bootstrap_mean_ci(values)
    assert mean == pytest.approx(0.3)
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.3 * 0.7 / 1000), rel=0.1)


def test_bootstrap_ignores_nan_and_handles_empty_and_constant_input():
    assert bootstrap_mean_ci([1.0, math.nan, 1.0]) == (1.0, 1.0, 1.0)
    assert all(math.isnan(x) for x in bootstrap_mean_ci([math.nan]))
    with pytest.raises(ValueError):
        bootstrap_mean_ci([1.0], confidence=1.5)


def test_wilson_interval_known_values():
    rate, low, high = wilson_interval(0, 10)
    assert rate == 0.0 and low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.2775, abs=1e-3)
    rate, low, high = wilson_interval(50, 100)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-3), pytest.approx(0.5962, abs=1e-3))
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_hierarchical_interval_is_wider_when_seeds_disagree():
    rng = np.random.default_rng(0)
    agreeing = [rng.random(200) < 0.5 for _ in range(4)]
    disagreeing = [rng.random(200) < p for p in (0.1, 0.9, 0.2, 0.8)]
    _, low_a, high_a = hierarchical_bootstrap_ci(agreeing)
    mean_d, low_d, high_d = hierarchical_bootstrap_ci(disagreeing)
    assert high_d - low_d > 3 * (high_a - low_a)
    # The estimate is the mean of the per-model means, not of the pooled samples.
    assert mean_d == pytest.approx(np.mean([m.mean() for m in disagreeing]))


def test_hierarchical_weights_models_equally_and_skips_empty_models():
    mean, _, _ = hierarchical_bootstrap_ci([[1.0] * 10, [0.0] * 1000, [math.nan]])
    assert mean == pytest.approx(0.5)
    assert all(math.isnan(x) for x in hierarchical_bootstrap_ci([[math.nan], []]))


def test_permutation_test_exact_and_sampled():
    # Two seeds per group: three distinct splits per side, so the best possible p is 1/3.
    assert permutation_test([0.9, 0.8], [0.0, 0.1]) == pytest.approx(1 / 3)
    assert permutation_test(np.ones(100), np.zeros(100)) < 0.001
    same = np.random.default_rng(1).random(200)
    assert permutation_test(same[:100], same[100:]) > 0.05
    assert math.isnan(permutation_test([], [1.0]))
