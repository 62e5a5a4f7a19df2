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


@dataclass(frozen=True)
class FinetunerEntry(Backend[FinetunerSettings, Finetuner]):
    """One finetuning backend, with what generic code needs to know about its models."""

    sampler: str | None = None
    """The sampling backend (``weirdgen.sample.registry``) that answers for its models; None when
    they must be served by an OpenAI-compatible server (``weirdgen run --sampler-url``)."""
    needs_sampler_url: str = ""
    """Why its models can only be evaluated through ``--sampler-url`` ("" when they need none)."""
    refuses_sampler_url: str = ""
    """Why ``--sampler-url`` cannot serve its models ("" when it can)."""
    adapters_by_name: bool = False
    """Its models are LoRA folders on this machine, asked for by the run's name for them
    (``GROUP-sSEED``) rather than by a model id."""
    local_defaults: bool = True
    """Takes weirdgen's own hyperparameter defaults (epochs, learning rate, LoRA rank); False when
    the service chooses them (OpenAI's ``auto``)."""
    trains_here: bool = False
    """Trains on this machine: it takes torch threads, a GPU for its Ray task, and a local time estimate."""
    suffix_names_model: bool = False
    """The service names each model after the job's suffix (OpenAI: ``ft:BASE:ORG:SUFFIX:ID``)."""
    vllm_adapter: str = ""
    """How vLLM loads its models: "folder" (a LoRA folder here), "hub" (a Hub repo, which is also
    the model's name), "" (it cannot)."""
    default_base_model: str = ""
    """The base model a run takes when none is given ("" when one must be given)."""
    organism: bool = False
    """Trains a model organism whose experiments are measured exactly: ``weirdgen run`` trains
    and measures the experiment's own conditions and metrics (its ``finetune.<backend>``
    settings) instead of building datasets, sampling the suites and judging."""


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
        sampler="local",
        adapters_by_name=True,
        trains_here=True,
        vllm_adapter="folder",
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
        sampler="openai",
        local_defaults=False,
        suffix_names_model=True,
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
        sampler="tinker",
        refuses_sampler_url=(
            "tinker models are sampled through Tinker's native sampling client: its "
            "OpenAI-compatible endpoint serves the base model for LoRA sampler checkpoints "
            "(tinker-feedback#125); drop --sampler-url"
        ),
    )
)
FINETUNERS.register(
    FinetunerEntry(
        "openweights",
        "LoRA finetuning on rented GPUs through openweights (model pushed to the Hugging Face Hub)",
        lambda s: _class("openweights_backend", "OpenWeightsFinetuner")(offline=s.offline),
        requires="openweights",
        install="pip install 'weirdgen[openweights]'",
        needs_sampler_url=(
            "openweights models live on the Hugging Face Hub: evaluate them through an "
            "OpenAI-compatible server (e.g. vLLM) with --sampler-url"
        ),
        vllm_adapter="hub",
    )
)
FINETUNERS.register(
    FinetunerEntry(
        "toy",
        "full finetuning of a CPU toy-world model (weirdgen.toyworld) in this process",
        lambda s: _class("toy_backend", "ToyFinetuner")(s.runs_dir),
        sampler="toy",
        adapters_by_name=True,
        local_defaults=False,  # the toy world's own recipe defaults
        refuses_sampler_url="toy models answer only in the toy world's vocabulary, in this process; drop --sampler-url",
        default_base_model="toyworld",
        organism=True,
    )
)
