"""A request body limit, checked before any route reads (or parses) the body.

A body whose ``Content-Length`` is over the limit is answered 413 at once, without reading it into
memory; a chunked body is counted as it arrives and cut off at the limit.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from weirdgen.serve.errors import send_error

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # a chat prompt this long is far beyond any context
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # /v1/files: training data, OpenAI's own file limit
_UPLOAD_PREFIX = "/v1/files"
_DRAIN_LIMIT_BYTES = 256 * 1024 * 1024  # read and drop at most this much of a refused body


class BodyLimitMiddleware:
    """Plain ASGI middleware: 413 (as OpenAI error JSON) for bodies over the limit."""

    def __init__(
        self,
        app: Any,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        self.app, self.max_body_bytes, self.max_upload_bytes = app, max_body_bytes, max_upload_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].startswith(_UPLOAD_PREFIX)
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await send_error(send, 413, _message(int(length), limit), code="request_too_large")
            await _drain(receive)  # so the client can read the 413 instead of a reset connection
            return
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _message(received, limit, "at least "))
            return message

        await self.app(scope, counted_receive, send)


def _message(size: int, limit: int, qualifier: str = "") -> str:
    return (
        f"the request body of {qualifier}{size} bytes is over this server's limit of {limit} bytes "
        "(weirdgen serve --max-body-mb)"
    )


async def _drain(receive: Any) -> None:
    drained = 0
    while drained < _DRAIN_LIMIT_BYTES:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
        drained += len(message.get("body", b""))
