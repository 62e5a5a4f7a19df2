"""Run the server: in the foreground for ``weirdgen serve``, or on a background thread for tests and scripts."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from weirdgen.errors import BackendError
from weirdgen.models.sampler import LocalSampler
from weirdgen.serve.app import create_app


def run_server(
    sampler: LocalSampler,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    on_ready: Callable[[], None] | None = None,
    **app_options: Any,
) -> None:
    """Serve until Ctrl-C; then the running batch stops at its next token, its clients get 503 and
    uvicorn shuts down (after which the interrupt reaches the caller as ``KeyboardInterrupt``).

    ``on_ready`` is called once the server answers requests (after the app's startup)."""
    import uvicorn

    class _CancellingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # uvicorn waits for open requests before shutting down; cancelling generation first
            # keeps Ctrl-C prompt even in the middle of a long batch.
            sampler.cancel.set()
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_ready is not None:
                on_ready()

    listener = _bound_socket(host, port)  # a taken port is a one-line error, not a uvicorn exit
    try:
        app = create_app(sampler, **app_options)
        _CancellingServer(uvicorn.Config(app, log_level=log_level)).run(sockets=[listener])
    finally:
        listener.close()


class ServerURL(str):
    """The base URL (a plain ``str``) that also carries the served FastAPI ``app`` for inspection."""

    app: Any


@contextmanager
def serve_in_background(
    sampler_or_model: LocalSampler | str | os.PathLike[str],
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    adapters: Mapping[str, str | os.PathLike[str]] | None = None,
    startup_timeout_s: float = 120.0,
    **app_options: Any,
) -> Iterator[ServerURL]:
    """Serve a sampler (or a model folder, id or alias) on a thread; yield its base URL.

    The URL ends in ``/v1`` and plugs straight into ``openai.OpenAI(base_url=url, api_key="x")``;
    its ``.app`` attribute is the FastAPI app. ``port=0`` picks a free port, ``adapters`` are loaded
    (or replaced) by name, ``app_options`` go to ``create_app``. On exit a running batch is cut short,
    the server stops and its thread is joined; the sampler stays usable::

        with serve_in_background(tiny_model_dir) as url:
            client = openai.OpenAI(base_url=url, api_key="unused")
    """
    import uvicorn

    if isinstance(sampler_or_model, LocalSampler):
        sampler = sampler_or_model
        for name, path in (adapters or {}).items():
            sampler.add_adapter(name, path, replace=True)
    else:
        sampler = LocalSampler.from_pretrained(sampler_or_model, adapters=adapters)
    listener = _bound_socket(host, port)
    app = create_app(sampler, **app_options)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="weirdgen-serve", daemon=True
    )
    thread.start()
    try:
        _wait_until_started(server, thread, startup_timeout_s)
        url = ServerURL(f"http://{host}:{listener.getsockname()[1]}/v1")
        url.app = app
        yield url
    finally:
        sampler.cancel.set()  # end a running batch now instead of waiting for it
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()
        sampler.cancel.clear()  # the caller's sampler keeps working after the server is gone


def _bound_socket(host: str, port: int) -> socket.socket:
    # Binding here, not in uvicorn, lets port=0 pick a free port whose number we know before serving.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise BackendError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return listener


def _wait_until_started(server: Any, thread: threading.Thread, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise BackendError("the background server exited during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise BackendError(f"the background server did not start within {timeout_s:.0f} s")
        time.sleep(0.01)
