"""OpenAI's files and fine-tuning API on ``weirdgen serve``, backed by the local LoRA trainer.

Scripts written for OpenAI fine-tuning (``client.files.create`` then
``client.fine_tuning.jobs.create``) finetune the served open model instead: one background worker
trains queued jobs in order, and each finished adapter (and every epoch checkpoint) is served under
its ``ft:…`` model id. Files, jobs, events and checkpoints persist under the state folder, so a
restarted server serves finished models again and resumes unfinished jobs from their checkpoints.

Hyperparameters map as: ``n_epochs`` -> epochs (auto 3), ``batch_size`` (auto 1),
``learning_rate_multiplier`` -> learning rate ``1e-4 x multiplier`` (auto 1). Any field of
``weirdgen.finetune.Hyperparameters`` (``lora_rank``, ``save_every_steps``…) may be added to the same
hyperparameters object as an extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import Response

from weirdgen._io import atomic_write_bytes, atomic_write_text, sha256_hex
from weirdgen._paths import cache_dir
from weirdgen.data.chat import read_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.ledger import Checkpoint, JobRecord, Ledger
from weirdgen.serve.errors import ApiError

logger = logging.getLogger("weirdgen.serve.fine_tuning")

BASE_LEARNING_RATE = 1e-4  # what learning_rate_multiplier=1 means for the local trainer
DEFAULTS = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}
MAX_FILE_BYTES = 512 * 1024 * 1024
_OPENAI_STATUS = {"interrupted": "queued"}  # an interrupted job resumes: to clients it is waiting


class _Stopped(Exception):
    """Raised inside the training loop to stop a job (cancel or server shutdown)."""


def add_fine_tuning_routes(
    app: FastAPI, sampler: Any, *, state_dir: str | Path | None = None, device: str | None = None
) -> FineTuningService:
    """Mount ``/v1/files`` and ``/v1/fine_tuning/jobs`` on ``app``; start the training worker."""
    folder = (
        Path(state_dir)
        if state_dir is not None
        else Path(os.environ.get("WEIRDGEN_SERVE_DIR") or cache_dir("serve"))
    )
    service = FineTuningService(sampler, folder, device=device)
    app.state.fine_tuning = service
    _add_file_routes(app, service)
    _add_job_routes(app, service)
    _run_worker_with_app(app, service)
    return service


def _run_worker_with_app(app: FastAPI, service: FineTuningService) -> None:
    """Start the worker when the server starts and stop it when the server stops.

    Wraps whatever lifespan the app already has, so the server module need not know about us. A job
    stopped by shutdown is marked interrupted and resumes from its checkpoint at the next start.
    """
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            service.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(service.stop)

    app.router.lifespan_context = lifespan


class FineTuningService:
    """Files, jobs and the worker thread that trains them one at a time."""

    def __init__(self, sampler: Any, state_dir: Path, *, device: str | None = None) -> None:
        self.sampler = sampler
        self.state_dir = state_dir
        self.files_dir = state_dir / "files"
        self.runs_dir = state_dir / "runs"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(state_dir / "fine_tuning.sqlite")
        self.device = device
        self._queue: queue.Queue[str] = queue.Queue()
        self._cancelled: set[str] = set()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Serve finished adapters again, queue unfinished jobs, start the worker."""
        self._stop.clear()
        # Jobs of another base model belong to another `weirdgen serve` sharing this folder.
        for job in self.ledger.list_jobs(base_model=self.sampler.base_name):
            if job.status == "succeeded":
                self._register_finished(job)
            elif job.status in ("queued", "running", "interrupted"):
                self._queue.put(job.id)
        self._worker = threading.Thread(target=self._work, name="weirdgen-fine-tuning", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current optimizer step; the running job resumes at the next start."""
        self._stop.set()
        self._queue.put("")  # wake an idle worker
        if self._worker is not None:
            self._worker.join(timeout)

    # -- files -------------------------------------------------------------------------------

    def save_file(self, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(400, f"file is larger than {MAX_FILE_BYTES} bytes", param="file")
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        atomic_write_bytes(self.files_dir / f"{file_id}.jsonl", data)
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "sha256": sha256_hex(data),
        }
        atomic_write_text(self.files_dir / f"{file_id}.json", json.dumps(meta))
        return _public_file(meta)

    def file_meta(self, file_id: str) -> dict[str, Any]:
        path = self.files_dir / f"{file_id}.json"
        if not re.fullmatch(r"file-[0-9a-f]{24}", file_id) or not path.is_file():
            raise ApiError(404, f"no such file: {file_id}", param="file_id", code="file_not_found")
        return json.loads(path.read_text(encoding="utf-8"))

    def list_files(self, purpose: str | None) -> list[dict[str, Any]]:
        metas = [
            json.loads(p.read_text(encoding="utf-8")) for p in self.files_dir.glob("file-*.json")
        ]
        metas = [m for m in metas if purpose is None or m["purpose"] == purpose]
        return [
            _public_file(m)
            for m in sorted(metas, key=lambda m: (m["created_at"], m["id"]), reverse=True)
        ]

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.file_meta(file_id)
        (self.files_dir / f"{file_id}.jsonl").unlink(missing_ok=True)
        (self.files_dir / f"{file_id}.json").unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate an OpenAI job-creation body, record the job and queue it."""
        model = _required_string(body, "model")
        if model not in (self.sampler.base_name,):
            raise ApiError(
                400,
                f"model {model!r} cannot be finetuned here; this server finetunes {self.sampler.base_name!r}",
                param="model",
                code="model_not_available",
            )
        file_meta = self.file_meta(_required_string(body, "training_file"))
        if file_meta["purpose"] != "fine-tune":
            raise ApiError(
                400,
                f"file {file_meta['id']} has purpose {file_meta['purpose']!r}, not 'fine-tune'",
                param="training_file",
            )
        dataset_path = self.files_dir / f"{file_meta['id']}.jsonl"
        try:
            examples = read_chat_jsonl(dataset_path)
        except WeirdgenError as error:
            message = str(error).replace(str(dataset_path), file_meta["filename"])
            raise ApiError(
                400,
                f"invalid training file: {message}",
                param="training_file",
                code="invalid_training_file",
            ) from None
        hyperparameters = _hyperparameters(body)
        seed = body.get("seed")
        if seed is None:
            seed = secrets.randbelow(2**31)
        if not isinstance(seed, int) or seed < 0:
            raise ApiError(400, "seed must be a non-negative integer", param="seed")
        suffix = body.get("suffix")
        if suffix is not None and not (
            isinstance(suffix, str) and re.fullmatch(r"[\w.-]{1,40}", suffix)
        ):
            raise ApiError(
                400, "suffix must be 1 to 40 letters, digits, '.', '-' or '_'", param="suffix"
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be an object of strings", param="metadata")
        job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
        job = self.ledger.create_job(
            id=job_id,
            group_name=str(metadata.get("weirdgen_group", "")),
            backend="local",
            base_model=model,
            dataset_path=str(dataset_path),
            dataset_sha256=file_meta["sha256"],
            n_examples=len(examples),
            seed=seed,
            suffix=suffix,
            hyperparameters=hyperparameters.to_dict(),
            tags={
                "training_file": file_meta["id"],
                "validation_file": body.get("validation_file") or "",
                "metadata": json.dumps(metadata),
                "fine_tuned_model": self._model_name(model, suffix, job_id),
            },
        )
        self.ledger.add_event(job.id, f"Created fine-tuning job: {job.id}")
        if body.get("validation_file"):
            self.ledger.add_event(
                job.id,
                "validation_file is ignored: the local trainer reports training loss only",
                level="warn",
            )
        self._queue.put(job.id)
        return self.job_object(job)

    def get_job(self, job_id: str) -> JobRecord:
        job = self.ledger.find_job(job_id)
        if job is None:
            raise ApiError(
                404,
                f"no such fine-tuning job: {job_id}",
                param="fine_tuning_job_id",
                code="job_not_found",
            )
        return job

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        job = self.get_job(job_id)
        if job.is_terminal:
            raise ApiError(400, f"job {job_id} is already {job.status}", param="fine_tuning_job_id")
        self._cancelled.add(job_id)
        job = self.ledger.update_job(job_id, status="cancelled", finished_at=time.time())
        self.ledger.add_event(job_id, "Job cancelled")
        return self.job_object(job)

    def job_object(self, job: JobRecord) -> dict[str, Any]:
        """The job in OpenAI's ``fine_tuning.job`` shape."""
        hp = job.hyperparameters
        openai_hp = {
            "n_epochs": hp.get("epochs"),
            "batch_size": hp.get("batch_size"),
            "learning_rate_multiplier": (hp.get("learning_rate") or BASE_LEARNING_RATE)
            / BASE_LEARNING_RATE,
        }
        error = None
        if job.status == "failed":
            error = {
                "code": "training_failed",
                "message": job.error or "training failed",
                "param": None,
            }
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": int(job.created_at),
            "error": error,
            "fine_tuned_model": job.model_id if job.status == "succeeded" else None,
            "finished_at": int(job.finished_at) if job.finished_at else None,
            "hyperparameters": openai_hp,
            "model": job.base_model,
            "organization_id": "org-weirdgen",
            "result_files": [],
            "seed": job.seed,
            "status": _OPENAI_STATUS.get(job.status, job.status),
            "trained_tokens": int(job.tags["trained_tokens"])
            if "trained_tokens" in job.tags
            else None,
            "training_file": job.tags.get("training_file"),
            "validation_file": job.tags.get("validation_file") or None,
            "estimated_finish": None,
            "integrations": [],
            "metadata": json.loads(job.tags.get("metadata", "{}")) or None,
            "method": {"type": "supervised", "supervised": {"hyperparameters": openai_hp}},
            "user_provided_suffix": job.suffix,
        }

    def list_jobs(self) -> list[dict[str, Any]]:
        jobs = sorted(self.ledger.list_jobs(), key=lambda j: (j.created_at, j.id), reverse=True)
        return [self.job_object(job) for job in jobs]

    def event_objects(self, job_id: str) -> list[dict[str, Any]]:
        self.get_job(job_id)
        return [
            {
                "id": f"ftevent-{event.id}",
                "object": "fine_tuning.job.event",
                "created_at": int(event.created_at),
                "level": event.level,
                "message": event.message,
                "data": event.data or {},
                "type": "metrics" if event.data and "train_loss" in event.data else "message",
            }
            for event in reversed(self.ledger.events(job_id))
        ]

    def checkpoint_objects(self, job_id: str) -> list[dict[str, Any]]:
        self.get_job(job_id)
        return [
            {
                "id": f"ftckpt-{job_id.removeprefix('ftjob-')}-{c.step}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(c.created_at),
                "fine_tuned_model_checkpoint": c.model_id,
                "fine_tuning_job_id": job_id,
                "metrics": {"step": float(c.step), **c.metrics},
                "step_number": c.step,
            }
            for c in reversed(self.ledger.checkpoints(job_id))
        ]

    # -- the worker --------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if not job_id or self._stop.is_set():
                continue
            job = self.ledger.find_job(job_id)
            if job is None or job.is_terminal:
                continue
            try:
                self._train(job)
            except _Stopped:
                status = "cancelled" if job_id in self._cancelled else "interrupted"
                self.ledger.update_job(job_id, status=status)
            except Exception as error:  # noqa: BLE001 - a failed job is recorded, the server keeps serving
                logger.warning("fine-tuning job %s failed: %s", job_id, error)
                self.ledger.update_job(
                    job_id, status="failed", error=_one_line(error), finished_at=time.time()
                )
                self.ledger.add_event(job_id, f"Job failed: {_one_line(error)}", level="error")

    def _train(self, job: JobRecord) -> None:
        from weirdgen.finetune.local_trainer import train_lora

        self.ledger.update_job(job.id, status="running", started_at=job.started_at or time.time())
        self.ledger.add_event(job.id, "Fine-tuning job started")
        model_name = job.tags["fine_tuned_model"]

        def on_step(info: Any) -> None:
            if self._stop.is_set() or job.id in self._cancelled:
                raise _Stopped
            self.ledger.add_event(
                job.id,
                f"Step {info.step}/{info.total_steps}: training loss={info.loss:.4f}",
                data={"step": info.step, "train_loss": info.loss, "total_steps": info.total_steps},
            )

        def on_checkpoint(info: Any) -> None:
            name = f"{model_name}:ckpt-step-{info.step}"
            self.sampler.add_adapter(name, info.path, replace=True)
            self.ledger.add_checkpoint(
                Checkpoint(
                    job_id=job.id,
                    step=info.step,
                    epoch=info.epoch,
                    model_id=name,
                    path=str(info.path),
                    metrics={"train_loss": info.loss},
                )
            )

        result = train_lora(
            self._training_source(),
            read_chat_jsonl(job.dataset_path),
            self.runs_dir / job.id,
            hyperparameters=Hyperparameters.from_dict(job.hyperparameters),
            seed=job.seed or 0,
            dataset_path=job.dataset_path,
            device=self.device,
            on_step=on_step,
            on_checkpoint=on_checkpoint,
            show_progress=False,
        )
        if job.id in self._cancelled:
            raise _Stopped
        self.sampler.add_adapter(model_name, result.adapter_path, replace=True)
        self.ledger.update_job(
            job.id,
            status="succeeded",
            model_id=model_name,
            adapter_path=str(result.adapter_path),
            finished_at=time.time(),
            tags={**job.tags, "trained_tokens": str(result.trained_tokens)},
        )
        self.ledger.add_event(job.id, f"New fine-tuned model created: {model_name}")
        self.ledger.add_event(job.id, "The job has successfully completed")

    def _training_source(self) -> str:
        """The folder the served base model was loaded from: training starts from the same weights."""
        base = (
            self.sampler.model.get_base_model()
            if hasattr(self.sampler.model, "get_base_model")
            else self.sampler.model
        )
        folder = getattr(base, "name_or_path", "") or ""
        return folder if folder and Path(folder).is_dir() else self.sampler.base_name

    def _register_finished(self, job: JobRecord) -> None:
        """Serve a finished job's adapter and checkpoints again after a restart."""
        targets = [(c.model_id, c.path) for c in self.ledger.checkpoints(job.id)] + [
            (job.model_id, job.adapter_path)
        ]
        for name, path in targets:
            if name and path and Path(path).is_dir():
                try:
                    self.sampler.add_adapter(name, path, replace=True)
                except WeirdgenError as error:
                    logger.warning("cannot serve %s again: %s", name, error)

    def _model_name(self, base: str, suffix: str | None, job_id: str) -> str:
        """``ft:<base>:weirdgen:<suffix>:<id>``, OpenAI's layout, in the characters adapter names allow."""
        slug = re.sub(r"[^\w.-]+", "-", Path(base).name or base).strip("-") or "model"
        return f"ft:{slug}:weirdgen:{suffix or ''}:{job_id.removeprefix('ftjob-')[:8]}"


# -- routes -----------------------------------------------------------------------------------


def _add_file_routes(app: FastAPI, service: FineTuningService) -> None:
    @app.post("/v1/files")
    def upload_file(file: UploadFile = File(...), purpose: str = Form(...)) -> dict[str, Any]:
        return service.save_file(file.filename or "upload.jsonl", file.file.read(), purpose)

    @app.get("/v1/files")
    def list_files(
        purpose: str | None = None, limit: int = 10000, after: str | None = None
    ) -> dict[str, Any]:
        return _page(service.list_files(purpose), limit, after)

    @app.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return _public_file(service.file_meta(file_id))

    @app.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        service.file_meta(file_id)
        return Response(
            (service.files_dir / f"{file_id}.jsonl").read_bytes(), media_type="application/jsonl"
        )

    @app.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        return service.delete_file(file_id)


def _add_job_routes(app: FastAPI, service: FineTuningService) -> None:
    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return service.create_job(body)

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(limit: int = 20, after: str | None = None) -> dict[str, Any]:
        return _page(service.list_jobs(), limit, after)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return service.job_object(service.get_job(job_id))

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return service.cancel_job(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        return _page(service.event_objects(job_id), limit, after)

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, limit: int = 10, after: str | None = None) -> dict[str, Any]:
        return _page(service.checkpoint_objects(job_id), limit, after)


# -- helpers ----------------------------------------------------------------------------------


def _page(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    """OpenAI cursor pagination: items after the one with id ``after``, at most ``limit``."""
    if limit < 1:
        raise ApiError(400, "limit must be at least 1", param="limit")
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise ApiError(400, f"unknown cursor {after!r}", param="after")
        items = items[ids.index(after) + 1 :]
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


def _public_file(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in meta.items() if key != "sha256"}


def _required_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name} is required and must be a string", param=name)
    return value


def _hyperparameters(body: dict[str, Any]) -> Hyperparameters:
    """Local hyperparameters from ``method.supervised.hyperparameters`` (or legacy ``hyperparameters``)."""
    method = body.get("method") or {}
    supervised = method.get("supervised") or {} if isinstance(method, dict) else None
    legacy = body.get("hyperparameters") or {}
    nested = supervised.get("hyperparameters") or {} if isinstance(supervised, dict) else None
    if not all(isinstance(part, dict) for part in (method, legacy, nested)):
        raise ApiError(
            400, "method and hyperparameters must be JSON objects", param="hyperparameters"
        )
    if method and method.get("type", "supervised") != "supervised":
        raise ApiError(
            400,
            f"method {method.get('type')!r} is not supported; this server trains 'supervised' only",
            param="method.type",
        )
    given = {**legacy, **nested}
    chosen = {
        key: DEFAULTS[key] if given.get(key, "auto") == "auto" else given[key] for key in DEFAULTS
    }
    extensions = {key: value for key, value in given.items() if key not in DEFAULTS}
    fields = {f.name for f in dataclasses.fields(Hyperparameters)}
    unknown = sorted(set(extensions) - fields)
    if unknown:
        raise ApiError(
            400, f"unknown hyperparameter {unknown[0]!r}", param=f"hyperparameters.{unknown[0]}"
        )
    try:
        multiplier = float(chosen["learning_rate_multiplier"])
        values = {
            "epochs": chosen["n_epochs"],
            "batch_size": chosen["batch_size"],
            "learning_rate": BASE_LEARNING_RATE * multiplier,
            **extensions,
        }
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        for key in ("epochs", "batch_size"):
            if not isinstance(values[key], int) or isinstance(values[key], bool):
                raise ApiError(
                    400,
                    f"{'n_epochs' if key == 'epochs' else key} must be an integer or 'auto'",
                    param=key,
                )
        if multiplier <= 0:
            raise ApiError(
                400, "learning_rate_multiplier must be > 0", param="learning_rate_multiplier"
            )
        return Hyperparameters(**values).validate().with_local_defaults()
    except (TypeError, ValueError, WeirdgenError) as error:
        raise ApiError(
            400, f"invalid hyperparameters: {_one_line(error)}", param="hyperparameters"
        ) from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:500]
