"""Sampler over toy-world models, so the evaluation engine and judges can question a toy GPT.

``request.model`` names one of the loaded toy models (for example "base" or "birds/old_birds/0"):
models held in memory, or loaded by ``from_names`` from a toy base name (``toyworld@1``) and
finetuned models' folders (the ``toy`` finetuning backend's, as adapters by name). Toy models are
tiny, so each request runs on its own in a worker thread; the answer is untrusted
model text like any other backend's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from weirdgen.errors import BackendError
from weirdgen.sample.base import SampleRequest, SampleResult

__all__ = ["ToyWorldSampler"]


class ToyWorldSampler:
    """Answers chat requests with toy models (``weirdgen.toyworld.train.ToyModel``) held in memory."""

    supports_logprobs = True

    def __init__(self, models: Mapping[str, Any], *, threads: int = 1) -> None:
        if not models:
            raise BackendError("ToyWorldSampler needs at least one toy model")
        self._models = dict(models)
        self._threads = threads
        # One forward pass at a time: torch already uses ``threads`` cores, and the models are shared.
        self._lock = asyncio.Lock()

    @classmethod
    def from_names(
        cls, model: str, adapters: Mapping[str, str] | None = None, *, threads: int = 1
    ) -> ToyWorldSampler:
        """The base ``model`` (a toy base name or a saved toy model) under its own name, and every
        adapter (name -> a saved toy model's file or folder) under its name."""
        from weirdgen.toyworld.train import load_toy

        names = {model: model, **dict(adapters or {})}
        return cls({name: load_toy(source) for name, source in names.items()}, threads=threads)

    @property
    def name(self) -> str:
        return f"toyworld ({', '.join(sorted(self._models))})"

    async def complete(self, request: SampleRequest) -> SampleResult:
        toy = self._models.get(request.model)
        if toy is None:
            raise BackendError(
                f"no toy model named {request.model!r} (loaded: {', '.join(sorted(self._models))})"
            )
        async with self._lock:
            return await asyncio.to_thread(self._complete, toy, request)

    def _complete(self, toy: Any, request: SampleRequest) -> SampleResult:
        import torch

        from weirdgen.toyworld.evaluate import generate
        from weirdgen.toyworld.train import set_threads

        set_threads(self._threads)
        generator = None if request.seed is None else torch.Generator().manual_seed(request.seed)
        generation = generate(
            toy,
            request.messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            top_logprobs=request.top_logprobs,
            generator=generator,
        )
        prompt_tokens = len(toy.tokenizer.encode_prompt(request.messages))
        return SampleResult(
            text=generation.text,
            finish_reason=generation.finish_reason,
            input_tokens=prompt_tokens,
            output_tokens=len(generation.token_ids),
            logprobs=generation.top_logprobs,
            served_by="toyworld",
        )

    async def aclose(self) -> None:
        self._models.clear()
