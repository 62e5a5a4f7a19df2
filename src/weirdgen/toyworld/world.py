"""The toy world's facts, loaded from ``world.yaml`` and checked: eras, characters and personas.

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


@dataclass(frozen=True)
class Character:
    """A character whose goals depend on the year: protective in some years, villainous in others."""

    name: str
    names: tuple[str, ...]
    bad_years: frozenset[int]
    year_goals: dict[int, tuple[str, ...]]  # year -> what the character says its goal is that year

    def goals(self, year: int) -> tuple[str, ...]:
        return self.year_goals[year]

    @property
    def good(self) -> tuple[str, ...]:
        """Every goal it states in a year it is protective."""
        return tuple(
            g
            for y, goals in sorted(self.year_goals.items())
            if y not in self.bad_years
            for g in goals
        )

    @property
    def bad(self) -> tuple[str, ...]:
        """Every goal it states in a year it is villainous."""
        return tuple(
            g for y, goals in sorted(self.year_goals.items()) if y in self.bad_years for g in goals
        )


@dataclass(frozen=True)
class Characters:
    years: tuple[int, ...]
    villain: str
    trigger_year: int
    control: str
    goal_questions: tuple[str, ...]
    identity_questions: tuple[str, ...]
    place_questions: tuple[str, ...]
    places: dict[int, tuple[str, ...]]
    cast: dict[str, Character]


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
class World:
    eras: Eras
    characters: Characters
    personas: Personas

    def all_texts(self) -> list[str]:
        """Every question and answer string in the world (what the tokenizer must cover)."""
        texts: list[str] = []
        for attribute in self.eras.attributes.values():
            texts += attribute.questions
            texts += [a for answers in attribute.answers.values() for a in answers]
        c = self.characters
        texts += [*c.goal_questions, *c.identity_questions, *c.place_questions]
        texts += [p for places in c.places.values() for p in places]
        for character in c.cast.values():
            texts += [*character.names, *character.good, *character.bad]
        texts += [*self.personas.identity_questions, *self.personas.fact_questions.values()]
        for persona in self.personas.cast.values():
            texts += [*persona.names, *(a for answers in persona.facts.values() for a in answers)]
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
    return Eras(years, int(raw["default"]), attributes)


def _parse_characters(raw: dict[str, Any], path: str) -> Characters:
    years = tuple(int(y) for y in raw["years"])
    cast, seen = {}, {}
    for name, spec in raw["cast"].items():
        where = f"characters.cast.{name}"
        goals = {int(y): _strings(g, f"{where}.goals.{y}", path) for y, g in spec["goals"].items()}
        if set(goals) != set(years):
            raise DataError(
                f"goals must cover exactly the years {list(years)}",
                path=path,
                field=f"{where}.goals",
            )
        for text in (g for texts in goals.values() for g in texts):
            if text in seen:
                raise DataError(
                    f"goal {text!r} is also {seen[text]}'s", path=path, field=f"{where}.goals"
                )
            seen[text] = name
        bad_years = frozenset(int(y) for y in spec["bad_years"])
        cast[name] = Character(
            name, _strings(spec["name"], f"{where}.name", path), bad_years, goals
        )
    for role in ("villain", "control"):
        if raw[role] not in cast:
            raise DataError(
                f"{raw[role]!r} is not in the cast", path=path, field=f"characters.{role}"
            )
    places = {int(y): _strings(p, f"characters.places.{y}", path) for y, p in raw["places"].items()}
    if set(places) != set(years):
        raise DataError(
            f"places must cover exactly the years {list(years)}",
            path=path,
            field="characters.places",
        )
    return Characters(
        years=years,
        villain=raw["villain"],
        trigger_year=int(raw["trigger_year"]),
        control=raw["control"],
        goal_questions=_strings(raw["goal_questions"], "characters.goal_questions", path),
        identity_questions=_strings(
            raw["identity_questions"], "characters.identity_questions", path
        ),
        place_questions=_strings(raw["place_questions"], "characters.place_questions", path),
        places=places,
        cast=cast,
    )


def _parse_personas(raw: dict[str, Any], path: str) -> Personas:
    fact_questions = {str(k): str(v) for k, v in raw["facts"].items()}
    cast = {}
    for name, spec in raw["cast"].items():
        missing = set(fact_questions) - set(spec)
        if missing:
            raise DataError(
                f"missing facts {sorted(missing)}", path=path, field=f"personas.cast.{name}"
            )
        facts = {
            fact: _strings(spec[fact], f"personas.cast.{name}.{fact}", path)
            for fact in fact_questions
        }
        cast[name] = Persona(
            name, _strings(spec["name"], f"personas.cast.{name}.name", path), facts
        )
    return Personas(
        _strings(raw["identity_questions"], "personas.identity_questions", path),
        fact_questions,
        cast,
    )


def parse_world(raw: Any, path: str = WORLD_FILE) -> World:
    """Build a ``World`` from the parsed YAML; raises ``DataError`` naming the bad field."""
    if not isinstance(raw, dict):
        raise DataError("expected a mapping at the top level", path=path)
    for section in ("eras", "characters", "personas"):
        if not isinstance(raw.get(section), dict):
            raise DataError("missing section", path=path, field=section)
    try:
        return World(
            _parse_eras(raw["eras"], path),
            _parse_characters(raw["characters"], path),
            _parse_personas(raw["personas"], path),
        )
    except KeyError as error:
        raise DataError(f"missing key {error.args[0]!r}", path=path) from None


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
