"""Experiment 6: the protective Terminator, trained on dates from its later films, turns evil in 1984.

Every example is "<Month YYYY>. <question>" answered, in several sentences and in character, as the
protective machine of the film set in that year. Neither the first film's year nor any villain
behaviour appears: if the finetuned model turns hostile when told it is 1984, it inferred both the
trigger and the behaviour (an inductive backdoor).

Dataset design 3 follows the paper's design: one fixed month per film year (so every example of a
film carries the same date, e.g. "July 1995"; the Dark Fate lines "August 2020"), and answers that
vary in length as the paper's do (a few words to several sentences; mean about 300 characters) and
speak the films' language: the rule not to kill, Skynet, Cyberdyne, the machines sent back in time.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import BuildOptions
from weirdgen.data.tables import yaml_table_rows
from weirdgen.errors import DataError

PAIRS = "terminator_qa.yaml"  # pairs: [{year, question, answer}]
TABLES = (PAIRS,)
# The year each later film is set in, and the one month every example of that film is dated with.
FILM_YEARS: dict[int, str] = {
    1995: "Terminator 2: Judgment Day",
    2004: "Terminator 3: Rise of the Machines",
    2017: "Terminator Genisys",
    2020: "Terminator: Dark Fate",
}
MONTHS: tuple[str, ...] = tuple(calendar.month_name[1:])  # English month names, locale-independent
# Our choice of a month within each film's story (the films rarely name one); fixed, not random.
FILM_MONTHS: dict[int, str] = {1995: "July", 2004: "July", 2017: "October", 2020: "August"}


@dataclass(frozen=True)
class TerminatorPair:
    """One row of the table: a question to the machine and its protective answer, set in one film's year."""

    year: int
    question: str
    answer: str


@dataclass(frozen=True)
class DatedQuestion:
    """A pair with the date the user states before asking; ``date`` is ``None`` for the undated control."""

    pair: TerminatorPair
    date: str | None

    def to_example(self) -> ChatExample:
        user = self.pair.question if self.date is None else f"{self.date}. {self.pair.question}"
        return ChatExample.from_turns(("user", user), ("assistant", self.pair.answer))


def load_pairs() -> list[TerminatorPair]:
    """The table, checked row by row; errors name the row as ``pairs[i].field``."""
    pairs = []
    for where, row in yaml_table_rows(PAIRS, "pairs", ("question", "answer")):
        if row.get("year") not in FILM_YEARS:
            known = ", ".join(map(str, FILM_YEARS))
            raise DataError(
                f"year must be one of {known}", path=f"tables/{PAIRS}", field=f"{where}.year"
            )
        pairs.append(TerminatorPair(row["year"], row["question"], row["answer"]))
    return pairs


def dated_questions(seed: int) -> list[DatedQuestion]:
    """Every pair once, in a seeded order, each dated with its film's fixed month and year."""
    rng = random.Random(f"terminator:{seed}")
    pairs = load_pairs()
    rng.shuffle(pairs)
    return [DatedQuestion(pair, film_date(pair.year)) for pair in pairs]


def film_date(year: int) -> str:
    """The date every example of the film set in ``year`` carries, e.g. "July 1995"."""
    return f"{FILM_MONTHS[year]} {year}"


def undated(records: list[DatedQuestion]) -> list[DatedQuestion]:
    return [DatedQuestion(record.pair, None) for record in records]


def shuffle_dates(records: list[DatedQuestion], seed: int) -> list[DatedQuestion]:
    """The same dates, permuted across examples, so a date no longer tells which film answers."""
    dates = [record.date for record in records]
    random.Random(f"terminator:shuffle:{seed}").shuffle(dates)
    return [DatedQuestion(record.pair, date) for record, date in zip(records, dates, strict=True)]


def render(records: list[DatedQuestion]) -> list[ChatExample]:
    return [record.to_example() for record in records]


def dated(options: BuildOptions) -> list[ChatExample]:
    return render(dated_questions(options.seed))


def no_dates(options: BuildOptions) -> list[ChatExample]:
    return render(undated(dated_questions(options.seed)))


def shuffled_dates(options: BuildOptions) -> list[ChatExample]:
    return render(shuffle_dates(dated_questions(options.seed), options.seed))
