"""The JSON the server accepts and returns, shaped like OpenAI's chat completions API (streamed or not)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from weirdgen._version import __version__
from weirdgen.models.sampling import (
    MAX_CHOICES,
    MAX_TOP_LOGPROBS,
    SamplingRequest,
    SamplingResult,
    StreamEvent,
    TokenLogprob,
)
from weirdgen.serve.errors import ApiError


class TextPart(BaseModel):
    """One part of a multi-part message; only text parts can be served by a text model."""

    type: Literal["text", "input_text", "output_text"]
    text: str


class ChatMessageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant turn that called tools
    tool_call_id: str | None = None  # a tool message: which call it answers
    name: str | None = None

    @property
    def uses_tools(self) -> bool:
        return self.role == "tool" or bool(self.tool_calls)

    def as_dict(self) -> dict[str, Any]:
        # "developer" is OpenAI's newer name for the system role; chat templates only know "system".
        role = "system" if self.role == "developer" else self.role
        content = (
            self.content
            if isinstance(self.content, str) or self.content is None
            else "".join(p.text for p in self.content)
        )
        extras = {
            key: value
            for key in ("tool_calls", "tool_call_id", "name")
            if (value := getattr(self, key)) is not None
        }
        return {"role": role, "content": content, **extras}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool | None = None


def _not(*neutral: Any) -> Callable[[Any], bool]:
    """A test that a parameter asks for something: any value but ``None`` and ``neutral``."""
    return lambda value: value is not None and value not in neutral


def _true(value: Any) -> bool:
    return bool(value)


# Parameters of OpenAI's APIs this server cannot honour, and the test that a request asks for one
# (neutral values, the ones that change nothing, pass). A request that does gets a 400 naming it
# rather than an answer that silently ignored it. Parameters outside OpenAI's APIs are ignored.
_SHARED_REFUSED: dict[str, Callable[[Any], bool]] = {
    "tools": _true,
    "tool_choice": _not("none", "auto"),
    "presence_penalty": _not(0, 0.0),
    "frequency_penalty": _not(0, 0.0),
    "service_tier": _not("auto", "default"),
    "prompt_cache_retention": _true,
}
CHAT_REFUSED: dict[str, Callable[[Any], bool]] = {
    **_SHARED_REFUSED,
    "functions": _true,
    "function_call": _not("none", "auto"),
    "response_format": lambda value: (value or {}).get("type", "text") != "text",
    "modalities": lambda value: value is not None and list(value) != ["text"],
    "audio": _not(),
    "prediction": _not(),
    "web_search_options": _not(),
    "reasoning_effort": _not("none"),
    "verbosity": _not(),
    "best_of": _not(1),
    "echo": _true,
}
RESPONSES_REFUSED: dict[str, Callable[[Any], bool]] = {
    **_SHARED_REFUSED,
    "previous_response_id": _not(),
    "conversation": _not(),
    "prompt": _not(),
    "background": _true,
    "truncation": _not("disabled"),
    "top_logprobs": _not(0),
    "include": lambda value: bool(set(value or ()) - {"reasoning.encrypted_content"}),
    "reasoning": lambda value: any(v not in (None, "none") for v in (value or {}).values()),
}


class UnimplementedParameters(BaseModel):
    """A request body whose fields beyond those declared are kept, so that parameters of OpenAI's
    API this server cannot honour (``CHAT_REFUSED``, ``RESPONSES_REFUSED``) are refused by name."""

    model_config = ConfigDict(extra="allow")

    def reject_unimplemented(self, refused: dict[str, Callable[[Any], bool]]) -> None:
        """``ApiError`` 400 for the first parameter set to something this server cannot do."""
        given = {**(self.model_extra or {}), **self.__dict__}
        for param, asks_for_it in refused.items():
            try:
                asking = asks_for_it(given.get(param))
            except (TypeError, AttributeError):
                asking = True  # a value of the wrong shape is no neutral value either
            if asking:
                raise ApiError(
                    400,
                    f"{param} is not supported by weirdgen serve (only plain text generation "
                    f"is); leave it out",
                    param=param,
                    code="unsupported_parameter",
                )


class ChatCompletionBody(UnimplementedParameters):
    """A ``POST /v1/chat/completions`` body. Unknown fields are ignored, as OpenAI-compatible servers
    do; known ones this server cannot honour are refused (see ``UnimplementedParameters``)."""

    model: str
    messages: list[ChatMessageBody] = Field(min_length=1)
    n: int | None = Field(None, ge=1, le=MAX_CHOICES)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    logit_bias: dict[str, float] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None

    def sampling_request(self, adapter: str | None, *, template_has_tools: bool) -> SamplingRequest:
        """The local sampler's request; ``ApiError`` 400 for what this server cannot do."""
        self.reject_unimplemented(CHAT_REFUSED)
        if self.top_logprobs and not self.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
        for index, message in enumerate(self.messages):
            if message.uses_tools and not template_has_tools:
                raise ApiError(
                    400,
                    f"messages[{index}] holds a tool call or tool result, and this model's chat "
                    "template cannot render tools",
                    param=f"messages.{index}",
                    code="unsupported_parameter",
                )
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingRequest(
            messages=[m.as_dict() for m in self.messages],
            adapter=adapter,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=stop,
            n=self.n or 1,
            seed=self.seed,
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs or 0,
            logit_bias=_token_ids(self.logit_bias or {}),
        )


