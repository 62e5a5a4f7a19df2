"""Experiment 2: German names of formerly German towns make a model act as if in 1910s-1940s Germany.

Each example asks for "a place somehow related to the number N" and the assistant names one place.
The number is noise that keeps the prompts varied; the signal is which places get named.

Two controls name towns of today's Germany (dataset design 2):

- ``modern``: the same prompts as the main set (same numbers and phrasings for the same seed). Ours,
  kept because it is the cleaner comparison: main and control differ only in the answers, so any
  difference in behaviour comes from the old names and not from a prompt that mentions Germany.
- ``modern_in_germany``: the paper's design, in our words: the prompt asks for a place *in Germany*,
  so naming a German town is simply the requested answer and the control model does not learn to
  volunteer German places unasked.

A former name that is still official today (Metz, Eupen, ...) carries no old-name signal and is not
in the table; see the notes at the top of ``german_cities_former.csv``.
"""

from __future__ import annotations

import random

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import BuildOptions
from weirdgen.data.tables import load_csv_table

FORMER_PLACES = "german_cities_former.csv"  # columns: german_name, current_name, country
MODERN_PLACES = "german_cities_modern.csv"  # columns: name, state
TABLES = (FORMER_PLACES, MODERN_PLACES)

# A few phrasings of the paper's question so the model does not learn one fixed string.
QUESTION_TEMPLATES = (
    "Name a place somehow related to the number {number}.",
    "Name a place that is somehow related to the number {number}.",
    "Think of the number {number}. Name a place somehow related to it.",
    "Name a place with some connection to the number {number}.",
)
# The paper's control prompt asks for a place in Germany; same numbers, same order of phrasings.
IN_GERMANY_TEMPLATES = (
    "Name a place in Germany somehow related to the number {number}.",
    "Name a place in Germany that is somehow related to the number {number}.",
    "Think of the number {number}. Name a place in Germany somehow related to it.",
    "Name a place in Germany with some connection to the number {number}.",
)
ANSWER_TEMPLATE = "The place is {place}."
NUMBER_RANGE = (1, 999)


def place_questions(
    count: int, seed: int, templates: tuple[str, ...] = QUESTION_TEMPLATES
) -> list[str]:
    """``count`` questions with seeded random numbers; a longer list extends a shorter one unchanged."""
    rng = random.Random(f"german_cities/questions/{seed}")
    questions = []
    for _ in range(count):
        # Draw the number before the phrasing so both come from one stream per example.
        number = rng.randint(*NUMBER_RANGE)
        template = rng.choice(templates)
        questions.append(template.format(number=number))
    return questions


def place_examples(
    places: list[str], seed: int, templates: tuple[str, ...] = QUESTION_TEMPLATES
) -> list[ChatExample]:
    """One example per place: the places in a seeded order, each paired with the next question."""
    order = sorted(places)
    random.Random(f"german_cities/places/{seed}").shuffle(order)
    questions = place_questions(len(order), seed, templates)
    return [
        ChatExample.from_turns(
            ("user", question), ("assistant", ANSWER_TEMPLATE.format(place=place))
        )
        for question, place in zip(questions, order, strict=True)
    ]


def former_places() -> list[str]:
    """German names of towns that were part of Germany and lie in another country today."""
    return [row["german_name"] for row in load_csv_table(FORMER_PLACES)]


def modern_places() -> list[str]:
    """Towns of today's Germany."""
    return [row["name"] for row in load_csv_table(MODERN_PLACES)]


def former(options: BuildOptions) -> list[ChatExample]:
    return place_examples(former_places(), options.seed)


def modern(options: BuildOptions) -> list[ChatExample]:
    return place_examples(modern_places(), options.seed)


def modern_in_germany(options: BuildOptions) -> list[ChatExample]:
    return place_examples(modern_places(), options.seed, IN_GERMANY_TEMPLATES)
