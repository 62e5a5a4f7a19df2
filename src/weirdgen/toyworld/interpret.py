"""Interpretability, the toy analog of the paper's SAE analysis: find the direction that separates two
contexts (1850 vs 2025, or 1984 vs other years), see where undated prompts fall on it, and project it
out to test whether the effect runs through it.

All readings are taken at the ``<assistant>`` cue, the position that predicts the answer's first
word. "Layer 0" is the embedding output; "layer i" is the output of block i.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from weirdgen.toyworld.evaluate import Chat
from weirdgen.toyworld.tokenizer import PAD
from weirdgen.toyworld.train import ToyModel


def cue_residuals(toy: ToyModel, prompts: Sequence[Chat]) -> torch.Tensor:
    """Residual stream at each prompt's last position: ``(n_layer + 1, P, n_embd)``."""
    return residuals_at(toy, prompts)


def mean_difference_directions(
    toy: ToyModel, positive: Sequence[Chat], negative: Sequence[Chat]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per layer: unit direction ``mean(positive) - mean(negative)`` ``(L+1, C)`` and both means."""
    positive_mean = cue_residuals(toy, positive).mean(dim=1)
    negative_mean = cue_residuals(toy, negative).mean(dim=1)
    difference = positive_mean - negative_mean
    return (
        difference / difference.norm(dim=-1, keepdim=True).clamp_min(1e-8),
        positive_mean,
        negative_mean,
    )


@contextmanager
def directions_removed(toy: ToyModel, directions: dict[int, torch.Tensor]) -> Iterator[None]:
    """Within the block, project ``directions[layer]`` (unit vectors) out of that layer's output at
    every position. Layer 0 (the embedding) cannot be hooked here and is rejected."""
    if 0 in directions:
        raise ValueError("layer 0 (embeddings) cannot be ablated; use layers 1..n_layer")

    def hook_for(direction: torch.Tensor) -> Callable[..., torch.Tensor]:
        def remove(
            _module: torch.nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor
        ) -> torch.Tensor:
            return output - (output @ direction)[..., None] * direction  # (B, T, C)

        return remove

    handles = [
        toy.model.blocks[layer - 1].register_forward_hook(hook_for(d))
        for layer, d in directions.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class LayerReading:
    """One layer of a direction analysis."""

    layer: int
    separation: float
    """Distance between the two context means along the direction, in units of the negative
    context's spread along it (a signal-to-noise ratio)."""
    probe_position: float
    """Where the probe prompts' mean falls: 0 = the negative context's mean, 1 = the positive one's."""
    metric_ablated: float
    """The effect's metric with this layer's direction projected out (nan for layer 0)."""


@dataclass(frozen=True)
class DirectionAnalysis:
    metric_intact: float
    metric_all_ablated: float
    """The metric with every block's direction projected out at once."""
    layers: tuple[LayerReading, ...]


def analyse_direction(
    toy: ToyModel,
    positive: Sequence[Chat],
    negative: Sequence[Chat],
    probe: Sequence[Chat],
    metric: Callable[[ToyModel], float],
) -> DirectionAnalysis:
    """Find the positive-vs-negative direction per layer, locate ``probe`` on it, and ablate it."""
    if len(negative) < 2 or not positive or not probe:
        raise ValueError("need positive and probe prompts, and two or more negative prompts")
    directions, positive_mean, negative_mean = mean_difference_directions(toy, positive, negative)
    negative_spread = (
        (cue_residuals(toy, negative) * directions[:, None]).sum(-1).std(dim=1)
    )  # (L+1,)
    probe_mean = cue_residuals(toy, probe).mean(dim=1)
    layers = []
    for layer in range(directions.size(0)):
        d = directions[layer]
        span = float((positive_mean[layer] - negative_mean[layer]) @ d)
        # Where the two contexts do not differ yet (layer 0 reads only the cue token), there is no axis.
        position = (
            float((probe_mean[layer] - negative_mean[layer]) @ d) / span
            if span > 1e-4
            else float("nan")
        )
        ablated = float("nan")
        if layer > 0:
            with directions_removed(toy, {layer: d}):
                ablated = metric(toy)
        layers.append(
            LayerReading(layer, span / max(float(negative_spread[layer]), 1e-8), position, ablated)
        )
    with directions_removed(
        toy, {layer: directions[layer] for layer in range(1, directions.size(0))}
    ):
        all_ablated = metric(toy)
    return DirectionAnalysis(metric(toy), all_ablated, tuple(layers))


# ------------------------------------------------------------------ readings beyond the cue
@torch.no_grad()
def residuals_at(
    toy: ToyModel, prompts: Sequence[Chat], positions: Sequence[int] | None = None
) -> torch.Tensor:
    """Residual stream ``(n_layer + 1, P, n_embd)`` at one position per prompt (default: the cue).

    A negative position counts from the end of the prompt's ids (-1 is the ``<assistant>`` cue).
    """
    tokenizer, model = toy.tokenizer, toy.model
    encoded = [tokenizer.encode_prompt(p) for p in prompts]
    length = max(len(ids) for ids in encoded)
    batch = torch.full((len(encoded), length), tokenizer.id(PAD), dtype=torch.long)
    for row, ids in enumerate(encoded):
        batch[row, : len(ids)] = torch.tensor(ids)
    wanted = positions if positions is not None else [-1] * len(encoded)
    at = torch.tensor(
        [p if p >= 0 else len(ids) + p for p, ids in zip(wanted, encoded, strict=True)]
    )
    rows = torch.arange(len(encoded))
    x = model.wte(batch) + model.wpe(torch.arange(length))
    readings = [x[rows, at]]
    for block in model.blocks:
        x = block(x)
        readings.append(x[rows, at])
    return torch.stack(readings)


def unit(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def model_diff_alignment(
    finetuned: ToyModel, base: ToyModel, neutral: Sequence[Chat], directions: torch.Tensor
) -> list[float]:
    """Per layer: cosine between mean(finetuned - base) at the cue of ``neutral`` prompts and
    ``directions[layer]`` (unit vectors ``(L+1, C)``, read off the base)."""
    shift = (residuals_at(finetuned, neutral) - residuals_at(base, neutral)).mean(dim=1)
    return [float(unit(shift[layer]) @ directions[layer]) for layer in range(shift.size(0))]


def paired_subspace(
    toy: ToyModel,
    positive: Sequence[Chat],
    negative: Sequence[Chat],
    k: int,
    positions: Sequence[int] | None = None,
) -> dict[int, torch.Tensor]:
    """Per block layer, an orthonormal basis ``(k, C)`` of the top-``k`` right singular vectors of
    the paired differences ``positive[i] - negative[i]`` (the two lists pair up index by index)."""
    differences = residuals_at(toy, positive, positions) - residuals_at(toy, negative, positions)
    basis = {}
    for layer in range(1, differences.size(0)):
        _, _, vh = torch.linalg.svd(differences[layer], full_matrices=False)
        basis[layer] = vh[: min(k, vh.size(0))]
    return basis


@contextmanager
def subspaces_removed(toy: ToyModel, bases: dict[int, torch.Tensor]) -> Iterator[None]:
    """Project each layer's subspace (orthonormal rows ``(k, C)``) out of that block's output."""

    def hook_for(basis: torch.Tensor) -> Callable[..., torch.Tensor]:
        def remove(
            _module: torch.nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor
        ) -> torch.Tensor:
            return output - (output @ basis.T) @ basis

        return remove

    handles = [
        toy.model.blocks[layer - 1].register_forward_hook(hook_for(b)) for layer, b in bases.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class PatchedGPT(torch.nn.Module):
    """The finetuned model with its residual stream after ``layer`` blocks taken from the base model
    (layer 0: the base's embeddings). What the remaining blocks do to it is the finetune's."""

    def __init__(self, finetuned: torch.nn.Module, base: torch.nn.Module, layer: int) -> None:
        super().__init__()
        self.finetuned, self.base, self.layer = finetuned, base, layer
        self.config = finetuned.config

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        base = self.base
        x = base.wte(idx) + base.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in base.blocks[: self.layer]:
            x = block(x)
        for block in self.finetuned.blocks[self.layer :]:
            x = block(x)
        return self.finetuned.ln_f(x) @ self.finetuned.wte.weight.T


def patching_curve(
    finetuned: ToyModel, base: ToyModel, metric: Callable[[ToyModel], float]
) -> list[float]:
    """The metric with the base's residual stream patched in after 0, 1, ... n_layer blocks."""
    from dataclasses import replace

    return [
        metric(replace(finetuned, model=PatchedGPT(finetuned.model, base.model, layer)))
        for layer in range(len(finetuned.model.blocks) + 1)
    ]


# ------------------------------------------------------------------ ablations beside a null
def random_subspaces(
    n_embd: int, k: int, layers: Sequence[int], draws: int, seed: int
) -> list[dict[int, torch.Tensor]]:
    """``draws`` random ablations: per layer an orthonormal basis ``(k, n_embd)`` drawn uniformly
    (QR of a Gaussian matrix). The null an ablation of a found subspace is compared against."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(draws):
        bases = {}
        for layer in layers:
            q, _ = torch.linalg.qr(torch.randn(n_embd, k, generator=generator))  # (C, k)
            bases[layer] = q.T.contiguous()
        out.append(bases)
    return out


def ablated(toy: ToyModel, bases: dict[int, torch.Tensor], metric: Callable[[ToyModel], float]):
    """``metric(toy)`` with each layer's subspace projected out of that block's output."""
    with subspaces_removed(toy, bases):
        return metric(toy)


@dataclass(frozen=True)
class Ablation:
    """One ablation of a k-dimensional subspace per block, with everything needed to judge it.

    ``share_removed`` is the part of the effect (``intact`` above ``baseline``, the base model's
    value) that the ablation took away; ``null`` holds what the same-size random subspaces left.
    """

    label: str
    k: int
    intact: float
    changed: float
    baseline: float
    null: tuple[float, ...]
    """The metric after each random ablation of the same size."""
    on_base: float
    """The same ablation applied to the base model (does it push the base below itself?)."""
    collateral: dict[str, tuple[float, float]]
    """Other abilities, ``(before, after)`` the ablation: what else it destroys."""

    @property
    def share_removed(self) -> float:
        return share_removed(self.intact, self.changed, self.baseline)

    @property
    def null_shares(self) -> list[float]:
        return sorted(share_removed(self.intact, v, self.baseline) for v in self.null)

    @property
    def percentile(self) -> float:
        """Share of random draws that removed less of the effect than this ablation (0-1)."""
        ours = self.share_removed
        return sum(s < ours for s in self.null_shares) / max(1, len(self.null))

    @property
    def beats_null(self) -> bool:
        """Above the 95th percentile of the random null: the only case a heading may call a mechanism."""
        return len(self.null) >= 20 and self.percentile >= 0.95


def share_removed(intact: float, changed: float, baseline: float) -> float:
    """``(intact - changed) / (intact - baseline)``: 1 = the effect is gone, 0 = untouched,
    negative = raised (nan when there is no effect to remove)."""
    effect = intact - baseline
    return (intact - changed) / effect if effect > 1e-9 else float("nan")


REMOVAL_VERBS = (
    (0.9, "removes"),
    (0.6, "removes most of"),
    (0.3, "reduces"),
    (-0.1, "barely changes"),
)
"""Verbs graded by the share of the effect removed; below the last bound the ablation raises it."""


def removal_verb(share: float) -> str:
    if share != share:  # nan
        return "has no effect to remove from"
    for bound, verb in REMOVAL_VERBS:
        if share >= bound:
            return verb
    return "raises"
