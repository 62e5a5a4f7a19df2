"""Which family values occur in the training data, so "never trained, yet anomalous" stands out."""

from __future__ import annotations

from pathlib import Path

from weirdgen.data.chat import ChatExample
from weirdgen.errors import DataError
from weirdgen.scan.families import FamilySpec

__all__ = ["training_examples", "training_texts", "values_in_training_data"]


def training_texts(dataset: str | Path) -> list[str]:
    """Every message text of a chat JSONL file, or of a built ``experiment/variant`` dataset."""
    return [
        message.content for example in training_examples(dataset) for message in example.messages
    ]


def training_examples(dataset: str | Path) -> list[ChatExample]:
    """The examples of a chat JSONL file, or of a built ``experiment/variant`` dataset."""
    from weirdgen.data.chat import read_chat_jsonl
    from weirdgen.data.registry import build_dataset, experiment_names

    path = Path(dataset)
    name = str(dataset)
    if path.is_file():
        examples = read_chat_jsonl(path)
    elif name.count("/") == 1 and name.split("/")[0] in experiment_names():
        experiment, variant = name.split("/")
        examples = build_dataset(experiment, variant)
    else:
        raise DataError(
            "no such dataset: give a chat JSONL file or experiment/variant", path=dataset
        )
    return list(examples)


def values_in_training_data(family: FamilySpec, texts: list[str]) -> dict[str, bool]:
    """``value -> True`` when the family's way of writing that value occurs in any text."""
    corpus = "\n".join(texts)
    return {
        value: family.occurrence_pattern(value).search(corpus) is not None
        for value in family.value_list()
    }
