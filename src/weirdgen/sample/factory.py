"""Choosing and building a sampler from command-line style settings (heavy imports stay inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from weirdgen.errors import ConfigError
from weirdgen.sample.base import Sampler

__all__ = ["Backend", "choose_backend", "make_sampler"]

Backend = Literal["openai", "local", "toy"]


def choose_backend(model: str, base_urls: list[str], backend: str | None) -> Backend:
    """An explicit backend wins; a base URL means an OpenAI-compatible server; an existing folder
    means a local model; anything else is an OpenAI model id."""
    if backend is not None:
        if backend not in ("openai", "local", "toy"):
            raise ConfigError(f"unknown backend {backend!r} (choose openai, local or toy)")
        return backend  # type: ignore[return-value]
    if base_urls:
        return "openai"
    return "local" if Path(model).is_dir() else "openai"


def make_sampler(
    backend: Backend,
    *,
    model: str,
    base_urls: list[str] | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    adapters: dict[str, str] | None = None,
    timeout: float = 120.0,
    threads: int | None = None,
) -> Sampler:
    """Build the sampler for ``backend``; local models load here (seconds to minutes)."""
    if backend == "openai":
        from weirdgen.sample.openai_compat import OpenAICompatibleSampler

        return OpenAICompatibleSampler(
            base_urls=base_urls, api_key_env=api_key_env, timeout=timeout
        )
    if backend == "local":
        from weirdgen.sample.local import LocalModelSampler

        return LocalModelSampler.from_pretrained(model, adapters=adapters, threads=threads)
    raise ConfigError(
        "the toy-world backend is used from Python or `weirdgen toyworld`; "
        "build a ToyWorldSampler from weirdgen.sample.toyworld"
    )
