"""The async engine that fills the request cache: concurrency limit, retries and fail-fast errors.

``sample_jobs`` takes any ``Sampler`` and a list of ``SampleJob`` s, answers the cached ones from the
cache, and sends the rest through a fixed pool of workers. Each answer is committed as it arrives.
Transient failures (``TransientSampleError``) are retried with exponential backoff and jitter, never
sooner than the server's Retry-After; any other failure stops the run at once with a message naming
the model and the question, and everything answered before it stays in the cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from weirdgen.errors import BackendError, WeirdgenError
from weirdgen.sample.base import Sampler, SampleRequest, SampleResult, TransientSampleError
from weirdgen.sample.cache import RequestCache, sample_key

__all__ = ["RetryPolicy", "RunInterrupted", "SampleJob", "sample_jobs", "stop_when"]

_STOP: ContextVar[asyncio.Event | None] = ContextVar("weirdgen_sampling_stop", default=None)


class RunInterrupted(WeirdgenError):
    """Sampling stopped on request (Ctrl-C) after the requests in flight were answered and stored."""

    exit_code = 130  # what a shell reports for Ctrl-C


@contextmanager
def stop_when(event: asyncio.Event) -> Iterator[None]:
    """Within this block, once ``event`` is set, ``sample_jobs`` sends nothing new, lets the
    requests in flight finish and be stored (answers already paid for are kept), then raises
    ``RunInterrupted``. The CLI sets the event on the first Ctrl-C."""
    token = _STOP.set(event)
    try:
        yield
    finally:
        _STOP.reset(token)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried."""

    max_attempts: int = 8
    """Tries per sample, the first included, before the run fails."""
    base_delay: float = 0.5
    """Seconds before the first retry; doubles each time."""
    max_delay: float = 30.0
    """Upper bound of one backoff wait (a longer Retry-After is still honoured)."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff *= random.uniform(
            0.75, 1.25
        )  # jitter, so that many workers do not retry in lockstep
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class SampleJob:
    """One sample to obtain: a prepared request and its sample index."""

    request: SampleRequest
    sample_index: int
    label: str = ""
    """What to call the job in an error message, e.g. the question id and trigger value."""

    @property
    def key(self) -> str:
        return sample_key(self.request, self.sample_index)


ProgressCallback = Callable[[int], None]
"""Called with the number of newly finished samples (cached ones are reported up front)."""


async def sample_jobs(
    sampler: Sampler,
    jobs: list[SampleJob],
    cache: RequestCache,
    *,
    concurrency: int = 32,
    retry: RetryPolicy | None = None,
    on_progress: ProgressCallback | None = None,
    choices_per_request: int = 1,
) -> list[SampleResult]:
    """Answers for ``jobs``, in order: cached ones from ``cache``, the rest sampled and committed.

    With ``choices_per_request`` > 1 and a sampler that has ``complete_many``, samples of one
    identical prompt are asked for together (the API's ``n``): one request, and one prompt's worth
    of input tokens, for up to that many samples. Each answer is still stored under its own sample
    index, so resuming and raising sample counts work the same.

    Raises ``BackendError`` on the first non-transient failure or when retries run out; every
    answer received until then is already in the cache.
    """
    if concurrency < 1 or choices_per_request < 1:
        raise BackendError(
            f"concurrency and choices_per_request must be at least 1, got {concurrency}, {choices_per_request}"
        )
    retry = retry or RetryPolicy()
    keys = [job.key for job in jobs]
    results: dict[str, SampleResult] = cache.get_samples(set(keys))
    if on_progress and results:
        on_progress(sum(1 for key in keys if key in results))
    pending: dict[str, SampleJob] = {}
    for key, job in zip(keys, jobs, strict=True):
        if key not in results and key not in pending:
            pending[key] = job
    if pending:
        width = choices_per_request if hasattr(sampler, "complete_many") else 1
        await _run_workers(
            sampler,
            _batches(pending, width),
            cache,
            results,
            concurrency,
            retry,
            on_progress,
            duplicates=_duplicate_counts(keys, pending),
        )
    return [results[key] for key in keys]


Batch = list[tuple[str, SampleJob]]


def _batches(pending: dict[str, SampleJob], width: int) -> list[Batch]:
    """Pending samples grouped by identical request, at most ``width`` per group. Only unseeded
    sampling at temperature > 0 is grouped: otherwise the choices would not be independent draws."""
    groups: dict[str, Batch] = {}
    batches: list[Batch] = []
    for key, job in pending.items():
        request = job.request
        if width == 1 or request.seed is not None or request.temperature == 0:
            batches.append([(key, job)])
            continue
        group = groups.setdefault(request.request_hash(), [])
        group.append((key, job))
        if len(group) == width:
            batches.append(groups.pop(request.request_hash()))
    batches.extend(groups.values())
    return batches


def _duplicate_counts(keys: list[str], pending: dict[str, SampleJob]) -> dict[str, int]:
    """How many jobs share each pending key (identical prompts listed twice are sampled once)."""
    counts: dict[str, int] = {}
    for key in keys:
        if key in pending:
            counts[key] = counts.get(key, 0) + 1
    return counts


async def _run_workers(
    sampler: Sampler,
    work: list[Batch],
    cache: RequestCache,
    results: dict[str, SampleResult],
    concurrency: int,
    retry: RetryPolicy,
    on_progress: ProgressCallback | None,
    duplicates: dict[str, int],
) -> None:
    queue: asyncio.Queue[Batch] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    stop = _STOP.get()

    async def worker() -> None:
        while stop is None or not stop.is_set():
            try:
                batch = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            answers = await _complete_with_retries(sampler, batch, retry)
            for (key, job), answer in zip(batch, answers, strict=False):
                cache.put_sample(key, job.request, job.sample_index, answer)
                results[key] = answer
                if on_progress:
                    on_progress(duplicates.get(key, 1))
            if len(answers) < len(batch):
                queue.put_nowait(
                    batch[len(answers) :]
                )  # a server that ignores n: ask again for the rest

    # A TaskGroup cancels the other workers as soon as one raises: fail fast, keep what is stored.
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(work))):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        # Report the first failure itself, not a group: the others are cancellations or repeats.
        raise errors.exceptions[0] from None
    if stop is not None and stop.is_set() and not queue.empty():
        raise RunInterrupted(
            "stopped on request; the answers received so far are stored: run the same command again to resume"
        )


async def _complete_with_retries(
    sampler: Sampler, batch: Batch, retry: RetryPolicy
) -> list[SampleResult]:
    """One request for the batch (its keys travel as the trace id), retried on transient errors."""
    job = batch[0][1]
    request = dataclasses.replace(job.request, trace_id=",".join(key for key, _ in batch))
    where = f"model {request.model!r} ({sampler.name}), question {job.label or request.user_text[:60]!r}"
    for attempt in range(1, retry.max_attempts + 1):
        try:
            if len(batch) == 1:
                return [await sampler.complete(request)]
            answers = await sampler.complete_many(request, len(batch))  # type: ignore[attr-defined]
            if not answers:
                raise TransientSampleError("the server returned no choices")
            return answers
        except TransientSampleError as error:
            if attempt == retry.max_attempts:
                raise BackendError(f"{where}: gave up after {attempt} attempts: {error}") from None
            await asyncio.sleep(retry.delay(attempt, error.retry_after))
        except BackendError as error:
            raise BackendError(f"{where}: {error}") from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises
