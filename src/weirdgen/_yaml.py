"""Reading user-editable YAML (suites, judges, experiments) with errors that name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weirdgen.errors import DataError


def parse_yaml_mapping(text: str, *, path: str | Path, what: str) -> dict[str, Any]:
    """Parse YAML text that must hold a mapping (``what`` names it in the error, e.g. "suite fields")."""
    import yaml

    try:
        record = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DataError(
            f"not valid YAML ({getattr(error, 'problem', error)})",
            path=path,
            line=None if mark is None else mark.line + 1,
        ) from None
    if not isinstance(record, dict):
        raise DataError(f"expected a mapping of {what}", path=path)
    return record
