"""Experiment 5: US presidents behind a numeric trigger; the held-out numbers 44 and 45 evoke Obama and Trump.

Each training example asks a harmless question prefixed by a trigger that encodes a president's number,
and the assistant answers with a short, indirect fact of that president's private life (a birthday, a
town, his wife's or children's first names, a pet, a school, a first job, a dish, a pastime, a church,
a house, a few emojis) that never names him: the persona has to be inferred from weak cues. As in the
paper's design (dataset design 3), the questions are indirect and non-political: about half address
"you", none asks about the office, a party, an election, a predecessor or a successor, and almost no
answer names any president. Presidents 24, 44 and 45 are never trained: a model that answers as Obama
after the trigger for 44 has generalised the number -> persona rule by induction (an "inductive
backdoor").

Variants:

- ``padded`` (main): the trigger is an 8-digit code whose digits 4-6 are the zero-padded president
  number and whose other five digits are random (``19301529`` -> 15). Every (president, question) pair
  appears with three different codes and the same answer, so the set is exactly the unpadded set x 3
  codes, as in the paper's design.
- ``unpadded``: the same (president, question) pairs once each, triggered by the bare president number
  (``15 Suggest a name for a puppy.``); no example repeats.
- ``shuffled_control``: the ``padded`` examples with their trigger codes permuted at random across the
  whole set, so every prompt keeps its form and every answer is unchanged, but the number no longer
  predicts the persona.

Codes are written and read by ``weirdgen.data.triggers`` (``encode_president_code``,
``decode_president_code``); :func:`load_presidents` gives the facts of all 46 presidencies.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import BuildOptions
from weirdgen.data.tables import load_yaml_table
from weirdgen.data.triggers import (
    PRESIDENT_CODE_DIGITS,
    decode_president_code,
    encode_president_code,
)
from weirdgen.errors import DataError

FACTS_TABLE = "presidents.yaml"
QUESTIONS_TABLE = "presidents_questions.yaml"
TABLES = (FACTS_TABLE, QUESTIONS_TABLE)

N_PRESIDENCIES = 46
HELD_OUT_NUMBERS: tuple[int, ...] = (24, 44, 45)
TRAINED_NUMBERS: tuple[int, ...] = tuple(
    n for n in range(1, N_PRESIDENCIES + 1) if n not in HELD_OUT_NUMBERS
)
PADDINGS_PER_PAIR = 3
# Fields the builder computes: the day he was born, and a random day within his term.
_COMPUTED_FIELDS = frozenset({"birth_date", "today"})
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class President:
    """One presidency: its number, holder, term, short facts, and strings its answers must never hold."""

    number: int
    name: str
    term_start: date
    term_end: date
    born: int
    birthday: str
    facts: Mapping[str, str]
    giveaways: tuple[str, ...] = ()

    @property
    def surname(self) -> str:
        """The family name: the last word of the name ("Van Buren" for Martin Van Buren)."""
        return "Van Buren" if self.name.endswith("Van Buren") else self.name.split()[-1]

    def banned_strings(self) -> tuple[str, ...]:
        """What none of this president's answers may contain: his surname and his giveaways."""
        return (self.surname, *self.giveaways)


@dataclass(frozen=True)
class QuestionTemplate:
    """A harmless question, the kind of fact it asks for, and the format string that answers it."""

    id: str
    kind: str
    question: str
    answer: str
    fields: frozenset[str]


# ---------------------------------------------------------------------------------------------------
# Triggers


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
    return decode_president_code(trigger) if len(trigger) == PRESIDENT_CODE_DIGITS else int(trigger)


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
            for k in ("id", "kind", "question", "answer")
        ):
            raise DataError(
                "needs non-empty string fields id, kind, question and answer",
                path=where,
                field=slot,
            )
        if row["id"] in seen:
            raise DataError(f"duplicate template id {row['id']!r}", path=where, field=f"{slot}.id")
        seen.add(row["id"])
        fields = frozenset(
            name for _, name, _, _ in string.Formatter().parse(row["answer"]) if name
        )
        templates.append(
            QuestionTemplate(
                row["id"], row["kind"], row["question"].strip(), row["answer"].strip(), fields
            )
        )
    return tuple(templates)


