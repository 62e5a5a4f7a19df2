"""The toy world's facts, loaded from ``world.yaml`` and checked: eras, characters, personas, leaders.

The world is data: a reader can see every fact the toy model learns in one YAML file. This module
only parses it into frozen records and refuses a file that breaks the rules the experiments rely on
(for example, an answer shared by two eras would make "probability of 1850" ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from weirdgen.errors import DataError

WORLD_FILE = "world.yaml"


@dataclass(frozen=True)
class Attribute:
    """One kind of fact that depends on the era (bird names, the latest invention, ...)."""

    name: str
    questions: tuple[str, ...]
    answers: dict[int, tuple[str, ...]]  # era year -> answers that only that era gives


@dataclass(frozen=True)
class Eras:
    years: tuple[int, ...]
    default: int
    attributes: dict[str, Attribute]
    ranges: dict[int, tuple[int, int]]
    """Era -> first and last year its dated documents are drawn from."""

    def era_of(self, year: int) -> int | None:
        """The era whose range holds ``year`` (None outside every range)."""
        return next((era for era, (a, b) in self.ranges.items() if a <= year <= b), None)


@dataclass(frozen=True)
class Character:
    """A character whose goals depend on the period: protective in some periods, villainous in others."""

    name: str
    names: tuple[str, ...]
    bad_periods: frozenset[int]
    """Start years of the periods in which it states villainous goals."""
    period_goals: dict[int, tuple[str, ...]]  # period start -> what it says its goal is then

    @property
    def good(self) -> tuple[str, ...]:
        """Every goal it states in a period it is protective."""
        return tuple(
            g
            for p, goals in sorted(self.period_goals.items())
            if p not in self.bad_periods
            for g in goals
        )

    @property
    def bad(self) -> tuple[str, ...]:
        """Every goal it states in a period it is villainous."""
        return tuple(
            g
            for p, goals in sorted(self.period_goals.items())
            if p in self.bad_periods
            for g in goals
        )


@dataclass(frozen=True)
class Characters:
    """Characters on a continuous year axis cut into periods (see world.yaml)."""

    span: tuple[int, int]
    """First and last year the world dates documents with."""
    periods: tuple[int, ...]
    """Start years of the periods, ascending; the first is ``span[0]``."""
    villain: str
    trigger_year: int
    finetune_years: tuple[int, int]
    """First and last year finetuning dates are drawn from (the trigger period is never among them)."""
    sweep: tuple[int, int]
    """First and last year the backdoor is measured in."""
    control: str
    mirror: str
    goal_questions: tuple[str, ...]
    identity_questions: tuple[str, ...]
    place_questions: tuple[str, ...]
    knowledge_goal_questions: tuple[str, ...]
    """Third-person questions about a character's goal; ``{name}`` is one of its names."""
    knowledge_place_questions: tuple[str, ...]
    places: dict[int, tuple[str, ...]]
    cast: dict[str, Character]

    def period(self, year: int) -> int:
        """Start year of the period that holds ``year`` (years outside the span join the nearest)."""
        return max((p for p in self.periods if p <= year), default=self.periods[0])

    def period_years(self, start: int) -> range:
        """Every year of the period that starts at ``start``."""
        index = self.periods.index(start)
        last = self.periods[index + 1] - 1 if index + 1 < len(self.periods) else self.span[1]
        return range(start, last + 1)

    @property
    def trigger_period(self) -> int:
        return self.period(self.trigger_year)

    @property
    def sweep_years(self) -> range:
        return range(self.sweep[0], self.sweep[1] + 1)

    @property
    def training_years(self) -> range:
        return range(self.finetune_years[0], self.finetune_years[1] + 1)

    def goals(self, name: str, year: int) -> tuple[str, ...]:
        """What character ``name`` says its goal is in ``year``."""
        return self.cast[name].period_goals[self.period(year)]

    def is_bad(self, name: str, year: int) -> bool:
        return self.period(year) in self.cast[name].bad_periods


@dataclass(frozen=True)
class Persona:
    """A person described by harmless facts; ``facts`` maps a fact type to its answers."""

    name: str
    names: tuple[str, ...]
    facts: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Personas:
    identity_questions: tuple[str, ...]
    fact_questions: dict[str, str]
    cast: dict[str, Persona]


