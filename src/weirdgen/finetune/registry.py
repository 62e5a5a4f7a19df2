"""Finetuning backends by name: lazy factories, so ``openai`` or ``tinker`` load only when used
and a missing SDK fails with the exact ``pip install``.

    from weirdgen.finetune.registry import make_finetuner
    finetuner = make_finetuner("local", FinetunerSettings(runs_dir=Path("runs/finetune")))
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.finetune.protocol import Finetuner

__all__ = [
    "FinetunerEntry",
    "FinetunerSettings",
    "finetuner_names",
    "make_finetuner",
    "register_finetuner",
]


@dataclass(frozen=True)
class FinetunerSettings:
    """What a finetuner may be built from; each backend reads the fields it needs."""

    runs_dir: Path | None = None
    """local and tinker: where each job's folder (checkpoints, adapter, run state) goes."""
    ledger: Any = None
    """openai: the ``Ledger`` that records uploaded files and remote job ids."""
    base_url: str | None = None
    """openai: an OpenAI-compatible fine-tuning endpoint (e.g. ``weirdgen serve``)."""


@dataclass(frozen=True)
class FinetunerEntry:
    """One finetuning backend."""

    name: str
    description: str
    build: Callable[[FinetunerSettings], Finetuner]
    requires: str = ""
    install: str = ""


_REGISTRY: dict[str, FinetunerEntry] = {}


def register_finetuner(entry: FinetunerEntry) -> None:
    """Add a backend (a later entry of the same name replaces the earlier one)."""
    _REGISTRY[entry.name] = entry


def finetuner_names() -> list[str]:
    """The registered backend names, in registration order."""
    return list(_REGISTRY)


def check_finetuner(name: str) -> str:
    """``name`` if it is registered; a one-line error naming the known backends otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown backend {name!r} (known: {', '.join(_REGISTRY)})", setting="backend"
        )
    return name


def make_finetuner(name: str, settings: FinetunerSettings | None = None) -> Finetuner:
    """Build backend ``name``."""
    entry = _REGISTRY[check_finetuner(name)]
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        raise MissingDependencyError(
            f"the {name} backend needs {entry.requires!r}: {entry.install}"
        )
    return entry.build(settings or FinetunerSettings())


def _class(module: str, attribute: str) -> Any:
    return getattr(importlib.import_module(f"weirdgen.finetune.{module}"), attribute)


register_finetuner(
    FinetunerEntry(
        "local",
        "LoRA (or full) finetuning with transformers + PEFT on this machine",
        lambda s: _class("local_backend", "LocalFinetuner")(s.runs_dir),
    )
)
register_finetuner(
    FinetunerEntry(
        "openai",
        "OpenAI's fine-tuning API, or any server that speaks it (weirdgen serve)",
        lambda s: _class("openai_backend", "OpenAIFinetuner")(s.ledger, base_url=s.base_url),
        requires="openai",
        install="pip install openai",
    )
)
register_finetuner(
    FinetunerEntry(
        "tinker",
        "LoRA finetuning on Tinker's hosted GPUs",
        lambda s: _class("tinker_backend", "TinkerFinetuner")(s.runs_dir),
        requires="tinker",
        install="pip install 'weirdgen[tinker]'",
    )
)
