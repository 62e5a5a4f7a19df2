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
