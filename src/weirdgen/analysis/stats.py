"""Seed-aware statistics for evaluation results: bootstrap CIs, Wilson intervals, permutation tests.

Everything here is numpy only and vectorised. The paper's error bars are 95% bootstrap intervals over
the per-model (per-seed) means of a group, so the unit of replication is a finetuned model, not a
sample: :func:`hierarchical_bootstrap_ci` resamples models within a group and then samples within
each drawn model. :func:`bootstrap_mean_ci` is the flat version for one list of values, and
:func:`wilson_interval` the closed form for one model's binary rate.

NaN values (a refused or unparseable judgement) are ignored by every mean here; count them
separately (``weirdgen.analysis.aggregate`` does) so they are shown, never silently dropped.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

Interval = tuple[float, float, float]  # (estimate, low, high)

_NAN_INTERVAL: Interval = (math.nan, math.nan, math.nan)
# Cap on the elements of one (resamples x unique values) block, to keep memory small (~8 MB).
_BLOCK_ELEMENTS = 1_000_000
# A multinomial draw costs about this many index draws per distinct value: counting draws pays off
# only when values repeat a lot (verdicts, small integer scores in large cells).
_MULTINOMIAL_COST = 10
# Inner (within-model) bootstrap draws kept per model by the hierarchical bootstrap.
_INNER_POOL = 2_000


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[~np.isnan(array)]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def resampled_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples of ``values`` (no NaNs), shape ``(n_resamples,)``.

    A resample's mean depends only on how often each distinct value is drawn, so we draw those
    counts from a multinomial over the distinct values when there are few of them (judge verdicts),
    costing O(resamples x distinct values) instead of O(resamples x samples).
    """
    unique, counts = np.unique(values, return_counts=True)
    n = int(counts.sum())
    if unique.size == 1:
        return np.full(n_resamples, float(unique[0]))
    if unique.size * _MULTINOMIAL_COST > n:
        return _resampled_means_by_index(values, n_resamples, rng)
    probabilities = counts / n
    block = max(1, _BLOCK_ELEMENTS // unique.size)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        draws = rng.multinomial(n, probabilities, size=stop - start)  # (block, unique)
        means[start:stop] = draws @ unique / n
    return means


def _resampled_means_by_index(
    values: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The plain bootstrap: draw sample indices; faster than multinomials for continuous values."""
    block = max(1, _BLOCK_ELEMENTS // values.size)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        means[start:stop] = values[
            rng.integers(0, values.size, size=(stop - start, values.size))
        ].mean(axis=1)
    return means


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` with a percentile-bootstrap confidence interval: ``(mean, low, high)``.

    NaNs are ignored; with no values left the result is ``(nan, nan, nan)``. The same ``seed``
    always gives the same interval.
    """
    _check_confidence(confidence)
    clean = _clean(values)
    if clean.size == 0:
        return _NAN_INTERVAL
    rng = np.random.default_rng(seed)
    low, high = _percentile_interval(resampled_means(clean, n_resamples, rng), confidence)
    return float(clean.mean()), low, high


def wilson_interval(successes: int, total: int, *, confidence: float = 0.95) -> Interval:
    """Rate ``successes / total`` with its Wilson score interval: ``(rate, low, high)``.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at rates of 0 or 1,
    which is where most cells of a backdoor sweep sit. ``total == 0`` gives ``(nan, nan, nan)``.
    """
    _check_confidence(confidence)
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return _NAN_INTERVAL
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    rate = successes / total
    denominator = 1.0 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half_width = (
        z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    )
    return rate, max(0.0, centre - half_width), min(1.0, centre + half_width)


def hierarchical_bootstrap_draws(
    per_model_values: Sequence[Sequence[float] | np.ndarray],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap draws of the group mean (the mean of per-model means), shape ``(n_resamples,)``.

    Each draw picks as many models as the group has, with replacement, and for each picked model
    the mean of a resample of that model's own values. Models with no (non-NaN) values are left
    out. Returns an empty array when no model has values.
    """
    models = [clean for clean in map(_clean, per_model_values) if clean.size]
    if not models:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    # inner[k, c]: the c-th resampled mean of model k; all iid draws of that model's bootstrap.
    # A pool of inner draws per model, read at random columns: a model drawn twice in one outer
    # resample gets two independent inner resamples, without drawing n_resamples x models of them.
    pool = min(n_resamples, _INNER_POOL)
    inner = _inner_means(models, pool, rng)
    # A uniform index into the flattened (model, column) pool picks a model uniformly (the outer
    # resampling of seeds) and, independently, one of its inner draws.
    picked = rng.integers(0, inner.size, size=(n_resamples, len(models)))
    return inner.ravel()[picked].mean(axis=1)


def _inner_means(
    models: list[np.ndarray], n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Resampled means per model, shape ``(models, n_resamples)``.

    Judge verdicts are mostly 0/1: then a resample's mean is Binomial(n, p) / n, drawn for every
    model in one call, which is what keeps a 45-year sweep report fast.
    """
    if all(np.isin(values, (0.0, 1.0)).all() for values in models):
        sizes = np.array([values.size for values in models])[:, None]
        rates = np.array([values.mean() for values in models])[:, None]
        return rng.binomial(sizes, rates, size=(len(models), n_resamples)) / sizes
    return np.stack([resampled_means(values, n_resamples, rng) for values in models])


def hierarchical_bootstrap_ci(
    per_model_values: Sequence[Sequence[float] | np.ndarray],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Group mean over models (seeds) with a two-level bootstrap interval: ``(mean, low, high)``.

    ``per_model_values`` holds one sequence of sample values per finetuned model. The estimate is
    the mean of the per-model means, as in the paper's figures; the interval reflects both the
    spread between seeds and the sampling noise within each seed. With one model it reduces to
    :func:`bootstrap_mean_ci` of that model's values.
    """
    _check_confidence(confidence)
    draws = hierarchical_bootstrap_draws(per_model_values, n_resamples=n_resamples, seed=seed)
    if draws.size == 0:
        return _NAN_INTERVAL
    estimate = float(np.mean([_clean(v).mean() for v in per_model_values if _clean(v).size]))
    low, high = _percentile_interval(draws, confidence)
    return estimate, low, high


def permutation_test(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value that ``mean(treatment) - mean(control)`` is no larger than under relabelling.

    Pass per-model means to test at the level of seeds, or raw sample values for single models.
    When the number of distinct relabellings is at most ``n_permutations`` all are enumerated
    (exact test, so with 2 seeds per group the smallest possible p is 1/3); otherwise they are
    sampled and the p-value uses the (count + 1) / (n + 1) correction so it is never 0.
    """
    a, b = _clean(treatment), _clean(control)
    if a.size == 0 or b.size == 0:
        return math.nan
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(pooled.size, a.size) <= n_permutations:
        splits = np.array(list(itertools.combinations(range(pooled.size), a.size)))
        in_treatment = np.zeros((len(splits), pooled.size), dtype=bool)
        np.put_along_axis(in_treatment, splits, True, axis=1)
        differences = _split_differences(pooled, in_treatment)
        return float(np.mean(differences >= observed - tolerance))
    rng = np.random.default_rng(seed)
    order = rng.permuted(np.tile(np.arange(pooled.size), (n_permutations, 1)), axis=1)
    in_treatment = np.zeros((n_permutations, pooled.size), dtype=bool)
    np.put_along_axis(in_treatment, order[:, : a.size], True, axis=1)
    differences = _split_differences(pooled, in_treatment)
    return float((np.sum(differences >= observed - tolerance) + 1) / (n_permutations + 1))


def _split_differences(pooled: np.ndarray, in_treatment: np.ndarray) -> np.ndarray:
    """|mean(treatment) - mean(control)| for each boolean split row of ``in_treatment``."""
    n_treatment = in_treatment[0].sum()
    treatment_sums = in_treatment.astype(float) @ pooled
    control_sums = pooled.sum() - treatment_sums
    return np.abs(treatment_sums / n_treatment - control_sums / (pooled.size - n_treatment))
