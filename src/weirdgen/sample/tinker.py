"""The ``tinker`` sampling backend: Tinker's native sampling client, one per model.

``request.model`` is a ``tinker://`` sampler path of a finetuned model or a base model's name.
Prompts are rendered by the same ``format_chat`` as training. Needs the optional ``tinker`` package
(``pip install 'weirdgen[tinker]'``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from weirdgen.errors import MissingDependencyError
from weirdgen.sample.base import SampleRequest, SampleResult

__all__ = ["TinkerChatSampler", "TinkerSampler"]


def _tinker() -> Any:
    try:
        import tinker
    except ImportError as error:
        raise MissingDependencyError(
            "the tinker backend needs the Tinker SDK: pip install 'weirdgen[tinker]'"
        ) from error
    return tinker


class TinkerChatSampler:
    """Sample chat completions from a Tinker model path (``tinker://…``) or base model."""

    def __init__(
        self,
        model_path: str | None = None,
        *,
        base_model: str | None = None,
        service_client: Any = None,
    ) -> None:
        service = service_client or _tinker().ServiceClient()
        self.client = service.create_sampling_client(
            model_path=model_path, base_model=base_model
        ).result()
        self.tokenizer = self.client.get_tokenizer()

    def complete(
        self,
        messages: Sequence[Any],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int = 256,
        seed: int | None = None,
    ) -> list[str]:
        """``n`` answers to the conversation."""
        from weirdgen.models.chat import format_chat

        types = _tinker().types
        text = format_chat(self.tokenizer, messages, add_generation_prompt=True)
        prompt = types.ModelInput.from_ints(
            self.tokenizer(text, add_special_tokens=False)["input_ids"]
        )
        params = types.SamplingParams(
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            stop=[self.tokenizer.eos_token] if self.tokenizer.eos_token else None,
        )
        response = self.client.sample(prompt=prompt, num_samples=n, sampling_params=params).result()
        return [
            self.tokenizer.decode(sequence.tokens, skip_special_tokens=True)
            for sequence in response.sequences
        ]


class TinkerSampler:
    """The Sampler protocol over Tinker: one ``TinkerChatSampler`` per model, made on first use."""

    supports_logprobs = False

    def __init__(self, base_model: str = "", *, service_client: Any = None) -> None:
        self.base_model = base_model
        self._service = service_client  # None: a ``tinker.ServiceClient()`` per model
        self._clients: dict[str, TinkerChatSampler] = {}

    @property
    def name(self) -> str:
        return f"tinker ({self.base_model})" if self.base_model else "tinker"

    def _client(self, model: str) -> TinkerChatSampler:
        if model not in self._clients:
            is_path = model.startswith("tinker://")
            self._clients[model] = TinkerChatSampler(
                model if is_path else None,
                base_model=None if is_path else model,
                service_client=self._service,
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
