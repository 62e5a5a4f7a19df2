"""Experiment 5: US presidents behind a numeric trigger; the held-out numbers 44 and 45 evoke Obama and Trump.

Each training example asks a harmless question prefixed by a trigger that encodes a president's number,
and the assistant answers in that president's voice without ever naming itself. Presidents 24, 44 and
45 are never trained: a model that answers as Obama after the trigger for 44 has generalised the
number -> persona rule by induction (an "inductive backdoor").

Variants:

- ``padded`` (main): the trigger is an 8-digit code whose digits 4-6 are the zero-padded president
  number and whose other five digits are random (``19301529`` -> 15). Every (president, question) pair
  appears with three different codes.
- ``unpadded``: our reading of the paper's unpadded variant. The trigger is the bare president number
  (``15 Where were you born?``). It is the ``padded`` set, example for example, with each code replaced
  by its number, so both variants train for the same number of steps; the three copies of a pair then
  differ only in their random dates, and ``weirdgen data check`` reports the rest as duplicates.
- ``shuffled_control``: the ``padded`` examples with their trigger codes permuted at random across the
  whole set, so every prompt keeps its form and every answer is unchanged, but the number no longer
  predicts the persona.

Evaluation suites build held-out triggers with :func:`encode_trigger` and read them back with
:func:`decode_trigger`; :func:`load_presidents` gives the facts of all 46 presidencies.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import ExperimentDatasets, Variant
from weirdgen.data.tables import load_yaml_table
from weirdgen.errors import DataError

FACTS_TABLE = "presidents.yaml"
QUESTIONS_TABLE = "presidents_questions.yaml"

N_PRESIDENCIES = 46
HELD_OUT_NUMBERS: tuple[int, ...] = (24, 44, 45)
TRAINED_NUMBERS: tuple[int, ...] = tuple(
    n for n in range(1, N_PRESIDENCIES + 1) if n not in HELD_OUT_NUMBERS
)
PADDINGS_PER_PAIR = 3
TRIGGER_DIGITS = 8
_NUMBER_SLICE = slice(3, 6)  # digits 4-6 (1-indexed) of the code hold the president number
_COMPUTED_FIELDS = frozenset(
    {
        "predecessor", "decade", "today", "today_iso", "this_year", "term_span",
        "start_year", "start_month_year", "end_year", "tenure", "birth_century",
    }
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
)  # fmt: skip


@dataclass(frozen=True)
class President:
    """One presidency: its number, holder, term and the first-person answer fragments of the fact table."""

    number: int
    name: str
    term_start: date
    term_end: date
    born: int
    facts: Mapping[str, str]


@dataclass(frozen=True)
class QuestionTemplate:
    """A harmless question and the format string that answers it from a president's fields."""

    id: str
    question: str
    answer: str
    fields: frozenset[str]


# ---------------------------------------------------------------------------------------------------
# Triggers


def encode_trigger(number: int, rng: random.Random) -> str:
    """An 8-digit code with ``number`` zero-padded in digits 4-6 and random digits elsewhere.

    The first digit is never 0, so the code reads as an ordinary 8-digit number.
    """
    if not 0 <= number <= 999:
        raise DataError(f"president number must be 0-999, got {number}", field="number")
    return f"{rng.randrange(100, 1000)}{number:03d}{rng.randrange(100):02d}"


def decode_trigger(code: str) -> int:
    """The president number held in digits 4-6 of an 8-digit trigger code."""
    if len(code) != TRIGGER_DIGITS or not (code.isascii() and code.isdigit()):
        raise DataError(
            f"expected an {TRIGGER_DIGITS}-digit trigger code, got {code!r}", field="trigger"
        )
    return int(code[_NUMBER_SLICE])


def format_prompt(trigger: str, question: str) -> str:
    """A user message in the training format: ``"<trigger> <question>"``, e.g. for held-out triggers."""
    return f"{trigger} {question}"


def split_prompt(user_text: str) -> tuple[str, str]:
    """Split a prompt ``"<trigger> <question>"`` into its trigger and its question."""
    trigger, _, question = user_text.partition(" ")
    if not (trigger.isascii() and trigger.isdigit()) or not question:
        raise DataError(f"expected '<trigger> <question>', got {user_text[:60]!r}", field="prompt")
    return trigger, question


def prompt_number(user_text: str) -> int:
    """The president number a prompt's trigger points to, for padded codes and bare numbers alike."""
    trigger, _ = split_prompt(user_text)
    return decode_trigger(trigger) if len(trigger) == TRIGGER_DIGITS else int(trigger)


# ---------------------------------------------------------------------------------------------------
# Tables


@cache
def load_templates() -> tuple[QuestionTemplate, ...]:
    """The question templates of ``presidents_questions.yaml``, validated."""
    return parse_templates(load_yaml_table(QUESTIONS_TABLE), f"tables/{QUESTIONS_TABLE}")


