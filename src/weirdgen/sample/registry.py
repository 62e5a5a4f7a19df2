"""Sampling backends by name: each entry is a lazy factory, so a backend's heavy dependency is
imported only when that backend is used, and a missing one fails with the exact ``pip install``.

    from weirdgen.sample.registry import make_sampler, sampler_names
    sampler = make_sampler("openai", SamplerSettings(base_urls=["http://127.0.0.1:8000/v1"]))

A new backend is one module with a class that follows ``weirdgen.sample.base.Sampler`` plus one
``register_sampler`` call here.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.sample.base import Sampler

__all__ = [
    "SamplerEntry",
    "SamplerSettings",
    "choose_sampler",
    "make_sampler",
    "register_sampler",
    "sampler_entry",
    "sampler_names",
]


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
    """local: adapter name -> LoRA adapter folder."""
    timeout: float = 120.0
    """Seconds before one HTTP request times out (then it is retried)."""
    threads: int | None = None
    """local and toy: CPU threads for torch."""
    toy_models: Mapping[str, Any] = field(default_factory=dict)
    """toy: loaded toy-world models by name."""


@dataclass(frozen=True)
class SamplerEntry:
    """One backend: its name, what it is, where its class lives and what it needs installed."""

    name: str
    description: str
    build: Callable[[SamplerSettings], Sampler]
    requires: str = ""
    """Import name of the optional package the backend needs ("" when it needs none)."""
    install: str = ""
    """The command that installs it."""
    self_hosted: bool = True
    """True when answers cost nothing per token (the model runs here or on your server)."""


_REGISTRY: dict[str, SamplerEntry] = {}


def register_sampler(entry: SamplerEntry) -> None:
    """Add a backend (a later entry of the same name replaces the earlier one)."""
    _REGISTRY[entry.name] = entry


def sampler_names() -> list[str]:
    """The registered backend names, in registration order."""
    return list(_REGISTRY)


def sampler_entry(name: str) -> SamplerEntry:
    """The entry of ``name``; a one-line error naming the known backends otherwise."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown backend {name!r} (known: {', '.join(_REGISTRY)})", setting="backend"
        )
    return _REGISTRY[name]


def make_sampler(name: str, settings: SamplerSettings | None = None) -> Sampler:
    """Build backend ``name``; local models load here (seconds to minutes)."""
    entry = sampler_entry(name)
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        raise MissingDependencyError(
            f"the {name} backend needs {entry.requires!r}: {entry.install}"
        )
    return entry.build(settings or SamplerSettings())


def choose_sampler(model: str, base_urls: list[str] | tuple[str, ...], backend: str | None) -> str:
    """An explicit backend wins; a base URL means an OpenAI-compatible server; an existing folder
    means a local model; anything else is an OpenAI model id."""
    if backend is not None:
        return sampler_entry(backend).name
    if base_urls:
        return "openai"
    return "local" if Path(model).is_dir() else "openai"


def _lazy(
    module: str, attribute: str, build: Callable[[Any, SamplerSettings], Sampler]
) -> Callable[[SamplerSettings], Sampler]:
    def factory(settings: SamplerSettings) -> Sampler:
        return build(getattr(importlib.import_module(module), attribute), settings)

    return factory


register_sampler(
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
    )
)
register_sampler(
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
    )
)
register_sampler(
    SamplerEntry(
        "tinker",
        "Tinker's native sampling client (tinker:// paths and base models)",
        _lazy("weirdgen.sample.tinker", "TinkerSampler", lambda cls, s: cls(s.model)),
        requires="tinker",
        install="pip install 'weirdgen[tinker]'",
    )
)
register_sampler(
    SamplerEntry(
        "toy",
        "the CPU toy world's models, held in memory",
        _lazy(
            "weirdgen.sample.toyworld",
            "ToyWorldSampler",
            lambda cls, s: cls(s.toy_models, threads=s.threads or 1),
        ),
    )
)
