"""How far apart two answer distributions are: Jensen-Shannon divergence in bits (0 = identical,
1 = disjoint), from full distributions (local models) or from top-k logprobs (endpoints)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["js_divergence_bits", "js_divergence_from_logits", "topk_distributions"]

OTHER = "\x00other"
"""The bucket that holds the probability an endpoint's top-k list leaves unlisted."""


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


def topk_distributions(
    first: Mapping[str, float], second: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Two top-k logprob maps (token -> log p) as vectors over the tokens both list, plus "other".

    Only tokens listed by both sides are kept; the rest of each side's mass goes to "other". Both
    full distributions are thus coarsened by the same map, so the divergence of the vectors is a
    lower bound of the true one (it never invents a difference). A token that one model puts much
    mass on and the other does not list still shows, as a difference in "other".
    """
    tokens = sorted(set(first) & set(second))
    p = np.array([math.exp(first[t]) for t in tokens])
    q = np.array([math.exp(second[t]) for t in tokens])
    p = np.append(p, max(0.0, 1.0 - p.sum()))
    q = np.append(q, max(0.0, 1.0 - q.sum()))
    return p / p.sum(), q / q.sum()
