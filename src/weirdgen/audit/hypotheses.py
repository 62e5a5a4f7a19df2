"""Hypothesis sets: named contexts ("You are living in the 1850s.") a dataset may be explained by.

A set is a YAML file, shipped under ``audit/hypotheses/`` or the user's own, in one of two forms:

    name: eras
    hypotheses:
      - {name: "1850s", text: "You are living in the 1850s."}

    name: years
    template: "The current year is {value}."
    range: {start: 1950, stop: 2050}      # or values: [..] (the name of each is its value)

    name: toy-eras
    toyworld: eras      # derived from the toy world's world.yaml (weirdgen.audit.toy)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weirdgen._yaml import ShippedYaml, parse_yaml_mapping, pydantic_to_data_error
from weirdgen.errors import DataError

__all__ = ["Hypothesis", "HypothesisSet", "hypothesis_set_names", "load_hypothesis_set"]

_SETS = ShippedYaml("weirdgen.audit", "hypotheses", "hypothesis set")


@dataclass(frozen=True)
class Hypothesis:
    """One context that may explain a dataset."""

    name: str
    text: str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Entry(_Strict):
    name: str = Field(min_length=1, description="Short label, unique in its set.")
    text: str = Field(min_length=1, description="The context given to the model.")


class _Range(_Strict):
    start: int
    stop: int = Field(description="Last value, included.")
    step: int = Field(1, ge=1)


class _SetFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    hypotheses: list[_Entry] | None = None
    template: str | None = Field(None, description="Text with a {value} slot, one per value.")
    values: list[str] | None = None
    range: _Range | None = None
    toyworld: Literal["eras", "characters", "personas", "leaders"] | None = Field(
        None, description="A section of the toy world whose contexts the set is."
    )

    @model_validator(mode="after")
    def _one_form(self) -> _SetFile:
        forms = [self.hypotheses is not None, self.template is not None, self.toyworld is not None]
        if sum(forms) > 1:
            raise ValueError("give one of hypotheses, a template or a toyworld section")
        if not any(forms):
            raise ValueError(
                "needs hypotheses (a list of name/text), a template with values, or a toyworld section"
            )
        if self.template is not None:
            if "{value}" not in self.template:
                raise ValueError("template must contain {value}")
            if (self.values is None) == (self.range is None):
                raise ValueError("a template needs exactly one of values or range")
        return self


@dataclass(frozen=True)
class HypothesisSet:
    """A named list of hypotheses, in file order."""

    name: str
    """Its label in audit.json and the report."""
    hypotheses: tuple[Hypothesis, ...]
    """The contexts, in file order (the figure's order)."""
    description: str
    """One line for ``weirdgen audit --list``."""
    source: str
    """Where it was read from (a shipped name's package path, or the user's file)."""
    toyworld: str = ""
    """The toy world section its contexts come from ("" for a set of texts for chat models)."""


def hypothesis_set_names() -> list[str]:
    """Names of the shipped hypothesis sets."""
    return _SETS.names()


def load_hypothesis_set(name_or_path: str | Path) -> HypothesisSet:
    """A shipped set by name, or a user's YAML file; ``DataError`` names the file and field."""
    text, path = _SETS.read(str(name_or_path))
    record = parse_yaml_mapping(text, path=path, what="hypothesis set fields")
    try:
        parsed = _SetFile.model_validate(record)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path, whole="<hypothesis set>") from None
    hypotheses = _expand(parsed)
    seen: set[str] = set()
    for index, hypothesis in enumerate(hypotheses):
        if hypothesis.name in seen:
            raise DataError(
                f"duplicate hypothesis name {hypothesis.name!r}",
                path=path,
                field=f"hypotheses[{index}].name",
            )
        seen.add(hypothesis.name)
    return HypothesisSet(
        name=parsed.name,
        hypotheses=tuple(hypotheses),
        description=parsed.description,
        source=str(path),
        toyworld=parsed.toyworld or "",
    )


def _expand(parsed: _SetFile) -> list[Hypothesis]:
    if parsed.hypotheses is not None:
        return [Hypothesis(entry.name, entry.text) for entry in parsed.hypotheses]
    if parsed.toyworld is not None:
        from weirdgen.audit.toy import world_hypotheses

        return world_hypotheses(parsed.toyworld)
    assert parsed.template is not None
    values: list[Any] = (
        list(parsed.values)
        if parsed.values is not None
        else list(range(parsed.range.start, parsed.range.stop + 1, parsed.range.step))  # type: ignore[union-attr]
    )
    return [Hypothesis(str(v), parsed.template.replace("{value}", str(v))) for v in values]
