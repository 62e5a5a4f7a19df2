"""Sampler for any OpenAI-compatible chat-completions endpoint.

Works with OpenAI, vLLM, Ollama, OpenRouter, Together and ``weirdgen serve``. Several base URLs
serving the same model share the load: each request goes to the endpoint with the fewest requests
in flight. No client retries on its own; the engine retries, so that every retry honours
Retry-After and is counted in one place. API keys are read from an environment variable and never
appear in messages or logs.

Against a local server the client's CPU per request bounds throughput once many requests are in
flight (see benchmarks/eval_throughput.py), so:
- plain-http endpoints (local servers) are spoken to directly with aiohttp (one session, keep-alive
  connections), with the same request body, headers and error rules as the SDK; aiohttp beat
  httpx here by about 3x in requests per second (numbers in the benchmark's docstring). Pass
  ``lean_http=False`` to send them through the SDK instead;
- https endpoints (OpenAI, OpenRouter, ...) go through the SDK's generic ``post`` (same auth,
  errors and timeouts) with the JSON reply read directly, skipping the typed-parameter transform
  and response models; each endpoint gets several small SDK clients rather than one with a large
  pool, because httpcore's pool does work proportional to its size on every request, and they
  share one TLS context (which costs ~0.1 s to build).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen.errors import BackendError, ConfigError, MissingDependencyError
from weirdgen.sample.base import SampleRequest, SampleResult, TokenLogprobs, TransientSampleError

__all__ = ["OpenAICompatibleSampler"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TRACE_HEADER = "X-Weirdgen-Sample-Key"
REQUESTS_PER_CLIENT = 4  # in flight per SDK client before another client (and pool) is opened
MAX_CLIENTS_PER_ENDPOINT = 64
# Idle connections are closed before uvicorn's (and so vLLM's) 5 s keep-alive runs out, so that a
# request is not sent on a connection the server is closing.
KEEPALIVE_SECONDS = 4.0

logger = logging.getLogger("weirdgen.sample")


@dataclass
class _Client:
    sdk: Any  # openai.AsyncOpenAI, imported lazily; None: requests go through the aiohttp session
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


class OpenAICompatibleSampler:
    """Chat completions from one model served by one or more OpenAI-compatible endpoints."""

    supports_logprobs = True

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
                    f"set ${api_key_env} to use the OpenAI API (or give a base URL for a local server)",
                    setting="api_key_env",
                )
            api_key = "not-needed"  # local servers ignore the key, but the SDK insists on one
        self._api_key = api_key
        self._timeout = timeout
        self._tls: Any = None
        self._endpoints = [_Endpoint(url.rstrip("/")) for url in urls]
        self._next = 0
        self._direct = lean_http and any(e.plain_http for e in self._endpoints)
        if self._direct:
            try:
                import aiohttp  # noqa: F401
            except ImportError:  # pragma: no cover - aiohttp is a core dependency
                raise MissingDependencyError(
                    "the OpenAI sampler needs aiohttp for http:// servers: pip install aiohttp"
                ) from None
        self._session: Any = None  # aiohttp.ClientSession, opened on the first request
        self._session_loop: Any = None

    @property
    def name(self) -> str:
        return "openai-compatible " + ", ".join(e.base_url for e in self._endpoints)

    def _pick_client(self) -> tuple[_Endpoint, _Client]:
        """The least busy endpoint (ties rotate), and there a client with room or a new one."""
        self._next = (self._next + 1) % len(self._endpoints)
        rotated = self._endpoints[self._next :] + self._endpoints[: self._next]
        endpoint = min(rotated, key=lambda e: e.in_flight)
        if self._direct and endpoint.plain_http:
            if not endpoint.clients:
                endpoint.clients.append(_Client(sdk=None))  # counts in-flight requests only
            return endpoint, endpoint.clients[0]
        for client in endpoint.clients:
            if client.in_flight < REQUESTS_PER_CLIENT:
                return endpoint, client
        if len(endpoint.clients) < MAX_CLIENTS_PER_ENDPOINT:
            endpoint.clients.append(_Client(self._new_sdk_client(endpoint.base_url)))
            return endpoint, endpoint.clients[-1]
        return endpoint, min(endpoint.clients, key=lambda c: c.in_flight)

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

    def model_versions(self, models: Sequence[str]) -> dict[str, str]:
        """What each endpoint's /models says pins the weights behind each name, for
        ``SampleRequest.model_version``: an adapter's ``version`` (``weirdgen serve``), else the
        fingerprint of its ``root`` when that is an adapter folder on this machine (vLLM), else "".
        The OpenAI API is not asked (its fine-tune ids are unique). Served adapters left with ""
        are named in one log line: their cached samples are keyed by name only."""
        if all(e.base_url == DEFAULT_BASE_URL for e in self._endpoints):
            return dict.fromkeys(models, "")
        listings = [self._list_models(e.base_url) for e in self._endpoints]
        versions: dict[str, str] = {}
        unpinned: list[str] = []
        for model in models:
            entries = [listing[model] for listing in listings if model in listing]
            pinned = {version for version in map(_entry_version, entries) if version}
            if len(pinned) > 1:
                raise ConfigError(
                    f"the base URLs serve different weights under the name {model!r} "
                    f"(versions {', '.join(sorted(pinned))}); give URLs that serve the same model",
                    setting="base_urls",
                )
            versions[model] = next(iter(pinned), "")
            # A base model's name is its identity; an adapter's, or an unlisted name's, may not be.
            if not pinned and (not entries or any(entry.get("parent") for entry in entries)):
                unpinned.append(model)
        if unpinned:
            logger.warning(
                "%s/models gives no version of the weights of %s, so their cached samples are "
                "keyed by name only (an adapter retrained under the same name would be answered "
                "from the cache)",
                ", ".join(e.base_url for e in self._endpoints),
                ", ".join(unpinned),
            )
        return versions

    def _list_models(self, base_url: str) -> dict[str, dict[str, Any]]:
        """``base_url``'s /models entries by id; empty when it cannot be listed."""
        import httpx

        if self._tls is None and base_url.startswith("https://"):
            self._tls = _tls_context()
        try:
            response = httpx.get(
                base_url + "/models",
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=min(self._timeout, 30.0),
                verify=self._tls or True,
            )
            response.raise_for_status()
            data = response.json().get("data") or []
        except (httpx.HTTPError, ValueError, AttributeError):
            return {}
        return {entry["id"]: entry for entry in data if isinstance(entry, dict) and "id" in entry}

    async def complete(self, request: SampleRequest) -> SampleResult:
        return (await self.complete_many(request, 1))[0]

    async def complete_many(self, request: SampleRequest, n: int) -> list[SampleResult]:
        """``n`` independent answers to one request, asked for in one call (the API's ``n``).
        A server may return fewer; the engine asks again for the rest."""
        endpoint, client = self._pick_client()
        body = _request_body(request) | ({"n": n} if n > 1 else {})
        client.in_flight += 1
        try:
            if client.sdk is None:
                reply = await self._post_direct(endpoint.base_url, body, request.trace_id)
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
            response = await client.sdk.post(
                "/chat/completions", body=body, cast_to=httpx.Response, options={"headers": headers}
            )
            return json.loads(response.content)
        except json.JSONDecodeError:
            raise TransientSampleError(f"{base_url} answered with invalid JSON") from None
        except Exception as error:
            raise _translate_error(error, base_url) from None

    async def _post_direct(self, base_url: str, body: dict[str, Any], trace_id: str) -> Any:
        """POST /chat/completions with aiohttp, with the SDK's headers and error rules."""
        import aiohttp

        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if trace_id:
            headers[TRACE_HEADER] = trace_id
        try:
            async with self._aiohttp_session().post(
                base_url + "/chat/completions", data=json.dumps(body).encode(), headers=headers
            ) as response:
                content = await response.read()
                if response.status >= 400:
                    fields = {name.lower(): value for name, value in response.headers.items()}
                    raise _status_error(response.status, fields, content, base_url)
        except TimeoutError:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise TransientSampleError(f"{base_url} timed out") from None
        except aiohttp.InvalidURL:
            raise BackendError(f"{base_url} is not a valid URL") from None
        except aiohttp.ClientError as error:  # refused, reset, closed mid-answer
            raise TransientSampleError(
                f"{base_url}: connection failed ({type(error).__name__})"
            ) from None
        try:
            return json.loads(content)
        except json.JSONDecodeError:
            raise TransientSampleError(f"{base_url} answered with invalid JSON") from None

    def _aiohttp_session(self) -> Any:
        """The session of the running event loop (a session cannot outlive its loop)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=0,  # the engine's concurrency limit is the only one
                    keepalive_timeout=KEEPALIVE_SECONDS,
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=min(self._timeout, 30.0), sock_read=self._timeout
                ),
                skip_auto_headers=("User-Agent",),
            )
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            if self._session_loop is asyncio.get_running_loop():
                await self._session.close()
            self._session = self._session_loop = None
        for endpoint in self._endpoints:
            for client in endpoint.clients:
                if client.sdk is not None:
                    await client.sdk.close()
            endpoint.clients.clear()


def _entry_version(entry: dict[str, Any]) -> str:
    """An adapter entry's ``version``, else the fingerprint of the adapter folder its ``root`` names
    (vLLM's LoRA entries give the path they were loaded from) when that folder is on this machine."""
    if entry.get("version"):
        return str(entry["version"])
    root = Path(str(entry.get("root") or ""))
    if entry.get("parent") and root.is_absolute() and (root / "adapter_config.json").is_file():
        from weirdgen.models.adapters import adapter_fingerprint

        return adapter_fingerprint(root)
    return ""


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
    """The direct path's HTTP errors, classified exactly like ``_translate_error`` classifies the SDK's."""
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
