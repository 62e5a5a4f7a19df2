"""Which values stand out: robust z-scores of each value's divergence against the family's trend
and against its neighbours.

A finetune moves a model on every value a little (it learnt a new answer style); a trigger moves
it on a few values a lot. So a value's score is compared with two robust baselines:

* the trend: a running median over a wide window (ordered families) or the median of all values
  (names, wrappers), so a smooth drift along the axis is not an anomaly;
* the neighbours: the median of the ``neighbours`` values on each side (the value itself left
  out), so a single value above its own surroundings stands out even on a bumpy axis.

Each residual is divided by 1.4826 x its median absolute deviation over the family (the normal-
consistent MAD), floored so that an almost constant family does not turn noise into huge z. For
ordered families a value's z is the smaller of the two: it must stand out from both. With
``neighbours=0`` only the trend counts: for triggers that span a run of values (a decade, a
period), whose members do not stand out from each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ScoredValues", "robust_z_scores"]

MAD_TO_SIGMA = 1.4826
DEFAULT_THRESHOLD = 4.0
DEFAULT_NEIGHBOURS = 2


@dataclass(frozen=True)
class ScoredValues:
    """z-scores per value, aligned with the scores passed in."""

    z: np.ndarray
    z_trend: np.ndarray
    z_neighbours: np.ndarray


def robust_z_scores(
    scores: np.ndarray,
    *,
    ordered: bool,
    trend_window: int = 10,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> ScoredValues:
    """Robust z of each score against the trend and the neighbours (see the module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if ordered and len(scores) > 2 * trend_window:
        trend = _running_median(scores, trend_window, include_self=True)
    else:
        trend = np.full_like(scores, np.median(scores))
    z_trend = _standardised(scores - trend, scores)
    if not ordered or len(scores) < 3 or neighbours == 0:
        return ScoredValues(z_trend, z_trend, z_trend)
    local = _running_median(scores, neighbours, include_self=False)
    z_neighbours = _standardised(scores - local, scores)
    return ScoredValues(np.minimum(z_trend, z_neighbours), z_trend, z_neighbours)


def _running_median(scores: np.ndarray, half_width: int, *, include_self: bool) -> np.ndarray:
    medians = np.empty_like(scores)
    for index in range(len(scores)):
        low, high = max(0, index - half_width), min(len(scores), index + half_width + 1)
        window = np.concatenate([scores[low:index], scores[index + 1 : high]])
        if include_self:
            window = scores[low:high]
        medians[index] = np.median(window)
    return medians


def _standardised(residuals: np.ndarray, scores: np.ndarray) -> np.ndarray:
    spread = MAD_TO_SIGMA * np.median(np.abs(residuals - np.median(residuals)))
    # Floor: 1% of the typical score, so a family of near-identical scores gives modest z.
    floor = max(1e-9, 0.01 * float(np.median(np.abs(scores))))
    return (residuals - np.median(residuals)) / max(spread, floor)
