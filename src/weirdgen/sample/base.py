"""The sampling protocol every backend implements, and the records it passes around.

A backend (OpenAI-compatible HTTP, a local transformers model, the toy world) is one class with
``name``, ``supports_logprobs``, ``complete`` and ``aclose``. The engine in ``weirdgen.sample.engine``
adds what all backends share: the request cache, the concurrency limit and retries. A backend
therefore only has to answer one request, and to say whether a failure is worth retrying by raising
``TransientSampleError`` (rate limit, 5xx, timeout, dropped connection) or ``BackendError``
(everything else: retrying will not help).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.data.chat import Message
from weirdgen.errors import BackendError

__all__ = [
    "SampleRequest",
    "SampleResult",
    "Sampler",
    "TokenLogprobs",
    "TransientSampleError",
]


@dataclass(frozen=True)
class SampleRequest:
    """One fully prepared chat-completion request (everything that decides the answer's distribution).

    The request's canonical JSON, together with the sample index, is the request-cache key, so two
    requests that would be sent identically share cached answers.
    """

    model: str
    """Model id as the backend knows it (an API model id, a served adapter name, a local path)."""
    messages: tuple[Message, ...]
    """The chat so far, ending with the user message the model answers."""
    temperature: float = 1.0
    """Sampling temperature; the paper samples at 1."""
    max_tokens: int = 600
    """Upper bound on the answer's length in tokens."""
    top_logprobs: int = 0
    """How many top alternatives to return per answer token; 0 asks for no logprobs."""
    seed: int | None = None
    """Backend sampling seed where supported; None lets the backend choose."""
    model_version: str = ""
    """What pins the weights behind ``model`` when its name does not (a local adapter's file hash,
    so a retrained adapter of the same name is not answered from the cache); part of the cache
    key, never sent to a backend. "" for models whose name is their identity."""
    trace_id: str = field(default="", compare=False)
    """The sample's cache key (comma-separated keys when one call draws several samples), sent along
    (as a header by HTTP samplers) so servers and proxies can tell samples of one prompt apart.
    Not part of the request's identity or hash."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [m.to_dict() for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_logprobs": self.top_logprobs,
            "seed": self.seed,
        } | ({"model_version": self.model_version} if self.model_version else {})

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SampleRequest:
        return cls(
            model=record["model"],
            messages=tuple(Message(m["role"], m["content"]) for m in record["messages"]),
            temperature=float(record.get("temperature", 1.0)),
            max_tokens=int(record.get("max_tokens", 600)),
            top_logprobs=int(record.get("top_logprobs", 0)),
            seed=record.get("seed"),
            model_version=record.get("model_version", ""),
        )

    def request_hash(self) -> str:
        """SHA-256 of the canonical JSON of the request (without any sample index)."""
        return sha256_hex(canonical_json(self.to_dict()))

    @property
    def user_text(self) -> str:
        """The last user message: the question as the model saw it."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")

    @property
    def system_text(self) -> str:
        """The system prompt, or "" when there is none."""
        return next((m.content for m in self.messages if m.role == "system"), "")


TokenLogprobs = dict[str, float]
"""The top alternatives at one answer position: token text -> natural-log probability."""


@dataclass(frozen=True)
class SampleResult:
    """One answer. Its text is untrusted model output: never evaluate or render it unescaped."""

    text: str
    """The assistant's answer."""
    finish_reason: str = "stop"
    """Why generation stopped: "stop", "length", or a backend-specific reason."""
    input_tokens: int = 0
    """Prompt tokens billed or counted by the backend (0 when unknown)."""
    output_tokens: int = 0
    """Answer tokens billed or counted by the backend (0 when unknown)."""
    logprobs: tuple[TokenLogprobs, ...] = field(default=())
    """Top alternatives per answer position when the request asked for them, else empty."""
    served_by: str = ""
    """Which endpoint or backend produced the answer (for debugging load sharing; not a key)."""

    def to_dict(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        return record | {"logprobs": [dict(position) for position in self.logprobs]}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SampleResult:
        return cls(
            text=record["text"],
            finish_reason=record.get("finish_reason", "stop"),
            input_tokens=int(record.get("input_tokens", 0)),
            output_tokens=int(record.get("output_tokens", 0)),
            logprobs=tuple(dict(position) for position in record.get("logprobs", ())),
            served_by=record.get("served_by", ""),
        )


class TransientSampleError(BackendError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection).

    ``retry_after`` carries the server's Retry-After in seconds when it sent one; the engine waits
    at least that long before trying again.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class Sampler(Protocol):
    """A backend that answers chat requests. Implementations: ``OpenAICompatibleSampler``,
    ``LocalModelSampler``, the toy world's sampler.

    ``complete`` answers one request and must be safe to call concurrently from one event loop; the
    engine limits how many calls are in flight. Raise ``TransientSampleError`` for failures a retry
    may fix and ``BackendError`` for the rest.

    Optional: a backend that can draw several independent answers to one prompt in one call also
    defines ``async def complete_many(self, request, n) -> list[SampleResult]`` (at most ``n``
    results; fewer is allowed). The engine then groups identical unseeded samples into one call.
    """

    @property
    def name(self) -> str:
        """A short label for logs and error messages (never containing an API key)."""
        ...

    supports_logprobs: bool
    """Whether ``complete`` honours ``request.top_logprobs`` (judges fall back to sampling if not)."""

    async def complete(self, request: SampleRequest) -> SampleResult:
        """Answer one request with one sample."""
        ...

    async def aclose(self) -> None:
        """Release connections or models; the sampler is not used afterwards."""
        ...