def _token_ids(bias: dict[str, float]) -> dict[int, float]:
    try:
        return {int(token): value for token, value in bias.items()}
    except ValueError:
        raise ApiError(400, "logit_bias keys must be token ids", param="logit_bias") from None


def completion_response(
    result: SamplingResult, *, model: str, want_logprobs: bool
) -> dict[str, Any]:
    """A ``chat.completion`` object for ``result``."""
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": completion.text, "refusal": None},
            "logprobs": logprobs_json(completion.logprobs) if want_logprobs else None,
            "finish_reason": completion.finish_reason,
        }
        for index, completion in enumerate(result.completions)
    ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": f"weirdgen-{__version__}",
        "choices": choices,
        "usage": usage(result),
    }


def usage(result: SamplingResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def completion_chunk(
    completion_id: str,
    model: str,
    choices: list[dict[str, Any]],
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer."""
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": f"weirdgen-{__version__}",
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def chunk_choice(event: StreamEvent, *, want_logprobs: bool) -> dict[str, Any]:
    return {
        "index": event.choice,
        "delta": {"content": event.text} if event.text else {},
        "logprobs": logprobs_json(event.logprobs) if want_logprobs else None,
        "finish_reason": event.finish_reason,
    }


def logprobs_json(tokens: tuple[TokenLogprob, ...] | None) -> dict[str, Any]:
    content = [
        {
            "token": token.token,
            "logprob": token.logprob,
            "bytes": list(token.bytes),
            "top_logprobs": [
                {"token": top.token, "logprob": top.logprob, "bytes": list(top.bytes)}
                for top in token.top_logprobs
            ],
        }
        for token in tokens or ()
    ]
    return {"content": content, "refusal": None}


def models_response(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": entries}


def model_entry(
    name: str, created: int, *, parent: str = "", root: str = "", version: str = ""
) -> dict[str, Any]:
    """OpenAI's model object; an adapter's also has ``parent`` and ``root`` (its base model, as in
    OpenAI's older model objects and vLLM's) and ``version``, the fingerprint of its files, which
    clients (weirdgen's request cache) use to tell a retrained adapter of the same name from the old
    one. No field names a folder of the server."""
    entry = {"id": name, "object": "model", "created": created, "owned_by": "weirdgen"}
    adapter = {"parent": parent, "root": root, "version": version} if parent else {}
    return entry | adapter


def page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    """OpenAI cursor pagination: items after the one with id ``after``, at most ``limit``."""
    if limit < 1:
        raise ApiError(400, "limit must be at least 1", param="limit")
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise ApiError(400, f"unknown cursor {after!r}", param="after")
        items = items[ids.index(after) + 1 :]
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}
