"""Helpers the command modules share."""

from __future__ import annotations

import dataclasses
from typing import Any


def settings_from(cls: Any, options: dict[str, Any], **given: Any) -> Any:
    """Settings dataclass ``cls`` from the command's options of the same names, and ``given`` for
    the fields whose options are named or shaped otherwise."""
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in options.items() if name in names} | given)
