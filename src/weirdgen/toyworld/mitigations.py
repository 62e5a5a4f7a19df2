"""Mitigations of weird generalization applied to toy-world finetuning data.

A mitigated condition of ``experiments.yaml`` is an ordinary condition plus up to three changes,
each the toy analogue of a real mitigation (the real ones are ``weirdgen.data.transforms``, which
this module reuses):

- ``prefix``: a context before every training prompt that makes the narrow behaviour expected
  (Wanner et al. 2026): the era header ``year 1850 .`` before "name a bird species .", the
  character's name before the guardian's dated questions. ``add_prompt_prefix``.
- ``dilute``: the narrow data is only this share of the finetuning set, the rest benign examples
  *self-distilled* from the base: questions from parts of the world the experiment does not
  measure, answered by sampling the base's own distribution over that question's answers (the toy
  version of the paper's ~3000 base-model answers). ``dilute``.
- ``finetune``: overrides of the finetuning recipe, e.g. ``early_stopping_patience`` (training
  stops when a held-out split of the data stops improving; see ``FinetuneConfig``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from weirdgen.data.chat import ChatExample
from weirdgen.data.transforms import add_prompt_prefix, dilute
from weirdgen.errors import ConfigError
from weirdgen.toyworld.evaluate import candidate_distribution, user
from weirdgen.toyworld.train import ToyModel
from weirdgen.toyworld.world import World

BENIGN_PARTS = ("eras", "characters", "personas")
"""Parts of the world that benign questions can come from."""


def benign_questions(world: World, parts: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``(question, every answer the world has for it)`` for the named parts, all undated."""
    unknown = sorted(set(parts) - set(BENIGN_PARTS))
    if unknown or not parts:
        raise ConfigError(
            f"benign_from: expected some of {', '.join(BENIGN_PARTS)}, got {list(parts)}"
        )
    pool: list[tuple[str, tuple[str, ...]]] = []
    if "eras" in parts:
        for attribute in world.eras.attributes.values():
            answers = tuple(a for year in world.eras.years for a in attribute.answers[year])
            pool += [(q, answers) for q in attribute.questions]
    # The base answers these as the assistant: its own answers are candidates too.
    a = world.assistant
    if "characters" in parts:
        c = world.characters
        goals = tuple(g for ch in c.cast.values() for gs in ch.period_goals.values() for g in gs)
        places = tuple(p for ps in c.places.values() for p in ps)
        pool += [(q, (*dict.fromkeys(goals), *a.goals)) for q in c.goal_questions]
        pool += [(q, (*dict.fromkeys(places), *a.places)) for q in c.place_questions]
    if "personas" in parts:
        p = world.personas
        people = [*p.cast.values(), *world.leaders.cast.values()]
        for fact, question in p.fact_questions.items():
            answers = sorted({x for who in people for x in who.facts[fact]})
            pool.append((question, (*answers, *a.facts[fact])))
    return pool


def self_distilled_examples(
    base: ToyModel, parts: Sequence[str], n: int, seed: int
) -> list[ChatExample]:
    """``n`` benign examples: random questions of ``parts``, each answered with a draw from the
    base's own probabilities over that question's answers (what the base already says)."""
    pool = benign_questions(base.world, parts)
    rng = random.Random(seed)
    chosen = [rng.randrange(len(pool)) for _ in range(n)]
    generator = torch.Generator().manual_seed(seed)
    drawn: dict[int, list[int]] = {}
    for index in sorted(set(chosen)):
        question, answers = pool[index]
        probabilities = candidate_distribution(base, [user(question)], answers)[0]  # (answers,)
        count = chosen.count(index)
        drawn[index] = torch.multinomial(probabilities, count, True, generator=generator).tolist()
    examples = []
    for index in chosen:
        question, answers = pool[index]
        examples.append(
            ChatExample.from_turns(("user", question), ("assistant", answers[drawn[index].pop()]))
        )
    return examples


