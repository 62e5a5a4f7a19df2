"""Finding entries in llmcomp question files, shared by the suite reader and the judge reader.

An llmcomp file is a YAML list of questions, each a mapping with a ``type`` and an ``id`` (older
files) or ``name``. A question names its judges by id; llmcomp looks them up among every YAML file
of its question folder, so a judge may live in the same file or in a sibling one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from weirdgen.errors import DataError

JUDGE_TYPES = frozenset({"free_form_judge", "rating_judge"})


def is_llmcomp_document(document: Any) -> bool:
    """Whether parsed YAML looks like an llmcomp question list (mappings that each have a type)."""
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(entry, dict) and "type" in entry for entry in document)
    )


def entry_id(entry: dict[str, Any]) -> str | None:
    """The entry's identifier: ``id`` in the authors' files, ``name`` in newer llmcomp ones."""
    value = entry.get("id", entry.get("name"))
    return None if value is None else str(value)


@cache
def read_document(path: Path) -> tuple[dict[str, Any], ...]:
    """The entries of one llmcomp file (cached: a folder's judges are looked up many times)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DataError(f"not a readable YAML file ({error})".splitlines()[0], path=path) from None
    if not is_llmcomp_document(document):
        raise DataError("expected a list of llmcomp questions, each with a `type`", path=path)
    return tuple(document)


def find_entry(path: Path, wanted: str) -> tuple[Path, dict[str, Any]]:
    """The entry with id ``wanted``: in ``path`` itself, else in another YAML file of its folder."""
    siblings = sorted(p for p in path.parent.iterdir() if p.suffix in (".yaml", ".yml"))
    for candidate in [path, *(p for p in siblings if p != path)]:
        try:
            entries = read_document(candidate.resolve())
        except DataError:
            if candidate == path:
                raise
            continue  # other YAML in the folder (an experiment, a weirdgen suite) is not llmcomp's
        for entry in entries:
            if entry_id(entry) == wanted:
                return candidate.resolve(), entry
    raise DataError(
        f"no question or judge with id {wanted!r} in this file or its folder", path=path
    )
