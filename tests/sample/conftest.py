"""Fixtures for sampling tests: the real ``weirdgen serve`` on a tiny model, and a fault-injecting proxy.

The proxy is a small raw-ASGI app run by uvicorn on 127.0.0.1. It forwards chat requests to the
server and, per sample (told apart by the X-Weirdgen-Sample-Key header the sampler sends), can
answer the first attempt with a 429 carrying Retry-After, a 500, a dropped connection, or a slow
answer. It counts every sample request it receives, so tests can check what was asked and how often
(requests that carry no sample, such as GET /v1/models, are forwarded uncounted).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

TRACE_HEADER = b"x-weirdgen-sample-key"

Fault = str | None  # "429", "500", "401", "drop", "slow", "timeout" or None
FaultPlan = Callable[[str, int], Fault]  # (sample key, attempt number from 1) -> fault to inject


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free local port in a thread; yield ``http://127.0.0.1:PORT``."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "proxy failed to start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


class FaultProxy:
    """An ASGI app forwarding to ``upstream`` and injecting the faults ``plan`` picks."""

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan | None = None,
        *,
        delay: float = 0.0,
        slow_seconds: float = 0.6,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan or (lambda key, attempt: None)
        self.delay = delay  # added to every request: makes runs long enough to interrupt
        self.slow_seconds = slow_seconds
        self.timeout_seconds = timeout_seconds  # longer than the client's timeout
        self.received: Counter[str] = Counter()  # sample key -> requests received
        self.answered: Counter[str] = Counter()  # sample key -> successful answers sent back
        self.injected: Counter[str] = Counter()  # fault kind -> times injected
        self._lock = threading.Lock()
        self._client: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = dict(scope["headers"])
        if TRACE_HEADER not in headers:  # no sample: the sampler listing /models, say
            await _respond(send, *await self._forward(scope, headers, body), [])
            return
        keys = (
            headers.get(TRACE_HEADER, b"").decode().split(",")
        )  # one call may carry several samples
        key = keys[0]
        with self._lock:
            for each in keys:
                self.received[each] += 1
            attempt = self.received[key]
        fault = self.plan(key, attempt)
        if fault:
            with self._lock:
                self.injected[fault] += 1
        if fault == "401":
            # Like real APIs, echo the key back: the sampler must not pass this on.
            key_text = headers.get(b"authorization", b"").decode()
            await _respond(
                send,
                401,
                json.dumps({"error": {"message": f"Incorrect API key: {key_text}"}}).encode(),
                [],
            )
            return
        if fault == "timeout":
            await asyncio.sleep(self.timeout_seconds)  # the client has given up by now
            await _respond(send, 504, b'{"error": {"message": "too late"}}', [])
            return
        if fault in ("429", "500"):
            extra = [(b"retry-after", b"0.2")] if fault == "429" else []
            await _respond(send, int(fault), b'{"error": {"message": "injected fault"}}', extra)
            return
        if fault == "drop":
            # Promise a body, send none, and fail: uvicorn closes the connection mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"1000"),
                    ],
                }
            )
            raise ConnectionAbortedError("injected dropped connection")
        await asyncio.sleep(self.delay + (self.slow_seconds if fault == "slow" else 0.0))
        status, content = await self._forward(scope, headers, body)
        if status == 200:
            with self._lock:
                for each in keys:
                    self.answered[each] += 1
        await _respond(send, status, content, [])

    async def _forward(
        self, scope: dict[str, Any], headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=120)
        response = await self._client.request(
            scope["method"],
            self.upstream + scope["path"],
            content=body,
            headers={"content-type": headers.get(b"content-type", b"application/json").decode()},
        )
        return response.status_code, response.content


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Any, status: int, content: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path) -> Iterator[tuple[str, str]]:
    """The real ``weirdgen serve`` app on the tiny random model: ``(base_url ending in /v1, model name)``."""
    from weirdgen.serve import serve_in_background

    with serve_in_background(tiny_model_dir) as url:
        yield url, str(tiny_model_dir)


@pytest.fixture
def proxy_to() -> Iterator[Callable[..., tuple[FaultProxy, str]]]:
    """A factory: ``make(server_url, plan=None, **options)`` starts a FaultProxy in front of the
    server at ``server_url`` (ending in /v1) and returns it with its own base URL (ending in /v1).
    Proxies stop at the end of the test."""
    stack: list[Any] = []

    def make(
        server_url: str, plan: FaultPlan | None = None, **options: Any
    ) -> tuple[FaultProxy, str]:
        proxy = FaultProxy(server_url[: -len("/v1")], plan, **options)
        context = serve_app(proxy)
        url = context.__enter__()
        stack.append(context)
        return proxy, url + "/v1"

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def fault_proxy(
    tiny_server: tuple[str, str], proxy_to: Callable[..., tuple[FaultProxy, str]]
) -> Callable[..., tuple[FaultProxy, str]]:
    """A factory: ``make(plan, **options)`` starts a FaultProxy in front of the tiny server and returns
    it with its base URL (ending in /v1)."""
    return lambda plan=None, **options: proxy_to(tiny_server[0], plan, **options)
