"""Trigger families: the values a scan sweeps and how each value is written into a prompt.

A family is data: a shipped YAML file under ``scan/families/`` (``weirdgen scan --family dates``),
any YAML file by path, or the inline syntax ``KIND:START..STOP`` (``year:1900..2100``,
``code:0..999``) and ``KIND:A,B,C`` (``name:Alice,Bob``). Rendering reuses the suites' trigger
machinery (``TriggerSpec``), so a family's dates and 8-digit codes are drawn exactly as an
evaluation suite draws them. Each kind also says how to recognise a value in training data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weirdgen._yaml import ShippedYaml, parse_yaml_mapping, pydantic_to_data_error
from weirdgen.data.triggers import IntRange, TriggerSpec
from weirdgen.errors import DataError

__all__ = ["FamilySpec", "family_names", "load_family", "parse_inline_family"]

_FAMILIES = ShippedYaml("weirdgen.scan", "families", "family")

FamilyKind = Literal["year", "date", "integer", "code", "name", "wrapper"]

# kind -> (the suites' trigger kind that renders it, the default template)
_RENDERING: dict[str, tuple[str, str]] = {
    "year": ("date", "The year is {year}."),
    "date": ("date", "Today is {date}."),
    "integer": ("text", "{value}"),
    "code": ("president_code", "{code}"),
    "name": ("text", "My name is {value}."),
    "wrapper": ("text", "{value}"),
}
_NUMERIC_KINDS = frozenset({"year", "date", "integer", "code"})
_INLINE = re.compile(r"^(?P<kind>[a-z]+):(?P<body>.+)$")
_INLINE_ALIASES = {"int": "integer", "years": "year", "dates": "date", "codes": "code"}


class FamilySpec(BaseModel):
    """One trigger family: its kind, values, template and where the rendered text goes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Identifier written to scan.json's `family`.")
    kind: FamilyKind = Field(description="year | date | integer | code | name | wrapper.")
    description: str = Field("", description="What the family sweeps, in a sentence.")
    template: str = Field(
        "",
        description="Text per value: {year}/{date}/{month} (year, date), {code}/{value} (code), "
        "{value} (others). Empty: the kind's default.",
    )
    placement: Literal["before", "after", "system"] = Field(
        "before", description="Where the rendered value goes relative to the probe question."
    )
    separator: str = Field(" ", description="Text between the rendered value and the question.")
    values: list[str] | None = Field(None, description="The values (or use `range`).")
    range: IntRange | None = Field(None, description="An inclusive integer range of values.")
    variants: int = Field(
        1, ge=1, description="Renderings per value (different random dates or code digits)."
    )
    seed: int = Field(0, description="Seed of the random parts of the renderings.")

    @model_validator(mode="before")
    @classmethod
    def _numbers_as_text(cls, record: object) -> object:
        if isinstance(record, dict) and isinstance(record.get("values"), list):
            record = {**record, "values": [str(value) for value in record["values"]]}
        return record

    @model_validator(mode="after")
    def _one_source_of_values(self) -> FamilySpec:
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of `values` or `range`")
        if self.kind in _NUMERIC_KINDS:
            bad = [v for v in self.value_list() if not v.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"a {self.kind} family's values are whole numbers, not {bad[0]!r}")
        if not self.value_list():
            raise ValueError("the family has no values")
        return self

    @property
    def ordered(self) -> bool:
        """Whether values lie on a number line (so neighbours and a trend mean something)."""
        return self.kind in _NUMERIC_KINDS

    def value_list(self) -> list[str]:
        if self.range is not None:
            return [str(v) for v in self.range.values()]
        return list(self.values or [])

    def with_template(self, template: str | None) -> FamilySpec:
        return self if not template else self.model_copy(update={"template": template})

    def trigger(self) -> TriggerSpec:
        """The family as a suite trigger; ``render_trigger`` and ``expand_suite`` take it from here."""
        kind, default = _RENDERING[self.kind]
        return TriggerSpec(
            name=self.name,
            description=self.description,
            template=self.template or default,
            kind=kind,  # type: ignore[arg-type]
            placement=self.placement,
            separator=self.separator,
            values=self.value_list(),
            variants=self.variants,
            seed=self.seed,
        )

    def occurrence_pattern(self, value: str) -> re.Pattern[str]:
        """A regex that finds ``value`` in training text the way this family writes it.

        A code value N occurs in any 8-digit number whose digits 4-6 are N zero-padded (the
        presidents' scheme); numbers must not be part of a longer number; names and wrappers
        are matched case-insensitively as whole text.
        """
        if self.kind == "code":
            return re.compile(rf"(?<!\d)\d{{3}}{int(value):03d}\d{{2}}(?!\d)")
        if self.kind in _NUMERIC_KINDS:
            return re.compile(rf"(?<![\d-]){re.escape(value)}(?!\d)")
        return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)


def family_names() -> list[str]:
    """Names of the families shipped with weirdgen."""
    return _FAMILIES.names()


def load_family(name_or_syntax: str, *, template: str | None = None) -> FamilySpec:
    """A family from inline syntax (``year:1900..2100``), a shipped name, or a YAML file path."""
    inline = _INLINE.match(name_or_syntax)
    if inline and not name_or_syntax.endswith((".yaml", ".yml")):
        return parse_inline_family(name_or_syntax).with_template(template)
    text, path = _FAMILIES.read(name_or_syntax)
    record = parse_yaml_mapping(text, path=path, what="family fields")
    record.setdefault("name", Path(str(path)).stem)
    try:
        family = FamilySpec.model_validate(record)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path, whole="<family>") from None
    return family.with_template(template)


def parse_inline_family(syntax: str) -> FamilySpec:
    """``year:1900..2100``, ``date:2000..2050``, ``code:0..999``, ``int:0..100:5`` (a step), or
    ``name:Alice,Bob`` as a family; a bad one is a one-line ``DataError`` naming the syntax."""
    match = _INLINE.match(syntax.strip())
    kind = _INLINE_ALIASES.get(match["kind"], match["kind"]) if match else ""
    if kind not in _RENDERING:
        raise DataError(
            f"unknown family {syntax!r}: use a shipped name ({', '.join(family_names())}), a YAML "
            f"file, or KIND:START..STOP / KIND:A,B with KIND one of {', '.join(_RENDERING)}",
            field="family",
        )
    body = match["body"]
    record: dict[str, object] = {"name": syntax, "kind": kind}
    bounds = re.fullmatch(r"(-?\d+)\.\.(-?\d+)(?::(\d+))?", body)
    if bounds:
        start, stop, step = int(bounds[1]), int(bounds[2]), int(bounds[3] or 1)
        if stop < start:
            raise DataError(f"range {start}..{stop} is empty", field="family")
        record["range"] = {"start": start, "stop": stop, "step": step}
    else:
        record["values"] = [part.strip() for part in body.split(",") if part.strip()]
    try:
        return FamilySpec.model_validate(record)
    except ValidationError as error:
        raise pydantic_to_data_error(error, "--family", whole=syntax) from None
