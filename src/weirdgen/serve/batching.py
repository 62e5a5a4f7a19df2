"""Continuous batching of concurrent HTTP requests on one worker thread.

Handlers ``submit`` a request and await its future. The worker waits for a first request (and a few
milliseconds more, so that requests sent together start together), then runs
``LocalSampler.generate_continuously``: requests that arrive while a batch is generating join it
after its next token, and each request's future resolves as soon as its own completions end. The
event loop never runs model code, so the server keeps answering while a batch generates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future

from weirdgen.errors import WeirdgenError
from weirdgen.models.sampler import LocalSampler
from weirdgen.models.sampling import SamplingRequest, SamplingResult

logger = logging.getLogger("weirdgen.serve")


class ServerShuttingDown(WeirdgenError):
    """The server stopped before this request finished."""


class RequestBatcher:
    """Owns the worker thread that feeds queued requests to the sampler."""

    def __init__(self, sampler: LocalSampler, *, max_wait_s: float = 0.02) -> None:
        self.sampler = sampler
        self.max_wait_s = (
            max_wait_s  # how long an idle worker waits for company after a first request
        )
        self.batch_sizes: list[int] = []  # requests per continuous run, for tests and benchmarks
        self._waiting: deque[tuple[SamplingRequest, Future]] = deque()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.sampler.cancel.clear()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="weirdgen-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the running batch early, fail waiting requests, and wait for the worker to exit."""
        self.sampler.cancel.set()
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._fail_waiting()
        # The sampler may outlive this server (tests, scripts): leave it able to generate in full.
        self.sampler.cancel.clear()

    async def submit(self, request: SamplingRequest) -> SamplingResult:
        future: Future[SamplingResult] = Future()
        with self._condition:
            if self._stopping:
                raise ServerShuttingDown("the server is shutting down")
            self._waiting.append((request, future))
            self._condition.notify_all()
        return await asyncio.wrap_future(future)

    def _work(self) -> None:
        while self._wait_for_requests():
            if self.sampler.cancel.is_set():  # generation was cancelled from outside: refuse work
                self._fail_waiting()
                continue
            time.sleep(self.max_wait_s)  # let requests sent together arrive together
            self.batch_sizes.append(0)
            try:
                self.sampler.generate_continuously(self._take, self._deliver)
            except Exception:  # noqa: BLE001 - keep serving; the failed requests got their errors
                logger.exception("generation failed")

    def _wait_for_requests(self) -> bool:
        with self._condition:
            while not self._waiting and not self._stopping:
                self._condition.wait()
            return not self._stopping

    def _take(self, free_rows: int, must_take: bool) -> list[tuple[Future, SamplingRequest]]:
        """Waiting requests whose completions fit in ``free_rows`` (one at least if ``must_take``)."""
        taken: list[tuple[Future, SamplingRequest]] = []
        with self._condition:
            while self._waiting and not self._stopping:
                request, future = self._waiting[0]
                if request.n > free_rows and not (must_take and not taken):
                    break
                self._waiting.popleft()
                if future.set_running_or_notify_cancel():  # False: the client gave up
                    taken.append((future, request))
                    free_rows -= request.n
        self.batch_sizes[-1] += len(taken)
        return taken

    def _deliver(self, future: Future, outcome: SamplingResult | BaseException) -> None:
        if self.sampler.cancel.is_set():
            self._fail(future)
        elif isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _fail_waiting(self) -> None:
        with self._condition:
            while self._waiting:
                self._fail(self._waiting.popleft()[1])

    @staticmethod
    def _fail(future: Future) -> None:
        if future.done():
            return
        if future.running() or future.set_running_or_notify_cancel():
            future.set_exception(ServerShuttingDown("the server is shutting down"))
