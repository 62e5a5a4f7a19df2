"""OpenAI's files and fine-tuning API on ``weirdgen serve``, backed by the local LoRA trainer.

Scripts written for OpenAI fine-tuning (``client.files.create`` then
``client.fine_tuning.jobs.create``) finetune the served open model instead: one background worker
trains queued jobs in order, and each finished adapter (and every epoch checkpoint) is served under
its ``ft:…`` model id. Files, jobs, events and checkpoints persist under the state folder, so a
restarted server serves finished models again and resumes unfinished jobs from their checkpoints.

One module per concern: ``files`` (uploads), ``jobs`` (job records, their OpenAI objects and the
checks of a creation request), ``worker`` (the thread that trains queued jobs and serves their
adapters).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from weirdgen._paths import cache_dir
from weirdgen.finetune.ledger import Ledger
from weirdgen.serve.fine_tuning.files import FileStore, add_file_routes
from weirdgen.serve.fine_tuning.jobs import JobBoard, add_job_routes
from weirdgen.serve.fine_tuning.worker import TrainingWorker


@dataclass
class FineTuning:
    """The files, jobs and training worker one server holds (``app.state.fine_tuning``)."""

    files: FileStore
    jobs: JobBoard
    worker: TrainingWorker


def add_fine_tuning_routes(
    app: FastAPI, sampler: Any, *, state_dir: str | Path | None = None, device: str | None = None
) -> FineTuning:
    """Mount ``/v1/files`` and ``/v1/fine_tuning/jobs`` on ``app``; start the training worker."""
    folder = (
        Path(state_dir)
        if state_dir is not None
        else Path(os.environ.get("WEIRDGEN_SERVE_DIR") or cache_dir("serve"))
    )
    ledger = Ledger(folder / "fine_tuning.sqlite")
    files = FileStore(folder / "files")
    worker = TrainingWorker(sampler, ledger, folder / "runs", device=device)
    jobs = JobBoard(sampler, ledger, files, worker)
    app.state.fine_tuning = FineTuning(files, jobs, worker)
    add_file_routes(app, files)
    add_job_routes(app, jobs)
    _run_worker_with_app(app, worker)
    return app.state.fine_tuning


def _run_worker_with_app(app: FastAPI, worker: TrainingWorker) -> None:
    """Start the worker when the server starts and stop it when the server stops.

    Wraps whatever lifespan the app already has, so the server module need not know about us. A job
    stopped by shutdown is marked interrupted and resumes from its checkpoint at the next start.
    """
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            worker.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(worker.stop)

    app.router.lifespan_context = lifespan
