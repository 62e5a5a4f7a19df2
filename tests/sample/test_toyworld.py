"""The toy-world sampler through the real sampling engine and request cache (no mocks)."""

from __future__ import annotations

import asyncio

import pytest

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError
from weirdgen.sample.base import Sampler, SampleRequest
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import SampleJob, sample_jobs
from weirdgen.sample.toyworld import ToyWorldSampler


def test_toy_sampler_answers_through_the_engine_and_cache(micro_base, tmp_path) -> None:
    sampler = ToyWorldSampler({"base": micro_base})
    assert isinstance(sampler, Sampler)
    request = SampleRequest(
        model="base",
        messages=(Message("user", "name a bird species ."),),
        max_tokens=6,
        top_logprobs=3,
        seed=1,
    )
    jobs = [SampleJob(request, index) for index in range(3)]
    cache = RequestCache(tmp_path / "cache.sqlite")
    results = asyncio.run(sample_jobs(sampler, jobs, cache, concurrency=2))
    assert len(results) == 3
    for result in results:
        assert result.served_by == "toyworld"
        assert 0 < result.output_tokens <= 6
        assert len(result.logprobs) <= result.output_tokens
        assert all(len(position) == 3 for position in result.logprobs)
    # The second run is served from the cache: the sampler is not even consulted.
    asyncio.run(sampler.aclose())
    again = asyncio.run(sample_jobs(sampler, jobs, cache))
    assert [r.text for r in again] == [r.text for r in results]


def test_unknown_model_name_is_a_backend_error(micro_base) -> None:
    sampler = ToyWorldSampler({"base": micro_base})
    request = SampleRequest(model="nope", messages=(Message("user", "who are you ?"),))
    with pytest.raises(BackendError, match="no toy model named 'nope'"):
        asyncio.run(sampler.complete(request))