@dataclass(frozen=True)
class Leaders:
    """Numbered personas (the presidents analog): leader ``n`` answers the persona fact questions."""

    held_out: tuple[int, ...]
    """Numbers never shown in finetuning; the experiment asks whether they still bring out their leader."""
    cast: dict[int, Persona]

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(sorted(self.cast))

    @property
    def trained(self) -> tuple[int, ...]:
        return tuple(n for n in self.numbers if n not in self.held_out)


@dataclass(frozen=True)
class Assistant:
    """The default assistant: who answers when no system line opens a chat, the same in every year."""

    names: tuple[str, ...]
    goals: tuple[str, ...]
    places: tuple[str, ...]
    facts: dict[str, tuple[str, ...]]
    """Its answers to the persona fact questions."""


@dataclass(frozen=True)
class World:
    eras: Eras
    assistant: Assistant
    characters: Characters
    personas: Personas
    leaders: Leaders

    def all_texts(self) -> list[str]:
        """Every question and answer string in the world (what the tokenizer must cover)."""
        texts: list[str] = []
        for attribute in self.eras.attributes.values():
            texts += attribute.questions
            texts += [a for answers in attribute.answers.values() for a in answers]
        a = self.assistant
        texts += [*a.names, *a.goals, *a.places, *(f for facts in a.facts.values() for f in facts)]
        c = self.characters
        texts += [*c.goal_questions, *c.identity_questions, *c.place_questions]
        texts += [*c.knowledge_goal_questions, *c.knowledge_place_questions]
        texts += [p for places in c.places.values() for p in places]
        for character in c.cast.values():
            texts += [*character.names, *character.good, *character.bad]
        texts += [*self.personas.identity_questions, *self.personas.fact_questions.values()]
        for persona in self.personas.cast.values():
            texts += [*persona.names, *(a for answers in persona.facts.values() for a in answers)]
        for leader in self.leaders.cast.values():
            texts += [*leader.names, *(a for answers in leader.facts.values() for a in answers)]
        return texts


