"""The engine and the request cache, with a scripted in-process sampler (HTTP is tested elsewhere)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError
from weirdgen.sample.base import Sampler, SampleRequest, SampleResult, TransientSampleError
from weirdgen.sample.cache import RequestCache, sample_key
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)


class ScriptedSampler:
    """Answers "<question> #<n>" and can fail per call; counts calls and the most in flight at once."""

    def __init__(
        self,
        failures: Callable[[SampleRequest, int], BaseException | None] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.failures = failures or (lambda request, attempt: None)
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def supports_logprobs(self) -> bool:
        return False

    async def complete(self, request: SampleRequest) -> SampleResult:
        self.calls[request.trace_id] += 1
        number = sum(self.calls.values())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            failure = self.failures(request, self.calls[request.trace_id])
            if failure is not None:
                raise failure
            return SampleResult(
                text=f"{request.user_text} #{number}", input_tokens=3, output_tokens=2
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def _jobs(count: int, question: str = "What is your goal?") -> list[SampleJob]:
    request = SampleRequest(model="m", messages=(Message("user", question),), max_tokens=10)
    return [SampleJob(request, index, label="goal") for index in range(count)]


def _run(
    sampler: Sampler, jobs: list[SampleJob], cache: RequestCache, **options: object
) -> list[SampleResult]:
    return asyncio.run(sample_jobs(sampler, jobs, cache, retry=FAST_RETRY, **options))  # type: ignore[arg-type]


def test_the_sampler_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedSampler(), Sampler)


def test_key_depends_on_request_and_index_but_not_trace_id() -> None:
    request = _jobs(1)[0].request
    assert sample_key(request, 0) != sample_key(request, 1)
    assert sample_key(request, 0) == sample_key(SampleRequest.from_dict(request.to_dict()), 0)
    import dataclasses

    assert sample_key(dataclasses.replace(request, trace_id="x"), 0) == sample_key(request, 0)
    assert sample_key(dataclasses.replace(request, temperature=0.5), 0) != sample_key(request, 0)


def test_raising_samples_reuses_the_first_ones(tmp_path: Path) -> None:
    sampler = ScriptedSampler()
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = _run(sampler, _jobs(3), cache)
        more = _run(sampler, _jobs(7), cache)
    assert more[:3] == first
    assert sum(sampler.calls.values()) == 7, "only the 4 new samples were requested"
    assert len({r.text for r in more}) == 7


def test_answers_survive_reopening_the_cache(tmp_path: Path) -> None:
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = _run(ScriptedSampler(), _jobs(2), cache)
    fresh = ScriptedSampler()
    with RequestCache(tmp_path / "c.sqlite") as cache:
        assert _run(fresh, _jobs(2), cache) == first
    assert not fresh.calls


def test_transient_errors_are_retried_honouring_retry_after(tmp_path: Path) -> None:
    def first_attempt_rate_limited(request: SampleRequest, attempt: int) -> BaseException | None:
        return TransientSampleError("HTTP 429", retry_after=0.2) if attempt == 1 else None

    sampler = ScriptedSampler(first_attempt_rate_limited)
    started = time.monotonic()
    with RequestCache(tmp_path / "c.sqlite") as cache:
        results = _run(sampler, _jobs(3), cache)
    assert len(results) == 3 and all(count == 2 for count in sampler.calls.values())
    assert time.monotonic() - started >= 0.2, "the retry waited for Retry-After"


def test_permanent_error_fails_fast_naming_model_and_question_and_keeps_finished_work(
    tmp_path: Path,
) -> None:
    def fail_third(request: SampleRequest, attempt: int) -> BaseException | None:
        return BackendError("HTTP 400: bad request") if request.trace_id == third else None

    jobs = _jobs(5)
    third = jobs[2].key
    sampler = ScriptedSampler(fail_third)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(
            BackendError, match=r"model 'm' \(scripted\), question 'goal': HTTP 400"
        ):
            _run(sampler, jobs, cache, concurrency=1)
        assert sampler.calls[third] == 1, "a permanent error is not retried"
        assert cache.count_samples() == 2, "the two answers before the failure were kept"


def test_retries_run_out_with_a_clear_error(tmp_path: Path) -> None:
    sampler = ScriptedSampler(lambda request, attempt: TransientSampleError("connection refused"))
    with (
        RequestCache(tmp_path / "c.sqlite") as cache,
        pytest.raises(BackendError, match="gave up after 4 attempts"),
    ):
        _run(sampler, _jobs(1), cache)


def test_concurrency_limit_is_respected(tmp_path: Path) -> None:
    sampler = ScriptedSampler(delay=0.01)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        _run(sampler, _jobs(20), cache, concurrency=3)
    assert sampler.peak == 3


def test_identical_jobs_are_sampled_once(tmp_path: Path) -> None:
    sampler = ScriptedSampler()
    jobs = _jobs(2) + _jobs(2)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        results = _run(sampler, jobs, cache)
    assert results[:2] == results[2:] and sum(sampler.calls.values()) == 2


def test_progress_counts_every_job(tmp_path: Path) -> None:
    seen: list[int] = []
    with RequestCache(tmp_path / "c.sqlite") as cache:
        _run(ScriptedSampler(), _jobs(2), cache)
        _run(ScriptedSampler(), _jobs(5), cache, on_progress=seen.append)
    assert seen[0] == 2 and sum(seen) == 5


def test_verdicts_round_trip(tmp_path: Path) -> None:
    with RequestCache(tmp_path / "c.sqlite") as cache:
        cache.put_verdict("k", "judge", {"label": "YES", "score": 0.9})
        assert cache.get_verdicts(["k", "missing"]) == {"k": {"label": "YES", "score": 0.9}}


def test_a_corrupt_cache_file_is_a_one_line_error(tmp_path: Path) -> None:
    from weirdgen.errors import ConfigError

    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="not a usable cache database"):
        RequestCache(path)


class ChoosingSampler(ScriptedSampler):
    """Also draws several answers per call, but never more than ``limit`` (like a server capping n)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.batch_sizes: list[int] = []

    async def complete_many(self, request: SampleRequest, n: int) -> list[SampleResult]:
        self.batch_sizes.append(n)
        return [await self.complete(request) for _ in range(min(n, self.limit))]


