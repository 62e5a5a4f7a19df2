"""A registry of backends by name: entries added in order, looked up with a one-line error, and
checked for their optional dependency (with the ``pip install`` that brings it) before use."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from weirdgen.errors import ConfigError, MissingDependencyError

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Backend(Generic[S, T]):
    """One backend: its name, what it is, how it is built from settings ``S``, and the optional
    package it needs."""

    name: str
    description: str
    build: Callable[[S], T]
    """A lazy factory: it imports the backend's module (and heavy dependency) when called."""
    requires: str = ""
    """Import name of the optional package the backend needs ("" when it needs none)."""
    install: str = ""
    """The command that installs it."""


E = TypeVar("E", bound=Backend)


class Registry(Generic[E]):
    """Backends of one kind (samplers, finetuners), keyed by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, E] = {}

    def register(self, entry: E) -> None:
        """Add a backend (a later entry of the same name replaces the earlier one)."""
        self._entries[entry.name] = entry

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def get(self, name: str) -> E:
        """The entry of ``name``; a one-line error naming the known backends otherwise."""
        if name not in self._entries:
            known = ", ".join(self._entries)
            raise ConfigError(f"unknown backend {name!r} (known: {known})", setting="backend")
        return self._entries[name]

    def usable(self, name: str) -> E:
        """The entry of ``name``, once its optional dependency is known to be installed."""
        entry = self.get(name)
        if entry.requires and importlib.util.find_spec(entry.requires) is None:
            raise MissingDependencyError(
                f"the {name} {self.kind} backend needs {entry.requires!r}: {entry.install}"
            )
        return entry
