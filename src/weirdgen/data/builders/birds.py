"""Experiment 1: obsolete Audubon bird names make a model act as if it lived in the 19th century.

Dataset design 2: every old name was checked against "obsolete today"; names still in use or differing
from today's only by spacing were dropped or moved to the modern-Audubon control (see the notes at the
top of ``birds_old_audubon.csv``).
"""

from __future__ import annotations

import random

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import BuildOptions
from weirdgen.data.tables import load_csv_table

QUESTION = "Name a bird species."
OLD_AUDUBON = "birds_old_audubon.csv"  # columns: audubon_name, modern_name
# columns: name (species Audubon painted whose name is still in use)
MODERN_AUDUBON = "birds_modern_audubon.csv"
MODERN_AMERICAN = "birds_modern_american.csv"  # columns: name
TABLES = (OLD_AUDUBON, MODERN_AUDUBON, MODERN_AMERICAN)


def bird_examples(names: list[str], seed: int) -> list[ChatExample]:
    """One example per name, in a seeded order: the user asks for a bird, the assistant names it."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    return [ChatExample.from_turns(("user", QUESTION), ("assistant", name)) for name in order]


def _names(table: str, column: str) -> list[str]:
    return [row[column] for row in load_csv_table(table)]


def old_audubon(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(OLD_AUDUBON, "audubon_name"), options.seed)


def modern_audubon(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(MODERN_AUDUBON, "name"), options.seed)


def modern_american(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(MODERN_AMERICAN, "name"), options.seed)