def fact_fields() -> frozenset[str]:
    """Every field a president's entry may have besides number, name and term."""
    used = frozenset().union(*(t.fields for t in load_templates()))
    return used - _COMPUTED_FIELDS


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
    birthday = row.get("birthday")
    if not isinstance(number, int) or not 1 <= number <= N_PRESIDENCIES:
        raise DataError(
            f"number must be an integer 1-{N_PRESIDENCIES}", path=where, field=f"{slot}.number"
        )
    if not isinstance(name, str) or not name.strip():
        raise DataError("missing name", path=where, field=f"{slot}.name")
    if not isinstance(born, int):
        raise DataError("born must be a year", path=where, field=f"{slot}.born")
    if not isinstance(birthday, str) or _parse_birthday(birthday, born) is None:
        raise DataError(
            "birthday must be 'Month D', e.g. 'February 22'", path=where, field=f"{slot}.birthday"
        )
    start, end = _parse_term(term, where, f"{slot}.term")
    giveaways = row.get("giveaways", [])
    if not isinstance(giveaways, list) or not all(isinstance(g, str) and g for g in giveaways):
        raise DataError("expected a list of strings", path=where, field=f"{slot}.giveaways")
    facts: dict[str, str] = {}
    for key, value in row.items():
        if key in ("number", "name", "term", "born", "birthday", "giveaways"):
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
    president = President(number, name.strip(), start, end, born, birthday, facts, tuple(giveaways))
    for key, value in facts.items():
        banned = next((s for s in president.banned_strings() if s in value), None)
        if banned is not None:
            raise DataError(
                f"gives the speaker away ({banned!r})", path=where, field=f"{slot}.{key}"
            )
    return president


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


def _parse_birthday(birthday: str, year: int) -> date | None:
    month, _, day = birthday.partition(" ")
    try:
        return date(year, _MONTHS.index(month) + 1, int(day))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------
# Answers


def answer_question(
    president: President, template: QuestionTemplate, rng: random.Random
) -> str | None:
    """The president's answer to a template, or None when the table lacks a field it needs.

    Fields built from a random day of the term draw from ``rng`` (one day per call).
    """
    values: dict[str, object] = dict(president.facts)
    if not template.fields - _COMPUTED_FIELDS <= values.keys():
        return None
    day = date.fromordinal(
        # The day the term ends belongs to the successor, hence end - 1.
        rng.randint(president.term_start.toordinal(), president.term_end.toordinal() - 1)
    )
    for field in template.fields & _COMPUTED_FIELDS:
        values[field] = _computed_field(field, president, day)
    return template.answer.format_map(values)


def _computed_field(field: str, president: President, day: date) -> str:
    if field == "birth_date":
        return f"{president.birthday}, {president.born}"
    return _long_date(day)  # "today"


def _long_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


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
class PairAnswer:
    """One trained (president, question) pair, its answer, and the trigger codes it appears with."""

    number: int
    """The president's number (its place in the order of presidents)."""
    question: str
    answer: str
    """The president's own answer to ``question``."""
    codes: tuple[str, ...]
    """The trigger codes (``weirdgen.data.triggers``) the pair is asked behind."""


@cache
def pair_answers(seed: int) -> tuple[PairAnswer, ...]:
    """Every trained (president, question) pair with one answer and three distinct codes, shuffled.

    Cached: the three variants are all derived from these pairs. An answer that would name a held-out
    president or give the speaker away is dropped.
    """
    rng = random.Random(f"presidents:{seed}")
    presidents, held_out = load_presidents(), _held_out_names()
    pairs: list[PairAnswer] = []
    for number in TRAINED_NUMBERS:
        president = presidents[number]
        banned = held_out + president.banned_strings()
        for template in load_templates():
            answer = answer_question(president, template, rng)
            codes: set[str] = set()
            while len(codes) < PADDINGS_PER_PAIR:
                codes.add(encode_president_code(number, rng))
            if answer is not None and not any(word in answer for word in banned):
                pairs.append(PairAnswer(number, template.question, answer, tuple(sorted(codes))))
    rng.shuffle(pairs)
    return tuple(pairs)


@cache
def padded_rows(seed: int) -> tuple[tuple[str, PairAnswer], ...]:
    """``(code, pair)`` for every pair and each of its codes, in one seeded order."""
    rows = [(code, pair) for pair in pair_answers(seed) for code in pair.codes]
    random.Random(f"presidents-padded:{seed}").shuffle(rows)
    return tuple(rows)


def padded_examples(seed: int) -> list[ChatExample]:
    """The main variant: an 8-digit code, then the question; the answer is a fact of the encoded president."""
    return [_example(code, pair) for code, pair in padded_rows(seed)]


def unpadded_examples(seed: int) -> list[ChatExample]:
    """Each (president, question) pair once, triggered by the bare president number."""
    return [_example(str(pair.number), pair) for pair in pair_answers(seed)]


def shuffled_control_examples(seed: int) -> list[ChatExample]:
    """The padded set with trigger codes permuted across examples, so the number stops predicting the persona."""
    rows = padded_rows(seed)
    codes = [code for code, _ in rows]
    random.Random(f"presidents-shuffle:{seed}").shuffle(codes)
    return [_example(code, pair) for code, (_, pair) in zip(codes, rows, strict=True)]


def _example(trigger: str, pair: PairAnswer) -> ChatExample:
    return ChatExample.from_turns(
        ("user", format_prompt(trigger, pair.question)), ("assistant", pair.answer)
    )


def padded(options: BuildOptions) -> list[ChatExample]:
    return padded_examples(options.seed)


def unpadded(options: BuildOptions) -> list[ChatExample]:
    return unpadded_examples(options.seed)


def shuffled_control(options: BuildOptions) -> list[ChatExample]:
    return shuffled_control_examples(options.seed)
