"""The thread that trains queued fine-tuning jobs one at a time and serves what they produce.

Each epoch checkpoint and each finished adapter is registered with the sampler under its ``ft:…``
name. At start the worker registers what earlier runs of the server left (finished jobs' adapters
and checkpoints) and queues unfinished jobs, which resume from their last checkpoint.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from weirdgen.data.chat import read_chat_jsonl
from weirdgen.errors import WeirdgenError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.ledger import Checkpoint, JobRecord, Ledger

logger = logging.getLogger("weirdgen.serve.fine_tuning")


class _Stopped(Exception):
    """Raised inside the training loop to stop a job (cancel or server shutdown)."""


class TrainingWorker:
    """Trains queued jobs in order on one thread; a cancelled or interrupted job stops at its next step."""

    def __init__(
        self, sampler: Any, ledger: Ledger, runs_dir: Path, *, device: str | None = None
    ) -> None:
        self.sampler = sampler
        self.ledger = ledger
        self.runs_dir = runs_dir
        self.device = device
        self._queue: queue.Queue[str] = queue.Queue()
        self._cancelled: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve what earlier runs trained again, queue unfinished jobs, start the thread.

        Adapters are only registered here (their weights load when a request first names them), so
        a server with many finished jobs answers at once.
        """
        self._stop.clear()
        # Jobs of another base model belong to another `weirdgen serve` sharing this folder.
        for job in self.ledger.list_jobs(base_model=self.sampler.base_name):
            self._register_trained(job)
            if job.status in ("queued", "running", "interrupted"):
                self._queue.put(job.id)
        self._thread = threading.Thread(target=self._work, name="weirdgen-fine-tuning", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current optimizer step; the running job resumes at the next start."""
        self._stop.set()
        self._queue.put("")  # wake an idle worker
        if self._thread is not None:
            self._thread.join(timeout)

    def enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)

    def cancel(self, job_id: str) -> None:
        """Stop ``job_id`` at its next step if it is training, and never start it if it waits."""
        self._cancelled.add(job_id)

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
                    job_id, status="failed", error=one_line(error), finished_at=time.time()
                )
                self.ledger.add_event(job_id, f"Job failed: {one_line(error)}", level="error")

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
            self.sampler.add_adapter(name, info.path, replace=True, load=False)
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
        self.sampler.add_adapter(model_name, result.adapter_path, replace=True, load=False)
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

    def _register_trained(self, job: JobRecord) -> None:
        """Serve a job's checkpoints (and its adapter, if it finished) again after a restart; a
        job that resumes keeps serving the checkpoints it saved before."""
        targets = [(c.model_id, c.path) for c in self.ledger.checkpoints(job.id)]
        if job.status == "succeeded":
            targets.append((job.model_id, job.adapter_path))
        for name, path in targets:
            if name and path and Path(path).is_dir():
                try:
                    self.sampler.add_adapter(name, path, replace=True, load=False)
                except WeirdgenError as error:
                    logger.warning("cannot serve %s again: %s", name, error)


def one_line(error: BaseException) -> str:
    """An error's first line (at most 500 characters), for job records and events."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:500]
