"""The Sampler protocol over Tinker sampling clients, so ``weirdgen run --backend tinker`` can evaluate.

Needs the optional ``tinker`` package (``pip install 'weirdgen[tinker]'``); ``request.model`` is a
``tinker://`` path of a finetuned model or the base model's name.
"""

from __future__ import annotations

import asyncio
from typing import Any

from weirdgen.sample.base import SampleRequest, SampleResult


class TinkerSampler:
    """Answers requests with one Tinker sampling client per model, created on first use."""

    def __init__(self, base_model: str) -> None:
        self.base_model = base_model
        self._clients: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return f"tinker ({self.base_model})"

    @property
    def supports_logprobs(self) -> bool:
        return False

    def _client(self, model: str) -> Any:
        from weirdgen.finetune import TinkerChatSampler

        if model not in self._clients:
            is_path = model.startswith("tinker://")
            self._clients[model] = TinkerChatSampler(
                model if is_path else None, base_model=None if is_path else model
            )
        return self._clients[model]

    async def complete(self, request: SampleRequest) -> SampleResult:
        client = self._client(request.model)
        texts = await asyncio.to_thread(
            client.complete,
            list(request.messages),
            n=1,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
        )
        return SampleResult(text=texts[0], finish_reason="stop", served_by=self.name)

    async def aclose(self) -> None:
        self._clients.clear()
