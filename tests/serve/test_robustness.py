"""One request cannot stall the server: huge bodies are refused before parsing, prompts are
tokenized off the event loop, and a client that disconnects stops its own generation."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest

from weirdgen.models import LocalSampler
from weirdgen.serve import serve_in_background

PROMPT = [{"role": "user", "content": "Name a bird species."}]
STEP_DELAY_S = (
    0.02  # each forward pass sleeps this long: a long answer takes seconds, as on a big model
)


@pytest.fixture(scope="module")
def slow_sampler(tiny_model_dir):
    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    sampler.model.register_forward_hook(lambda *_: time.sleep(STEP_DELAY_S))
    return sampler


def _huge_body(megabytes: int) -> bytes:
    words = "name a bird species " * (megabytes * 1024 * 1024 // 20)
    return json.dumps({"model": "tiny", "messages": [{"role": "user", "content": words}]}).encode()


def _health_latencies_while(base_url: str, request: threading.Thread) -> list[float]:
    latencies = []
    with httpx.Client(timeout=30) as client:
        request.start()
        while request.is_alive() or not latencies:
            started = time.monotonic()
            assert client.get(f"{base_url.removesuffix('/v1')}/health").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    request.join()
    return latencies


@pytest.mark.parametrize(
    ("max_body_mb", "status", "code"),
    [(8, 413, "request_too_large"), (64, 400, "context_length_exceeded")],
)
def test_health_answers_fast_while_a_20_mb_prompt_is_refused(
    slow_sampler, max_body_mb, status, code
):
    body = _huge_body(20)
    outcome = {}

    def send() -> None:
        response = httpx.post(
            f"{url}/chat/completions",
            content=body,
            headers={"content-type": "application/json"},
            timeout=120,
        )
        outcome["status"], outcome["error"] = response.status_code, response.json()["error"]

    with serve_in_background(
        slow_sampler, fine_tuning=False, max_body_bytes=max_body_mb * 1024 * 1024
    ) as url:
        latencies = _health_latencies_while(url, threading.Thread(target=send))
    assert outcome["status"] == status and outcome["error"]["code"] == code
    print(f"health latency max {max(latencies):.3f} s over {len(latencies)} calls")
    assert max(latencies) < 1.0, latencies


def _wait_until_idle(batcher, timeout_s: float) -> float:
    started = time.monotonic()
    while batcher.running and time.monotonic() - started < timeout_s:
        time.sleep(0.01)
    return time.monotonic() - started


def _wait_until_running(batcher) -> None:
    deadline = time.monotonic() + 30
    while not batcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher.running


def test_a_disconnected_stream_stops_generating_within_two_seconds(slow_sampler, caplog):
    caplog.set_level(logging.INFO, logger="weirdgen.serve")
    body = {"model": "tiny", "messages": PROMPT, "max_tokens": 200, "stream": True}
    with serve_in_background(slow_sampler, fine_tuning=False) as url:
        batcher = url.app.state.batcher
        with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")  # the answer has started
            _wait_until_running(batcher)
        stopped_after = _wait_until_idle(batcher, timeout_s=10)  # the connection is closed now
    assert stopped_after < 2.0
    assert any("went away" in r.getMessage() for r in caplog.records), caplog.text


def test_a_client_that_times_out_stops_its_generation(slow_sampler, caplog):
    caplog.set_level(logging.INFO, logger="weirdgen.serve")
    body = {"model": "tiny", "messages": PROMPT, "max_tokens": 200, "n": 3}
    with serve_in_background(slow_sampler, fine_tuning=False) as url:
        batcher = url.app.state.batcher
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/chat/completions", json=body, timeout=1.0)  # 200 steps take 4 s
        stopped_after = _wait_until_idle(batcher, timeout_s=10)
        ok = httpx.post(f"{url}/chat/completions", json={**body, "max_tokens": 2}, timeout=30)
    assert stopped_after < 2.0
    assert any("disconnected" in r.getMessage() for r in caplog.records), caplog.text
    assert ok.status_code == 200  # and the server serves the next request as usual


def test_a_chunked_body_over_the_limit_is_413(slow_sampler):
    def chunks():
        for _ in range(40):
            yield b" " * 65536  # 2.5 MB in all, sent without a Content-Length

    with serve_in_background(slow_sampler, fine_tuning=False, max_body_bytes=1024 * 1024) as url:
        response = httpx.post(
            f"{url}/chat/completions",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
        assert "limit of 1048576 bytes" in response.json()["error"]["message"]
        ok = httpx.post(
            f"{url}/chat/completions",
            json={"model": "tiny", "messages": PROMPT, "max_tokens": 2},
            timeout=30,
        )
    assert ok.status_code == 200
