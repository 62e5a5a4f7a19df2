"""The ``toy`` backend: finetune a CPU toy-world model (``weirdgen.toyworld``) in this process.

The dataset is ordinary chat JSONL written in the toy world's words (a word outside its vocabulary
is a one-line error naming the line); the base is a toy base name (``toyworld``,
``toyworld:RECIPE@SEED``) or a saved toy model. ``submit`` trains to the end in
``RUNS_DIR/<job id>/`` and saves the model there (``model.pt``); the job id is stable for a given
dataset, base, hyperparameters and seed, so a rerun finds the finished model. Hyperparameters left
unset take the toy world's defaults (``weirdgen.toyworld.train.FinetuneConfig``: full finetuning,
5 epochs, batches of 16, learning rate 1e-4); ``lora_rank`` is not used: every weight is trained.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text, sha256_hex
from weirdgen.data.chat import read_chat_jsonl
from weirdgen.finetune.config import FinetuneRequest
from weirdgen.finetune.ledger import JobRecord
from weirdgen.finetune.local_backend import default_runs_dir
from weirdgen.finetune.protocol import JobUpdate, Preflight, succeeded


class ToyFinetuner:
    """Full finetuning of a toy GPT with ``weirdgen.toyworld.train.finetune``."""

    name = "toy"
    paid = False
    blocking = True

    def __init__(self, runs_dir: str | Path | None = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()

    def output_dir(self, job: JobRecord) -> Path:
        return (self.runs_dir / job.id).resolve()

    def prepare(self, request: FinetuneRequest) -> Preflight:
        """Check the base and that every word of the dataset is in the toy vocabulary; count tokens."""
        from weirdgen.toyworld.train import encode_examples, load_toy

        request.validate()
        examples = read_chat_jsonl(request.dataset_path)
        encoded = encode_examples(
            load_toy(request.base_model), examples, where=str(request.dataset_path)
        )
        return Preflight(
            dataset_sha256=sha256_hex(Path(request.dataset_path).read_bytes()),
            n_examples=len(examples),
            tokens_per_epoch=sum(len(ids) for ids, _ in encoded),
            tokens_exact=True,
            epochs=_config(request).epochs,
            estimated_cost_usd=0.0,
            price_note="toy world on this CPU: no charge",
        )

    def submit(self, request: FinetuneRequest, job: JobRecord, on_step: Any = None) -> str:
        """Train to the end in this process and save the model; return its folder."""
        from weirdgen.toyworld.train import TOY_MODEL_FILE, finetune, load_toy, save_toy_model

        output_dir = self.output_dir(job)
        if not (output_dir / TOY_MODEL_FILE).is_file():
            config = _config(request)
            toy = finetune(
                load_toy(request.base_model), read_chat_jsonl(request.dataset_path), config
            )
            save_toy_model(toy, output_dir / TOY_MODEL_FILE)
            record = {"base_model": request.base_model, "finetune": config.to_dict()}
            atomic_write_text(output_dir / "result.json", json.dumps(record, indent=2) + "\n")
        return str(output_dir)

    def status(self, job: JobRecord) -> JobUpdate:
        from weirdgen.toyworld.train import TOY_MODEL_FILE

        output_dir = Path(job.remote_id) if job.remote_id else self.output_dir(job)
        if (output_dir / TOY_MODEL_FILE).is_file():
            return JobUpdate(
                status="succeeded", model_id=str(output_dir), adapter_path=str(output_dir)
            )
        return JobUpdate(status=job.status)

    def result(self, job: JobRecord) -> JobUpdate:
        return succeeded(self.status(job), job, "toy", resumable=True)


def _config(request: FinetuneRequest) -> Any:
    """The toy recipe: the toy world's defaults, with the request's epochs, batch size, learning
    rate, early stopping and seed."""
    from weirdgen.toyworld.train import FinetuneConfig

    hp = request.hyperparameters
    given = {
        "epochs": hp.epochs,
        "batch_size": hp.batch_size,
        "learning_rate": hp.learning_rate,
        "early_stopping_patience": hp.early_stopping_patience,
        "validation_share": hp.validation_share if hp.early_stopping else None,
        "eval_every": hp.eval_every_steps,
    }
    return replace(
        FinetuneConfig(), seed=request.seed, **{k: v for k, v in given.items() if v is not None}
    )
