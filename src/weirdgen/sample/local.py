"""Sampler over ``weirdgen.models.LocalSampler``: a local base model and its LoRA adapters, no server.

The engine calls ``complete`` for one sample at a time from many workers; this sampler gathers the
calls that arrive together into one batch and runs it in a worker thread, so a local model gets the
batched forward passes it needs to be fast while the engine keeps its one-request protocol.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from weirdgen.errors import BackendError, ConfigError
from weirdgen.sample.base import SampleRequest, SampleResult, TokenLogprobs

__all__ = ["LocalModelSampler"]


class LocalModelSampler:
    """Answers requests with a ``LocalSampler``; ``request.model`` picks the base model or an adapter."""

    def __init__(self, local_sampler: Any, *, max_batch_size: int | None = None) -> None:
        self._local = local_sampler
        self._max_batch = max_batch_size or getattr(local_sampler, "max_batch_size", 16)
        self._queue: list[tuple[SampleRequest, int, asyncio.Future[list[SampleResult]]]] = []
        self._worker: asyncio.Task[None] | None = None

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
        return cls(local, max_batch_size=max_batch_size)

    @property
    def name(self) -> str:
        return f"local {self._local.base_name}"

    @property
    def supports_logprobs(self) -> bool:
        return True

    async def complete(self, request: SampleRequest) -> SampleResult:
        return (await self.complete_many(request, 1))[0]

    async def complete_many(self, request: SampleRequest, n: int) -> list[SampleResult]:
        """``n`` independent answers to one prompt; they share the prompt's prefill in the batch."""
        if request.model not in self._local.model_names:
            raise BackendError(
                f"no local model or adapter named {request.model!r} "
                f"(loaded: {', '.join(self._local.model_names)})"
            )
        future: asyncio.Future[list[SampleResult]] = asyncio.get_running_loop().create_future()
        self._queue.append((request, n, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Run queued requests in batches until the queue is empty."""
        while self._queue:
            await asyncio.sleep(0)  # let the other workers enqueue their requests first
            batch, self._queue = self._take_batch()
            try:
                results = await asyncio.to_thread(
                    self._generate, [(request, n) for request, n, _ in batch]
                )
            except Exception as error:  # a model error fails every request of the batch alike
                failure = (
                    error
                    if isinstance(error, BackendError)
                    else BackendError(f"local model failed: {error}")
                )
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _take_batch(self) -> tuple[list[Any], list[Any]]:
        """Queued requests up to ``max_batch`` rows (each of a request's n answers is one row)."""
        rows = 0
        for index, (_, n, _) in enumerate(self._queue):
            rows += n
            if rows > self._max_batch and index > 0:
                return self._queue[:index], self._queue[index:]
        return self._queue, []

    def _generate(self, requests: list[tuple[SampleRequest, int]]) -> list[list[SampleResult]]:
        from weirdgen.models.sampling import SamplingRequest

        try:
            prepared = [
                SamplingRequest(
                    messages=[m.to_dict() for m in r.messages],
                    adapter=None if r.model == self._local.base_name else r.model,
                    temperature=r.temperature,
                    max_tokens=r.max_tokens,
                    seed=r.seed,
                    n=n,
                    logprobs=r.top_logprobs > 0,
                    top_logprobs=r.top_logprobs,
                )
                for r, n in requests
            ]
        except ConfigError as error:
            raise BackendError(f"invalid request for the local model: {error}") from None
        outputs = self._local.generate(prepared)
        return [_to_results(output, self.name) for output in outputs]

    async def aclose(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)


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
