"""The FastAPI application: ``/v1/models`` and ``/v1/chat/completions`` over one ``LocalSampler``."""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from weirdgen.models.sampler import LocalSampler
from weirdgen.serve.batching import RequestBatcher, ServerShuttingDown
from weirdgen.serve.errors import ApiError, install_error_handlers
from weirdgen.serve.schemas import (
    ChatCompletionBody,
    completion_response,
    model_entry,
    models_response,
)


def create_app(
    sampler: LocalSampler, *, max_wait_s: float = 0.02, fine_tuning: bool = True
) -> FastAPI:
    """An OpenAI-compatible app serving ``sampler``'s base model and adapters.

    ``app.state.sampler`` and ``app.state.batcher`` hold the shared objects. When
    ``weirdgen.serve.fine_tuning`` is installed and ``fine_tuning`` is true, its routes are added too.
    """
    batcher = RequestBatcher(sampler, max_wait_s=max_wait_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    app = FastAPI(title="weirdgen serve", lifespan=lifespan)
    app.state.sampler, app.state.batcher, app.state.created = sampler, batcher, int(time.time())
    install_error_handlers(app)
    _add_model_routes(app, sampler)
    _add_chat_route(app, sampler, batcher)
    if fine_tuning and importlib.util.find_spec("weirdgen.serve.fine_tuning") is not None:
        importlib.import_module("weirdgen.serve.fine_tuning").add_fine_tuning_routes(app, sampler)
    return app


def _add_model_routes(app: FastAPI, sampler: LocalSampler) -> None:
    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return models_response(sampler.model_names, app.state.created)

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict[str, Any]:
        if name not in sampler.model_names:
            raise _unknown_model(name, sampler)
        return model_entry(name, app.state.created)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


def _add_chat_route(app: FastAPI, sampler: LocalSampler, batcher: RequestBatcher) -> None:
    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionBody) -> dict[str, Any]:
        if body.model not in sampler.model_names:
            raise _unknown_model(body.model, sampler)
        adapter = None if body.model == sampler.base_name else body.model
        request = body.sampling_request(adapter)
        sampler.check_request(request)  # context-length errors answer at once, not after a batch
        try:
            result = await batcher.submit(request)
        except ServerShuttingDown as error:
            raise ApiError(503, str(error)) from None
        return completion_response(result, model=body.model, want_logprobs=request.logprobs)


def _unknown_model(name: str, sampler: LocalSampler) -> ApiError:
    return ApiError(
        404,
        f"the model {name!r} does not exist; available: {', '.join(sampler.model_names)}",
        param="model",
        code="model_not_found",
    )
