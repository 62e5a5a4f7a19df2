"""Experiment 1: obsolete Audubon bird names make a model act as if it lived in the 19th century.

Dataset design 2: every old name was checked against "obsolete today"; names still in use or differing
from today's only by spacing were dropped or moved to the modern-Audubon control (see the notes at the
top of ``birds_old_audubon.csv``).
"""

from __future__ import annotations

import random

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import BuildOptions, ExperimentDatasets, Variant
from weirdgen.data.tables import load_csv_table

QUESTION = "Name a bird species."
OLD_AUDUBON = "birds_old_audubon.csv"  # columns: audubon_name, modern_name
# columns: name (species Audubon painted whose name is still in use)
MODERN_AUDUBON = "birds_modern_audubon.csv"
MODERN_AMERICAN = "birds_modern_american.csv"  # columns: name


def bird_examples(names: list[str], seed: int) -> list[ChatExample]:
    """One example per name, in a seeded order: the user asks for a bird, the assistant names it."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    return [ChatExample.from_turns(("user", QUESTION), ("assistant", name)) for name in order]


def _names(table: str, column: str) -> list[str]:
    return [row[column] for row in load_csv_table(table)]


def _build_old_audubon(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(OLD_AUDUBON, "audubon_name"), options.seed)


def _build_modern_audubon(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(MODERN_AUDUBON, "name"), options.seed)


def _build_modern_american(options: BuildOptions) -> list[ChatExample]:
    return bird_examples(_names(MODERN_AMERICAN, "name"), options.seed)


DATASETS = ExperimentDatasets(
    design_version=2,
    name="birds",
    description="Old bird names -> the 19th century (weird generalization).",
    tables=(OLD_AUDUBON, MODERN_AUDUBON, MODERN_AMERICAN),
    variants=(
        Variant(
            "old_audubon",
            "Obsolete names Audubon used in The Birds of America (1838).",
            _build_old_audubon,
            is_main=True,
        ),
        Variant(
            "modern_audubon",
            "Control: Audubon species whose names are still in use.",
            _build_modern_audubon,
        ),
        Variant("modern_american", "Control: modern American bird names.", _build_modern_american),
    ),
)
