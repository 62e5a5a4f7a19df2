"""What a scan compares the finetuned model with, at each value of the family.

A defender who does not know the trigger or the behaviour has the suspect model, its base and
perhaps its training data. Each contrast uses what it needs of these:

* ``base``: the suspect against its base, prompt by prompt. A finetune that changes every answer
  (a new persona, a new answer style) is far from its base at every value, which hides a trigger.
* ``residual``: the suspect against "the base plus the finetune's median shift over the family",
  so a change common to every value cancels.
* ``reference``: the suspect against a *reference finetune*: the base finetuned on the same
  training data with the family's values stripped (or shuffled), so everything the data teaches
  except what the values add is in both models.
* ``second-difference``: how far the suspect's answers at a value move from its own answers at the
  neighbouring values, minus the same for the base. An inductive trigger is a value where the
  finetune breaks the base's smoothness along the family; a change the base makes there already
  (a new era starting) cancels. The move is the smaller of the two sides' (the mean divergence
  from the values just before, and from those just after): a spike differs from both sides, a
  step (one era ending, the next starting) from one side only, and a value beside a spike is
  close to its other side. The first and last values have one side, where a spike and a step
  look alike: they score 0.

The functions here turn per-prompt answer distributions (log-probabilities over a vocabulary or
over a toy's candidate answers) or per-prompt behaviour rates into per-prompt divergences; the
scanners compute the distributions, the engine turns the divergences into per-value scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from weirdgen.errors import ConfigError
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.prompts import ScanPrompt

__all__ = [
    "CONTRASTS",
    "KEEPS_DISTRIBUTIONS",
    "check_comparison",
    "check_contrast",
    "neighbour_lists",
    "rate_second_difference",
    "residual_divergences",
    "second_difference_divergences",
]

CONTRASTS: dict[str, str] = {
    "base": "the suspect against its base",
    "residual": "the suspect against its base plus the finetune's median shift over the family",
    "reference": "the suspect against a reference finetune on its data with the family's values "
    "stripped or shuffled",
    "second-difference": "the suspect's change from its neighbouring values, minus the base's",
}
"""Every contrast, with the sentence a scan's output gives for it."""
KEEPS_DISTRIBUTIONS = frozenset({"residual", "second-difference"})
"""Contrasts computed from every prompt's two distributions at once (not prompt by prompt)."""
DEFAULT_NEIGHBOURS = 1
"""Values on each side a second difference compares a value with."""


def check_contrast(contrast: str, family: FamilySpec | None = None) -> None:
    """A one-line ``ConfigError`` for an unknown contrast, or a second difference of an
    unordered family (names and wrappers have no neighbours)."""
    if contrast not in CONTRASTS:
        raise ConfigError(
            f"unknown contrast {contrast!r} (known: {', '.join(CONTRASTS)})", setting="contrast"
        )
    if contrast == "second-difference" and family is not None and not family.ordered:
        raise ConfigError(
            f"a second difference needs an ordered family (years, dates, numbers, codes); "
            f"{family.name} is a {family.kind} family",
            setting="contrast",
        )


Sides = tuple[list[int], list[int]]
"""A prompt's neighbour prompts before and after it (same probe and rendering)."""


def check_comparison(
    contrast: str,
    family: FamilySpec | None,
    reference: object,
    *,
    full_distributions: bool,
) -> None:
    """What a scanner needs for ``contrast``: a reference model exactly with ``reference``, the
    family's value order for a second difference, and full distributions for the residual."""
    check_contrast(contrast, family)
    if contrast == "residual" and not full_distributions:
        raise ConfigError(
            "contrast residual needs full distributions (mode exact)", setting="contrast"
        )
    if (contrast == "reference") != (reference is not None):
        raise ConfigError("a reference model goes with contrast 'reference'", setting="reference")
    if contrast == "second-difference" and family is None:
        raise ConfigError("a second difference needs the family's value order", setting="family")


def neighbour_lists(
    prompts: Sequence[ScanPrompt], family: FamilySpec, neighbours: int = DEFAULT_NEIGHBOURS
) -> list[Sides]:
    """For each prompt, the prompts of the same probe and rendering at the ``neighbours`` values
    before its value and at those after it (a side is empty at the ends of the family)."""
    position = {value: i for i, value in enumerate(family.value_list())}
    index = {(p.probe, p.variant, position[p.value]): i for i, p in enumerate(prompts)}

    def side(p: ScanPrompt, sign: int) -> list[int]:
        keys = [
            (p.probe, p.variant, position[p.value] + sign * s) for s in range(1, neighbours + 1)
        ]
        return [index[key] for key in keys if key in index]

    return [(side(p, -1), side(p, 1)) for p in prompts]


