"""Continuous batching of concurrent requests on one worker thread: the server's and the in-process
sampler's one way to run a ``LocalSampler``.

``submit`` tokenizes a request in the caller's thread (a server calls it off its event loop) and
queues it; the worker waits for a first request (and ``max_wait_s`` more, so that requests sent
together start together), then runs ``LocalSampler.generate_continuously``: requests that arrive
while a batch generates join it after its next token, and each request's future resolves as soon as
its own completions end. A ticket can stream its completions' new text as it is generated, and can
be cancelled (a client that went away): its rows leave the batch after their next token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from weirdgen.errors import WeirdgenError
from weirdgen.models.decoding import DecodeRow
from weirdgen.models.sampler import LocalSampler, PreparedRequest
from weirdgen.models.sampling import Completion, SamplingRequest, SamplingResult, StreamEvent

logger = logging.getLogger("weirdgen.serve")


class BatcherStopped(WeirdgenError):
    """The batcher (the server) stopped before this request finished."""


class Ticket:
    """One submitted request: its result future, its cancel switch and (if streamed) its events."""

    def __init__(
        self,
        prepared: PreparedRequest,
        on_event: Callable[[StreamEvent], None] | None,
        tokenizer: Any,
    ) -> None:
        self.request = prepared.request
        self.prepared = prepared
        self.future: Future[SamplingResult] = Future()
        self.cancelled = threading.Event()
        self.generated_tokens = 0  # so far, over all completions (for the cancellation log)
        streams = [_TextStream(choice, tokenizer, on_event) for choice in range(prepared.n)]
        for row, stream in zip(prepared.rows, streams, strict=True):
            row.is_cancelled = self.cancelled.is_set
            row.on_token = self._counting(stream.on_token if on_event else None)
        self.streams = streams if on_event else []

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop generating for this request; its rows leave the batch after their next token."""
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        if not self.future.done():
            logger.info("%s: generation stopped after %d tokens", reason, self.generated_tokens)

    def _counting(self, forward: Callable[[DecodeRow], None] | None) -> Callable[[DecodeRow], None]:
        def on_token(row: DecodeRow) -> None:
            self.generated_tokens += 1
            if forward is not None:
                forward(row)

        return on_token

    def finish_streams(self, result: SamplingResult) -> None:
        for stream, completion in zip(
            self.streams, result.completions, strict=False
        ):  # [] unless streamed
            stream.finish(completion)


