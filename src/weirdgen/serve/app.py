"""The FastAPI application: models, chat completions and responses over one ``LocalSampler``."""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from weirdgen.models.batching import ContinuousBatcher
from weirdgen.models.sampler import LocalSampler
from weirdgen.serve.errors import install_error_handlers
from weirdgen.serve.generation import adapter_for, add_generation_routes
from weirdgen.serve.limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from weirdgen.serve.schemas import model_entry, models_response
from weirdgen.serve.text import TextCheckMiddleware


def create_app(
    sampler: LocalSampler,
    *,
    max_wait_s: float = 0.02,
    fine_tuning: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """An OpenAI-compatible app serving ``sampler``'s base model and adapters.

    ``app.state.sampler`` and ``app.state.batcher`` hold the shared objects. Request bodies over
    ``max_body_bytes`` get 413 before they are read (file uploads have their own, larger limit).
    When ``weirdgen.serve.fine_tuning`` is installed and ``fine_tuning`` is true, its routes are
    added too.
    """
    batcher = ContinuousBatcher(sampler, max_wait_s=max_wait_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(title="weirdgen serve", lifespan=lifespan)
    app.state.sampler, app.state.batcher, app.state.created = sampler, batcher, int(time.time())
    # Middleware added last runs first: the body limit applies before the text check reads the body.
    app.add_middleware(TextCheckMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    install_error_handlers(app)
    _add_model_routes(app, sampler)
    add_generation_routes(app, sampler, batcher)
    if fine_tuning and importlib.util.find_spec("weirdgen.serve.fine_tuning") is not None:
        importlib.import_module("weirdgen.serve.fine_tuning").add_fine_tuning_routes(app, sampler)
    return app


def _add_model_routes(app: FastAPI, sampler: LocalSampler) -> None:
    def entry(name: str) -> dict[str, Any]:
        adapter = adapter_for(name, sampler)  # 404 for unknown names
        if adapter is None:
            return model_entry(name, app.state.created)
        return model_entry(
            name,
            app.state.created,
            parent=sampler.base_name,
            root=sampler.base_name,  # OpenAI's meaning; never the folder (a server path)
            version=sampler.adapter_version(adapter),
        )

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return models_response([entry(name) for name in sampler.model_names])

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict[str, Any]:
        return entry(name)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}
