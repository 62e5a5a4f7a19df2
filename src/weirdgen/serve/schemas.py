"""The JSON the server accepts and returns, shaped like OpenAI's chat completions API."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from weirdgen import __version__
from weirdgen.models.sampling import (
    MAX_CHOICES,
    MAX_TOP_LOGPROBS,
    SamplingRequest,
    SamplingResult,
    TokenLogprob,
)
from weirdgen.serve.errors import ApiError


class TextPart(BaseModel):
    """One part of a multi-part message; only text parts can be served by a text model."""

    type: Literal["text"]
    text: str


class ChatMessageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def as_dict(self) -> dict[str, str]:
        # "developer" is OpenAI's newer name for the system role; chat templates only know "system".
        role = "system" if self.role == "developer" else self.role
        content = (
            self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        )
        return {"role": role, "content": content}


class ChatCompletionBody(BaseModel):
    """A ``POST /v1/chat/completions`` body. Unknown fields are ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="ignore")

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
    stream: bool | None = None

    def sampling_request(self, adapter: str | None) -> SamplingRequest:
        """The local sampler's request; ``ApiError`` 422 for combinations the schema cannot express."""
        if self.stream:
            raise ApiError(422, "stream=true is not supported by weirdgen serve", param="stream")
        if self.top_logprobs and not self.logprobs:
            raise ApiError(422, "top_logprobs needs logprobs=true", param="top_logprobs")
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
        )


def completion_response(
    result: SamplingResult, *, model: str, want_logprobs: bool
) -> dict[str, Any]:
    """A ``chat.completion`` object for ``result``."""
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": completion.text, "refusal": None},
            "logprobs": _logprobs(completion.logprobs) if want_logprobs else None,
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
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        },
    }


def _logprobs(tokens: tuple[TokenLogprob, ...] | None) -> dict[str, Any]:
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


def models_response(names: list[str], created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(name, created) for name in names]}


def model_entry(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "weirdgen"}
