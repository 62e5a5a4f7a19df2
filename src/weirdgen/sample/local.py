"""Sampler over ``weirdgen.models.LocalSampler``: a local base model and its LoRA adapters, no server.

The engine calls ``complete`` for one sample at a time from many workers; each call goes to the same
continuous batcher ``weirdgen serve`` uses (``weirdgen.models.batching``), so requests that arrive
while a batch generates join it after its next token, and a local model gets the batched forward
passes it needs to be fast while the engine keeps its one-request protocol.
"""

from __future__ import annotations

import os
from typing import Any

from weirdgen.errors import BackendError, ConfigError
from weirdgen.sample.base import SampleRequest, SampleResult, TokenLogprobs

__all__ = ["LocalModelSampler"]


class LocalModelSampler:
    """Answers requests with a ``LocalSampler``; ``request.model`` picks the base model or an adapter."""

    supports_logprobs = True

    def __init__(self, local_sampler: Any, *, max_wait_s: float = 0.0) -> None:
        from weirdgen.models.batching import ContinuousBatcher

        self._local = local_sampler
        # No wait for company: the engine's workers submit together, and late ones join the batch.
        self._batcher = ContinuousBatcher(local_sampler, max_wait_s=max_wait_s)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        adapters: dict[str, str] | None = None,
        threads: int | None = None,
        max_batch_size: int = 16,
    ) -> LocalModelSampler:
        """Load a local model folder, Hugging Face id or alias, with named LoRA adapter folders."""
        from weirdgen.models.sampler import LocalSampler

        local = LocalSampler.from_pretrained(
            name_or_path,
            adapters=adapters,
            threads=threads,
            base_name=str(name_or_path),
            max_batch_size=max_batch_size,
        )
        return cls(local)

    @property
    def name(self) -> str:
        return f"local {self._local.base_name}"

    async def complete(self, request: SampleRequest) -> SampleResult:
        return (await self.complete_many(request, 1))[0]

    async def complete_many(self, request: SampleRequest, n: int) -> list[SampleResult]:
        """``n`` independent answers to one prompt; they share the prompt's prefill in the batch."""
        if request.model not in self._local.model_names:
            raise BackendError(
                f"no local model or adapter named {request.model!r} "
                f"(loaded: {', '.join(self._local.model_names)})"
            )
        try:
            output = await self._batcher.generate(self._sampling_request(request, n))
        except ConfigError as error:
            raise BackendError(f"invalid request for the local model: {error}") from None
        except BackendError:
            raise
        except Exception as error:  # a model error fails the request, not the engine
            raise BackendError(f"local model failed: {error}") from error
        return _to_results(output, self.name)

    def _sampling_request(self, request: SampleRequest, n: int) -> Any:
        """The one local request record for an engine request (its cache key stays the engine's)."""
        from weirdgen.models.sampling import SamplingRequest

        return SamplingRequest(
            messages=[m.to_dict() for m in request.messages],
            adapter=None if request.model == self._local.base_name else request.model,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=request.seed,
            n=n,
            logprobs=request.top_logprobs > 0,
            top_logprobs=request.top_logprobs,
        )

    async def aclose(self) -> None:
        import asyncio

        await asyncio.to_thread(self._batcher.stop)


def _to_results(output: Any, served_by: str) -> list[SampleResult]:
    """One result per completion; the prompt's tokens are counted once, on the first."""
    results = []
    for index, completion in enumerate(output.completions):
        positions: list[TokenLogprobs] = []
        for token in completion.logprobs or ():
            alternatives = {alt.token: alt.logprob for alt in token.top_logprobs}
            alternatives.setdefault(token.token, token.logprob)
            positions.append(alternatives)
        results.append(
            SampleResult(
                text=completion.text,
                finish_reason=completion.finish_reason,
                input_tokens=output.prompt_tokens if index == 0 else 0,
                output_tokens=len(completion.token_ids),
                logprobs=tuple(positions),
                served_by=served_by,
            )
        )
    return results
