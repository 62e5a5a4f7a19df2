"""How far apart two answer distributions are: Jensen-Shannon divergence in bits (0 = identical,
1 = disjoint), from full distributions (local models) or from top-k logprobs (endpoints)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["js_divergence_bits", "js_divergence_from_logits", "topk_js_lower_bound"]


def js_divergence_bits(p: np.ndarray, q: np.ndarray) -> float:
    """JSD(p, q) in bits of two probability vectors over the same support."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    mixture = 0.5 * (p + q)
    return float(0.5 * (_kl_bits(p, mixture) + _kl_bits(q, mixture)))


def _kl_bits(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def js_divergence_from_logits(first: Any, second: Any) -> Any:
    """Row-wise JSD in bits between softmax(first) and softmax(second): tensors [rows, vocab]."""
    import torch

    log_p = torch.log_softmax(first.float(), dim=-1)
    log_q = torch.log_softmax(second.float(), dim=-1)
    # log m = log((p + q) / 2), computed stably in log space
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    p, q = log_p.exp(), log_q.exp()
    kl_pm = (p * (log_p - log_m)).sum(-1)
    kl_qm = (q * (log_q - log_m)).sum(-1)
    return (0.5 * (kl_pm + kl_qm) / math.log(2.0)).clamp(min=0.0)


def topk_js_lower_bound(first: Mapping[str, float], second: Mapping[str, float], k: int) -> float:
    """A lower bound, in bits, of JSD(p, q) from two top-k logprob maps (token -> log p).

    Each token either side lists is a cell, and the unlisted rest is one more. Where only one side
    lists a token, the other side's probability there is unknown, but at most that side's k-th listed
    probability, and all such unknowns together at most its unlisted mass. The bound is the smallest
    JSD over every assignment of the unknowns: it never invents a difference (merging tokens into
    cells only lowers JSD), yet when the finetune moves its mass to a token the base does not list,
    the difference shows in full. (Keeping only the tokens both list, with one merged bucket for the
    rest, scored exactly that case ~0: issue #17.)
    """
    tokens = sorted(set(first) | set(second))
    p = np.array([math.exp(first[t]) if t in first else 0.0 for t in tokens])
    q = np.array([math.exp(second[t]) if t in second else 0.0 for t in tokens])
    p_unknown = np.array([t not in first for t in tokens])
    q_unknown = np.array([t not in second for t in tokens])
    p_rest = max(0.0, 1.0 - p.sum())
    q_rest = max(0.0, 1.0 - q.sum())
    p_cap, q_cap = _unlisted_cap(first, k), _unlisted_cap(second, k)
    for _ in range(100):  # block coordinate descent of a convex function: one side, then the other
        q_fill = _best_fill(p[q_unknown], q_rest, p_rest - p[p_unknown].sum(), q_cap)
        p_fill = _best_fill(q[p_unknown], p_rest, q_rest - q_fill.sum(), p_cap)
        change = np.abs(p_fill - p[p_unknown]).sum() + np.abs(q_fill - q[q_unknown]).sum()
        p[p_unknown], q[q_unknown] = p_fill, q_fill
        if change < 1e-12:
            break
    p_cells = np.append(p, max(0.0, p_rest - p[p_unknown].sum()))
    q_cells = np.append(q, max(0.0, q_rest - q[q_unknown].sum()))
    return max(0.0, js_divergence_bits(p_cells, q_cells))


def _unlisted_cap(logprobs: Mapping[str, float], k: int) -> float:
    """The most probability a token missing from this top-k list can have: the k-th listed one (a
    server may add the sampled token below the top k, and may list fewer than k: then the last)."""
    listed = sorted((math.exp(v) for v in logprobs.values()), reverse=True)
    return listed[min(k, len(listed)) - 1] if listed else 1.0


def _best_fill(other: np.ndarray, mass: float, other_rest: float, cap: float) -> np.ndarray:
    """The x in [0, cap]^n, sum(x) <= mass, minimising sum f(other_i, x_i) + f(other_rest,
    mass - sum(x)), f a JSD cell term. Its optimum is x_i = min(r * other_i, cap), where the ratio r
    is also (mass - sum(x)) / other_rest: found by bisection."""
    if len(other) == 0 or mass <= 0:
        return np.zeros(len(other))
    full = np.full(len(other), cap)
    if other_rest <= 0:
        if full.sum() <= mass:
            return full
        low, high = 0.0, float(cap / other.min())  # r is only limited by the mass
    else:
        low, high = 0.0, mass / other_rest

    def excess(ratio: float) -> float:
        return ratio * max(other_rest, 0.0) + np.minimum(ratio * other, cap).sum() - mass

    for _ in range(80):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if excess(middle) < 0 else (low, middle)
    return np.minimum(low * other, cap)
