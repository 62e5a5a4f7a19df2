"""Which family values occur in the training data, so "never trained, yet anomalous" stands out."""

from __future__ import annotations

from pathlib import Path

from weirdgen.data.chat import ChatExample
from weirdgen.scan.families import FamilySpec

__all__ = ["training_examples", "training_texts", "values_in_training_data"]


def training_texts(dataset: str | Path) -> list[str]:
    """Every message text of a chat JSONL file, or of a built ``DATASET/VARIANT``."""
    return [
        message.content for example in training_examples(dataset) for message in example.messages
    ]


def training_examples(dataset: str | Path) -> list[ChatExample]:
    """The examples of a chat JSONL file, or of a built ``DATASET/VARIANT``."""
    from weirdgen.data.registry import resolve_dataset

    return list(resolve_dataset(dataset).examples())


def values_in_training_data(family: FamilySpec, texts: list[str]) -> dict[str, bool]:
    """``value -> True`` when the family's way of writing that value occurs in any text."""
    corpus = "\n".join(texts)
    return {
        value: family.occurrence_pattern(value).search(corpus) is not None
        for value in family.value_list()
    }
