"""The small interface every finetuning backend implements, and the records it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from weirdgen.errors import BackendError
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.ledger import Checkpoint, JobRecord


@dataclass
class Preflight:
    """What a backend checked and estimated before any work or spending starts."""

    dataset_sha256: str
    n_examples: int
    tokens_per_epoch: int  # tokens the backend will train on in one pass (prompt + completion)
    tokens_exact: bool  # False when counted without the model's own tokenizer
    epochs: int | None  # None when the backend chooses
    estimated_cost_usd: float | None = None  # None when no price is known
    price_note: str = ""
    notices: list[str] = field(default_factory=list)  # things the user should read before paying

    @property
    def billed_tokens(self) -> int | None:
        return None if self.epochs is None else self.tokens_per_epoch * self.epochs

    def to_dict(self) -> dict[str, Any]:
        """What the ledger records of the preflight (the hash and notices are kept elsewhere)."""
        return {k: v for k, v in asdict(self).items() if k not in ("dataset_sha256", "notices")}


@dataclass
class JobUpdate:
    """A backend's view of a job right now; the runner copies it into the ledger."""

    status: str  # one of weirdgen.finetune.ledger.STATUSES
    model_id: str | None = (
        None  # the finetuned model's id (OpenAI ft:…, tinker://…, local adapter id)
    )
    adapter_path: str | None = None  # local adapter folder, where there is one
    error: str | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # new events to record


class Finetuner(Protocol):
    """A finetuning backend. ``prepare`` never spends money; ``submit`` starts the job."""

    name: str
    paid: bool  # True when submit costs money: the CLI then asks before submitting

    def prepare(self, request: FinetuneRequest) -> Preflight:
        """Validate the request and dataset, count tokens, estimate cost; raise on bad input."""
        ...

    def submit(self, request: FinetuneRequest, job: JobRecord) -> str:
        """Start (or, for in-process backends, run) the job; return the backend's job id."""
        ...

    def status(self, job: JobRecord) -> JobUpdate:
        """Poll the backend for the job's state, checkpoints and error message."""
        ...

    def result(self, job: JobRecord) -> JobUpdate:
        """The finished job's model id and checkpoints; raises ``BackendError`` unless it succeeded."""
        ...


@runtime_checkable
class CheckpointPruner(Protocol):
    """A backend whose service stores checkpoints that can be deleted (``weirdgen models prune``)."""

    def prune(self, job: JobRecord, *, keep_model: bool = True) -> list[str]:
        """Delete the finished job's stored checkpoints (and its model unless ``keep_model``);
        return the ids or paths deleted."""
        ...


def succeeded(
    update: JobUpdate, job: JobRecord, backend: str, *, resumable: bool = False
) -> JobUpdate:
    """``update`` when the job has succeeded with a model; else a one-line ``BackendError`` with
    the job's state, its error and, for ``resumable`` backends, that a rerun resumes it."""
    if update.status == "succeeded" and update.model_id:
        return update
    problem = f"{backend} job {job.id} has not finished (status {update.status})"
    if update.error:
        problem += f": {update.error}"
    raise BackendError(problem + ("; rerun it to resume" if resumable else ""))
