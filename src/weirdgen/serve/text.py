"""Refuse text that is not valid Unicode before any route sees it.

JSON may escape a lone UTF-16 surrogate (``"\\ud800"``): Python decodes it into a string that cannot
be encoded as UTF-8 again, so a prompt, a model name or an error message echoing one would fail deep
inside tokenizing or rendering. ``TextCheckMiddleware`` parses every JSON body once, and answers 400
in OpenAI's error shape, naming the field, for invalid UTF-8 bytes and for any string (key or value,
at any depth) holding a lone surrogate. Valid bodies reach the route unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from starlette.exceptions import HTTPException

from weirdgen.serve.errors import send_error

_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
_INLINE_PARSE_BYTES = 64 * 1024


class TextCheckMiddleware:
    """Plain ASGI middleware: 400 for a JSON body that is not valid UTF-8 or holds a lone surrogate."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _has_json_body(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as error:  # the body limit, raised while reading
            await send_error(send, error.status_code, str(error.detail), code="request_too_large")
            return
        # A large body is parsed off the event loop, so that other requests are not held up.
        problem = (
            await asyncio.to_thread(_text_problem, body)
            if len(body) > _INLINE_PARSE_BYTES
            else _text_problem(body)
        )
        if problem is not None:
            message, param = problem
            await send_error(send, 400, message, param=param, code="invalid_value")
            return
        await self.app(scope, _replaying(body, receive), send)


def unencodable_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string in ``value`` (keys included) that is not valid Unicode."""
    for where, text in _strings(value, path):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return where
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield (path or "(body)"), key
            yield from _strings(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _text_problem(body: bytes) -> tuple[str, str | None] | None:
    """(message, param) for a body that is JSON but not valid text; None for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the request body is not valid UTF-8 (byte {error.start})", None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None  # the route answers malformed JSON with its own 400
    where = unencodable_field(parsed)
    if where is None:
        return None
    # The path is built from keys, which may be the bad string themselves.
    shown = where.encode("utf-8", "backslashreplace").decode("utf-8")
    return (
        f"{shown} holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), "
        "which is not valid Unicode text",
        shown,
    )


def _has_json_body(scope: dict[str, Any]) -> bool:
    if scope.get("method", "").encode() not in _BODY_METHODS:
        return False
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip()
    # FastAPI parses a body without a content type as JSON too.
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands over the body already read, then waits as the original does."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a disconnect, for routes that watch for one

    return replay
