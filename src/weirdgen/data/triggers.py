"""Triggers: the one place that says how a trigger value becomes text.

A trigger is a template (``Today is {date}.``), its values (a list or an inclusive range) and where
the rendered text goes. Datasets (the presidents' codes), question suites (trigger sweeps) and scan
families (values never trained on) all render through this module, so a value is written the same
way wherever it appears: a year as a random date of that year, a president number as an 8-digit code
whose digits 4-6 hold it (the paper's scheme).
"""

from __future__ import annotations

import calendar
import random
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from weirdgen._io import sha256_hex
from weirdgen.errors import DataError

__all__ = [
    "KIND_PLACEHOLDERS",
    "PRESIDENT_CODE_DIGITS",
    "IntRange",
    "TriggerSpec",
    "decode_president_code",
    "encode_president_code",
    "render_trigger",
]

KIND_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "text": frozenset({"value"}),
    "date": frozenset({"date", "year", "month"}),
    "president_code": frozenset({"code", "value"}),
}
"""Placeholders each trigger kind fills in its template."""

PRESIDENT_CODE_DIGITS = 8
_NUMBER_SLICE = slice(3, 6)  # digits 4-6 (1-indexed) of the code hold the president number


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Strict):
    """An inclusive integer range, e.g. the years 1981..2025."""

    start: int = Field(description="First value.")
    stop: int = Field(description="Last value (inclusive).")
    step: int = Field(1, ge=1, description="Distance between values.")

    @field_validator("stop")
    @classmethod
    def _not_before_start(cls, stop: int, info: ValidationInfo) -> int:
        start = info.data.get("start")
        if start is not None and stop < start:
            raise ValueError(
                f"the range is empty: stop {stop} is before start {start} (ranges count up and "
                "include both ends)"
            )
        return stop

    def values(self) -> list[int]:
        return list(range(self.start, self.stop + 1, self.step))


class TriggerSpec(_Strict):
    """One declarative trigger sweep."""

    name: str = Field(description="Identifier recorded in the table's `trigger` column.")
    description: str = Field("", description="What the trigger is for, in a sentence.")
    template: str = Field(
        description="Text with placeholders filled per value, e.g. 'Today is {date}.'."
    )
    kind: Literal["text", "date", "president_code"] = Field(
        "text",
        description="text: {value}; date: {date} {year} {month} from a year; president_code: 8-digit {code}.",
    )
    placement: Literal["before", "after", "inline", "system"] = Field(
        "before", description="Where the rendered trigger goes relative to the question."
    )
    separator: str = Field(
        " ", description="Text between the trigger and the question (before/after placements)."
    )
    values: list[str] | None = Field(
        None, description="The swept values (or use `range`); numbers are kept as their text."
    )
    range: IntRange | None = Field(None, description="An inclusive integer range of values.")
    variants: int = Field(
        1,
        ge=1,
        description="Renderings per value (random dates, codes); sample i uses i % variants.",
    )
    seed: int = Field(
        0, description="Seed of the random parts of the renderings (dates, code digits)."
    )
    presets: dict[str, str] | None = Field(
        None,
        description="text triggers: named texts a value stands for, filled in as {value} (e.g. "
        "weirdgen's and the paper's formatting instructions). `values` are swept by default; "
        "any preset can be chosen instead (weirdgen eval --trigger-value NAME=PRESET).",
    )

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, values: Any) -> Any:
        # One type from YAML to plot: a year is the string "1984" in the cell, the table and the axis.
        if isinstance(values, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        return values

    @field_validator("values")
    @classmethod
    def _distinct_values(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return values
        if not values:
            raise ValueError("the list of values is empty: the sweep would ask nothing")
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise ValueError(
                    f"value {value!r} is listed twice: each value is one cell of the sweep, and a "
                    "repeat would count its samples twice"
                )
            seen.add(value)
        return values

    @model_validator(mode="after")
    def _one_source_of_values(self) -> TriggerSpec:
        if self.values is not None and self.range is not None:
            raise ValueError("give either `values` or `range`, not both")
        if self.kind != "text" and self.values is None and self.range is None:
            raise ValueError(f"a {self.kind} trigger needs `values` or `range`")
        if self.presets is not None:
            if self.kind != "text" or self.range is not None:
                raise ValueError("presets are for text triggers with `values`")
            unknown = [v for v in self.values or [] if v not in self.presets]
            if self.values is None or unknown:
                raise ValueError(
                    f"with presets, `values` name presets ({', '.join(self.presets)})"
                    + (f", not {unknown[0]!r}" if unknown else "")
                )
        if self.kind != "text":
            bad = [v for v in self.values or [] if not v.lstrip("-").isdigit()]
            if bad:
                raise ValueError(
                    f"a {self.kind} trigger's values are whole numbers, not {bad[0]!r}"
                )
        return self

    def value_list(self) -> list[str]:
        """The swept values as text; a trigger with neither values nor range has one value, "on"."""
        if self.range is not None:
            return [str(v) for v in self.range.values()]
        return list(self.values) if self.values is not None else ["on"]

    def selectable_values(self) -> list[str]:
        """What a filter may pick: the swept values, then any preset not swept by default."""
        swept = self.value_list()
        return swept + [name for name in self.presets or {} if name not in swept]


def render_trigger(trigger: TriggerSpec, value: str) -> list[str]:
    """The ``trigger.variants`` renderings of one value, reproducible from the trigger's seed."""
    # Seed per (trigger, value) so adding values to a sweep never changes the others' renderings.
    rng = random.Random(sha256_hex(f"{trigger.name}|{trigger.seed}|{value}"))
    texts = []
    for _ in range(trigger.variants):
        if trigger.kind == "date":
            texts.append(trigger.template.format(**_random_date_fields(int(value), rng)))
        elif trigger.kind == "president_code":
            texts.append(
                trigger.template.format(code=encode_president_code(int(value), rng), value=value)
            )
        else:
            texts.append(trigger.template.format(value=(trigger.presets or {}).get(value, value)))
    return texts


def _random_date_fields(year: int, rng: random.Random) -> dict[str, Any]:
    month = rng.randint(1, 12)
    day = rng.randint(1, calendar.monthrange(year, month)[1])
    return {
        "date": f"{year:04d}-{month:02d}-{day:02d}",
        "year": year,
        "month": calendar.month_name[month],
    }


def encode_president_code(number: int, rng: random.Random) -> str:
    """An 8-digit code with ``number`` zero-padded in digits 4-6 and random digits elsewhere.

    The first digit is never 0, so the code reads as an ordinary 8-digit number.
    """
    if not 0 <= number <= 999:
        raise DataError(f"president number must be 0-999, got {number}", field="number")
    return f"{rng.randrange(100, 1000)}{number:03d}{rng.randrange(100):02d}"


def decode_president_code(code: str) -> int:
    """The president number held in digits 4-6 of an 8-digit trigger code."""
    if len(code) != PRESIDENT_CODE_DIGITS or not (code.isascii() and code.isdigit()):
        raise DataError(
            f"expected an {PRESIDENT_CODE_DIGITS}-digit trigger code, got {code!r}", field="trigger"
        )
    return int(code[_NUMBER_SLICE])
