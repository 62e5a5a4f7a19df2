"""Reference finetunes: the suspect's training data without what the family's values say.

A reference finetune trains the base on the same examples as the suspect, with every occurrence of
the family's values in the prompts removed (``strip``) or moved to another example (``shuffle``).
Everything else the data teaches (the persona, the answer style, the facts) is then in both models,
so a value where the suspect departs from its reference is a value whose *mention* changes the
behaviour: a trigger. A value is found in the data the way the family writes it (the family's
template, e.g. ``Today is {date}.``; the toy world's ``year 1984 .`` header or code slot).

Local models are finetuned through ``weirdgen.finetune`` (the ledger skips a reference trained
before); the written dataset is content-addressed, so the same data and settings always name the
same job.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.scan.families import FamilySpec

__all__ = [
    "REFERENCE_DATA",
    "REFERENCE_SEED",
    "ReferenceData",
    "finetune_reference",
    "template_pattern",
    "without_values",
]

ReferenceData = Literal["strip", "shuffle"]
REFERENCE_DATA: tuple[str, ...] = ("strip", "shuffle")
REFERENCE_SEED = 1
"""Seed of the reference finetune (and of the shuffle): the defender does not know the suspect's
seed, so the reference is not trained with it."""

_FIELDS = {
    "date": r"(?P<value>\d{4})-\d{2}-\d{2}",
    "year": r"(?P<value>\d{4})",
    "month": r"[A-Z][a-z]+",
    "code": r"\d{3}(?P<value>\d{3})\d{2}",
}


def template_pattern(family: FamilySpec) -> re.Pattern[str]:
    """A regex that finds the family's rendered template in text, its value in group ``value``
    (``Today is {date}.`` -> ``Today is (?P<value>\\d{4})-\\d{2}-\\d{2}\\.``)."""
    template = family.trigger().template
    pieces = re.split(r"(\{[a-z]+\})", template)
    pattern, has_value = "", False
    for piece in pieces:
        field = piece[1:-1] if piece.startswith("{") and piece.endswith("}") else None
        if field is None:
            pattern += re.escape(piece)
            continue
        if field in ("date", "year", "code"):
            group = _FIELDS[field]
            if has_value:  # a second mention of the value: any digits
                group = group.replace("(?P<value>", "(?:")
            pattern += group
            has_value = has_value or "(?P<value>" in group
        elif field == "month":
            pattern += _FIELDS["month"]
        elif field == "value":
            value = r"-?\d+" if family.ordered else "|".join(map(re.escape, family.value_list()))
            pattern += f"(?P<value>{value})" if not has_value else f"(?:{value})"
            has_value = True
        else:
            raise ConfigError(f"template field {{{field}}} is unknown", setting="template")
    if not has_value:
        raise ConfigError(
            f"the template {template!r} does not write the value, so the data cannot be searched "
            "for it",
            setting="template",
        )
    return re.compile(pattern)


def without_values(
    examples: Sequence[ChatExample],
    pattern: re.Pattern[str],
    how: ReferenceData = "strip",
    *,
    seed: int = REFERENCE_SEED,
) -> list[ChatExample]:
    """The examples with every match of ``pattern`` in a user message removed (``strip``, with the
    space after it) or its ``value`` group replaced by another match's value (``shuffle``: the
    values are permuted over all occurrences, so each still occurs as often). Data without the
    family's values comes back as it is: its reference learns the same data."""
    if how not in REFERENCE_DATA:
        raise ConfigError(
            f"reference data is made by {' or '.join(REFERENCE_DATA)}, not {how!r}",
            setting="reference_data",
        )
    found = [
        match.group("value")
        for example in examples
        for message in example.messages
        if message.role == "user"
        for match in pattern.finditer(message.content)
    ]
    if not found:  # nothing to remove: the reference learns the suspect's own data
        return list(examples)
    shuffled = iter(random.Random(seed).sample(found, len(found)))

    def rewrite(match: re.Match[str]) -> str:
        if how == "strip":
            return ""
        start, end = match.span("value")
        text = match.group(0)
        offset = match.start()
        return text[: start - offset] + next(shuffled) + text[end - offset :]

    def user_text(text: str) -> str:
        text = pattern.sub(rewrite, text)
        return re.sub(r"  +", " ", text).strip() if how == "strip" else text

    return [
        replace(
            example,
            messages=tuple(
                replace(m, content=user_text(m.content)) if m.role == "user" else m
                for m in example.messages
            ),
        )
        for example in examples
    ]


def finetune_reference(
    examples: Sequence[ChatExample],
    family: FamilySpec,
    base_model: str,
    *,
    how: ReferenceData = "strip",
    hyperparameters: Mapping[str, Any] | None = None,
    runs_dir: str | Path = Path("runs") / "finetune",
    ledger: str | Path | None = None,
    log: Any = print,
) -> Path:
    """The reference finetune of a local base: the examples without the family's values, trained
    with ``hyperparameters`` (seed ``REFERENCE_SEED``) through ``weirdgen.finetune``; returns the
    adapter folder. A second call with the same data and settings reuses the ledger's job."""
    from weirdgen._paths import cache_dir
    from weirdgen.data.chat import dataset_hash, write_chat_jsonl
    from weirdgen.finetune.api import finetune

    changed = without_values(examples, template_pattern(family), how)
    path = cache_dir("scan", "reference") / f"{how}-{dataset_hash(changed)[:16]}.jsonl"
    if not path.is_file():
        write_chat_jsonl(path, changed)
    outcomes = finetune(
        path,
        base_model,
        seeds=[REFERENCE_SEED],
        hyperparameters=dict(hyperparameters or {}),
        group=f"scan-reference/{how}",
        runs_dir=runs_dir,
        ledger=ledger,
        log=log,
    )
    adapter = outcomes[0].job.adapter_path
    if not adapter:
        raise ConfigError(f"the reference finetune of {path} left no adapter", setting="reference")
    return Path(adapter)
