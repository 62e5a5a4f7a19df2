"""OpenAI-style error responses: ``{"error": {"message", "type", "param", "code"}}`` with a status.

Routes raise :class:`ApiError`; ``install_error_handlers`` turns it, request validation failures,
unknown routes and unexpected crashes into that JSON so clients (the ``openai`` SDK included) see a
proper error and the server keeps serving.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from weirdgen.errors import WeirdgenError

logger = logging.getLogger("weirdgen.serve")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    503: "server_error",
}


# An absolute path: "/" then path parts; it is this machine's when its top folder exists here
# (so "/v1/models", a route, is left alone).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[\w.@+~-]+(?:/[\w.@+~-]+)*/?")


def without_server_paths(text: str) -> str:
    """``text`` with every path of this machine cut to its last part: clients never see the server's
    folders, and the message still names the file."""

    def shorten(match: re.Match[str]) -> str:
        path = match.group(0)
        parts = [part for part in path.split("/") if part]
        return parts[-1] if Path("/", parts[0]).exists() else path

    return _ABSOLUTE_PATH.sub(shorten, text)


def printable(text: str) -> str:
    """``text`` that encodes as UTF-8 whatever it echoes (a lone surrogate becomes its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiError(Exception):
    """An error a route returns to the client as OpenAI error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or _TYPES.get(status, "server_error")


def error_response(error: ApiError, request: Request | None = None) -> JSONResponse:
    if request is not None:
        logger.info(
            "%s %s -> %d %s",
            request.method,
            request.url.path,
            error.status,
            printable(error.message[:200]),
        )
    body = {
        "error": {
            "message": printable(without_server_paths(error.message)),
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }
    return JSONResponse(body, status_code=error.status)


async def send_error(
    send: Any, status: int, message: str, *, param: str | None = None, code: str | None = None
) -> None:
    """Answer with OpenAI's error JSON from plain ASGI middleware (outside FastAPI's handlers)."""
    kind = _TYPES.get(status, "server_error")
    body = json.dumps(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through ``error_response``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(error.errors()), request)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = "no such route" if error.status_code == 404 else str(error.detail)
        return error_response(
            ApiError(error.status_code, f"{message}: {request.method} {request.url.path}"),
            request,
        )

    @app.exception_handler(WeirdgenError)
    async def _domain_error(request: Request, error: WeirdgenError) -> JSONResponse:
        # OpenAI answers every invalid request 400, with a code clients act on (inspect_ai turns
        # only "context_length_exceeded" into a truncated answer instead of a failed sample).
        return error_response(
            ApiError(
                400,
                str(error),
                param=getattr(error, "param", None),
                code=getattr(error, "code", None) or "invalid_value",
            ),
            request,
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error serving %s", request.url.path)
        return error_response(
            ApiError(500, f"internal error: {type(error).__name__}", type="server_error")
        )


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """400, as OpenAI answers: for a body that is not JSON (or not an object) and for a bad field."""
    first = errors[0] if errors else {"type": "unknown", "loc": (), "msg": "invalid request"}
    if first["type"] == "json_invalid":
        return ApiError(
            400,
            f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}",
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if not location and first["type"] in ("model_attributes_type", "dict_type", "missing"):
        return ApiError(400, "the request body must be a JSON object")
    param = ".".join(location) or None
    return ApiError(
        400,
        f"{param}: {first['msg']}" if param else first["msg"],
        param=param,
        code="invalid_value",
    )
