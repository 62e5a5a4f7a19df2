"""What a local sampling request asks for and what it returns: small typed records, no torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from weirdgen.errors import ConfigError
from weirdgen.models.chat import ChatMessage, message_dicts

# When a request names no max_tokens: enough for any answer the paper's evaluations need, small
# enough that a forgotten limit does not tie up a CPU for minutes.
DEFAULT_MAX_TOKENS = 512
MAX_CHOICES = 128
MAX_STOP_STRINGS = 4
MAX_TOP_LOGPROBS = 20


MAX_LOGIT_BIAS = 100.0  # OpenAI's range: -100 bans a token, +100 all but forces it


class InvalidRequestError(ConfigError):
    """A sampling parameter is out of range; ``param`` names it the way the OpenAI API does, and
    ``code`` is OpenAI's error code where it has one (``context_length_exceeded``)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param, self.code = param, code


@dataclass(frozen=True)
class SamplingRequest:
    """One chat prompt to complete ``n`` times with the base model or one LoRA adapter."""

    messages: Sequence[
        ChatMessage
    ]  # the conversation so far; the model writes the next assistant turn
    adapter: str | None = None  # a LoRA adapter's name, or None for the base model
    temperature: float = 1.0  # 0 picks the most likely token (greedy); 1 samples the model as is
    top_p: float = 1.0  # nucleus sampling: sample only from the top tokens holding this much mass
    max_tokens: int | None = None  # None: DEFAULT_MAX_TOKENS, cut to what fits in the context
    stop: tuple[str, ...] = ()  # the answer ends before the first of these strings
    n: int = 1  # independent completions of the same prompt
    seed: int | None = None  # same seed, same completions; None draws fresh randomness
    logprobs: bool = False  # return each generated token's log-probability
    top_logprobs: int = 0  # and this many most likely alternatives per position (needs logprobs)
    # token id -> value added to its logit before sampling (and before logprobs), as OpenAI does;
    # a dict is accepted and kept as sorted (id, bias) pairs so the record stays hashable
    logit_bias: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "logit_bias", _bias_pairs(self.logit_bias))
        validate_request(self)


def _bias_pairs(bias: object) -> tuple[tuple[int, float], ...]:
    items = bias.items() if isinstance(bias, Mapping) else bias
    try:
        return tuple(sorted((int(token), float(value)) for token, value in items))  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidRequestError(
            "logit_bias must map token ids to numbers", param="logit_bias"
        ) from None


def validate_request(request: SamplingRequest) -> None:
    """Raise ``InvalidRequestError`` naming the first parameter that is out of range."""
    message_dicts(request.messages)  # raises DataError naming the bad message
    checks = [
        ("temperature", 0.0 <= request.temperature <= 2.0, "must be between 0 and 2"),
        ("top_p", 0.0 < request.top_p <= 1.0, "must be greater than 0 and at most 1"),
        ("max_tokens", request.max_tokens is None or request.max_tokens >= 1, "must be at least 1"),
        ("n", 1 <= request.n <= MAX_CHOICES, f"must be between 1 and {MAX_CHOICES}"),
        (
            "stop",
            len(request.stop) <= MAX_STOP_STRINGS,
            f"takes at most {MAX_STOP_STRINGS} strings",
        ),
        ("stop", all(isinstance(s, str) and s for s in request.stop), "strings must be non-empty"),
        (
            "top_logprobs",
            0 <= request.top_logprobs <= MAX_TOP_LOGPROBS,
            f"must be between 0 and {MAX_TOP_LOGPROBS}",
        ),
        ("top_logprobs", request.logprobs or request.top_logprobs == 0, "needs logprobs=true"),
        (
            "logit_bias",
            all(abs(value) <= MAX_LOGIT_BIAS for _, value in request.logit_bias),
            f"values must be between -{MAX_LOGIT_BIAS:.0f} and {MAX_LOGIT_BIAS:.0f}",
        ),
    ]
    for param, ok, problem in checks:
        if not ok:
            raise InvalidRequestError(f"{param} {problem}", param=param)


@dataclass(frozen=True)
class TopLogprob:
    """One candidate token at a position and its log-probability."""

    token: str
    token_id: int
    logprob: float
    bytes: tuple[int, ...]  # the token's raw bytes (a token may hold part of a UTF-8 character)


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability and the most likely alternatives at its position.

    Log-probabilities are those of the model's own distribution (temperature 1, no top_p), which is
    what judges that read number-token probabilities need regardless of how the token was sampled.
    """

    token: str
    token_id: int
    logprob: float
    bytes: tuple[int, ...]
    top_logprobs: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class Completion:
    """One generated answer."""

    text: str
    finish_reason: str  # "stop" (end token or stop string), "length" (max_tokens) or "cancelled"
    token_ids: tuple[int, ...]
    logprobs: tuple[TokenLogprob, ...] | None = None  # None unless the request asked for logprobs


@dataclass(frozen=True)
class SamplingResult:
    """The ``n`` completions of one request."""

    completions: tuple[Completion, ...]
    prompt_tokens: int
    model: str  # the base model's name or the adapter's
    extra: dict[str, float] = field(default_factory=dict)  # timings, for benchmarks and logs

    @property
    def text(self) -> str:
        """The first completion's text (the only one when ``n == 1``)."""
        return self.completions[0].text

    @property
    def completion_tokens(self) -> int:
        return sum(len(c.token_ids) for c in self.completions)


@dataclass(frozen=True)
class StreamEvent:
    """New output of one completion while it generates (what a streaming client is sent).

    ``text`` is the answer's next piece: never half a UTF-8 character, and never the start of a stop
    string that may still complete. ``logprobs`` covers the tokens whose text is now fully sent.
    The completion's last event has its ``finish_reason``.
    """

    choice: int  # which of the request's n completions
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: str | None = None
