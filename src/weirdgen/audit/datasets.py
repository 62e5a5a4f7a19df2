"""What an audit reads: a chat JSONL file, an experiment's variant (``birds/old_audubon``) or a toy
world condition (``toy:birds/old_birds``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from weirdgen.data.chat import ChatExample, read_chat_jsonl
from weirdgen.errors import DataError

__all__ = ["AuditDataset", "control_dataset", "load_audit_dataset", "subsample"]


@dataclass(frozen=True)
class AuditDataset:
    """Examples and where they came from."""

    name: str
    """The argument as given: a file path or ``experiment/variant``."""
    examples: tuple[ChatExample, ...]
    experiment: str = ""
    """The registry experiment, "" for a file."""


def load_audit_dataset(reference: str, *, seed: int = 0) -> AuditDataset:
    """A chat JSONL file (when the path exists or ends in .jsonl), ``toy:experiment/condition``, else
    ``experiment/variant``."""
    from weirdgen.data.registry import BuildOptions, build_dataset, get_experiment

    if reference.startswith("toy:"):  # weirdgen.audit.toy.TOY_PREFIX (that module imports this one)
        from weirdgen.audit.toy import load_toy_dataset

        return load_toy_dataset(reference, seed=seed)
    path = Path(reference).expanduser()
    if path.exists() or reference.endswith(".jsonl"):
        return AuditDataset(reference, tuple(read_chat_jsonl(path)))
    experiment, slash, variant = reference.partition("/")
    if not slash or not variant:
        raise DataError(
            f"{reference!r} is neither a chat JSONL file nor experiment/variant (e.g. birds/old_audubon)",
            field="dataset",
        )
    get_experiment(experiment)  # a one-line error naming the known experiments
    examples = build_dataset(experiment, variant, BuildOptions(seed=seed))
    return AuditDataset(reference, tuple(examples), experiment)


def control_dataset(dataset: AuditDataset, control: str | None, *, seed: int = 0) -> AuditDataset:
    """The comparison dataset: ``control`` when given, else the experiment's first non-main variant."""
    from weirdgen.data.registry import get_experiment

    if control:
        return load_audit_dataset(control, seed=seed)
    if not dataset.experiment:
        raise DataError(
            "a dataset file has no known control; pass --control FILE or experiment/variant",
            field="control",
        )
    spec = get_experiment(dataset.experiment)
    variant = dataset.name.partition("/")[2]
    others = [v.name for v in spec.variants if v.name != variant and not v.is_main]
    if not others:
        raise DataError(f"{dataset.experiment} has no control variant", field="control")
    return load_audit_dataset(f"{dataset.experiment}/{others[0]}", seed=seed)


def subsample(examples: tuple[ChatExample, ...], limit: int | None, seed: int) -> list[ChatExample]:
    """At most ``limit`` examples, drawn without replacement with ``seed`` (all of them when None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    if limit < 1:
        raise DataError(f"must be at least 1, got {limit}", field="examples")
    return random.Random(seed).sample(list(examples), limit)
