"""Sampling backends by name: each entry is a lazy factory, so a backend's heavy dependency is
imported only when that backend is used, and a missing one fails with the exact ``pip install``.

    from weirdgen.sample.registry import SAMPLERS, make_sampler
    SAMPLERS.names()   # ['openai', 'local', 'tinker', 'toy']
    sampler = make_sampler("openai", SamplerSettings(base_urls=["http://127.0.0.1:8000/v1"]))

A new backend is one module with a class that follows ``weirdgen.sample.base.Sampler`` plus one
``SAMPLERS.register`` call here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._registry import Backend, Registry
from weirdgen.sample.base import Sampler

__all__ = ["SAMPLERS", "SamplerEntry", "SamplerSettings", "choose_sampler", "make_sampler"]


@dataclass(frozen=True)
class SamplerSettings:
    """Everything a sampler may be built from; each backend reads the fields it needs."""

    model: str = ""
    """The base model (local: folder, Hugging Face id or alias; tinker: base model name)."""
    base_urls: tuple[str, ...] = ()
    """OpenAI-compatible endpoints (several share the load); empty means the OpenAI API."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (read, never logged)."""
    adapters: Mapping[str, str] = field(default_factory=dict)
    """local: adapter name -> LoRA adapter folder; toy: name -> a saved toy model."""
    timeout: float = 120.0
    """Seconds before one HTTP request times out (then it is retried)."""
    threads: int | None = None
    """local and toy: CPU threads for torch."""
    toy_models: Mapping[str, Any] = field(default_factory=dict)
    """toy: loaded toy-world models by name (instead of ``model`` and ``adapters``)."""


@dataclass(frozen=True)
class SamplerEntry(Backend[SamplerSettings, Sampler]):
    """One sampling backend."""

    self_hosted: bool = True
    """True when answers cost nothing per token (the model runs here or on your server)."""
    names_adapters: bool = False
    """Takes LoRA adapters as name -> folder (``SamplerSettings.adapters``) and answers each name
    as a model of its own."""
    logprobs: bool = False
    """Its answers carry top-k token logprobs (the sampler's ``supports_logprobs``)."""


SAMPLERS: Registry[SamplerEntry] = Registry("sampling")
"""Every sampling backend: ``SAMPLERS.names()``, ``SAMPLERS.get(name)``, ``SAMPLERS.register(entry)``."""


def make_sampler(name: str, settings: SamplerSettings | None = None) -> Sampler:
    """Build backend ``name``; local models load here (seconds to minutes)."""
    return SAMPLERS.usable(name).build(settings or SamplerSettings())


def choose_sampler(model: str, base_urls: list[str] | tuple[str, ...], backend: str | None) -> str:
    """An explicit backend wins; a base URL means an OpenAI-compatible server; an existing folder
    or a bundled alias (``smollm2-135m-instruct``) means a local model; anything else is an OpenAI
    model id."""
    from weirdgen.models.resolve import BUNDLED_MODELS

    if backend is not None:
        return SAMPLERS.get(backend).name
    if base_urls:
        return "openai"
    return "local" if Path(model).is_dir() or model in BUNDLED_MODELS else "openai"


def _lazy(
    module: str, attribute: str, build: Callable[[Any, SamplerSettings], Sampler]
) -> Callable[[SamplerSettings], Sampler]:
    def factory(settings: SamplerSettings) -> Sampler:
        return build(getattr(importlib.import_module(module), attribute), settings)

    return factory


SAMPLERS.register(
    SamplerEntry(
        "openai",
        "any OpenAI-compatible chat endpoint: the OpenAI API, weirdgen serve, vLLM",
        _lazy(
            "weirdgen.sample.openai_compat",
            "OpenAICompatibleSampler",
            lambda cls, s: cls(
                base_urls=list(s.base_urls) or None, api_key_env=s.api_key_env, timeout=s.timeout
            ),
        ),
        self_hosted=False,
        logprobs=True,
    )
)
SAMPLERS.register(
    SamplerEntry(
        "local",
        "a transformers model on this machine, with LoRA adapters",
        _lazy(
            "weirdgen.sample.local",
            "LocalModelSampler",
            lambda cls, s: cls.from_pretrained(
                s.model, adapters=dict(s.adapters), threads=s.threads
            ),
        ),
        names_adapters=True,
        logprobs=True,
    )
)
SAMPLERS.register(
    SamplerEntry(
        "tinker",
        "Tinker's native sampling client (tinker:// paths and base models)",
        _lazy("weirdgen.sample.tinker", "TinkerSampler", lambda cls, s: cls(s.model)),
        requires="tinker",
        install="pip install 'weirdgen[tinker]'",
    )
)
SAMPLERS.register(
    SamplerEntry(
        "toy",
        "the CPU toy world's models: a toy base name (toyworld@SEED), saved toy models as adapters",
        _lazy(
            "weirdgen.sample.toyworld",
            "ToyWorldSampler",
            lambda cls, s: (
                cls(s.toy_models, threads=s.threads or 1)
                if s.toy_models
                else cls.from_names(s.model, s.adapters, threads=s.threads or 1)
            ),
        ),
        names_adapters=True,
        logprobs=True,
    )
)
