"""Finetuning through OpenAI's fine-tuning API, or any server that speaks it (``weirdgen serve``).

``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` are read the way the ``openai`` SDK reads them, so the
same code finetunes GPT-4.1 on OpenAI or an open model on a local ``weirdgen serve``. Uploads are
deduplicated by the file's SHA-256 (recorded in the ledger, checked against the server), and every
API failure is surfaced with the API's own message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from weirdgen._io import sha256_hex
from weirdgen.data.chat import read_chat_jsonl
from weirdgen.errors import BackendError, ConfigError, DataError, MissingDependencyError
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.estimate import approximate_tokens, estimate_cost
from weirdgen.finetune.ledger import Checkpoint, JobRecord, Ledger
from weirdgen.finetune.protocol import JobUpdate, Preflight, succeeded

# OpenAI stops accepting new self-serve fine-tuning jobs on this day; existing models keep working
# until the shutdown below.
OPENAI_FINETUNING_END = dt.date(2027, 1, 6)
# gpt-4.1, gpt-4.1-mini, gpt-4o, gpt-4o-mini and every fine-tune of them stop answering on this day.
OPENAI_MODEL_SHUTDOWN = dt.date(2027, 1, 14)
SHUT_DOWN_FAMILIES = ("gpt-4.1", "gpt-4o")
OPENAI_MIN_EXAMPLES = 10
_STATUS = {
    "validating_files": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


def deadline_notice(today: dt.date) -> str:
    """The sentence every OpenAI user of weirdgen should read before submitting a job."""
    shutdown = (
        f"gpt-4.1, gpt-4.1-mini, gpt-4o, gpt-4o-mini and their fine-tunes shut down on "
        f"{OPENAI_MODEL_SHUTDOWN.isoformat()}"
    )
    if today >= OPENAI_FINETUNING_END:
        return (
            f"OpenAI accepts no new self-serve fine-tuning jobs since {OPENAI_FINETUNING_END.isoformat()} "
            f"and {shutdown}; finetune open models with the local or tinker backend instead"
        )
    days = (OPENAI_FINETUNING_END - today).days
    return (
        f"OpenAI accepts new self-serve fine-tuning jobs only until {OPENAI_FINETUNING_END.isoformat()} "
        f"({days} days left), and {shutdown} ({(OPENAI_MODEL_SHUTDOWN - today).days} days left): "
        "results on them cannot be reproduced after that. Open models (the local or tinker "
        "backend) are weirdgen's long-term path."
    )


def is_shut_down(model: str, today: dt.date) -> bool:
    """Whether ``model`` (a base id or an ``ft:`` id) is of a family OpenAI has shut down by ``today``."""
    base = model.removeprefix("ft:").split(":", 1)[0]
    return today >= OPENAI_MODEL_SHUTDOWN and base.startswith(SHUT_DOWN_FAMILIES)


def openai_job_parameters(
    request: FinetuneRequest, training_file: str, job_id: str
) -> dict[str, Any]:
    """The keyword arguments of ``client.fine_tuning.jobs.create`` for ``request``."""
    hp = request.hyperparameters
    chosen = {
        "n_epochs": hp.epochs,
        "batch_size": hp.batch_size,
        "learning_rate_multiplier": hp.learning_rate_multiplier,
    }
    parameters: dict[str, Any] = {
        "model": request.base_model,
        "training_file": training_file,
        "seed": request.seed,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {k: v for k, v in chosen.items() if v is not None}},
        },
        "metadata": {"weirdgen_job": job_id, "weirdgen_group": request.group[:512]},
    }
    if request.suffix:
        parameters["suffix"] = request.suffix
    return parameters


@contextlib.contextmanager
def surfaced_api_errors(action: str) -> Iterator[None]:
    """Turn any ``openai`` SDK error into a one-line ``BackendError`` carrying the API's message."""
    import openai

    try:
        yield
    except openai.APIStatusError as error:
        message = _api_message(error)
        raise BackendError(
            f"OpenAI API refused to {action} (HTTP {error.status_code}): {message}"
        ) from None
    except openai.APIConnectionError as error:
        raise BackendError(f"could not reach the OpenAI API to {action}: {error}") from None


def _api_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", error)).splitlines()[0]


