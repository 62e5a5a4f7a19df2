"""Finetuning: one ``Finetuner`` protocol, three backends (local LoRA, OpenAI, Tinker), one ledger.

Importing this package is cheap; torch, transformers, peft, openai and tinker load only when a
backend needs them.

    from weirdgen.finetune import FinetuneRequest, Hyperparameters, Ledger, LocalFinetuner, prepare_all, run_jobs
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
    from weirdgen.finetune.ledger import Checkpoint, JobRecord, Ledger
    from weirdgen.finetune.local_backend import LocalFinetuner
    from weirdgen.finetune.local_trainer import TrainingResult, train_lora
    from weirdgen.finetune.openai_backend import OpenAIFinetuner
    from weirdgen.finetune.protocol import Finetuner, JobUpdate, Preflight
    from weirdgen.finetune.runner import prepare_all, run_jobs
    from weirdgen.finetune.tinker_backend import TinkerChatSampler, TinkerFinetuner

__all__ = [
    "Checkpoint",
    "FinetuneRequest",
    "Finetuner",
    "Hyperparameters",
    "JobRecord",
    "JobUpdate",
    "Ledger",
    "LocalFinetuner",
    "OpenAIFinetuner",
    "Preflight",
    "TinkerChatSampler",
    "TinkerFinetuner",
    "TrainingResult",
    "prepare_all",
    "run_jobs",
    "train_lora",
]

_HOMES = {
    "FinetuneRequest": "config",
    "Hyperparameters": "config",
    "Checkpoint": "ledger",
    "JobRecord": "ledger",
    "Ledger": "ledger",
    "LocalFinetuner": "local_backend",
    "TrainingResult": "local_trainer",
    "train_lora": "local_trainer",
    "OpenAIFinetuner": "openai_backend",
    "Finetuner": "protocol",
    "JobUpdate": "protocol",
    "Preflight": "protocol",
    "prepare_all": "runner",
    "run_jobs": "runner",
    "TinkerChatSampler": "tinker_backend",
    "TinkerFinetuner": "tinker_backend",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
