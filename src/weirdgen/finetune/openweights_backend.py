"""Finetuning through ``openweights`` (PyPI): LoRA SFT jobs on rented GPUs, with an OpenAI-like SDK.

The SDK (``openweights.OpenWeights``, key in ``OPENWEIGHTS_API_KEY``) uploads a chat JSONL with
``ow.files.upload(path, purpose="conversations")``, starts an unsloth SFT job with
``ow.fine_tuning.create(model=..., training_file=..., **TrainingConfig)`` and reports it with
``ow.jobs.retrieve(id)`` (status pending, in_progress, completed, failed or canceled). The
finetuned LoRA adapter (not merged: ``merge_before_push=False``) is pushed to the Hugging Face Hub
as ``params.validated_params.finetuned_model_id``, where vLLM loads it by repo id.
Job ids are content hashes, so resubmitting an identical request returns the same job.

    finetuner = OpenWeightsFinetuner(offline=True)   # plans without a key or network
    openweights_job_parameters(request, "conversations:abc")   # the exact create() keywords
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from weirdgen._io import sha256_hex
from weirdgen.data.chat import read_chat_jsonl
from weirdgen.errors import BackendError, ConfigError, MissingDependencyError
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.estimate import approximate_tokens
from weirdgen.finetune.ledger import JobRecord
from weirdgen.finetune.protocol import JobUpdate, Preflight, succeeded

API_KEY_ENV = "OPENWEIGHTS_API_KEY"
_STATUS = {
    "pending": "queued",
    "in_progress": "running",
    "completed": "succeeded",
    "failed": "failed",
    "canceled": "cancelled",
}
# weirdgen's defaults, the same as the local trainer's, so a result does not depend on the host.
_DEFAULTS = {"epochs": 3, "batch_size": 1, "learning_rate": 1e-4}


def openweights_job_parameters(request: FinetuneRequest, training_file: str) -> dict[str, Any]:
    """The keyword arguments of ``ow.fine_tuning.create`` (openweights' ``TrainingConfig``)."""
    hp = request.hyperparameters
    rank = hp.lora_rank
    parameters: dict[str, Any] = {
        "model": request.base_model,
        "training_file": training_file,
        "loss": "sft",
        "train_on_responses_only": True,  # loss on the answers only, as every weirdgen backend
        "epochs": hp.epochs or _DEFAULTS["epochs"],
        "per_device_train_batch_size": hp.batch_size or _DEFAULTS["batch_size"],
        "gradient_accumulation_steps": 1,
        "learning_rate": hp.learning_rate or _DEFAULTS["learning_rate"],
        "r": rank,
        "lora_alpha": int(hp.lora_alpha if hp.lora_alpha is not None else 2 * rank),
        "lora_dropout": hp.lora_dropout,
        "use_rslora": hp.use_rslora,
        "weight_decay": hp.weight_decay,
        "max_seq_length": hp.max_length,
        "seed": request.seed,
        # Push the LoRA adapter, not a merged model: one vLLM server then serves every seed
        # (`weirdgen serve --engine vllm`), and the adapter-live canary compares it with its base.
        "merge_before_push": False,
        "meta": {"weirdgen_group": request.group, **request.tags},
    }
    if request.suffix:
        parameters["job_id_suffix"] = request.suffix
    return parameters


class OpenWeightsFinetuner:
    """The ``openweights`` backend: upload, create, poll; the model lands on the Hugging Face Hub."""

    name = "openweights"
    blocking = False
    paid = True

    def __init__(self, *, client: Any = None, offline: bool = False) -> None:
        self._client = client
        self.offline = offline

    @property
    def client(self) -> Any:
        """The SDK client, built on first use (needs ``OPENWEIGHTS_API_KEY``)."""
        if self._client is None:
            if self.offline:
                raise BackendError("a dry run never talks to openweights")
            if not os.environ.get(API_KEY_ENV):
                raise ConfigError(f"set {API_KEY_ENV} to use the openweights backend")
            try:
                from openweights import OpenWeights
            except ImportError:
                raise MissingDependencyError(
                    "the openweights backend needs its SDK: pip install 'weirdgen[openweights]'"
                ) from None
            self._client = OpenWeights()
        return self._client

    def prepare(self, request: FinetuneRequest) -> Preflight:
        request.validate()
        examples = read_chat_jsonl(request.dataset_path)
        notices = [
            "openweights pushes the finetuned model to your Hugging Face organisation "
            "(set HF_ORG or a finetuned_model_id); price depends on the GPU it rents"
        ]
        return Preflight(
            dataset_sha256=sha256_hex(Path(request.dataset_path).read_bytes()),
            n_examples=len(examples),
            tokens_per_epoch=approximate_tokens(examples),
            tokens_exact=False,
            epochs=request.hyperparameters.epochs or _DEFAULTS["epochs"],
            estimated_cost_usd=None,
            price_note="openweights bills GPU time, not tokens",
            notices=notices,
        )

    def submit(self, request: FinetuneRequest, job: JobRecord) -> str:
        uploaded = self._call(
            "upload the training file",
            self.client.files.upload,
            str(request.dataset_path),
            purpose="conversations",
        )
        parameters = openweights_job_parameters(request, uploaded["id"])
        created = self._call(
            "create the fine-tuning job", self.client.fine_tuning.create, **parameters
        )
        return str(created["id"])

    def status(self, job: JobRecord) -> JobUpdate:
        if not job.remote_id:
            raise BackendError(f"job {job.id} was never submitted to openweights")
        remote = self._call(
            f"retrieve job {job.remote_id}", self.client.jobs.retrieve, job.remote_id
        )
        status = _STATUS.get(remote["status"], "running")
        model_id = None
        if status == "succeeded":
            model_id = _finetuned_model_id(remote["params"])
        error = (
            f"openweights reported job {job.remote_id} as failed (see `ow.runs` logs)"
            if status == "failed"
            else None
        )
        return JobUpdate(status=status, model_id=model_id, error=error)

    def result(self, job: JobRecord) -> JobUpdate:
        return succeeded(self.status(job), job, "openweights")

    def cancel(self, job: JobRecord) -> None:
        self._call(f"cancel job {job.remote_id}", self.client.jobs.cancel, job.remote_id)

    @staticmethod
    def _call(action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ConfigError, MissingDependencyError):
            raise
        except Exception as error:  # the SDK raises ValueError, httpx and supabase errors alike
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise BackendError(f"openweights could not {action}: {first[:300]}") from None


def _finetuned_model_id(params: Any) -> str | None:
    """The Hub id the job pushes to, from the job's stored ``validated_params``."""
    validated = (params or {}).get("validated_params") or {}
    return validated.get("finetuned_model_id")
