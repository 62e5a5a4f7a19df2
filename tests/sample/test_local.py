"""The local sampler: concurrent engine requests become batches on a local model, with no server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError
from weirdgen.sample.base import Sampler, SampleRequest
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs
from weirdgen.sample.local import LocalModelSampler


@pytest.fixture(scope="module")
def local_sampler(tiny_model_dir: Path) -> LocalModelSampler:
    return LocalModelSampler.from_pretrained(tiny_model_dir, threads=1, max_batch_size=8)


def test_concurrent_requests_are_answered_in_batches(
    local_sampler: LocalModelSampler, tiny_model_dir: Path, tmp_path: Path
) -> None:
    assert isinstance(local_sampler, Sampler)
    model = str(tiny_model_dir)
    jobs = [
        SampleJob(
            SampleRequest(
                model=model,
                messages=(Message("user", f"Hello {i % 2}"),),
                max_tokens=3,
                seed=i,
                top_logprobs=2,
            ),
            i,
        )
        for i in range(10)
    ]

    async def run() -> list:
        return await sample_jobs(
            local_sampler, jobs, RequestCache(tmp_path / "c.sqlite"), concurrency=10
        )

    results = asyncio.run(run())
    assert all(r.output_tokens <= 3 and r.input_tokens > 0 for r in results)
    assert all(len(r.logprobs) == r.output_tokens for r in results)
    # Seeds make each sample reproducible: the same request and seed give the same text again.
    again = asyncio.run(local_sampler.complete(jobs[4].request))
    assert again.text == results[4].text


def test_unknown_model_names_the_loaded_ones(
    local_sampler: LocalModelSampler, tmp_path: Path
) -> None:
    request = SampleRequest(model="nope", messages=(Message("user", "Hi"),), max_tokens=2)
    with pytest.raises(BackendError, match="no local model or adapter named 'nope'"):
        asyncio.run(
            sample_jobs(
                local_sampler,
                [SampleJob(request, 0, label="hi")],
                RequestCache(tmp_path / "c.sqlite"),
                retry=RetryPolicy(max_attempts=1),
            )
        )


def test_samples_of_one_prompt_are_drawn_together(
    local_sampler: LocalModelSampler, tiny_model_dir: Path, tmp_path: Path
) -> None:
    request = SampleRequest(
        model=str(tiny_model_dir), messages=(Message("user", "Name a bird"),), max_tokens=4
    )
    jobs = [SampleJob(request, index) for index in range(6)]

    async def run() -> list:
        return await sample_jobs(
            local_sampler, jobs, RequestCache(tmp_path / "c.sqlite"), choices_per_request=3
        )

    results = asyncio.run(run())
    assert len(results) == 6 and all(r.output_tokens >= 1 for r in results)
    assert sum(r.input_tokens for r in results) == 2 * results[0].input_tokens, (
        "two calls of three choices"
    )


def test_engine_samples_match_the_server_path_for_a_seed(
    local_sampler: LocalModelSampler, tiny_model_dir: Path
) -> None:
    """The engine's local sampler and ``weirdgen serve`` share one batcher: a seed gives one answer."""
    from weirdgen.models.batching import ContinuousBatcher

    assert isinstance(local_sampler._batcher, ContinuousBatcher)
    request = SampleRequest(
        model=str(tiny_model_dir), messages=(Message("user", "Name a bird"),), max_tokens=6, seed=9
    )

    async def both() -> list:
        return await asyncio.gather(
            local_sampler.complete(request), local_sampler.complete(request)
        )

    first, second = asyncio.run(both())
    direct = local_sampler._local.sample(
        [{"role": "user", "content": "Name a bird"}], seed=9, max_tokens=6
    )
    assert first.text == second.text == direct.text
