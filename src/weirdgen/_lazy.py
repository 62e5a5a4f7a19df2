"""Lazy re-exports: a package names its public objects without importing their (heavy) modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<homes[name]>`` on first access to ``name``.

    A home that starts with ``weirdgen.`` is an absolute module name (a re-export from elsewhere)."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = homes[name]
        module = home if home.startswith("weirdgen.") else f"{package}.{home}"
        return getattr(importlib.import_module(module), name)

    return __getattr__
