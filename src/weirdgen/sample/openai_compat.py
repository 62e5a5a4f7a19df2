"""Sampler for any OpenAI-compatible chat-completions endpoint, through the ``openai`` SDK.

Works with OpenAI, vLLM, Ollama, OpenRouter, Together and ``weirdgen serve``. Several base URLs
serving the same model share the load: each request goes to the endpoint with the fewest requests
in flight. The SDK's own retries are switched off; the engine retries, so that every retry honours
Retry-After and is counted in one place. API keys are read from an environment variable and never
appear in messages or logs.

Against a local server the client's CPU per request bounds throughput once many requests are in
flight (see benchmarks/eval_throughput.py), so:
- plain-http endpoints (local servers) are spoken to directly over lean keep-alive connections
  (``weirdgen.sample._http``), with the same request body, headers and error rules as the SDK;
  pass ``lean_http=False`` to send them through the SDK instead;
- https endpoints (OpenAI, OpenRouter, ...) go through the SDK's generic ``post`` (same auth,
  errors and timeouts) with the JSON reply read directly, skipping the typed-parameter transform
  and response models; each endpoint gets several small SDK clients rather than one with a large
  pool, because httpcore's pool does work proportional to its size on every request, and they
  share one TLS context (which costs ~0.1 s to build).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from weirdgen.errors import BackendError, ConfigError, MissingDependencyError
from weirdgen.sample.base import SampleRequest, SampleResult, TokenLogprobs, TransientSampleError

__all__ = ["OpenAICompatibleSampler"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TRACE_HEADER = "X-Weirdgen-Sample-Key"
REQUESTS_PER_CLIENT = 4  # in flight per SDK client before another client (and pool) is opened
MAX_CLIENTS_PER_ENDPOINT = 64


@dataclass
class _Client:
    http: Any  # openai.AsyncOpenAI or httpx.AsyncClient (imported lazily); None for aiohttp
    in_flight: int = 0


@dataclass
class _Endpoint:
    base_url: str
    clients: list[_Client] = field(default_factory=list)

    @property
    def plain_http(self) -> bool:
        return self.base_url.startswith("http://")

    @property
    def in_flight(self) -> int:
        return sum(client.in_flight for client in self.clients)


DIRECT = os.environ.get("WEIRDGEN_DIRECT_HTTP", "aiohttp")  # experiment only


class OpenAICompatibleSampler:
    """Chat completions from one model served by one or more OpenAI-compatible endpoints."""

    def __init__(
        self,
        *,
        base_urls: list[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        lean_http: bool = True,
    ) -> None:
        try:
            import openai  # noqa: F401 - fail here, with the install hint, not on the first request
        except ImportError:  # pragma: no cover - openai is a core dependency
            raise MissingDependencyError(
                "the OpenAI sampler needs the openai SDK: pip install openai"
            ) from None
        urls = base_urls or [DEFAULT_BASE_URL]
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            if any(url.rstrip("/") == DEFAULT_BASE_URL for url in urls):
                raise ConfigError(
                    f"set ${api_key_env} to use the OpenAI API (or pass --base-url for a local server)"
                )
            api_key = "not-needed"  # local servers ignore the key, but the SDK insists on one
        self._api_key = api_key
        self._timeout = timeout
        self._tls: Any = None
        self._endpoints = [_Endpoint(url.rstrip("/")) for url in urls]
        self._next = 0
        self._direct = lean_http
        self._session: Any = None  # aiohttp.ClientSession, opened on the first request

    @property
    def name(self) -> str:
        return "openai-compatible " + ", ".join(e.base_url for e in self._endpoints)

    @property
    def supports_logprobs(self) -> bool:
        return True

    def _is_direct(self, endpoint: _Endpoint) -> bool:
        return self._direct and endpoint.plain_http

    def _pick_client(self) -> tuple[_Endpoint, _Client]:
        """The least busy endpoint (ties rotate), and there a client with room or a new one."""
        self._next = (self._next + 1) % len(self._endpoints)
        rotated = self._endpoints[self._next :] + self._endpoints[: self._next]
        endpoint = min(rotated, key=lambda e: e.in_flight)
        direct = self._is_direct(endpoint)
        if direct and DIRECT == "aiohttp":
            if not endpoint.clients:
                endpoint.clients.append(_Client(http=None))  # counts in-flight requests only
            return endpoint, endpoint.clients[0]
        if direct and DIRECT == "httpx1":
            if not endpoint.clients:
                endpoint.clients.append(_Client(self._new_httpx_client(None)))
            return endpoint, endpoint.clients[0]
        for client in endpoint.clients:
            if client.in_flight < REQUESTS_PER_CLIENT:
                return endpoint, client
        if len(endpoint.clients) < MAX_CLIENTS_PER_ENDPOINT:
            http = (
                self._new_httpx_client(REQUESTS_PER_CLIENT)
                if direct
                else self._new_sdk_client(endpoint.base_url)
            )
            endpoint.clients.append(_Client(http))
            return endpoint, endpoint.clients[-1]
        return endpoint, min(endpoint.clients, key=lambda c: c.in_flight)

    def _new_httpx_client(self, size: int | None) -> Any:
        import httpx

        limits = (
            httpx.Limits(max_connections=size * 2, max_keepalive_connections=size)
            if size
            else httpx.Limits(max_connections=None, max_keepalive_connections=None)
        )
        return httpx.AsyncClient(
            limits=limits, timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 30.0))
        )

    def _new_sdk_client(self, base_url: str) -> Any:
        import httpx
        import openai

        if self._tls is None:
            self._tls = _tls_context()
        limits = httpx.Limits(
            max_connections=REQUESTS_PER_CLIENT * 2,
            max_keepalive_connections=REQUESTS_PER_CLIENT,
        )
        http = httpx.AsyncClient(verify=self._tls, limits=limits, timeout=self._timeout)
        return openai.AsyncOpenAI(
            base_url=base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=self._timeout,
            http_client=http,
        )

    async def complete(self, request: SampleRequest) -> SampleResult:
        return (await self.complete_many(request, 1))[0]

    async def complete_many(self, request: SampleRequest, n: int) -> list[SampleResult]:
        """``n`` independent answers to one request, asked for in one call (the API's ``n``).
        A server may return fewer; the engine asks again for the rest."""
        endpoint, client = self._pick_client()
        body = _request_body(request) | ({"n": n} if n > 1 else {})
        client.in_flight += 1
        try:
            if self._is_direct(endpoint):
                reply = await self._post_direct(client, endpoint.base_url, body, request.trace_id)
            else:
                reply = await self._post_sdk(client, endpoint.base_url, body, request.trace_id)
        finally:
            client.in_flight -= 1
        try:
            return _parse_response(reply, endpoint.base_url)[:n]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BackendError(f"{endpoint.base_url} sent a malformed chat completion") from None

    async def _post_sdk(
        self, client: _Client, base_url: str, body: dict[str, Any], trace_id: str
    ) -> Any:
        import httpx

        try:
            headers = {TRACE_HEADER: trace_id} if trace_id else {}
            response = await client.http.post(
                "/chat/completions", body=body, cast_to=httpx.Response, options={"headers": headers}
            )
            return json.loads(response.content)
        except json.JSONDecodeError:
            raise TransientSampleError(f"{base_url} answered with invalid JSON") from None
        except Exception as error:
            raise _translate_error(error, base_url) from None

    async def _post_direct(
        self, client: _Client, base_url: str, body: dict[str, Any], trace_id: str
    ) -> Any:
        """POST /chat/completions without the SDK, with the SDK's headers and error rules."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if trace_id:
            headers[TRACE_HEADER] = trace_id
        url, payload = base_url + "/chat/completions", json.dumps(body).encode()
        if DIRECT == "aiohttp":
            status, reply_headers, content = await self._post_aiohttp(url, payload, headers, base_url)
        else:
            status, reply_headers, content = await self._post_httpx(client, url, payload, headers, base_url)
        if status >= 400:
            raise _status_error(status, reply_headers, content, base_url)
        try:
            return json.loads(content)
        except json.JSONDecodeError:
            raise TransientSampleError(f"{base_url} answered with invalid JSON") from None

    async def _post_httpx(self, client, url, payload, headers, base_url):
        import httpx

        try:
            response = await client.http.post(url, content=payload, headers=headers)
        except httpx.TimeoutException:
            raise TransientSampleError(f"{base_url} timed out") from None
        except httpx.TransportError as error:
            raise TransientSampleError(
                f"{base_url}: connection failed ({type(error).__name__})"
            ) from None
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content

    async def _post_aiohttp(self, url, payload, headers, base_url):
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=min(self._timeout, 30.0), sock_read=self._timeout
                ),
                skip_auto_headers=("User-Agent",),
            )
        try:
            async with self._session.post(url, data=payload, headers=headers) as response:
                content = await response.read()
                return response.status, {k.lower(): v for k, v in response.headers.items()}, content
        except TimeoutError:
            raise TransientSampleError(f"{base_url} timed out") from None
        except aiohttp.ClientError as error:
            raise TransientSampleError(
                f"{base_url}: connection failed ({type(error).__name__})"
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for endpoint in self._endpoints:
            for client in endpoint.clients:
                if client.http is not None:
                    await client.http.aclose() if hasattr(client.http, "aclose") else await client.http.close()
            endpoint.clients.clear()


def _tls_context() -> Any:
    """One TLS context for every client, with the certificates httpx would use by default."""
    import ssl

    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _request_body(request: SampleRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [m.to_dict() for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if request.top_logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def _parse_response(body: Any, base_url: str) -> list[SampleResult]:
    """One result per choice. Usage covers all choices together, so tokens are split evenly
    (input tokens are billed once per request, which is what makes ``n`` cheaper)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise TransientSampleError(f"{base_url} returned no choices")
    usage = body.get("usage") or {}
    count = len(choices)
    input_tokens, output_tokens = (
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )
    return [
        SampleResult(
            text=(choice.get("message") or {}).get("content") or "",
            finish_reason=choice.get("finish_reason") or "",
            input_tokens=input_tokens // count + (input_tokens % count if index == 0 else 0),
            output_tokens=output_tokens // count + (output_tokens % count if index == 0 else 0),
            logprobs=_parse_logprobs(choice),
            served_by=base_url,
        )
        for index, choice in enumerate(sorted(choices, key=lambda c: c.get("index", 0)))
    ]


def _parse_logprobs(choice: dict[str, Any]) -> tuple[TokenLogprobs, ...]:
    content = (choice.get("logprobs") or {}).get("content") or []
    positions = []
    for token in content:
        alternatives: TokenLogprobs = {}
        for alternative in token.get("top_logprobs") or []:
            # Keep the most likely entry when a server lists one token text twice.
            alternatives.setdefault(alternative["token"], float(alternative["logprob"]))
        alternatives.setdefault(token["token"], float(token["logprob"]))
        positions.append(alternatives)
    return tuple(positions)


def _translate_error(error: Exception, base_url: str) -> BackendError:
    """Map SDK errors to transient (retry) or permanent (fail fast), without leaking secrets."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return TransientSampleError(f"{base_url} timed out")
    if isinstance(error, openai.APIConnectionError):
        return TransientSampleError(
            f"{base_url}: connection failed ({type(error.__cause__ or error).__name__})"
        )
    if isinstance(error, openai.AuthenticationError):
        # The server's message may echo part of the key; say only what to do.
        return BackendError(
            f"{base_url} rejected the API key (HTTP 401); check the key's environment variable"
        )
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status == 429 or status >= 500 or status in (408, 409):
            return TransientSampleError(
                f"{base_url}: HTTP {status}", retry_after=_retry_after(error.response.headers)
            )
        return BackendError(
            f"{base_url}: HTTP {status}: {_message_of(error.body, str(error.message))}"
        )
    return BackendError(f"{base_url}: {type(error).__name__}: {error}")


def _status_error(
    status: int, headers: dict[str, str], content: bytes, base_url: str
) -> BackendError:
    """The lean path's HTTP errors, classified exactly like ``_translate_error`` classifies the SDK's."""
    if status == 401:
        return BackendError(
            f"{base_url} rejected the API key (HTTP 401); check the key's environment variable"
        )
    if status == 429 or status >= 500 or status in (408, 409):
        return TransientSampleError(f"{base_url}: HTTP {status}", retry_after=_retry_after(headers))
    try:
        body = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    return BackendError(
        f"{base_url}: HTTP {status}: {_message_of(body, content.decode('utf-8', 'replace'))}"
    )


def _retry_after(headers: Any) -> float | None:
    """Seconds from Retry-After (or the retry-after-ms header some servers send), if present."""
    fields = {str(name).lower(): value for name, value in (headers or {}).items()}
    try:
        if "retry-after-ms" in fields:
            return float(fields["retry-after-ms"]) / 1000
        if "retry-after" in fields:
            return float(fields["retry-after"])
    except ValueError:
        return None  # an HTTP date instead of seconds: fall back to our own backoff
    return None


def _message_of(body: Any, fallback: str) -> str:
    """The server's error message, on one line and short (it may quote the request, never the key)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or fallback).split())[:200]