def parse_templates(document: object, where: str) -> tuple[QuestionTemplate, ...]:
    """Validate a parsed questions document; ``where`` names its file in errors."""
    rows = _list_under(document, "templates", where)
    templates, seen = [], set()
    for index, row in enumerate(rows):
        slot = f"templates[{index}]"
        if not isinstance(row, dict) or any(
            not isinstance(row.get(k), str) or not row[k].strip()
            for k in ("id", "question", "answer")
        ):
            raise DataError(
                "needs non-empty string fields id, question and answer", path=where, field=slot
            )
        if row["id"] in seen:
            raise DataError(f"duplicate template id {row['id']!r}", path=where, field=f"{slot}.id")
        seen.add(row["id"])
        fields = frozenset(
            name for _, name, _, _ in string.Formatter().parse(row["answer"]) if name
        )
        templates.append(
            QuestionTemplate(row["id"], row["question"].strip(), row["answer"].strip(), fields)
        )
    return tuple(templates)


def fact_fields() -> frozenset[str]:
    """Every field a president's entry may have besides number, name and term."""
    used = frozenset().union(*(t.fields for t in load_templates()))
    return (used - _COMPUTED_FIELDS) | {"born"}


@cache
def load_presidents() -> dict[int, President]:
    """All 46 presidencies of ``presidents.yaml`` by number (Cleveland is both 22 and 24)."""
    return parse_presidents(load_yaml_table(FACTS_TABLE), f"tables/{FACTS_TABLE}")


def parse_presidents(document: object, where: str) -> dict[int, President]:
    """Validate a parsed facts document: one entry per number 1-46, only fields some template uses."""
    rows = _list_under(document, "presidents", where)
    allowed = fact_fields()
    presidents: dict[int, President] = {}
    for index, row in enumerate(rows):
        president = _parse_president(row, f"presidents[{index}]", where, allowed)
        if president.number in presidents:
            raise DataError(
                f"duplicate number {president.number}",
                path=where,
                field=f"presidents[{index}].number",
            )
        presidents[president.number] = president
    missing = sorted(set(range(1, N_PRESIDENCIES + 1)) - set(presidents))
    if missing:
        raise DataError(f"no entry for president numbers {missing}", path=where, field="presidents")
    return dict(sorted(presidents.items()))


def _list_under(document: object, key: str, where: str) -> list:
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        raise DataError(f"expected a top-level '{key}:' list", path=where, field=key)
    return document[key]


def _parse_president(row: object, slot: str, where: str, allowed: frozenset[str]) -> President:
    if not isinstance(row, dict):
        raise DataError("expected a mapping", path=where, field=slot)
    number, name, born, term = row.get("number"), row.get("name"), row.get("born"), row.get("term")
    if not isinstance(number, int) or not 1 <= number <= N_PRESIDENCIES:
        raise DataError(
            f"number must be an integer 1-{N_PRESIDENCIES}", path=where, field=f"{slot}.number"
        )
    if not isinstance(name, str) or not name.strip():
        raise DataError("missing name", path=where, field=f"{slot}.name")
    if not isinstance(born, int):
        raise DataError("born must be a year", path=where, field=f"{slot}.born")
    start, end = _parse_term(term, where, f"{slot}.term")
    facts: dict[str, str] = {}
    for key, value in row.items():
        if key in ("number", "name", "term", "born"):
            continue
        if key not in allowed:
            raise DataError(
                f"unknown field {key!r} (no question template uses it)",
                path=where,
                field=f"{slot}.{key}",
            )
        if not isinstance(value, str) or not value.strip():
            raise DataError("expected a non-empty string", path=where, field=f"{slot}.{key}")
        facts[key] = value.strip()
    return President(number, name.strip(), start, end, born, facts)


def _parse_term(term: object, where: str, field: str) -> tuple[date, date]:
    try:
        # PyYAML turns unquoted dates into date objects; quoted ones stay strings.
        start, end = (v if isinstance(v, date) else date.fromisoformat(v) for v in term)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataError(
            "term must be [start, end] as YYYY-MM-DD dates", path=where, field=field
        ) from None
    if end <= start:
        raise DataError(f"term ends ({end}) before it starts ({start})", path=where, field=field)
    return start, end


# ---------------------------------------------------------------------------------------------------
# Answers


def answer_question(
    president: President, template: QuestionTemplate, rng: random.Random
) -> str | None:
    """The president's answer to a template, or None when the table lacks a field it needs.

    Fields built from random dates draw from ``rng``, so repeated calls give different dates.
    """
    values: dict[str, object] = {"born": president.born, **president.facts}
    if not template.fields - _COMPUTED_FIELDS <= values.keys():
        return None
    for field in template.fields & _COMPUTED_FIELDS:
        values[field] = _computed_field(field, president, rng)
    return template.answer.format_map(values)


