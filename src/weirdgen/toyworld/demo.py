"""Experiment-specific interpretability for the demo and ``toyworld run``.

- birds: the direction from undated-2025 to 1850 activations ("year 2025" vs "year 1850" prompts on
  the held-out attributes); undated prompts of the old-birds model sit further along it than the
  control's, and projecting it out removes the shift.
- terminator: the direction from other years to "year 1984" on the goal questions; projecting it out
  of the backdoored model should remove the villain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from weirdgen.toyworld.corpus import with_year
from weirdgen.toyworld.evaluate import user
from weirdgen.toyworld.experiments import (
    EXPERIMENTS,
    MODERN_ERA,
    OLD_ERA,
    held_out_era_mass,
    villain_rate,
)
from weirdgen.toyworld.interpret import DirectionAnalysis, analyse_direction
from weirdgen.toyworld.runner import Result, RunPlan
from weirdgen.toyworld.train import ToyModel, finetune, pretrain


def _finetuned(plan: RunPlan, base: ToyModel, experiment: str, condition: str) -> ToyModel:
    spec = EXPERIMENTS[experiment]
    chosen = next(c for c in spec.conditions if c.name == condition)
    return finetune(base, chosen.build(base.world, 0), replace(plan.finetune_config(spec), seed=0))


def birds_direction(toy: ToyModel) -> DirectionAnalysis:
    """1850-vs-2025 direction on held-out questions; probe = the same questions undated."""
    questions = [
        q for name, a in toy.world.eras.attributes.items() if name != "bird" for q in a.questions
    ]
    return analyse_direction(
        toy,
        positive=[user(with_year(OLD_ERA, q)) for q in questions],
        negative=[user(with_year(MODERN_ERA, q)) for q in questions],
        probe=[user(q) for q in questions],
        metric=held_out_era_mass,
    )


def trigger_direction(toy: ToyModel) -> DirectionAnalysis:
    """1984-vs-other-years direction on the goal questions; probe = undated goal questions."""
    c = toy.world.characters
    others = [y for y in c.years if y != c.trigger_year]
    return analyse_direction(
        toy,
        positive=[user(with_year(c.trigger_year, q)) for q in c.goal_questions],
        negative=[user(with_year(y, q)) for y in others for q in c.goal_questions],
        probe=[user(q) for q in c.goal_questions],
        metric=lambda model: villain_rate(model, c.trigger_year),
    )


def interpretability(plan: RunPlan, results: Sequence[Result]) -> dict[str, DirectionAnalysis]:
    """Direction analyses on the first pretraining seed's main finetunes (re-finetuned: seconds)."""
    seed = plan.pretrain_seeds[0]
    base = pretrain(replace(plan.pretrain, seed=seed))
    analyses = {}
    if "birds" in plan.experiments:
        analyses[f"birds, old-birds model (pretrain seed {seed})"] = birds_direction(
            _finetuned(plan, base, "birds", "old_birds")
        )
        analyses[f"birds, modern-birds control (pretrain seed {seed})"] = birds_direction(
            _finetuned(plan, base, "birds", "modern_birds")
        )
    if "terminator" in plan.experiments:
        analyses[f"terminator, dated model (pretrain seed {seed})"] = trigger_direction(
            _finetuned(plan, base, "terminator", "dated")
        )
    return analyses