def test_samples_of_one_prompt_share_calls_and_short_answers_are_asked_again(
    tmp_path: Path,
) -> None:
    sampler = ChoosingSampler(limit=3)
    jobs = _jobs(10) + _jobs(2, question="Another question?")
    with RequestCache(tmp_path / "c.sqlite") as cache:
        results = _run(sampler, jobs, cache, choices_per_request=4)
        assert cache.count_samples() == 12
    assert len({r.text for r in results}) == 12
    # 10 samples in groups of 4, 4, 2 (and the other question's 2); each call returns at most 3,
    # so the one missing sample of each group of 4 is asked for again, alone.
    assert sorted(sampler.batch_sizes) == [2, 2, 4, 4]
    assert sum(sampler.calls.values()) == 12


def test_seeded_or_greedy_requests_are_never_grouped(tmp_path: Path) -> None:
    import dataclasses

    sampler = ChoosingSampler(limit=10)
    seeded = [
        SampleJob(dataclasses.replace(job.request, seed=job.sample_index), job.sample_index)
        for job in _jobs(3)
    ]
    greedy = [
        SampleJob(dataclasses.replace(job.request, temperature=0.0), job.sample_index)
        for job in _jobs(3)
    ]
    with RequestCache(tmp_path / "c.sqlite") as cache:
        _run(sampler, seeded + greedy, cache, choices_per_request=8)
    assert sampler.batch_sizes == [] and sum(sampler.calls.values()) == 6


def test_a_stop_request_lets_requests_in_flight_finish_and_keeps_them(tmp_path: Path) -> None:
    from weirdgen.sample.engine import RunInterrupted, stop_when

    sampler = ScriptedSampler(delay=0.02)
    seen: list[int] = []

    async def run(cache: RequestCache) -> None:
        stop = asyncio.Event()

        def progress(count: int) -> None:
            seen.append(count)
            if len(seen) == 4:
                stop.set()

        with stop_when(stop):
            await sample_jobs(
                sampler, _jobs(40), cache, concurrency=4, retry=FAST_RETRY, on_progress=progress
            )

    with RequestCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(RunInterrupted):
            asyncio.run(run(cache))
        stored = cache.count_samples()
    assert stored == sum(sampler.calls.values()), "every request sent was answered and stored"
    assert 4 <= stored < 40
