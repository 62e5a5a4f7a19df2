"""The domain errors weirdgen raises. Each message is one line a user can act on."""

from __future__ import annotations

from pathlib import Path


class WeirdgenError(Exception):
    """Base class of every error weirdgen raises on purpose; the CLI prints it as one line."""


class DataError(WeirdgenError):
    """Bad input data, located as ``path:line: field: problem``."""

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self.location_prefix() + problem)

    def location_prefix(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.field is not None:
            parts.append(self.field)
        return "".join(p + ": " for p in parts)


class ConfigError(WeirdgenError):
    """An invalid configuration value, named by the setting that holds it.

    Stages name their own settings (``judge_model``, ``backend``); a front end that spells a setting
    differently (the CLI's ``--judge-model``) reads ``setting`` and says it its own way.
    """

    def __init__(self, problem: str, *, setting: str | None = None) -> None:
        self.problem = problem
        self.setting = setting
        super().__init__(problem if setting is None else f"{setting}: {problem}")


class MissingDependencyError(WeirdgenError):
    """An optional dependency or bundled model is not installed; the message says what to install."""


class BackendError(WeirdgenError):
    """A model, finetuning or sampling backend failed in a way that retrying will not fix."""