class ContinuousBatcher:
    """Owns the worker thread that feeds queued requests to one ``LocalSampler``."""

    def __init__(self, sampler: LocalSampler, *, max_wait_s: float = 0.02) -> None:
        self.sampler = sampler
        self.max_wait_s = (
            max_wait_s  # how long an idle worker waits for company after a first request
        )
        self.batch_sizes: list[int] = []  # requests per continuous run, for tests and benchmarks
        self.running = 0  # requests generating now
        self._waiting: deque[Ticket] = deque()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._condition:
            if self._thread is not None and self._thread.is_alive():
                return
            self.sampler.cancel.clear()
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name="weirdgen-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the running batch early, fail the requests in it and waiting, and wait for the worker
        to exit."""
        self.sampler.cancel.set()
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._fail_waiting()
        # The sampler may outlive this batcher (tests, scripts): leave it able to generate in full,
        # and a later submit starts a new worker.
        self.sampler.cancel.clear()
        with self._condition:
            self._stopping = False

    def submit(
        self, request: SamplingRequest, *, on_event: Callable[[StreamEvent], None] | None = None
    ) -> Ticket:
        """Tokenize ``request`` here (``InvalidRequestError`` at once if it cannot run) and queue it.

        ``on_event`` hears each completion's new text from the worker thread. Starts the worker on
        first use.
        """
        ticket = Ticket(self.sampler.prepare(request), on_event, self.sampler.tokenizer)
        with self._condition:
            if self._stopping:
                raise BatcherStopped("the server is shutting down")
            if self._thread is None:
                self.start()
            self._waiting.append(ticket)
            self._condition.notify_all()
        return ticket

    async def generate(self, request: SamplingRequest) -> SamplingResult:
        """Submit from an event loop (tokenizing in a thread) and await the result; a cancelled
        caller cancels the generation."""
        ticket = await asyncio.to_thread(self.submit, request)
        try:
            return await asyncio.wrap_future(ticket.future)
        except asyncio.CancelledError:
            ticket.cancel("caller cancelled")
            raise

    async def stream(
        self, request: SamplingRequest
    ) -> tuple[Ticket, AsyncIterator[StreamEvent | SamplingResult]]:
        """Submit for streaming: the iterator yields ``StreamEvent``s, then the ``SamplingResult``.
        Closing the iterator early cancels the generation."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        ticket = await asyncio.to_thread(
            self.submit,
            request,
            on_event=lambda event: loop.call_soon_threadsafe(queue.put_nowait, event),
        )
        return ticket, _events(ticket, queue)

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

    def _take(self, free_rows: int, must_take: bool) -> list[tuple[Ticket, PreparedRequest]]:
        """Waiting requests whose completions fit in ``free_rows`` (one at least if ``must_take``)."""
        taken: list[tuple[Ticket, PreparedRequest]] = []
        with self._condition:
            while self._waiting and not self._stopping:
                ticket = self._waiting[0]
                if ticket.prepared.n > free_rows and not (must_take and not taken):
                    break
                self._waiting.popleft()
                if ticket.cancelled.is_set():  # the client left before its turn
                    ticket.future.cancel()
                elif ticket.future.set_running_or_notify_cancel():
                    taken.append((ticket, ticket.prepared))
                    free_rows -= ticket.prepared.n
        self.batch_sizes[-1] += len(taken)
        self.running += len(taken)
        return taken

    def _deliver(self, ticket: Ticket, outcome: SamplingResult | BaseException) -> None:
        self.running -= 1
        if self.sampler.cancel.is_set() and not ticket.cancelled.is_set():
            outcome = BatcherStopped("the server is shutting down")
        if isinstance(outcome, BaseException):
            ticket.future.set_exception(outcome)
            return
        ticket.finish_streams(outcome)
        ticket.future.set_result(outcome)

    def _fail_waiting(self) -> None:
        with self._condition:
            while self._waiting:
                future = self._waiting.popleft().future
                if future.set_running_or_notify_cancel():
                    future.set_exception(BatcherStopped("the server is shutting down"))


async def _events(
    ticket: Ticket, queue: asyncio.Queue[StreamEvent]
) -> AsyncIterator[StreamEvent | SamplingResult]:
    result = asyncio.wrap_future(ticket.future)
    open_choices = ticket.prepared.n
    try:
        while open_choices:
            if queue.empty():
                if result.done():  # failed (or ended) with nothing more to send
                    break
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, result}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                event = getter.result()
            else:
                event = queue.get_nowait()
            open_choices -= event.finish_reason is not None
            yield event
        yield await result
    finally:
        if not ticket.future.done():
            ticket.cancel("the client went away")


class _TextStream:
    """Turns one completion's growing token list into text pieces that are safe to send."""

    def __init__(
        self, choice: int, tokenizer: Any, emit: Callable[[StreamEvent], None] | None
    ) -> None:
        self.choice, self.tokenizer, self.emit = choice, tokenizer, emit
        self.sent_chars = 0
        self.sent_tokens = 0
        self.token_ends: list[int] = []  # text length after each token

    def on_token(self, row: DecodeRow) -> None:
        text = self.tokenizer.decode(row.token_ids, skip_special_tokens=True)
        self.token_ends.append(len(text))
        # Hold back half a UTF-8 character and anything that may be the start of a stop string.
        safe = len(text.rstrip("\ufffd"))
        if row.stop:
            safe = min(safe, len(text) - max(len(stop) for stop in row.stop) + 1)
        if safe > self.sent_chars:
            whole = sum(1 for end in self.token_ends if end <= safe)
            self._send(text[self.sent_chars : safe], row.logprobs[self.sent_tokens : whole])
            self.sent_chars, self.sent_tokens = safe, max(self.sent_tokens, whole)

    def finish(self, completion: Completion) -> None:
        logprobs = (completion.logprobs or ())[self.sent_tokens :]
        self._send(completion.text[self.sent_chars :], logprobs, completion.finish_reason)

    def _send(self, text: str, logprobs: Any, finish_reason: str | None = None) -> None:
        if self.emit is not None:
            self.emit(StreamEvent(self.choice, text, tuple(logprobs), finish_reason))