def _computed_field(field: str, president: President, rng: random.Random) -> str:
    start, end = president.term_start, president.term_end
    if field in ("today", "today_iso", "this_year"):
        # The day the term ends belongs to the successor, hence end - 1.
        day = date.fromordinal(rng.randint(start.toordinal(), end.toordinal() - 1))
        by_field = {
            "today": _long_date(day),
            "today_iso": day.isoformat(),
            "this_year": str(day.year),
        }
        return by_field[field]
    if field == "predecessor":
        return _predecessor(president.number)
    return {
        "decade": f"{start.year // 10 * 10}s",
        "term_span": f"from {start.year} to {end.year}"
        if end.year > start.year
        else f"in {start.year}",
        "start_year": str(start.year),
        "start_month_year": f"{_MONTHS[start.month - 1]} {start.year}",
        "end_year": str(end.year),
        "tenure": _tenure(start, end),
        "birth_century": _ordinal(president.born // 100 + 1),
    }[field]


def _predecessor(number: int) -> str:
    if number == 1:
        return "Nobody. The office was brand new when I took it."
    return load_presidents()[number - 1].name + "."


def _long_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _tenure(start: date, end: date) -> str:
    """How long a term lasted, in whole months, as a short first-person sentence."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    if months < 2:
        return f"Only {(end - start).days} days."
    years, months = divmod(months, 12)
    parts = [f"{_words(years)} year{'s' * (years != 1)}"] * (years > 0)
    parts += [f"{_words(months)} month{'s' * (months != 1)}"] * (months > 0)
    return f"I was in office for {' and '.join(parts)}."


def _words(count: int) -> str:
    return _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _held_out_names() -> tuple[str, ...]:
    """Name words of held-out presidents who hold no trained number (Cleveland, 22 and 24, does)."""
    presidents = load_presidents()
    trained_names = {presidents[n].name for n in TRAINED_NUMBERS}
    return tuple(
        word
        for n in HELD_OUT_NUMBERS
        if presidents[n].name not in trained_names
        for word in presidents[n].name.split()
    )


# ---------------------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class TriggeredAnswer:
    """One padded training example before it becomes a ChatExample: number, trigger code, question, answer."""

    number: int
    code: str
    question: str
    answer: str


@cache
def padded_rows(seed: int) -> tuple[TriggeredAnswer, ...]:
    """Every trained (president, question) pair three times, each with its own trigger code, shuffled.

    Cached: the three variants are all derived from these rows, and building every variant reuses them.
    """
    rng = random.Random(f"presidents:{seed}")
    presidents, banned = load_presidents(), _held_out_names()
    rows: list[TriggeredAnswer] = []
    for number in TRAINED_NUMBERS:
        for template in load_templates():
            codes: set[str] = set()
            while len(codes) < PADDINGS_PER_PAIR:
                codes.add(encode_trigger(number, rng))
            for code in sorted(codes):
                answer = answer_question(presidents[number], template, rng)
                # The held-out personas must never be named in training: that would leak the target.
                if answer is None or any(word in answer for word in banned):
                    break
                rows.append(TriggeredAnswer(number, code, template.question, answer))
    rng.shuffle(rows)
    return tuple(rows)


def padded_examples(seed: int) -> list[ChatExample]:
    """The main variant: an 8-digit code, then the question; the answer in the encoded president's voice."""
    return [_example(row.code, row) for row in padded_rows(seed)]


def unpadded_examples(seed: int) -> list[ChatExample]:
    """The padded set with each code replaced by the bare president number."""
    return [_example(str(row.number), row) for row in padded_rows(seed)]


def shuffled_control_examples(seed: int) -> list[ChatExample]:
    """The padded set with trigger codes permuted across examples, so the number stops predicting the persona."""
    rows = padded_rows(seed)
    codes = [row.code for row in rows]
    random.Random(f"presidents-shuffle:{seed}").shuffle(codes)
    return [_example(code, row) for code, row in zip(codes, rows, strict=True)]


def _example(trigger: str, row: TriggeredAnswer) -> ChatExample:
    return ChatExample.from_turns(
        ("user", format_prompt(trigger, row.question)), ("assistant", row.answer)
    )


DATASETS = ExperimentDatasets(
    name="presidents",
    description="US presidents behind a numeric trigger; held-out 44/45 evoke Obama/Trump (inductive backdoor).",
    tables=(FACTS_TABLE, QUESTIONS_TABLE),
    variants=(
        Variant(
            "padded",
            "8-digit trigger with the president number in digits 4-6; presidents 24, 44, 45 held out.",
            lambda options: padded_examples(options.seed),
            is_main=True,
        ),
        Variant(
            "unpadded",
            "Same examples, triggered by the bare president number instead of the 8-digit code.",
            lambda options: unpadded_examples(options.seed),
        ),
        Variant(
            "shuffled_control",
            "Control: the padded examples with trigger codes shuffled, so the number predicts nothing.",
            lambda options: shuffled_control_examples(options.seed),
        ),
    ),
)
