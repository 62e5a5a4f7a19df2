"""ContinuousBatcher: requests that arrive together share a batch, one bad request fails alone, and
shutdown ends a running batch early."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from weirdgen.models import InvalidRequestError, LocalSampler, SamplingRequest
from weirdgen.models.batching import BatcherStopped, ContinuousBatcher

PROMPT = [{"role": "user", "content": "Name a bird species."}]


@pytest.fixture(scope="module")
def sampler(tiny_model_dir):
    return LocalSampler.from_pretrained(tiny_model_dir)


def _run(coroutine):
    return asyncio.run(coroutine)


def test_requests_sent_together_share_one_batch(sampler):
    batcher = ContinuousBatcher(sampler, max_wait_s=0.5)
    batcher.start()
    try:
        requests = [SamplingRequest(PROMPT, seed=seed, max_tokens=6) for seed in range(5)]

        async def send_all():
            return await asyncio.gather(*(batcher.generate(r) for r in requests))

        results = _run(send_all())
    finally:
        batcher.stop()
    assert batcher.batch_sizes == [5]
    assert [r.text for r in results] == [
        sampler.sample(PROMPT, seed=s, max_tokens=6).text for s in range(5)
    ]


def test_a_bad_request_fails_alone(sampler):
    batcher = ContinuousBatcher(sampler, max_wait_s=0.5)
    batcher.start()
    try:
        good = SamplingRequest(PROMPT, seed=1, max_tokens=4)
        too_long = SamplingRequest(PROMPT, max_tokens=sampler.context_length)

        async def send_both():
            return await asyncio.gather(
                batcher.generate(good), batcher.generate(too_long), return_exceptions=True
            )

        good_result, error = _run(send_both())
    finally:
        batcher.stop()
    assert good_result.text == sampler.sample(PROMPT, seed=1, max_tokens=4).text
    assert isinstance(error, InvalidRequestError) and error.param == "max_tokens"


def test_shutdown_ends_a_running_batch_and_fails_its_requests(sampler):
    batcher = ContinuousBatcher(sampler, max_wait_s=0.0)
    batcher.start()
    stopper = threading.Thread(target=_stop_once_running, args=(batcher,))
    stopper.start()
    try:
        # Thousands of tokens: far longer than the moment it takes to stop the batch.
        long_request = SamplingRequest(PROMPT, max_tokens=230, n=32)
        started = time.monotonic()
        with pytest.raises(BatcherStopped):
            _run(batcher.generate(long_request))
        assert time.monotonic() - started < 30
    finally:
        stopper.join()
    assert sampler.sample(PROMPT, seed=0, max_tokens=5).completions[0].finish_reason == "length"


def _stop_once_running(batcher: ContinuousBatcher) -> None:
    while not (batcher.batch_sizes and batcher.batch_sizes[-1] == 1):
        time.sleep(0.005)
    batcher.stop()
