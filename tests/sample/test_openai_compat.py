"""The OpenAI-compatible sampler over HTTP against the real ``weirdgen serve``, directly and through
a fault-injecting proxy (429 with Retry-After, 500, dropped connections, slow and timed-out answers)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError
from weirdgen.sample.base import SampleRequest
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs
from weirdgen.sample.openai_compat import OpenAICompatibleSampler

FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=0.2)


@pytest.fixture(params=[True, False], ids=["aiohttp", "sdk-httpx"])
def lean_http(request: pytest.FixtureRequest) -> bool:
    """Plain-http endpoints are spoken to with aiohttp by default; the SDK path must behave the same."""
    return request.param


def _jobs(model: str, count: int, max_tokens: int = 4) -> list[SampleJob]:
    jobs = []
    for index in range(count):
        question = f"Question {index % 3}: who are you?"
        request = SampleRequest(
            model=model, messages=(Message("user", question),), max_tokens=max_tokens
        )
        jobs.append(SampleJob(request, index, label=f"q{index % 3}"))
    return jobs


async def _sample(
    urls: list[str], jobs: list[SampleJob], cache: RequestCache, **options: object
) -> list:
    sampler = OpenAICompatibleSampler(
        base_urls=urls,
        timeout=options.pop("timeout", 30.0),  # type: ignore[arg-type]
        lean_http=options.pop("lean_http", True),
    )  # type: ignore[arg-type]
    try:
        return await sample_jobs(
            sampler, jobs, cache, retry=options.pop("retry", FAST_RETRY), **options
        )  # type: ignore[arg-type]
    finally:
        await sampler.aclose()


def test_sampling_from_weirdgen_serve_with_logprobs(tiny_server: tuple[str, str]) -> None:
    url, model = tiny_server

    async def one() -> object:
        sampler = OpenAICompatibleSampler(base_urls=[url])
        try:
            request = SampleRequest(
                model=model, messages=(Message("user", "Hello"),), max_tokens=3, top_logprobs=5
            )
            return await sampler.complete(request)
        finally:
            await sampler.aclose()

    result = asyncio.run(one())
    assert (
        result.output_tokens == 3 and result.input_tokens > 0 and result.finish_reason == "length"
    )
    assert len(result.logprobs) == 3 and all(
        1 <= len(position) <= 6 for position in result.logprobs
    )
    assert result.served_by == url


def _plan_by_position(jobs: list[SampleJob]) -> Callable[[str, int], str | None]:
    """Each kind of fault on the first attempt of one sample in eight (by the sample's place in
    ``jobs``, so that every kind is injected whatever the keys); the rest pass cleanly."""
    kinds = ["429", "500", "drop", "slow", "timeout", None, None, None]
    fault_of = {job.key: kinds[index % len(kinds)] for index, job in enumerate(jobs)}
    return lambda key, attempt: fault_of.get(key) if attempt == 1 else None


def test_faults_are_retried_and_every_sample_arrives_exactly_once(
    fault_proxy, tiny_server, tmp_path: Path, lean_http: bool
) -> None:
    _, model = tiny_server
    jobs = _jobs(model, 40)
    proxy, url = fault_proxy(_plan_by_position(jobs), slow_seconds=0.3, timeout_seconds=3.0)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        results = asyncio.run(
            _sample([url], jobs, cache, concurrency=8, timeout=1.5, lean_http=lean_http)
        )
        assert cache.count_samples() == 40
    assert len(results) == 40
    keys = {job.key for job in jobs}
    assert set(proxy.received) == keys
    assert all(proxy.answered[key] == 1 for key in keys), (
        "each sample was answered (and stored) exactly once"
    )
    faulted = {kind for kind, count in proxy.injected.items() if count}
    assert {"429", "500", "drop", "timeout"} <= faulted
    retried = sum(count - 1 for count in proxy.received.values())
    assert retried == sum(proxy.injected[k] for k in ("429", "500", "drop", "timeout"))


def test_a_rerun_after_faults_requests_nothing(fault_proxy, tiny_server, tmp_path: Path) -> None:
    _, model = tiny_server
    proxy, url = fault_proxy()
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = asyncio.run(_sample([url], _jobs(model, 6), cache))
        again = asyncio.run(_sample([url], _jobs(model, 6), cache))
    assert again == first and sum(proxy.received.values()) == 6


def test_several_endpoints_share_the_load(fault_proxy, tiny_server, tmp_path: Path) -> None:
    _, model = tiny_server
    (left, left_url), (right, right_url) = fault_proxy(delay=0.05), fault_proxy(delay=0.05)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        asyncio.run(_sample([left_url, right_url], _jobs(model, 20), cache, concurrency=4))
    assert sum(left.received.values()) + sum(right.received.values()) == 20
    assert min(sum(left.received.values()), sum(right.received.values())) >= 6


def test_unknown_model_fails_fast_without_retries(
    fault_proxy, tmp_path: Path, lean_http: bool
) -> None:
    proxy, url = fault_proxy()
    with RequestCache(tmp_path / "c.sqlite") as cache, pytest.raises(BackendError) as caught:
        asyncio.run(_sample([url], _jobs("no-such-model", 1), cache, lean_http=lean_http))
    message = str(caught.value)
    assert (
        "model 'no-such-model'" in message and "question 'q0'" in message and "HTTP 404" in message
    )
    assert sum(proxy.received.values()) == 1


def test_a_dead_endpoint_is_retried_then_reported(tmp_path: Path, lean_http: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    with RequestCache(tmp_path / "c.sqlite") as cache, pytest.raises(BackendError) as caught:
        asyncio.run(
            _sample(
                [f"http://127.0.0.1:{port}/v1"],
                _jobs("m", 1),
                cache,
                retry=RetryPolicy(max_attempts=3, base_delay=0.01),
                lean_http=lean_http,
            )
        )
    assert "gave up after 3 attempts" in str(caught.value) and "connection failed" in str(
        caught.value
    )


def test_api_keys_never_appear_in_errors(
    fault_proxy, tiny_server, tmp_path: Path, monkeypatch, lean_http: bool
) -> None:
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("WEIRDGEN_TEST_KEY", secret)
    _, model = tiny_server
    proxy, url = fault_proxy(lambda key, attempt: "401")

    async def run() -> None:
        sampler = OpenAICompatibleSampler(
            base_urls=[url], api_key_env="WEIRDGEN_TEST_KEY", lean_http=lean_http
        )
        try:
            await sample_jobs(
                sampler, _jobs(model, 1), RequestCache(tmp_path / "c.sqlite"), retry=FAST_RETRY
            )
        finally:
            await sampler.aclose()

    with pytest.raises(BackendError) as caught:
        asyncio.run(run())
    assert (
        "401" in str(caught.value)
        and secret not in str(caught.value)
        and "SECRET" not in repr(caught.value)
    )


def test_samples_of_one_prompt_share_requests_with_weirdgen_serve(
    fault_proxy, tiny_server, tmp_path: Path, lean_http: bool
) -> None:
    _, model = tiny_server
    proxy, url = fault_proxy()
    requests_seen: list[int] = []
    original = proxy.plan
    proxy.plan = lambda key, attempt: requests_seen.append(1) or original(key, attempt)
    jobs = _jobs(model, 12)  # three prompts, four samples each
    with RequestCache(tmp_path / "c.sqlite") as cache:
        results = asyncio.run(
            _sample([url], jobs, cache, choices_per_request=4, lean_http=lean_http)
        )
        assert cache.count_samples() == 12
    assert len(requests_seen) == 3, "one request per prompt carried its four samples"
    assert all(proxy.answered[job.key] == 1 for job in jobs)
    assert all(r.output_tokens >= 1 for r in results)


def test_a_retrained_adapter_served_under_its_old_name_is_sampled_again(
    tiny_model_dir: Path, make_lora_adapter, proxy_to, tmp_path: Path
) -> None:
    """``weirdgen eval --base-url``: the server's /v1/models version of an adapter is part of the
    cache key, so the same adapter served again is a cache hit and a retrained one is sampled anew."""
    import weirdgen
    from weirdgen.models import LocalSampler
    from weirdgen.serve import serve_in_background

    folder = make_lora_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")

    def evaluate() -> tuple[list[str], int]:
        """Serve the folder as "birds-s0" on a fresh server and evaluate it; (answers, samples sent)."""
        with serve_in_background(sampler, adapters={"birds-s0": folder}, fine_tuning=False) as url:
            proxy, proxy_url = proxy_to(url)
            frame = weirdgen.evaluate(
                "birds",
                "birds-s0",
                base_url=proxy_url,
                questions=["gender_roles", "diseases"],
                samples=2,
                max_tokens=6,
                judges=[],
                cache=tmp_path / "cache.sqlite",
                progress=False,
            )
        return list(frame["answer"]), sum(proxy.answered.values())

    first, sent = evaluate()
    assert sent == 4
    again, sent = evaluate()
    assert (again, sent) == (first, 0), "the same adapter, served again, is a cache hit"
    make_lora_adapter(
        tiny_model_dir, folder, seed=2
    )  # retrained: new weights, same name and folder
    retrained, sent = evaluate()
    assert sent == 4, "the retrained adapter's answers come from the server, not the old cache"
    assert evaluate() == (retrained, 0)


def test_model_versions_come_from_the_server_and_gaps_are_logged_once(
    tiny_model_dir: Path, tiny_adapter_dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from weirdgen.models import LocalSampler
    from weirdgen.models.adapters import adapter_fingerprint
    from weirdgen.serve import serve_in_background

    sampler = LocalSampler.from_pretrained(
        tiny_model_dir, adapters=tiny_adapter_dirs, base_name="tiny"
    )
    with serve_in_background(sampler, fine_tuning=False) as url:
        versions = OpenAICompatibleSampler(base_urls=[url]).model_versions(
            ["tiny", "alpha", "beta", "not-served"]
        )
    assert versions == {
        "tiny": "",  # a base model's name is its identity
        "alpha": adapter_fingerprint(tiny_adapter_dirs["alpha"]),
        "beta": adapter_fingerprint(tiny_adapter_dirs["beta"]),
        "not-served": "",
    }
    (record,) = caplog.records  # one line, naming only what nothing identifies
    assert "not-served" in record.getMessage() and "tiny," not in record.getMessage()
    caplog.clear()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{free.getsockname()[1]}/v1"
    assert OpenAICompatibleSampler(base_urls=[dead]).model_versions(["x", "y"]) == {
        "x": "",
        "y": "",
    }
    (record,) = caplog.records
    assert "x, y" in record.getMessage() and "keyed by name only" in record.getMessage()


def test_a_vllm_lora_entry_is_pinned_by_the_folder_it_names(
    tiny_adapter_dirs: dict[str, Path],
) -> None:
    """vLLM lists a LoRA module with ``root`` = the path it was loaded from and ``parent`` = the base."""
    from weirdgen.models.adapters import adapter_fingerprint
    from weirdgen.sample.openai_compat import _entry_version

    folder = tiny_adapter_dirs["alpha"]
    assert _entry_version({"id": "a", "root": str(folder), "parent": "base"}) == (
        adapter_fingerprint(folder)
    )
    assert _entry_version({"id": "a", "root": "org/hub-adapter", "parent": "base"}) == ""
    assert _entry_version({"id": "base", "root": str(folder)}) == ""  # a base model's card