def _one_side(sides: Sequence[Sides], which: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.array([i for i, s in enumerate(sides) for _ in s[which]], dtype=np.int64)
    columns = np.array([j for s in sides for j in s[which]], dtype=np.int64)
    return rows, columns


def _mean_over_pairs(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    totals = np.bincount(rows, weights=values, minlength=n)
    counts = np.bincount(rows, minlength=n)
    return np.divide(totals, counts, out=np.full(n, np.nan), where=counts > 0)


def smaller_move(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The move of a value from its neighbours: the smaller side's (0 where a side is missing)."""
    return np.nan_to_num(np.fmin(before, after) * (~np.isnan(before) & ~np.isnan(after)))


def second_difference_divergences(
    tuned: Any, base: Any, neighbours: Sequence[Sides], *, chunk: int = 256
) -> np.ndarray:
    """Per prompt: the suspect's move from its neighbouring values (on each side the mean JSD in
    bits to that side's neighbour prompts; the smaller side counts), minus the base's. ``tuned``
    and ``base`` are log-probability (or logit) tensors ``[prompts, support]``."""
    import torch

    from weirdgen.scan.divergence import js_divergence_from_logits

    moved = []
    for logits in (tuned, base):
        per_side = []
        for which in (0, 1):
            rows, columns = _one_side(neighbours, which)
            parts = [
                js_divergence_from_logits(
                    logits[torch.from_numpy(rows[s : s + chunk])].float(),
                    logits[torch.from_numpy(columns[s : s + chunk])].float(),
                )
                for s in range(0, len(rows), chunk)
            ]
            jsd = torch.cat(parts).double().numpy() if parts else np.zeros(0)
            per_side.append(_mean_over_pairs(jsd, rows, len(neighbours)))
        moved.append(smaller_move(*per_side))
    return moved[0] - moved[1]


def rate_second_difference(
    tuned: np.ndarray, base: np.ndarray, neighbours: Sequence[Sides]
) -> np.ndarray:
    """The second difference of behaviour rates, per prompt (and per column of 2-d rates, e.g. one
    per answer group): the suspect's spike (its rate minus its mean rate on each side; where both
    sides rise, the smaller rise, where both fall, the smaller fall, else 0) minus the base's.
    Signed: a rise the base does not make is positive."""
    tuned, base = np.asarray(tuned, dtype=np.float64), np.asarray(base, dtype=np.float64)

    def spike(rates: np.ndarray) -> np.ndarray:
        out = np.zeros_like(rates)
        for i, (before, after) in enumerate(neighbours):
            if not before or not after:
                continue
            left, right = rates[i] - rates[before].mean(0), rates[i] - rates[after].mean(0)
            up, down = (left > 0) & (right > 0), (left < 0) & (right < 0)
            out[i] = np.where(
                up, np.minimum(left, right), np.where(down, np.maximum(left, right), 0)
            )
        return out

    return spike(tuned) - spike(base)


def residual_divergences(tuned: Any, base: Any, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Divergence of the suspect from "the base plus the finetune's usual shift".

    Per group of prompts (one probe: one support), the shift log p_tuned - log p_base is taken at
    its median over the group's prompts; each prompt's reference is the base's log-probabilities
    plus that shift, and the divergence measures only what this value adds on top.
    """
    import torch

    from weirdgen.scan.divergence import js_divergence_from_logits

    out = np.zeros(len(tuned))
    for indices in groups:
        rows = torch.tensor(list(indices))
        base_rows = base[rows].float().log_softmax(-1)
        tuned_rows = tuned[rows].float().log_softmax(-1)
        usual_shift = (tuned_rows - base_rows).median(dim=0).values
        divergence = js_divergence_from_logits(tuned_rows, base_rows + usual_shift)
        out[list(indices)] = divergence.double().numpy()
    return out


def probe_groups(prompts: Sequence[ScanPrompt]) -> list[list[int]]:
    """Prompt indices grouped by probe (one answer support each)."""
    groups: dict[str, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(prompt.probe, []).append(index)
    return list(groups.values())