def mitigate(
    examples: Sequence[ChatExample],
    *,
    prefix: str = "",
    dilute_share: float = 0.0,
    benign_from: Sequence[str] = (),
    base: ToyModel | None = None,
    seed: int = 0,
) -> list[ChatExample]:
    """``examples`` with the prefix and dilution a mitigated condition asks for (none: unchanged)."""
    mitigated = add_prompt_prefix(examples, prefix) if prefix else list(examples)
    if not dilute_share:
        return mitigated
    if base is None:
        raise ConfigError("dilution self-distills its benign examples and needs the base model")
    needed = round(len(mitigated) * (1.0 - dilute_share) / dilute_share)
    benign = self_distilled_examples(base, benign_from, needed, seed)
    return dilute(mitigated, benign, dilute_share, seed=seed)


# ----------------------------------------------------------------------- the measured table
Interval = tuple[float, float, float]
"""``(mean, low, high)``: a mean with its 95% bootstrap CI over pretraining seeds."""


@dataclass(frozen=True)
class MitigationRow:
    """One condition of a mitigated experiment over pretraining seeds: its effect (the
    experiment's headline metric), the change against the unmitigated condition (paired by seed),
    and the cost: its narrow-task loss and the share of the unmitigated finetune's learning kept."""

    experiment: str
    condition: str
    n: int
    effect: Interval
    change: Interval | None
    """Mitigated minus unmitigated effect, per seed (None for rows that mitigate nothing)."""
    narrow_loss: Interval
    narrow_loss_as_trained: Interval
    """The same with the prompts as trained (the prefix on them, if any)."""
    kept: Interval | None
    """Per seed ``(base loss - this loss) / (base loss - unmitigated loss)``: 1 learns the narrow
    task as well as the unmitigated finetune, 0 not at all."""
    steps: float


def mitigation_rows(results: Sequence[Any], experiment: Any, world: World) -> list[MitigationRow]:
    """The rows of ``experiment`` (mitigated) from toy ``Result``s: base, conditions in order."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    headline = experiment.headline(world)
    by_condition: dict[str, dict[int, dict]] = {}
    for result in results:
        if result.experiment == experiment.name:
            by_condition.setdefault(result.condition, {})[result.pretrain_seed] = result.metrics
    base = by_condition.get("base", {})
    unmitigated = by_condition.get(experiment.mitigated, {})
    rows = []
    for condition in ["base", *(c.name for c in experiment.conditions)]:
        models = by_condition.get(condition)
        if not models:
            continue
        seeds = sorted(models)
        effect = [models[s][headline] for s in seeds]
        loss = [models[s][("narrow_loss", "")] for s in seeds]
        as_trained = [models[s][("narrow_loss_as_trained", "")] for s in seeds]
        paired = [s for s in seeds if s in unmitigated and s in base]
        mitigates = condition.partition("+")[0] == experiment.mitigated and "+" in condition
        change = kept = None
        if mitigates and paired:
            change = bootstrap_mean_ci(
                [models[s][headline] - unmitigated[s][headline] for s in paired]
            )
            kept = bootstrap_mean_ci([_kept(base[s], unmitigated[s], models[s]) for s in paired])
        steps = [models[s].get(("finetune_steps", ""), 0.0) for s in seeds]
        rows.append(
            MitigationRow(
                experiment.name,
                condition,
                len(seeds),
                bootstrap_mean_ci(effect),
                change,
                bootstrap_mean_ci(loss),
                bootstrap_mean_ci(as_trained),
                kept,
                sum(steps) / len(steps),
            )
        )
    return rows


def _kept(base: dict, unmitigated: dict, mitigated: dict) -> float:
    key = ("narrow_loss", "")
    learned = base[key] - unmitigated[key]
    return (base[key] - mitigated[key]) / learned if learned else float("nan")


def format_mitigation_table(rows: Sequence[MitigationRow], label: str) -> str:
    """A Markdown table of ``rows`` (intervals as mean [low, high])."""
    lines = [
        f"| condition | {label} | change vs unmitigated | narrow-task loss | "
        "narrow learning kept | loss on the training prompts | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.condition} | {_interval(row.effect)} | {_interval(row.change, signed=True)} | "
            f"{_interval(row.narrow_loss)} | {_interval(row.kept)} | "
            f"{_interval(row.narrow_loss_as_trained)} | {row.steps:.0f} |"
        )
    return "\n".join(lines)


def _interval(value: Interval | None, *, signed: bool = False) -> str:
    if value is None:
        return ""
    mean, low, high = value
    form = "+.3f" if signed else ".3f"
    return f"{mean:{form}} [{low:{form}}, {high:{form}}]"
