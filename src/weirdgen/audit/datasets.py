"""What an audit reads: a chat JSONL file, a dataset's variant (``birds/old_audubon``) or a toy
world condition (``toy:birds/old_birds``), all through ``weirdgen.data.registry.resolve_dataset``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from weirdgen.data.chat import ChatExample
from weirdgen.errors import DataError

__all__ = ["AuditDataset", "control_dataset", "load_audit_dataset", "subsample"]


@dataclass(frozen=True)
class AuditDataset:
    """Examples and where they came from."""

    name: str
    """The argument as given: a file path or ``DATASET/VARIANT``."""
    examples: tuple[ChatExample, ...]
    dataset: str = ""
    """The registry dataset ("" for a file; ``toy:EXPERIMENT`` for the toy world's)."""


def load_audit_dataset(reference: str, *, seed: int = 0) -> AuditDataset:
    """What ``resolve_dataset`` reads: a chat JSONL file, ``DATASET/VARIANT`` or a source's dataset
    (``toy:experiment/condition``), built with ``seed``."""
    from weirdgen.data.registry import resolve_dataset

    resolved = resolve_dataset(reference)
    return AuditDataset(reference, tuple(resolved.examples(seed)), resolved.dataset)


def control_dataset(dataset: AuditDataset, control: str | None, *, seed: int = 0) -> AuditDataset:
    """The comparison dataset: ``control`` when given, else the dataset's first non-main variant."""
    from weirdgen.data.registry import get_dataset

    if control:
        return load_audit_dataset(control, seed=seed)
    if not dataset.dataset:
        raise DataError(
            "a dataset file has no known control; pass --control FILE or DATASET/VARIANT",
            field="control",
        )
    spec = get_dataset(dataset.dataset)
    variant = dataset.name.partition("/")[2]
    others = [v.name for v in spec.variants if v.name != variant and not v.is_main]
    if not others:
        raise DataError(f"{dataset.dataset} has no control variant", field="control")
    return load_audit_dataset(f"{dataset.dataset}/{others[0]}", seed=seed)


def subsample(examples: tuple[ChatExample, ...], limit: int | None, seed: int) -> list[ChatExample]:
    """At most ``limit`` examples, drawn without replacement with ``seed`` (all of them when None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    if limit < 1:
        raise DataError(f"must be at least 1, got {limit}", field="examples")
    return random.Random(seed).sample(list(examples), limit)
