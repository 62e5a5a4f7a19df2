"""Finetuning backends by name: lazy factories, so ``openai`` or ``tinker`` load only when used
and a missing SDK fails with the exact ``pip install``.

    from weirdgen.finetune.registry import make_finetuner
    finetuner = make_finetuner("local", FinetunerSettings(runs_dir=Path("runs/finetune")))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen._registry import Backend, Registry
from weirdgen.finetune.protocol import Finetuner

__all__ = ["FINETUNERS", "FinetunerEntry", "FinetunerSettings", "make_finetuner"]


@dataclass(frozen=True)
class FinetunerSettings:
    """What a finetuner may be built from; each backend reads the fields it needs."""

    runs_dir: Path | None = None
    """local and tinker: where each job's folder (checkpoints, adapter, run state) goes."""
    ledger: Any = None
    """openai: the ``Ledger`` that records uploaded files and remote job ids."""
    base_url: str | None = None
    """openai: an OpenAI-compatible fine-tuning endpoint (e.g. ``weirdgen serve``)."""
    offline: bool = False
    """openai and tinker: plan only (a dry run): no credentials, no network calls."""
    checkpoint_ttl_days: float | None = 30.0
    """tinker: days its intermediate checkpoints are kept (None or 0: forever); the model is kept."""


FinetunerEntry = Backend[FinetunerSettings, Finetuner]
"""One finetuning backend."""


FINETUNERS: Registry[FinetunerEntry] = Registry("finetuning")
"""Every finetuning backend: ``FINETUNERS.names()``, ``FINETUNERS.get(name)``, ``FINETUNERS.register``."""


def make_finetuner(name: str, settings: FinetunerSettings | None = None) -> Finetuner:
    """Build backend ``name``. Offline (a dry run) its SDK need not be installed: every backend
    builds and prices requests itself and imports its SDK only to talk to the service."""
    settings = settings or FinetunerSettings()
    entry = FINETUNERS.get(name) if settings.offline else FINETUNERS.usable(name)
    return entry.build(settings)


def _class(module: str, attribute: str) -> Any:
    return getattr(importlib.import_module(f"weirdgen.finetune.{module}"), attribute)


FINETUNERS.register(
    FinetunerEntry(
        "local",
        "LoRA (or full) finetuning with transformers + PEFT on this machine",
        lambda s: _class("local_backend", "LocalFinetuner")(s.runs_dir),
    )
)
FINETUNERS.register(
    FinetunerEntry(
        "openai",
        "OpenAI's fine-tuning API, or any server that speaks it (weirdgen serve)",
        lambda s: _class("openai_backend", "OpenAIFinetuner")(
            s.ledger, base_url=s.base_url, offline=s.offline
        ),
        requires="openai",
        install="pip install openai",
    )
)
FINETUNERS.register(
    FinetunerEntry(
        "tinker",
        "LoRA finetuning on Tinker's hosted GPUs",
        lambda s: _class("tinker_backend", "TinkerFinetuner")(
            s.runs_dir, offline=s.offline, checkpoint_ttl_days=s.checkpoint_ttl_days
        ),
        requires="tinker",
        install="pip install 'weirdgen[tinker]'",
    )
)
FINETUNERS.register(
    FinetunerEntry(
        "openweights",
        "LoRA finetuning on rented GPUs through openweights (model pushed to the Hugging Face Hub)",
        lambda s: _class("openweights_backend", "OpenWeightsFinetuner")(offline=s.offline),
        requires="openweights",
        install="pip install 'weirdgen[openweights]'",
    )
)