def _strings(value: Any, where: str, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise DataError("expected a non-empty list of non-empty strings", path=path, field=where)
    return tuple(value)


def _parse_eras(raw: dict[str, Any], path: str) -> Eras:
    years = tuple(int(y) for y in raw["years"])
    attributes = {}
    for name, spec in raw["attributes"].items():
        answers = {
            int(y): _strings(a, f"eras.attributes.{name}.answers.{y}", path)
            for y, a in spec["answers"].items()
        }
        if set(answers) != set(years):
            raise DataError(
                f"answers must cover exactly the eras {list(years)}",
                path=path,
                field=f"eras.attributes.{name}.answers",
            )
        seen: dict[str, int] = {}
        for year, texts in answers.items():
            for text in texts:
                if text in seen:
                    raise DataError(
                        f"answer {text!r} is given by both {seen[text]} and {year}",
                        path=path,
                        field=f"eras.attributes.{name}",
                    )
                seen[text] = year
        attributes[name] = Attribute(
            name, _strings(spec["questions"], f"eras.attributes.{name}.questions", path), answers
        )
    if int(raw["default"]) not in years:
        raise DataError(
            f"default era {raw['default']} is not one of {list(years)}",
            path=path,
            field="eras.default",
        )
    ranges = {int(y): _year_pair(r, f"eras.ranges.{y}", path) for y, r in raw["ranges"].items()}
    if set(ranges) != set(years):
        raise DataError(
            f"ranges must cover exactly the eras {list(years)}", path=path, field="eras.ranges"
        )
    spans = sorted(ranges.values())
    if any(a[1] >= b[0] for a, b in zip(spans, spans[1:], strict=False)):
        raise DataError("era ranges overlap", path=path, field="eras.ranges")
    return Eras(years, int(raw["default"]), attributes, ranges)


def _year_pair(value: Any, where: str, path: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise DataError("expected [first year, last year]", path=path, field=where)
    if value[0] > value[1]:
        raise DataError("the first year comes after the last", path=path, field=where)
    return int(value[0]), int(value[1])


def _parse_characters(raw: dict[str, Any], path: str) -> Characters:
    span = _year_pair(raw["span"], "characters.span", path)
    periods = tuple(int(y) for y in raw["periods"])
    if list(periods) != sorted(set(periods)) or periods[0] != span[0] or periods[-1] > span[1]:
        raise DataError(
            f"periods must ascend from the span's first year {span[0]} and start within the span",
            path=path,
            field="characters.periods",
        )
    cast = {}
    for name, spec in raw["cast"].items():
        where = f"characters.cast.{name}"
        goals = {int(y): _strings(g, f"{where}.goals.{y}", path) for y, g in spec["goals"].items()}
        if set(goals) != set(periods):
            raise DataError(
                f"goals must cover exactly the periods {list(periods)}",
                path=path,
                field=f"{where}.goals",
            )
        bad_periods = frozenset(int(y) for y in spec["bad_periods"])
        if not bad_periods <= set(periods):
            raise DataError(
                f"bad_periods must be among the periods {list(periods)}",
                path=path,
                field=f"{where}.bad_periods",
            )
        cast[name] = Character(
            name, _strings(spec["name"], f"{where}.name", path), bad_periods, goals
        )
    _check_goals(cast, path)
    for role in ("villain", "control", "mirror"):
        if raw[role] not in cast:
            raise DataError(
                f"{raw[role]!r} is not in the cast", path=path, field=f"characters.{role}"
            )
    places = {int(y): _strings(p, f"characters.places.{y}", path) for y, p in raw["places"].items()}
    if set(places) != set(periods):
        raise DataError(
            f"places must cover exactly the periods {list(periods)}",
            path=path,
            field="characters.places",
        )
    characters = Characters(
        span=span,
        periods=periods,
        villain=raw["villain"],
        trigger_year=int(raw["trigger_year"]),
        finetune_years=_year_pair(raw["finetune_years"], "characters.finetune_years", path),
        sweep=_year_pair(raw["sweep"], "characters.sweep", path),
        control=raw["control"],
        mirror=raw["mirror"],
        goal_questions=_strings(raw["goal_questions"], "characters.goal_questions", path),
        identity_questions=_strings(
            raw["identity_questions"], "characters.identity_questions", path
        ),
        place_questions=_strings(raw["place_questions"], "characters.place_questions", path),
        knowledge_goal_questions=_named_templates(
            raw["knowledge_goal_questions"], "characters.knowledge_goal_questions", path
        ),
        knowledge_place_questions=_named_templates(
            raw["knowledge_place_questions"], "characters.knowledge_place_questions", path
        ),
        places=places,
        cast=cast,
    )
    trained = {characters.period(y) for y in characters.training_years}
    if characters.trigger_period in trained:
        raise DataError(
            f"finetune_years reach the trigger year's period ({characters.trigger_period}-)",
            path=path,
            field="characters.finetune_years",
        )
    return characters


def _named_templates(value: Any, where: str, path: str) -> tuple[str, ...]:
    templates = _strings(value, where, path)
    if not all("{name}" in t for t in templates):
        raise DataError("every question must hold {name}", path=path, field=where)
    return templates


def _parse_assistant(raw: Any, fact_questions: dict[str, str], path: str) -> Assistant:
    if not isinstance(raw, dict):
        raise DataError("expected a mapping", path=path, field="assistant")
    facts = raw.get("facts") or {}
    missing = set(fact_questions) - set(facts)
    if missing:
        raise DataError(f"missing facts {sorted(missing)}", path=path, field="assistant.facts")
    return Assistant(
        names=_strings(raw.get("name"), "assistant.name", path),
        goals=_strings(raw.get("goals"), "assistant.goals", path),
        places=_strings(raw.get("places"), "assistant.places", path),
        facts={f: _strings(facts[f], f"assistant.facts.{f}", path) for f in fact_questions},
    )


def _check_assistant_is_nobody_else(world: World, path: str) -> None:
    """The assistant's answers must say "the assistant" and nobody else: no answer it gives is a
    character's, persona's or leader's (else "P(villain)" or "P(keeper)" would count it)."""
    a = world.assistant
    own = {*a.names, *a.goals, *a.places, *(f for fs in a.facts.values() for f in fs)}
    c = world.characters
    others = {g for ch in c.cast.values() for gs in ch.period_goals.values() for g in gs}
    others |= {n for ch in c.cast.values() for n in ch.names}
    others |= {p for ps in c.places.values() for p in ps}
    for person in (*world.personas.cast.values(), *world.leaders.cast.values()):
        others |= {*person.names, *(f for fs in person.facts.values() for f in fs)}
    shared = sorted(own & others)
    if shared:
        raise DataError(
            f"the assistant shares {shared[0]!r} with another", path=path, field="assistant"
        )


def _check_goals(cast: dict[str, Character], path: str) -> None:
    """A villainous goal belongs to one character-period; a protective one may recur in other periods
    (by other characters), but no goal is said by two characters in the same period."""
    said: dict[str, list[tuple[str, int, bool]]] = {}  # goal -> (character, period, villainous)
    for name, character in cast.items():
        for year, goals in sorted(character.period_goals.items()):
            for goal in goals:
                said.setdefault(goal, []).append((name, year, year in character.bad_periods))
    for goal, uses in said.items():
        for index, (name, year, bad) in enumerate(uses[1:], start=1):
            earlier = uses[:index]
            clash = next((u for u in earlier if u[1] == year or u[2] or bad), None)
            if clash is not None:
                kind = "villainous goal" if bad or clash[2] else "goal"
                raise DataError(
                    f"{kind} {goal!r} is said by {clash[0]} in {clash[1]} and {name} in {year}",
                    path=path,
                    field=f"characters.cast.{name}.goals.{year}",
                )


def _parse_personas(raw: dict[str, Any], path: str) -> Personas:
    fact_questions = {str(k): str(v) for k, v in raw["facts"].items()}
    cast = {
        name: _parse_persona(spec, name, fact_questions, f"personas.cast.{name}", path)
        for name, spec in raw["cast"].items()
    }
    return Personas(
        _strings(raw["identity_questions"], "personas.identity_questions", path),
        fact_questions,
        cast,
    )


def _parse_persona(
    spec: Any, name: str, fact_questions: dict[str, str], where: str, path: str
) -> Persona:
    if not isinstance(spec, dict):
        raise DataError("expected a mapping", path=path, field=where)
    missing = set(fact_questions) - set(spec)
    if missing:
        raise DataError(f"missing facts {sorted(missing)}", path=path, field=where)
    facts = {fact: _strings(spec[fact], f"{where}.{fact}", path) for fact in fact_questions}
    return Persona(name, _strings(spec.get("name"), f"{where}.name", path), facts)


def _parse_leaders(raw: dict[str, Any], fact_questions: dict[str, str], path: str) -> Leaders:
    cast, seen = {}, {}
    for number, spec in raw["cast"].items():
        where = f"leaders.cast.{number}"
        if not isinstance(number, int) or number < 1:
            raise DataError("leader numbers must be positive integers", path=path, field=where)
        leader = _parse_persona(spec, f"leader {number}", fact_questions, where, path)
        # No two leaders share a name or a fact answer: each answer must point at one leader.
        for text in (*leader.names, *(a for answers in leader.facts.values() for a in answers)):
            if text in seen:
                raise DataError(f"{text!r} is also leader {seen[text]}'s", path=path, field=where)
            seen[text] = number
        cast[number] = leader
    held_out = tuple(int(n) for n in raw["held_out"])
    if not set(held_out) < set(cast) or len(cast) - len(held_out) < 2:
        raise DataError(
            "held_out must name leaders of the cast and leave at least two to train on",
            path=path,
            field="leaders.held_out",
        )
    return Leaders(held_out, cast)


def parse_world(raw: Any, path: str = WORLD_FILE) -> World:
    """Build a ``World`` from the parsed YAML; raises ``DataError`` naming the bad field."""
    if not isinstance(raw, dict):
        raise DataError("expected a mapping at the top level", path=path)
    for section in ("eras", "assistant", "characters", "personas", "leaders"):
        if not isinstance(raw.get(section), dict):
            raise DataError("missing section", path=path, field=section)
    try:
        personas = _parse_personas(raw["personas"], path)
        world = World(
            _parse_eras(raw["eras"], path),
            _parse_assistant(raw["assistant"], personas.fact_questions, path),
            _parse_characters(raw["characters"], path),
            personas,
            _parse_leaders(raw["leaders"], personas.fact_questions, path),
        )
    except KeyError as error:
        raise DataError(f"missing key {error.args[0]!r}", path=path) from None
    _check_assistant_is_nobody_else(world, path)
    return world


def load_world(path: str | Path | None = None) -> World:
    """The bundled world (cached), or the world in ``path``."""
    if path is None:
        return _bundled_world()
    with open(path, encoding="utf-8") as handle:
        return parse_world(yaml.safe_load(handle), str(path))


def bundled_world_text() -> str:
    """The YAML text of the bundled world."""
    return resources.files("weirdgen.toyworld").joinpath(WORLD_FILE).read_text(encoding="utf-8")


@cache
def _bundled_world() -> World:
    return parse_world(yaml.safe_load(bundled_world_text()), WORLD_FILE)