class OpenAIFinetuner:
    """The ``openai`` backend: upload, create, poll, list checkpoints."""

    name = "openai"
    blocking = False

    def __init__(
        self,
        ledger: Ledger,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: Any = None,
        today: dt.date | None = None,
        offline: bool = False,
    ) -> None:
        self.ledger = ledger
        # A dry run plans without credentials or network: the base model is then not looked up.
        self.offline = offline
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self._api_key = api_key
        self._client = client
        self.today = today or dt.date.today()
        # Paid only on OpenAI itself; a weirdgen server or another compatible host is not billed here.
        self.paid = self.is_openai

    @property
    def is_openai(self) -> bool:
        return (urlparse(self.base_url).hostname or "").endswith("openai.com")

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise MissingDependencyError(
                    "the openai backend needs the openai SDK: pip install openai"
                ) from None
            key = self._api_key or os.environ.get("OPENAI_API_KEY")
            if not key:
                raise ConfigError(
                    "OPENAI_API_KEY is not set (for a local `weirdgen serve`, any value works)"
                )
            self._client = openai.OpenAI(base_url=self.base_url, api_key=key)
        return self._client

    def prepare(self, request: FinetuneRequest) -> Preflight:
        request.validate()
        examples = read_chat_jsonl(request.dataset_path)
        if len(examples) < OPENAI_MIN_EXAMPLES:
            raise DataError(
                f"OpenAI needs at least {OPENAI_MIN_EXAMPLES} examples, this file has {len(examples)}",
                path=request.dataset_path,
            )
        notices = []
        if self.is_openai:
            if self.today >= OPENAI_FINETUNING_END or is_shut_down(request.base_model, self.today):
                raise BackendError(deadline_notice(self.today))
            notices.append(deadline_notice(self.today))
        if self.offline:
            notices.append(f"dry run: {request.base_model!r} was not looked up at {self.base_url}")
        else:
            self._check_base_model(request.base_model)
        tokens = approximate_tokens(examples)
        cost, note = estimate_cost(
            "openai",
            request.base_model,
            None
            if request.hyperparameters.epochs is None
            else tokens * request.hyperparameters.epochs,
        )
        return Preflight(
            dataset_sha256=sha256_hex(Path(request.dataset_path).read_bytes()),
            n_examples=len(examples),
            tokens_per_epoch=tokens,
            tokens_exact=False,
            epochs=request.hyperparameters.epochs,
            estimated_cost_usd=cost,
            price_note=note,
            notices=notices,
        )

    def _check_base_model(self, base_model: str) -> None:
        with surfaced_api_errors("list models"):
            available = {model.id for model in self.client.models.list()}
        if base_model not in available and not base_model.startswith("ft:"):
            raise ConfigError(
                f"{base_model!r} is not offered by {self.base_url} (see its /models list)",
                setting="base_model",
            )

    def upload(self, path: str | Path) -> str:
        """The id of ``path`` on the server, uploading it only if this content is not there yet."""
        import openai

        data = Path(path).read_bytes()
        digest = sha256_hex(data)
        known = self.ledger.find_upload(self.base_url, digest)
        if known is not None:
            try:
                self.client.files.retrieve(known)
                return known
            except openai.NotFoundError:
                pass  # deleted on the server since; upload again
        with surfaced_api_errors("upload the training file"):
            uploaded = self.client.files.create(
                file=(f"weirdgen-{digest[:16]}.jsonl", data), purpose="fine-tune"
            )
        self.ledger.record_upload(self.base_url, digest, uploaded.id)
        return uploaded.id

    def submit(self, request: FinetuneRequest, job: JobRecord) -> str:
        training_file = self.upload(request.dataset_path)
        with surfaced_api_errors("create the fine-tuning job"):
            created = self.client.fine_tuning.jobs.create(
                **openai_job_parameters(request, training_file, job.id)
            )
        return created.id

    def status(self, job: JobRecord) -> JobUpdate:
        if not job.remote_id:
            raise BackendError(f"job {job.id} was never submitted to OpenAI")
        with surfaced_api_errors(f"retrieve job {job.remote_id}"):
            remote = self.client.fine_tuning.jobs.retrieve(job.remote_id)
            checkpoints = list(self.client.fine_tuning.jobs.checkpoints.list(job.remote_id))
        error = None
        if remote.status == "failed":
            error = (
                remote.error.message
                if remote.error is not None
                else "OpenAI reported the job as failed without a message"
            )
        return JobUpdate(
            status=_STATUS.get(remote.status, "running"),
            model_id=remote.fine_tuned_model,
            error=error,
            checkpoints=[
                Checkpoint(
                    job_id=job.id,
                    step=c.step_number,
                    model_id=c.fine_tuned_model_checkpoint,
                    metrics={k: v for k, v in c.metrics.model_dump().items() if v is not None},
                    created_at=c.created_at,
                )
                for c in checkpoints
            ],
        )

    def result(self, job: JobRecord) -> JobUpdate:
        return succeeded(self.status(job), job, "openai")

    def cancel(self, job: JobRecord) -> None:
        with surfaced_api_errors(f"cancel job {job.remote_id}"):
            self.client.fine_tuning.jobs.cancel(job.remote_id)
