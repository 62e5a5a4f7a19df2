"""The ``local`` backend: LoRA on this machine's CPU or GPU, run inside this process.

``submit`` trains to the end (or until Ctrl-C) in ``RUNS_DIR/<job id>/``; the job id is stable
for a given dataset, model, hyperparameters and seed, so rerunning an interrupted job resumes from
its newest checkpoint. The finished model's id is the adapter folder's absolute path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weirdgen._io import sha256_hex
from weirdgen.data.chat import read_chat_jsonl
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.ledger import Checkpoint, JobRecord
from weirdgen.finetune.local_trainer import list_checkpoints, train_lora
from weirdgen.finetune.protocol import JobUpdate, Preflight, succeeded


def default_runs_dir() -> Path:
    """Where local adapters go unless ``--runs-dir`` says otherwise: ``./runs/finetune``."""
    return Path("runs") / "finetune"


class LocalFinetuner:
    """LoRA SFT with transformers + peft (see ``local_trainer``)."""

    name = "local"
    paid = False
    blocking = True

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        *,
        device: str | None = None,
        show_progress: bool = True,
    ) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.device = device
        self.show_progress = show_progress

    def output_dir(self, job: JobRecord) -> Path:
        return (self.runs_dir / job.id).resolve()

    def prepare(self, request: FinetuneRequest) -> Preflight:
        """Check the dataset, the base model and the chat template; count tokens exactly."""
        from transformers import AutoTokenizer

        from weirdgen.finetune.tokens import tokenize_dataset
        from weirdgen.models.resolve import resolve_model

        request.validate()
        examples = read_chat_jsonl(request.dataset_path)
        folder = resolve_model(request.base_model)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        hp = request.hyperparameters.with_local_defaults()
        tokenized = tokenize_dataset(
            tokenizer, examples, max_length=hp.max_length, path=request.dataset_path
        )
        return Preflight(
            dataset_sha256=sha256_hex(Path(request.dataset_path).read_bytes()),
            n_examples=len(examples),
            tokens_per_epoch=sum(len(item.input_ids) for item in tokenized),
            tokens_exact=True,
            epochs=hp.epochs,
            estimated_cost_usd=0.0,
            price_note="local training: no charge",
        )

    def submit(self, request: FinetuneRequest, job: JobRecord, on_step: Any = None) -> str:
        """Train (or resume) to the end in this process; return the run folder."""
        examples = read_chat_jsonl(request.dataset_path)
        output_dir = self.output_dir(job)
        train_lora(
            request.base_model,
            examples,
            output_dir,
            hyperparameters=request.hyperparameters,
            seed=request.seed,
            dataset_path=request.dataset_path,
            device=self.device,
            on_step=on_step,
            show_progress=self.show_progress,
        )
        return str(output_dir)

    def status(self, job: JobRecord) -> JobUpdate:
        output_dir = Path(job.remote_id) if job.remote_id else self.output_dir(job)
        checkpoints = [
            Checkpoint(
                job_id=job.id,
                step=c.step,
                epoch=c.epoch,
                path=str(c.path),
                model_id=str(c.path),
                metrics={"train_loss": c.loss},
            )
            for c in list_checkpoints(output_dir)
        ]
        adapter = output_dir / "adapter"
        if (output_dir / "result.json").is_file():
            return JobUpdate(
                status="succeeded",
                model_id=str(adapter),
                adapter_path=str(adapter),
                checkpoints=checkpoints,
            )
        return JobUpdate(status=job.status, checkpoints=checkpoints)

    def result(self, job: JobRecord) -> JobUpdate:
        return succeeded(self.status(job), job, "local", resumable=True)
