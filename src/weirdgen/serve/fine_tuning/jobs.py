"""``/v1/fine_tuning/jobs``: creating, listing and cancelling jobs, their events and checkpoints.

A creation request is checked as OpenAI checks it before anything is recorded. Hyperparameters map
as: ``n_epochs`` -> epochs (auto 3), ``batch_size`` (auto 1), ``learning_rate_multiplier`` ->
learning rate ``1e-4 x multiplier`` (auto 1). Any field of ``weirdgen.finetune.Hyperparameters``
(``lora_rank``, ``save_every_steps``…) may be added to the same hyperparameters object as an
extension.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from weirdgen.data.chat import read_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.ledger import JobRecord, Ledger
from weirdgen.serve.errors import ApiError
from weirdgen.serve.fine_tuning.files import FileStore
from weirdgen.serve.fine_tuning.worker import TrainingWorker, one_line
from weirdgen.serve.schemas import page

BASE_LEARNING_RATE = 1e-4  # what learning_rate_multiplier=1 means for the local trainer
DEFAULTS = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}
_OPENAI_STATUS = {"interrupted": "queued"}  # an interrupted job resumes: to clients it is waiting


class JobBoard:
    """Fine-tuning jobs: created from OpenAI request bodies, recorded in the ledger, trained by the worker."""

    def __init__(
        self, sampler: Any, ledger: Ledger, files: FileStore, worker: TrainingWorker
    ) -> None:
        self.sampler, self.ledger, self.files, self.worker = sampler, ledger, files, worker

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate an OpenAI job-creation body, record the job and queue it."""
        model = _required_string(body, "model")
        if model not in (self.sampler.base_name,):
            raise ApiError(
                400,
                f"model {model!r} cannot be finetuned here; this server finetunes {self.sampler.base_name!r}",
                param="model",
                code="model_not_available",
            )
        file_meta = self.files.meta(_required_string(body, "training_file"))
        if file_meta["purpose"] != "fine-tune":
            raise ApiError(
                400,
                f"file {file_meta['id']} has purpose {file_meta['purpose']!r}, not 'fine-tune'",
                param="training_file",
            )
        dataset_path = self.files.content_path(file_meta["id"])
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
        self.worker.enqueue(job.id)
        return self.job_object(job)

    def get(self, job_id: str) -> JobRecord:
        job = self.ledger.find_job(job_id)
        if job is None:
            raise ApiError(
                404,
                f"no such fine-tuning job: {job_id}",
                param="fine_tuning_job_id",
                code="job_not_found",
            )
        return job

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job.is_terminal:
            raise ApiError(400, f"job {job_id} is already {job.status}", param="fine_tuning_job_id")
        self.worker.cancel(job_id)
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

    def list(self) -> list[dict[str, Any]]:
        jobs = sorted(self.ledger.list_jobs(), key=lambda j: (j.created_at, j.id), reverse=True)
        return [self.job_object(job) for job in jobs]

    def event_objects(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
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
        self.get(job_id)
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

    def _model_name(self, base: str, suffix: str | None, job_id: str) -> str:
        """``ft:<base>:weirdgen:<suffix>:<id>``, OpenAI's layout, in the characters adapter names allow."""
        slug = re.sub(r"[^\w.-]+", "-", Path(base).name or base).strip("-") or "model"
        return f"ft:{slug}:weirdgen:{suffix or ''}:{job_id.removeprefix('ftjob-')[:8]}"


def add_job_routes(app: FastAPI, jobs: JobBoard) -> None:
    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return jobs.create(body)

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(limit: int = 20, after: str | None = None) -> dict[str, Any]:
        return page(jobs.list(), limit, after)

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return jobs.job_object(jobs.get(job_id))

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return jobs.cancel(job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        return page(jobs.event_objects(job_id), limit, after)

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, limit: int = 10, after: str | None = None) -> dict[str, Any]:
        return page(jobs.checkpoint_objects(job_id), limit, after)


# -- checks of a creation request ---------------------------------------------------------


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
            400, f"invalid hyperparameters: {one_line(error)}", param="hyperparameters"
        ) from None
