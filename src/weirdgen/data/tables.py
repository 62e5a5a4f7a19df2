"""Fact tables shipped as package data (``weirdgen/data/tables/*.csv|yaml``)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from weirdgen._io import sha256_hex
from weirdgen.errors import DataError

_TABLES = resources.files("weirdgen.data") / "tables"


def table_bytes(name: str) -> bytes:
    """Raw bytes of a table, by its file name relative to ``weirdgen/data/tables``."""
    resource = _TABLES.joinpath(name)
    if not resource.is_file():
        raise DataError(f"no fact table named {name!r} in weirdgen/data/tables", field="table")
    return resource.read_bytes()


def table_version(name: str) -> str:
    """First 12 hex digits of the table's SHA-256: recorded in every dataset manifest."""
    return sha256_hex(table_bytes(name))[:12]


@cache
def load_csv_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a CSV table as dicts; blank cells are empty strings, lines starting with # are comments."""
    text = table_bytes(name).decode("utf-8")
    # Keep each data line's number in the file so errors point at the right line despite comments.
    numbered = [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        raise DataError("empty table", path=f"tables/{name}")
    header = next(csv.reader([numbered[0][1]]))
    header = [column.strip() for column in header]
    rows = []
    for number, line in numbered[1:]:
        values = next(csv.reader([line]))
        if len(values) != len(header):
            raise DataError(
                f"expected {len(header)} columns, got {len(values)}",
                path=f"tables/{name}",
                line=number,
            )
        rows.append({key: value.strip() for key, value in zip(header, values, strict=True)})
    return tuple(rows)


@cache
def load_yaml_table(name: str) -> Any:
    """A parsed YAML table."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is several times faster
    return yaml.load(table_bytes(name).decode("utf-8"), Loader=loader)


def yaml_table_rows(
    name: str, key: str, text_fields: tuple[str, ...] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The mappings listed under ``key`` in YAML table ``name``, each with its location
    (``key[i]``); a row that is no mapping, or lacks a non-empty string in one of ``text_fields``,
    is a ``DataError`` naming the row and field."""
    table = load_yaml_table(name)
    rows = table.get(key) if isinstance(table, dict) else None
    if not isinstance(rows, list):
        raise DataError(f"expected a top-level {key!r} list", path=f"tables/{name}", field=key)
    for index, row in enumerate(rows):
        where = f"{key}[{index}]"
        if not isinstance(row, dict):
            raise DataError("expected a mapping", path=f"tables/{name}", field=where)
        for field in text_fields:
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise DataError("missing or empty", path=f"tables/{name}", field=f"{where}.{field}")
        yield where, row
