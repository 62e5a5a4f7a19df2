"""What a finetuning job is: the dataset, the base model, the backend and the hyperparameters.

Everything here is validated before any work starts, so a negative learning rate or a LoRA rank of
0 is one line naming the option, not a crash an hour into training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError

LR_SCHEDULES: tuple[str, ...] = ("linear", "cosine", "constant")

# The modules LoRA adapts by default: every attention and MLP projection of Llama/Qwen-style models.
DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


@dataclass(frozen=True)
class Hyperparameters:
    """Training settings shared by every backend; each backend uses the ones it supports.

    ``None`` means "the backend's default" (OpenAI picks its own epochs, batch size and multiplier).
    """

    epochs: int | None = None  # passes over the dataset (local/tinker default 3)
    batch_size: int | None = None  # examples per optimizer step (local/tinker default 1)
    learning_rate: float | None = None  # absolute LR for local and tinker (default 1e-4)
    learning_rate_multiplier: float | None = None  # OpenAI only: scales OpenAI's own base LR
    lr_schedule: str = "linear"  # linear | cosine | constant decay after warmup (local)
    warmup_ratio: float = 0.0  # fraction of all steps spent warming the LR up from 0 (local)
    lora_rank: int = 8  # LoRA rank r (local, tinker)
    lora_alpha: float | None = None  # LoRA scaling numerator; default 2 * rank (local)
    lora_dropout: float = 0.0  # dropout on the LoRA path (local); 0 keeps runs bit-reproducible
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES  # module names LoRA adapts (local)
    use_rslora: bool = False  # rank-stabilised LoRA: scale alpha/sqrt(r) instead of alpha/r (local)
    weight_decay: float = 0.0  # AdamW decoupled weight decay (local, tinker)
    max_grad_norm: float = 1.0  # gradient clipping; 0 disables (local)
    max_length: int = 2048  # examples longer than this many tokens are rejected, not cut (local)
    save_every_steps: int | None = None  # extra adapter checkpoints every K optimizer steps (local)
    # Early stopping (local): hold out validation_share of the examples (seeded, never trained on),
    # compute their loss every eval_every_steps steps (default: each epoch's end), stop after
    # early_stopping_patience checks without a new best, and keep the best step's adapter.
    early_stopping_patience: int | None = (
        None  # checks without improvement before stopping; None: off
    )
    validation_share: float = 0.1  # share of the examples held out for early stopping
    eval_every_steps: int | None = None  # steps between validation checks (default: once per epoch)

    def validate(self) -> Hyperparameters:
        """Raise ``ConfigError`` naming the first invalid option; return self for chaining."""
        _require_positive("epochs", self.epochs)
        _require_positive("batch_size", self.batch_size)
        _require_positive("learning_rate", self.learning_rate)
        _require_positive("learning_rate_multiplier", self.learning_rate_multiplier)
        _require_positive("lora_rank", self.lora_rank)
        _require_positive("lora_alpha", self.lora_alpha)
        _require_positive("max_length", self.max_length)
        _require_positive("save_every_steps", self.save_every_steps)
        _require_positive("early_stopping_patience", self.early_stopping_patience)
        _require_positive("eval_every_steps", self.eval_every_steps)
        if not 0.0 < self.validation_share < 1.0:
            raise ConfigError(
                f"must be in (0, 1), got {self.validation_share}", setting="validation_share"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"unknown schedule {self.lr_schedule!r} (known: {', '.join(LR_SCHEDULES)})",
                setting="lr_schedule",
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.warmup_ratio}", setting="warmup_ratio")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.lora_dropout}", setting="lora_dropout")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError(
                "must be >= 0", setting="weight_decay" if self.weight_decay < 0 else "max_grad_norm"
            )
        if not self.target_modules or any(not name.strip() for name in self.target_modules):
            raise ConfigError(
                "give at least one module name, e.g. q_proj,v_proj", setting="target_modules"
            )
        return self

    def with_local_defaults(self) -> Hyperparameters:
        """Fill the ``None`` fields with the local trainer's defaults (what the ledger records)."""
        return dataclasses.replace(
            self,
            epochs=self.epochs or 3,
            batch_size=self.batch_size or 1,
            learning_rate=self.learning_rate or 1e-4,
            lora_alpha=self.lora_alpha or 2.0 * self.lora_rank,
        )

    @property
    def early_stopping(self) -> bool:
        return self.early_stopping_patience is not None

    def to_dict(self) -> dict[str, Any]:
        """The fields; the early-stopping ones only when it is on, so that the job keys and run
        fingerprints of every job without it are what they were before the option existed."""
        data = dataclasses.asdict(self)
        data["target_modules"] = list(self.target_modules)
        if not self.early_stopping:
            for name in EARLY_STOPPING_FIELDS:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hyperparameters:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown hyperparameter(s): {', '.join(unknown)}")
        values = dict(data)
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)


EARLY_STOPPING_FIELDS = ("early_stopping_patience", "validation_share", "eval_every_steps")


def _require_positive(setting: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not value > 0):
        raise ConfigError(f"must be > 0, got {value}", setting=setting)


@dataclass(frozen=True)
class FinetuneRequest:
    """One job: a dataset, a base model, a backend, hyperparameters and one seed."""

    dataset_path: Path
    base_model: str
    backend: str
    seed: int
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    group: str = ""  # e.g. "birds/old_audubon": every seed of one variant shares it
    suffix: str | None = None  # appended to the finetuned model's name where the backend allows
    tags: dict[str, str] = field(default_factory=dict)

    def validate(self) -> FinetuneRequest:
        from weirdgen.finetune.registry import FINETUNERS

        FINETUNERS.get(self.backend)
        if not self.base_model.strip():
            raise ConfigError("empty", setting="base_model")
        if self.seed < 0:
            raise ConfigError(f"seeds must be >= 0, got {self.seed}", setting="seed")
        if self.suffix is not None and not (0 < len(self.suffix) <= 40):
            raise ConfigError("must be 1 to 40 characters", setting="suffix")
        self.hyperparameters.validate()
        return self

    def job_key(self, dataset_sha256: str) -> str:
        """The identity of a job for the ledger: the same key means the same training run."""
        return sha256_hex(
            canonical_json(
                {
                    "dataset": dataset_sha256,
                    "base_model": self.base_model,
                    "backend": self.backend,
                    "seed": self.seed,
                    "hyperparameters": self.hyperparameters.to_dict(),
                    "suffix": self.suffix,
                }
            )
        )
