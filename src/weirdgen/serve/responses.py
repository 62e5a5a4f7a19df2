"""OpenAI's Responses API (``POST /v1/responses``) for text: the body, the response object and the
events of a streamed response. inspect_ai's ``openai/`` provider and current SDK code use it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import Field

from weirdgen.models.sampling import SamplingRequest, SamplingResult
from weirdgen.serve.errors import ApiError
from weirdgen.serve.schemas import RESPONSES_REFUSED, UnimplementedParameters

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_TEXT_PARTS = {"input_text", "output_text", "text"}


class ResponsesBody(UnimplementedParameters):
    """A ``POST /v1/responses`` body for text input and output."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    stream: bool | None = None
    text: dict[str, Any] | None = None  # {"format": {"type": "text"}} is the only format served
    metadata: dict[str, str] | None = None  # returned in the response object, as OpenAI does

    def sampling_request(self, adapter: str | None) -> SamplingRequest:
        self.reject_unimplemented(RESPONSES_REFUSED)
        text_format = ((self.text or {}).get("format") or {}).get("type", "text")
        if text_format != "text":
            raise ApiError(
                400,
                f"text.format {text_format!r} is not supported; weirdgen serve writes plain text",
                param="text.format",
                code="unsupported_parameter",
            )
        if (self.text or {}).get("verbosity") is not None:
            raise ApiError(
                400,
                "text.verbosity is not supported by weirdgen serve; leave it out",
                param="text.verbosity",
                code="unsupported_parameter",
            )
        messages = [{"role": "system", "content": self.instructions}] if self.instructions else []
        messages += _input_messages(self.input)
        return SamplingRequest(
            messages=messages,
            adapter=adapter,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            max_tokens=self.max_output_tokens,
            seed=self.seed,
        )


def _input_messages(given: str | list[dict[str, Any]]) -> list[dict[str, str]]:
    """Chat messages from ``input``: a string is one user message; a list holds message items."""
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if not given:
        raise ApiError(400, "input must not be empty", param="input")
    messages = []
    for index, item in enumerate(given):
        kind, role = item.get("type", "message"), item.get("role")
        if kind != "message" or role not in _ROLES:
            raise ApiError(
                400,
                f"input[{index}]: only message items with role system, developer, user or "
                f"assistant are supported (got type {kind!r}, role {role!r})",
                param=f"input.{index}",
                code="unsupported_parameter",
            )
        messages.append({"role": _ROLES[role], "content": _item_text(item.get("content"), index)})
    return messages


def _item_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict)
        and part.get("type") in _TEXT_PARTS
        and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    raise ApiError(
        400, f"input[{index}].content must be text or text parts", param=f"input.{index}.content"
    )


class ResponseDraft:
    """The ids and settings one response keeps while it is generated and after."""

    def __init__(self, body: ResponsesBody, request: SamplingRequest) -> None:
        self.body, self.request = body, request
        self.id = f"resp_{uuid.uuid4().hex}"
        self.message_id = f"msg_{uuid.uuid4().hex}"
        self.created_at = int(time.time())
        self.sequence = 0

    def response(self, result: SamplingResult | None) -> dict[str, Any]:
        """The ``response`` object: in progress (no result yet), completed or incomplete."""
        incomplete = result is not None and result.completions[0].finish_reason == "length"
        status = "in_progress" if result is None else "incomplete" if incomplete else "completed"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": self.body.instructions,
            "max_output_tokens": self.body.max_output_tokens,
            "model": self.body.model,
            "output": [] if result is None else [self.message(result.text, "completed")],
            "parallel_tool_calls": False,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": False,
            "temperature": self.request.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": "none",
            "tools": [],
            "top_p": self.request.top_p,
            "truncation": "disabled",
            "usage": None if result is None else _usage(result),
            "metadata": self.body.metadata or {},
        }

    def message(self, text: str | None, status: str) -> dict[str, Any]:
        content = [] if text is None else [self.text_part(text)]
        return {
            "type": "message",
            "id": self.message_id,
            "status": status,
            "role": "assistant",
            "content": content,
        }

    @staticmethod
    def text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def event(self, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        """One server-sent event of a streamed response, numbered in order."""
        self.sequence += 1
        return kind, {"type": kind, "sequence_number": self.sequence, **fields}

    def opening_events(self) -> list[tuple[str, dict[str, Any]]]:
        place = {"output_index": 0, "item_id": self.message_id, "content_index": 0}
        return [
            self.event("response.created", response=self.response(None)),
            self.event("response.in_progress", response=self.response(None)),
            self.event(
                "response.output_item.added", output_index=0, item=self.message(None, "in_progress")
            ),
            self.event("response.content_part.added", **place, part=self.text_part("")),
        ]

    def delta_event(self, text: str) -> tuple[str, dict[str, Any]]:
        place = {"output_index": 0, "item_id": self.message_id, "content_index": 0}
        return self.event("response.output_text.delta", **place, delta=text, logprobs=[])

    def closing_events(self, result: SamplingResult) -> list[tuple[str, dict[str, Any]]]:
        place = {"output_index": 0, "item_id": self.message_id, "content_index": 0}
        final = self.response(result)
        return [
            self.event("response.output_text.done", **place, text=result.text, logprobs=[]),
            self.event("response.content_part.done", **place, part=self.text_part(result.text)),
            self.event(
                "response.output_item.done",
                output_index=0,
                item=self.message(result.text, "completed"),
            ),
            self.event(f"response.{final['status']}", response=final),
        ]


def _usage(result: SamplingResult) -> dict[str, Any]:
    return {
        "input_tokens": result.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": result.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }
