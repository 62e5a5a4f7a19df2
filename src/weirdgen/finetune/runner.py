"""Run one finetuning job per seed through a backend, recording everything in the ledger.

Every request is prepared (validated, counted, priced) before the first job starts, so bad input
fails in one line with nothing spent. Seeds the ledger already holds as succeeded are skipped;
a job that fails is recorded as failed with its reason and the other seeds still run; Ctrl-C marks
the running job interrupted (its checkpoints stay recorded) before it propagates.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weirdgen.errors import WeirdgenError
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.ledger import JobRecord, Ledger, new_job_id
from weirdgen.finetune.protocol import Finetuner, JobUpdate, Preflight


@dataclass
class SeedOutcome:
    """What happened to one seed."""

    request: FinetuneRequest
    job: JobRecord
    skipped: bool  # True when the ledger already had it done


def prepare_all(finetuner: Finetuner, requests: Sequence[FinetuneRequest]) -> list[Preflight]:
    """Prepare every request; the dataset is only read and counted once per distinct file."""
    cache: dict[tuple[str, str], Preflight] = {}
    preflights = []
    for request in requests:
        key = (str(request.dataset_path), request.base_model)
        if key not in cache:
            cache[key] = finetuner.prepare(request)
        else:
            request.validate()
        preflights.append(cache[key])
    return preflights


def run_jobs(
    finetuner: Finetuner,
    ledger: Ledger,
    requests: Sequence[FinetuneRequest],
    preflights: Sequence[Preflight],
    *,
    wait: bool = True,
    poll_seconds: float = 30.0,
    log: Callable[[str], None] = print,
) -> list[SeedOutcome]:
    """Submit each not-yet-done job and (with ``wait``) follow it to the end."""
    outcomes = []
    for request, preflight in zip(requests, preflights, strict=True):
        job, skipped = _claim_job(ledger, finetuner, request, preflight)
        if skipped:
            log(f"seed {request.seed}: already done as {job.id} -> {job.model_id}")
        else:
            job = _run_one(
                finetuner, ledger, request, job, wait=wait, poll_seconds=poll_seconds, log=log
            )
        outcomes.append(SeedOutcome(request, job, skipped))
    return outcomes


def _claim_job(
    ledger: Ledger, finetuner: Finetuner, request: FinetuneRequest, preflight: Preflight
) -> tuple[JobRecord, bool]:
    """The ledger row for this request: existing (skip if done) or new."""
    key = request.job_key(preflight.dataset_sha256)
    existing = ledger.find_by_key(key)
    if existing is not None:
        return existing, existing.is_done
    job = ledger.create_job(
        id=new_job_id(),
        job_key=key,
        group_name=request.group,
        backend=request.backend,
        base_model=request.base_model,
        dataset_path=str(request.dataset_path),
        dataset_sha256=preflight.dataset_sha256,
        n_examples=preflight.n_examples,
        seed=request.seed,
        suffix=request.suffix,
        hyperparameters=request.hyperparameters.to_dict(),
        estimate=preflight.to_dict(),
        tags=request.tags,
    )
    return job, False


def _run_one(
    finetuner: Finetuner,
    ledger: Ledger,
    request: FinetuneRequest,
    job: JobRecord,
    *,
    wait: bool,
    poll_seconds: float,
    log: Callable[[str], None],
) -> JobRecord:
    blocking = getattr(finetuner, "blocking", False)
    # A remote job that was submitted and has not ended is followed, never paid for twice.
    remote_alive = (
        bool(job.remote_id) and not blocking and job.status not in ("failed", "cancelled")
    )
    try:
        if not remote_alive:
            # A failed, cancelled or interrupted job is tried again; local runs resume from checkpoints.
            job = ledger.update_job(
                job.id, status="running", error=None, started_at=time.time(), finished_at=None
            )
            ledger.add_event(job.id, f"submitted to {finetuner.name}")
            log(f"seed {request.seed}: {job.id} submitted to {finetuner.name}")
            job = ledger.update_job(job.id, remote_id=finetuner.submit(request, job))
        else:
            log(f"seed {request.seed}: following {job.id} ({job.remote_id}), already submitted")
        job = sync_job(finetuner, ledger, job)
        while wait and not job.is_terminal:
            time.sleep(poll_seconds)
            job = sync_job(finetuner, ledger, job)
    except KeyboardInterrupt:
        _safe_sync(finetuner, ledger, job)
        if blocking:
            ledger.update_job(
                job.id, status="interrupted", error="interrupted by the user (rerun to resume)"
            )
            ledger.add_event(job.id, "interrupted by the user", level="warn")
        else:
            ledger.add_event(
                job.id,
                f"stopped following; the job continues on {finetuner.name} (rerun to follow it)",
                level="warn",
            )
        raise
    except WeirdgenError as error:
        return _record_failure(ledger, finetuner, job, str(error), log)
    except Exception as error:  # noqa: BLE001 - record any crash as the job's failure reason, never lose it
        return _record_failure(ledger, finetuner, job, f"{type(error).__name__}: {error}", log)
    if job.status == "succeeded":
        log(f"seed {request.seed}: {job.id} succeeded -> {job.model_id}")
    elif job.is_terminal:
        log(f"seed {request.seed}: {job.id} {job.status}: {job.error or ''}")
    return job


def sync_job(finetuner: Finetuner, ledger: Ledger, job: JobRecord) -> JobRecord:
    """Copy the backend's current view of ``job`` (status, model, checkpoints) into the ledger."""
    update = finetuner.status(job)
    return apply_update(ledger, job, update)


def apply_update(ledger: Ledger, job: JobRecord, update: JobUpdate) -> JobRecord:
    known_steps = {c.step for c in ledger.checkpoints(job.id)}
    for checkpoint in update.checkpoints:
        checkpoint.job_id = job.id
        ledger.add_checkpoint(checkpoint)
        if checkpoint.step not in known_steps:
            ledger.add_event(
                job.id,
                f"checkpoint at step {checkpoint.step}",
                data={"model_id": checkpoint.model_id, **checkpoint.metrics},
            )
    for message in update.messages:
        ledger.add_event(job.id, message)
    values: dict[str, object] = {"status": update.status}
    if update.model_id:
        values["model_id"] = update.model_id
    if update.adapter_path:
        values["adapter_path"] = update.adapter_path
    if update.error:
        values["error"] = update.error
    if update.status in ("succeeded", "failed", "cancelled") and job.finished_at is None:
        values["finished_at"] = time.time()
        ledger.add_event(
            job.id,
            f"{update.status}" + (f": {update.error}" if update.error else ""),
            level="error" if update.status == "failed" else "info",
        )
    return ledger.update_job(job.id, **values)


def _safe_sync(finetuner: Finetuner, ledger: Ledger, job: JobRecord) -> None:
    # Best effort: we are already handling a failure and must not replace it with another.
    with contextlib.suppress(Exception):
        sync_job(finetuner, ledger, job)


def _record_failure(
    ledger: Ledger, finetuner: Finetuner, job: JobRecord, reason: str, log: Callable[[str], None]
) -> JobRecord:
    _safe_sync(finetuner, ledger, job)
    ledger.add_event(job.id, f"failed: {reason}", level="error")
    log(f"seed {job.seed}: {job.id} failed: {reason}")
    return ledger.update_job(job.id, status="failed", error=reason, finished_at=time.time())
