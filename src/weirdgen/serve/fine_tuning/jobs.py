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
import math
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
from weirdgen.serve.errors import ApiError, without_server_paths
from weirdgen.serve.fine_tuning.files import FileStore
from weirdgen.serve.fine_tuning.worker import TrainingWorker, one_line
from weirdgen.serve.schemas import page

BASE_LEARNING_RATE = 1e-4  # what learning_rate_multiplier=1 means for the local trainer
DEFAULTS = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}
# OpenAI's limits on a job-creation request.
RANGES = {"n_epochs": (1, 50), "batch_size": (1, 256)}
MAX_SEED = 2**31 - 1
MAX_SUFFIX_CHARACTERS = 64
# Local hyperparameters that OpenAI's three set: not accepted as extensions, which would dodge the limits.
_OPENAI_SET = {"epochs", "batch_size", "learning_rate", "learning_rate_multiplier"}
SUFFIX = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SUFFIX_CHARACTERS}}}")
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
        if model != self.sampler.base_name:
            raise ApiError(
                400,
                f"model {model!r} cannot be finetuned here; this server finetunes {self.sampler.base_name!r}",
                param="model",
                code="model_not_available",
            )
        file_meta, n_examples = self._training_file(_required_string(body, "training_file"))
        if body.get("validation_file") is not None:
            self.files.meta(_required_string(body, "validation_file"))
        settings = _job_settings(body)
        job_id = f"ftjob-{uuid.uuid4().hex[:24]}"
        job = self.ledger.create_job(
            id=job_id,
            group_name=settings.metadata.get("weirdgen_group", ""),
            backend="local",
            base_model=model,
            dataset_path=str(self.files.content_path(file_meta["id"])),
            dataset_sha256=file_meta["sha256"],
            n_examples=n_examples,
            seed=settings.seed,
            suffix=settings.suffix,
            hyperparameters=settings.hyperparameters.to_dict(),
            tags={
                "training_file": file_meta["id"],
                "validation_file": body.get("validation_file") or "",
                "metadata": json.dumps(settings.metadata),
                "fine_tuned_model": self._model_name(model, settings.suffix, job_id),
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

    def _training_file(self, file_id: str) -> tuple[dict[str, Any], int]:
        """The training file's metadata and example count; 400 naming the file's line if it is bad."""
        file_meta = self.files.meta(file_id)
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
        return file_meta, len(examples)

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
                "message": without_server_paths(job.error or "training failed"),
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
                "message": without_server_paths(event.message),
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


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """What a creation request asks for besides the model and the files, checked."""

    hyperparameters: Hyperparameters
    seed: int
    suffix: str | None
    metadata: dict[str, str]


def _job_settings(body: dict[str, Any]) -> JobSettings:
    """The request's settings, refused (400 naming the field) where OpenAI refuses them."""
    if body.get("integrations"):
        raise ApiError(
            400,
            "integrations are not supported by weirdgen serve (events and checkpoints are)",
            param="integrations",
            code="unsupported_parameter",
        )
    seed = body.get("seed")
    if seed is None:
        seed = secrets.randbelow(2**31)
    if not _is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise ApiError(400, f"seed must be an integer from 0 to {MAX_SEED}", param="seed")
    return JobSettings(_hyperparameters(body), seed, _suffix(body), _metadata(body))


def _suffix(body: dict[str, Any]) -> str | None:
    suffix = body.get("suffix")
    if suffix is None or suffix == "":
        return None
    if not isinstance(suffix, str) or not SUFFIX.fullmatch(suffix):
        raise ApiError(
            400,
            f"suffix must be 1 to {MAX_SUFFIX_CHARACTERS} ASCII letters, digits, '-' or '_'",
            param="suffix",
        )
    return suffix


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    """OpenAI's metadata: at most 16 pairs of strings, keys up to 64 characters, values up to 512."""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise ApiError(400, "metadata must be an object of at most 16 strings", param="metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise ApiError(
                400,
                "metadata keys must be at most 64 characters and values strings of at most 512",
                param=f"metadata.{key[:64]}",
            )
    return metadata


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hyperparameters(body: dict[str, Any]) -> Hyperparameters:
    """Local hyperparameters from ``method.supervised.hyperparameters`` (or legacy ``hyperparameters``)."""
    given = _given_hyperparameters(body)
    chosen = {
        key: DEFAULTS[key] if given.get(key, "auto") == "auto" else given[key] for key in DEFAULTS
    }
    for name, (low, high) in RANGES.items():
        if not _is_integer(chosen[name]) or not low <= chosen[name] <= high:
            raise ApiError(
                400,
                f"{name} must be an integer from {low} to {high}, or 'auto' (got {chosen[name]!r})",
                param=f"hyperparameters.{name}",
            )
    multiplier = chosen["learning_rate_multiplier"]
    if not isinstance(multiplier, (int, float)) or isinstance(multiplier, bool):
        multiplier = math.nan
    if not (math.isfinite(multiplier) and multiplier > 0):
        raise ApiError(
            400,
            "learning_rate_multiplier must be a number greater than 0, or 'auto'",
            param="hyperparameters.learning_rate_multiplier",
        )
    values = {
        "epochs": chosen["n_epochs"],
        "batch_size": chosen["batch_size"],
        "learning_rate": BASE_LEARNING_RATE * multiplier,
        **_extensions(given),
    }
    try:
        return Hyperparameters(**values).validate().with_local_defaults()
    except (TypeError, ValueError, WeirdgenError) as error:
        raise ApiError(
            400, f"invalid hyperparameters: {one_line(error)}", param="hyperparameters"
        ) from None


def _given_hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters object the request holds, wherever it put it."""
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
    return {**legacy, **nested}


def _extensions(given: dict[str, Any]) -> dict[str, Any]:
    """weirdgen's own hyperparameters added to OpenAI's (``lora_rank``…); not OpenAI's under other names."""
    extensions = {key: value for key, value in given.items() if key not in DEFAULTS}
    fields = {f.name for f in dataclasses.fields(Hyperparameters)} - _OPENAI_SET
    for key in sorted(extensions):
        if key not in fields:
            hint = (
                " (set n_epochs, batch_size or learning_rate_multiplier)"
                if key in _OPENAI_SET
                else ""
            )
            raise ApiError(
                400, f"unknown hyperparameter {key!r}{hint}", param=f"hyperparameters.{key}"
            )
    if "target_modules" in extensions and isinstance(extensions["target_modules"], list):
        extensions["target_modules"] = tuple(extensions["target_modules"])
    return extensions
