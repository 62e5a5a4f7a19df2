"""Lean HTTP/1.1 keep-alive for plain-http endpoints (local vLLM, Ollama, ``weirdgen serve``).

Against a local server many requests are in flight and each answers quickly, so the client's CPU
per request bounds throughput; httpcore (httpx's default transport) and the SDK's request pipeline
spend most of it. ``ConnectionPool`` does the one thing an OpenAI-compatible client needs:
request/response over reused connections on asyncio streams. It is used two ways: directly by the
OpenAI-compatible sampler for plain-http endpoints, and as an httpx transport (``StreamTransport``)
when the SDK is used on such endpoints. HTTPS endpoints always go through the SDK and httpx.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = [
    "ConnectionBroke",
    "ConnectionPool",
    "ConnectFailed",
    "ReplyTimedOut",
    "StreamTransport",
    "encode_request",
]

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Reply = tuple[int, list[tuple[str, str]], bytes]


class ConnectFailed(Exception):
    """No connection could be opened (refused, unreachable, or timed out)."""


class ConnectionBroke(Exception):
    """The connection failed or closed before the whole answer arrived."""


class ReplyTimedOut(Exception):
    """The answer did not arrive within the read timeout."""


class ConnectionPool:
    """Keep-alive connections per (host, port), reused last-in first-out (a warm socket is likelier alive)."""

    def __init__(self, *, max_idle: int = 256) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._max_idle = max_idle

    async def exchange(
        self,
        address: tuple[str, int],
        payload: bytes,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> Reply:
        """Send one encoded request and read its answer: ``(status, headers, body)``."""
        idle = self._idle.setdefault(address, [])
        # A reused connection may have been closed by the server while idle; only such a
        # connection, failing before any byte of the answer, is retried on another one.
        while idle:
            try:
                return await self._exchange(idle.pop(), address, payload, read_timeout)
            except _StaleConnection:
                continue
        try:
            connection = await asyncio.wait_for(asyncio.open_connection(*address), connect_timeout)
        except (TimeoutError, OSError) as error:
            raise ConnectFailed(
                f"cannot connect to {address[0]}:{address[1]} ({type(error).__name__})"
            ) from None
        try:
            return await self._exchange(connection, address, payload, read_timeout)
        except _StaleConnection:
            raise ConnectionBroke("the server closed the connection without answering") from None

    async def _exchange(
        self,
        connection: _Connection,
        address: tuple[str, int],
        payload: bytes,
        read_timeout: float | None,
    ) -> Reply:
        reader, writer = connection
        try:
            writer.write(payload)
            await writer.drain()
            status, headers, body, keep_alive = await asyncio.wait_for(
                _read_response(reader), read_timeout
            )
        except _StaleConnection:
            writer.close()
            raise
        except TimeoutError:
            writer.close()
            raise ReplyTimedOut("timed out waiting for the answer") from None
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as error:
            writer.close()
            raise ConnectionBroke(f"connection broke mid-answer ({type(error).__name__})") from None
        if keep_alive and len(self._idle[address]) < self._max_idle:
            self._idle[address].append(connection)
        else:
            writer.close()
        return status, headers, body

    def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """The server closed a reused connection before sending a single byte."""


def encode_request(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An HTTP/1.1 request with a Content-Length body (header names are kept as given)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [
        f"{name}: {value}"
        for name, value in headers
        if name.lower() not in ("content-length", "transfer-encoding")
    ]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            raise _StaleConnection from None
        raise
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, status = status_line.split(" ", 2)[:2]
    headers = [
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in header_lines)
    ]
    fields = {name.lower(): value for name, value in headers}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
        headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
    elif "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    else:
        return (
            int(status),
            headers,
            await reader.read(),
            False,
        )  # the body ends when the server closes
    connection = fields.get("connection", "").lower()
    keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    return int(status), headers, body, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer section
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _httpx() -> Any:
    import httpx

    return httpx


class StreamTransport:
    """An httpx async transport over ``ConnectionPool`` that raises httpx's own exceptions, so the
    openai SDK maps failures exactly as with httpx's default transport."""

    def __init__(self) -> None:
        self._pool = ConnectionPool()

    async def handle_async_request(self, request: Any) -> Any:
        httpx = _httpx()
        body = await request.aread()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        payload = encode_request(
            request.method, request.url.raw_path.decode("ascii"), headers, body
        )
        timeouts = request.extensions.get("timeout", {})
        address = (request.url.host, request.url.port or 80)
        try:
            status, reply_headers, content = await self._pool.exchange(
                address,
                payload,
                connect_timeout=timeouts.get("connect"),
                read_timeout=timeouts.get("read"),
            )
        except ConnectFailed as error:
            raise httpx.ConnectError(str(error), request=request) from None
        except ReplyTimedOut as error:
            raise httpx.ReadTimeout(str(error), request=request) from None
        except ConnectionBroke as error:
            raise httpx.RemoteProtocolError(str(error), request=request) from None
        return httpx.Response(status, headers=reply_headers, content=content, request=request)

    async def aclose(self) -> None:
        self._pool.close()

    async def __aenter__(self) -> StreamTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
