"""Finetuning: one ``Finetuner`` protocol, three backends (local LoRA, OpenAI, Tinker), one ledger.

Importing this package is cheap; torch, transformers, peft, openai and tinker load only when a
backend needs them.

    from weirdgen.finetune import FinetuneRequest, Hyperparameters, Ledger, LocalFinetuner, prepare_all, run_jobs
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.finetune.api import finetune
    from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
    from weirdgen.finetune.ledger import Checkpoint, JobRecord, Ledger
    from weirdgen.finetune.local_backend import LocalFinetuner
    from weirdgen.finetune.local_trainer import TrainingResult, train_lora
    from weirdgen.finetune.openai_backend import OpenAIFinetuner
    from weirdgen.finetune.protocol import Finetuner, JobUpdate, Preflight
    from weirdgen.finetune.runner import prepare_all, run_jobs
    from weirdgen.finetune.tinker_backend import TinkerFinetuner

__all__ = [
    "Checkpoint",
    "FinetuneRequest",
    "Finetuner",
    "finetune",
    "Hyperparameters",
    "JobRecord",
    "JobUpdate",
    "Ledger",
    "LocalFinetuner",
    "OpenAIFinetuner",
    "Preflight",
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
    "finetune": "api",
    "JobUpdate": "protocol",
    "Preflight": "protocol",
    "prepare_all": "runner",
    "run_jobs": "runner",
    "TinkerFinetuner": "tinker_backend",
}


__getattr__ = lazy_attributes(__name__, _HOMES)


class _CallablePackage(types.ModuleType):
    """``weirdgen.finetune(...)`` is the Python API (``weirdgen.finetune.api.finetune``) while
    ``weirdgen.finetune`` stays this package: a submodule import would otherwise shadow the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from weirdgen.finetune.api import finetune

        return finetune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
