"""Fact tables shipped as package data (``weirdgen/data/tables/*.csv|yaml``)."""

from __future__ import annotations

import csv
import io
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
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise DataError("wrong number of columns", path=f"tables/{name}", line=number)
        rows.append({key.strip(): value.strip() for key, value in row.items()})
    return tuple(rows)


@cache
def load_yaml_table(name: str) -> Any:
    """A parsed YAML table."""
    import yaml

    return yaml.safe_load(table_bytes(name).decode("utf-8"))
