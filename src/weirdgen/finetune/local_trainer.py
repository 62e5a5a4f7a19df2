"""LoRA supervised finetuning of a local causal LM with transformers + peft, on CPU or CUDA.

The loop reads top to bottom: tokenize (assistant tokens supervised), check the first batch, wrap
the model in LoRA, then AdamW over shuffled batches with warmup and decay. Every epoch (and every K
steps on request) an adapter checkpoint is written atomically together with the optimizer,
scheduler and RNG state, so Ctrl-C loses at most the steps since the last checkpoint and a rerun
with the same output folder resumes there and ends bit-identical to an uninterrupted run on CPU.

Folder layout::

    OUTPUT/run.json                     what is being trained (a rerun must match it)
    OUTPUT/checkpoints/step-000208/     adapter_config.json, adapter_model.safetensors, meta.json
                                        (+ trainer_state.pt in the newest checkpoint only)
    OUTPUT/checkpoints/LATEST           name of the newest complete checkpoint
    OUTPUT/adapter/                     the final adapter, written last
    OUTPUT/result.json                  written when training finished
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text, canonical_json, sha256_hex
from weirdgen._threads import follow_machine_load
from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.tokens import TokenizedExample, check_supervision, tokenize_dataset


@dataclass(frozen=True)
class StepInfo:
    """Passed to ``on_step`` after every optimizer step. Raising from the callback stops training."""

    step: int  # optimizer steps done so far, 1-based
    total_steps: int
    epoch: float  # fractional epochs done
    loss: float
    learning_rate: float


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint that was just written."""

    step: int
    epoch: float
    path: Path
    loss: float  # mean training loss since the previous checkpoint
    kind: str  # "epoch", "interval" or "early_stop" (the step early stopping ended on)


@dataclass
class TrainingResult:
    """What a finished (or already finished) run produced."""

    adapter_path: Path
    total_steps: int
    losses: list[float]  # per optimizer step, this process's steps only (empty if nothing ran)
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    resumed_from_step: int = 0
    seconds: float = 0.0
    n_examples: int = 0
    trained_tokens: int = 0  # tokens seen over all epochs, prompt included
    first_supervised_text: str = ""
    early_stopping: dict[str, Any] | None = None
    """With early stopping: ``stopped_at_step`` (None if it ran every step), ``best_step``,
    ``best_validation_loss``, ``n_validation`` and ``validation_losses`` ([step, loss] pairs)."""


@dataclass(frozen=True)
class _Run:
    """The resolved inputs of one training run; its fingerprint guards resumption."""

    base_model: str
    hyperparameters: Hyperparameters
    seed: int
    dataset_sha256: str

    def fingerprint(self) -> str:
        return sha256_hex(
            canonical_json(
                {
                    "base_model": self.base_model,
                    "hyperparameters": self.hyperparameters.to_dict(),
                    "seed": self.seed,
                    "dataset": self.dataset_sha256,
                }
            )
        )


def train_lora(
    base_model: str,
    examples: Sequence[ChatExample],
    output_dir: str | Path,
    *,
    hyperparameters: Hyperparameters | None = None,
    seed: int = 0,
    dataset_path: str | Path | None = None,
    device: str | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_checkpoint: Callable[[CheckpointInfo], None] | None = None,
    show_progress: bool = True,
    precision: str = "auto",
    gradient_checkpointing: bool = False,
) -> TrainingResult:
    """Train a LoRA adapter on ``examples`` into ``output_dir``; resume if it holds a checkpoint.

    ``precision``: "auto" runs the forward pass under bf16 autocast on a GPU that supports it and in
    float32 elsewhere; "bf16" or "fp32" force one. The LoRA weights and optimizer stay float32.
    ``gradient_checkpointing`` recomputes activations in the backward pass: less memory, ~30% slower.
    """
    from weirdgen.data.chat import dataset_hash
    from weirdgen.models.loading import load_model

    hp = (hyperparameters or Hyperparameters()).validate().with_local_defaults()
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    output_dir = Path(output_dir)
    run = _Run(base_model, hp, seed, dataset_hash(examples))
    finished = _finished_result(output_dir, run)
    if finished is not None:
        return finished

    model, tokenizer = load_model(base_model, device=device)
    tokenized = tokenize_dataset(tokenizer, examples, max_length=hp.max_length, path=dataset_path)
    stopper = None
    if hp.early_stopping:
        kept, held_out = validation_split(seed, len(tokenized), hp.validation_share)
        stopper = _EarlyStopping([tokenized[i] for i in held_out], hp)
        tokenized, examples = [tokenized[i] for i in kept], [examples[i] for i in kept]
    steps_per_epoch = math.ceil(len(tokenized) / hp.batch_size)
    # Fail on a wrong mask before spending any compute: decode what the first batch supervises.
    first_batch = _batch_indices(seed, 0, 0, len(tokenized), hp.batch_size)
    first_text = check_supervision(
        tokenizer, [tokenized[i] for i in first_batch], [examples[i] for i in first_batch]
    )

    _claim_output_dir(output_dir, run)
    if gradient_checkpointing:
        _enable_gradient_checkpointing(model)
    loop = _Loop.start(model, tokenizer, tokenized, hp, seed, steps_per_epoch, stopper, precision)
    start_step = _resume(output_dir, loop.model, loop.optimizer, loop.scheduler, stopper)
    result = TrainingResult(
        adapter_path=output_dir / "adapter",
        total_steps=loop.total_steps,
        losses=[],
        resumed_from_step=start_step,
        n_examples=len(tokenized),
        trained_tokens=hp.epochs * sum(len(t.input_ids) for t in tokenized),
        first_supervised_text=first_text,
    )
    started = time.perf_counter()
    with _progress(show_progress, loop.total_steps, start_step) as advance:
        loop.run(start_step, result, output_dir, advance, on_step, on_checkpoint)
    if stopper is not None:
        stopper.restore_best(loop.model)
        result.early_stopping = stopper.summary()
    _save_adapter_atomically(loop.model, output_dir / "adapter")
    result.seconds = time.perf_counter() - started
    atomic_write_text(
        output_dir / "result.json", json.dumps(_result_summary(result, run), indent=2) + "\n"
    )
    return result


@dataclass
class _Loop:
    """The training loop's state: the LoRA model, its optimizer and schedule, and the data."""

    model: Any
    optimizer: Any
    scheduler: Any
    tokenized: list[TokenizedExample]
    hp: Hyperparameters
    seed: int
    steps_per_epoch: int
    pad_id: int
    stopper: _EarlyStopping | None
    autocast: Callable[[], Any]
    """A context factory for the forward pass (``_autocast``)."""

    @classmethod
    def start(
        cls,
        model: Any,
        tokenizer: Any,
        tokenized: list[TokenizedExample],
        hp: Hyperparameters,
        seed: int,
        steps_per_epoch: int,
        stopper: _EarlyStopping | None,
        precision: str,
    ) -> _Loop:
        """LoRA on ``model`` (its A matrices from ``seed``), AdamW and the learning-rate schedule."""
        import torch

        torch.manual_seed(seed)  # LoRA's A matrices are initialised from the global RNG
        model = _wrap_with_lora(model, hp)
        model.train()
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=hp.learning_rate,
            weight_decay=hp.weight_decay,
        )
        total_steps = steps_per_epoch * hp.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, learning_rate_factor(hp, total_steps)
        )
        pad = tokenizer.pad_token_id
        pad_id = pad if pad is not None else tokenizer.eos_token_id
        autocast = _autocast(precision, next(model.parameters()).device)
        return cls(
            model,
            optimizer,
            scheduler,
            tokenized,
            hp,
            seed,
            steps_per_epoch,
            pad_id,
            stopper,
            autocast,
        )

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.hp.epochs

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def run(
        self,
        start_step: int,
        result: TrainingResult,
        output_dir: Path,
        advance: Callable[[float], None],
        on_step: Callable[[StepInfo], None] | None,
        on_checkpoint: Callable[[CheckpointInfo], None] | None,
    ) -> None:
        """Every step from ``start_step``: train, report, check early stopping, checkpoint."""
        since_checkpoint: list[float] = []
        for step in range(start_step, self.total_steps):
            if self.stopper is not None and self.stopper.should_stop:
                break  # resumed from the checkpoint of the step that stopped
            follow_machine_load()  # give cores back to other processes (and take them again)
            value = self.train_step(step)
            result.losses.append(value)
            since_checkpoint.append(value)
            done = step + 1
            advance(value)
            if on_step is not None:
                learning_rate = self.scheduler.get_last_lr()[0]
                on_step(
                    StepInfo(
                        done, self.total_steps, done / self.steps_per_epoch, value, learning_rate
                    )
                )
            if self.stopper is not None and self.stopper.due(
                done, self.steps_per_epoch, self.total_steps
            ):
                self.stopper.check(self.model, done, self.pad_id, self.device, self.autocast)
            info = self.checkpoint(done, since_checkpoint, output_dir)
            if info is not None:
                result.checkpoints.append(info)
                since_checkpoint.clear()
                if on_checkpoint is not None:
                    on_checkpoint(info)

    def train_step(self, step: int) -> float:
        """One optimizer step on the batch of ``step``; its loss."""
        import torch

        epoch, index_in_epoch = divmod(step, self.steps_per_epoch)
        indices = _batch_indices(
            self.seed, epoch, index_in_epoch, len(self.tokenized), self.hp.batch_size
        )
        input_ids, attention_mask, labels = _collate(
            [self.tokenized[i] for i in indices], self.pad_id, self.device
        )
        # labels = input_ids with unsupervised and padding positions set to -100; the model
        # shifts them and averages cross-entropy over the supervised tokens of the batch.
        with self.autocast():
            loss = self.model(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels
            ).loss
        loss.backward()
        if self.hp.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def checkpoint(
        self, done: int, since_checkpoint: list[float], output_dir: Path
    ) -> CheckpointInfo | None:
        """Save a checkpoint if step ``done`` ends an epoch, an interval or early stopping."""
        kind = _checkpoint_kind(done, self.steps_per_epoch, self.hp.save_every_steps)
        if kind is None and self.stopper is not None and self.stopper.should_stop:
            kind = "early_stop"  # so a rerun knows the run stopped here
        if kind is None:
            return None
        loss = sum(since_checkpoint) / len(since_checkpoint) if since_checkpoint else 0.0
        info = CheckpointInfo(done, done / self.steps_per_epoch, Path(), loss, kind)
        return _save_checkpoint(
            output_dir, self.model, self.optimizer, self.scheduler, info, self.stopper
        )


# -- model ------------------------------------------------------------------------------------


PRECISIONS = ("auto", "bf16", "fp32")


def _autocast(precision: str, device: Any) -> Callable[[], Any]:
    """A context factory: bf16 autocast for the forward pass, or nothing (float32)."""
    import contextlib

    import torch

    use_bf16 = precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    if not use_bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _enable_gradient_checkpointing(model: Any) -> None:
    """Recompute activations in backward; inputs must require grad for LoRA-only gradients to flow."""
    model.config.use_cache = False  # a KV cache is useless in training and clashes with recompute
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # its name from transformers 5.x on
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    model.enable_input_require_grads()


def _wrap_with_lora(model: Any, hp: Hyperparameters) -> Any:
    """Freeze the base model and add LoRA to the requested modules (those the model has)."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [name for name in hp.target_modules if name in present]
    if not targets:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
        )
        raise ConfigError(
            f"none of {', '.join(hp.target_modules)} is in this model (its linear layers: {', '.join(linear)})",
            setting="target_modules",
        )
    config = LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
        use_rslora=hp.use_rslora,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft asks transformers a deprecated question here; the warning is noise for our users.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return get_peft_model(model, config)


def learning_rate_factor(hp: Hyperparameters, total_steps: int) -> Callable[[int], float]:
    """LR factor per step: linear warmup from 0, then linear/cosine decay to 0 or constant."""
    warmup = int(round(hp.warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if hp.lr_schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if hp.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    return factor


# -- data -------------------------------------------------------------------------------------


def epoch_order(seed: int, epoch: int, n_examples: int) -> list[int]:
    """The shuffled example order of one epoch: a pure function of (seed, epoch), so resumable."""
    import torch

    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n_examples, generator=generator).tolist()


def _batch_indices(
    seed: int, epoch: int, index_in_epoch: int, n_examples: int, batch_size: int
) -> list[int]:
    order = epoch_order(seed, epoch, n_examples)
    return order[index_in_epoch * batch_size : (index_in_epoch + 1) * batch_size]


def _collate(batch: Sequence[TokenizedExample], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Right-pad a batch: (input_ids, attention_mask, labels), each [batch, longest]."""
    import torch

    longest = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)
    labels = torch.full((len(batch), longest), -100, dtype=torch.long)
    for row, item in enumerate(batch):
        ids = torch.tensor(item.input_ids, dtype=torch.long)
        keep = torch.tensor(item.supervised, dtype=torch.bool)
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
        labels[row, : len(ids)] = torch.where(keep, ids, torch.full_like(ids, -100))
    return input_ids.to(device), attention_mask.to(device), labels.to(device)


def validation_split(seed: int, n_examples: int, share: float) -> tuple[list[int], list[int]]:
    """``(training, validation)`` example indices for early stopping: a seeded draw of
    ``round(share * n)`` examples (at least 1) held out, both lists in dataset order."""
    import torch

    n_validation = max(1, round(share * n_examples))
    if n_validation >= n_examples:
        raise ConfigError(
            f"early stopping holds out {n_validation} of {n_examples} examples and leaves none to "
            "train on; lower validation_share or add examples",
            setting="validation_share",
        )
    generator = torch.Generator().manual_seed(seed * 1_000_003 + 999_983)  # apart from epoch orders
    held_out = set(torch.randperm(n_examples, generator=generator)[:n_validation].tolist())
    kept = [i for i in range(n_examples) if i not in held_out]
    return kept, sorted(held_out)


@dataclass
class _EarlyStopping:
    """The held-out examples, each check's loss, and the best adapter weights so far (in memory,
    and in every checkpoint's trainer state, so a resumed run stops where an uninterrupted one would)."""

    validation: list[TokenizedExample]
    hp: Hyperparameters
    history: list[tuple[int, float]] = field(default_factory=list)
    best_adapter: dict[str, Any] | None = None

    @property
    def best(self) -> tuple[int, float]:
        return min(self.history, key=lambda item: (item[1], item[0]))

    @property
    def should_stop(self) -> bool:
        if not self.history:
            return False
        best_step = self.best[0]
        since = sum(1 for step, _ in self.history if step > best_step)
        return since >= (self.hp.early_stopping_patience or 0)

    def due(self, done: int, steps_per_epoch: int, total_steps: int) -> bool:
        every = self.hp.eval_every_steps or steps_per_epoch
        return done % every == 0 or done == total_steps

    def check(self, model: Any, step: int, pad_id: int, device: Any, autocast: Any) -> float:
        """The validation loss (mean over supervised tokens) now; keep the adapter if it is best."""
        from peft import get_peft_model_state_dict

        loss = validation_loss(model, self.validation, pad_id, device, autocast)
        self.history.append((step, loss))
        if self.best[0] == step:
            weights = get_peft_model_state_dict(model)
            self.best_adapter = {k: v.detach().clone() for k, v in weights.items()}
        return loss

    def restore_best(self, model: Any) -> None:
        from peft import set_peft_model_state_dict

        if self.best_adapter is not None:
            set_peft_model_state_dict(model, self.best_adapter)

    def state(self) -> dict[str, Any]:
        return {"history": list(self.history), "best_adapter": self.best_adapter}

    def load_state(self, state: dict[str, Any]) -> None:
        self.history = [(int(step), float(loss)) for step, loss in state["history"]]
        self.best_adapter = state["best_adapter"]

    def summary(self) -> dict[str, Any]:
        best_step, best_loss = self.best if self.history else (0, math.nan)
        last = self.history[-1][0] if self.history else 0
        return {
            "stopped_at_step": last if self.should_stop else None,
            "best_step": best_step,
            "best_validation_loss": best_loss,
            "n_validation": len(self.validation),
            "validation_losses": [[step, loss] for step, loss in self.history],
        }


def validation_loss(
    model: Any,
    examples: Sequence[TokenizedExample],
    pad_id: int,
    device: Any,
    autocast: Callable[[], Any] | None = None,
    batch_size: int = 8,
) -> float:
    """Mean cross-entropy over the supervised tokens of ``examples`` (the training objective),
    without gradients and with dropout off."""
    import contextlib

    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for first in range(0, len(examples), batch_size):
            input_ids, attention_mask, labels = _collate(
                examples[first : first + batch_size], pad_id, device
            )
            with (autocast or contextlib.nullcontext)():
                logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            targets = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)),
                targets.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
            total += float(losses)
            count += int((targets != -100).sum())
    if was_training:
        model.train()
    return total / max(1, count)


# -- checkpoints ------------------------------------------------------------------------------


def _checkpoint_kind(done: int, steps_per_epoch: int, every: int | None) -> str | None:
    if done % steps_per_epoch == 0:
        return "epoch"
    if every and done % every == 0:
        return "interval"
    return None


def _claim_output_dir(output_dir: Path, run: _Run) -> None:
    """Record what this folder trains; refuse a folder that holds a different run."""
    marker = output_dir / "run.json"
    if marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        if recorded != run.fingerprint():
            raise ConfigError(
                f"{output_dir} holds a different training run; pick another folder or delete it",
                setting="output_dir",
            )
        return
    summary = {
        "fingerprint": run.fingerprint(),
        "base_model": run.base_model,
        "seed": run.seed,
        "dataset_sha256": run.dataset_sha256,
        "hyperparameters": run.hyperparameters.to_dict(),
    }
    atomic_write_text(marker, json.dumps(summary, indent=2) + "\n")


def _save_checkpoint(
    output_dir: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    info: CheckpointInfo,
    stopper: _EarlyStopping | None = None,
) -> CheckpointInfo:
    """Write adapter + trainer state into a temporary folder, then rename it into place."""
    import torch

    folder = output_dir / "checkpoints"
    final = folder / f"step-{info.step:06d}"
    staging = folder / f".{final.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {
        "step": info.step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng,
    }
    if stopper is not None:
        state["early_stopping"] = stopper.state()
    torch.save(state, staging / "trainer_state.pt")
    meta = {"step": info.step, "epoch": info.epoch, "loss": info.loss, "kind": info.kind}
    (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    previous = _latest_checkpoint(output_dir)
    atomic_write_text(folder / "LATEST", final.name + "\n")
    # Only the newest checkpoint needs optimizer state to resume; older ones keep just the adapter.
    if previous is not None and previous != final:
        (previous / "trainer_state.pt").unlink(missing_ok=True)
    return CheckpointInfo(info.step, info.epoch, final, info.loss, info.kind)


def _latest_checkpoint(output_dir: Path) -> Path | None:
    pointer = output_dir / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    folder = output_dir / "checkpoints" / pointer.read_text(encoding="utf-8").strip()
    return folder if folder.is_dir() else None


def _resume(
    output_dir: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    stopper: _EarlyStopping | None = None,
) -> int:
    """Load the newest checkpoint's adapter and trainer state; return the step to continue from."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    latest = _latest_checkpoint(output_dir)
    if latest is None or not (latest / "trainer_state.pt").is_file():
        return 0
    weights = load_file(
        str(latest / "adapter_model.safetensors"), device=str(next(model.parameters()).device)
    )
    set_peft_model_state_dict(model, weights)
    state = torch.load(latest / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    if stopper is not None and "early_stopping" in state:
        stopper.load_state(state["early_stopping"])
    return int(state["step"])


def _save_adapter_atomically(model: Any, destination: Path) -> None:
    staging = destination.with_name(f".{destination.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(staging, destination)


def _result_summary(result: TrainingResult, run: _Run) -> dict[str, Any]:
    return {
        "fingerprint": run.fingerprint(),
        "adapter_path": str(result.adapter_path),
        "total_steps": result.total_steps,
        "n_examples": result.n_examples,
        "trained_tokens": result.trained_tokens,
        "final_loss": result.losses[-1] if result.losses else None,
        "early_stopping": result.early_stopping,
        "checkpoints": [
            {"step": c.step, "epoch": c.epoch, "path": str(c.path), "loss": c.loss}
            for c in list_checkpoints(result.adapter_path.parent)
        ],
    }


def list_checkpoints(output_dir: str | Path) -> list[CheckpointInfo]:
    """Every complete checkpoint in a run folder, by step."""
    folder = Path(output_dir) / "checkpoints"
    found = []
    for meta_file in sorted(folder.glob("step-*/meta.json")):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        found.append(
            CheckpointInfo(
                meta["step"], meta["epoch"], meta_file.parent, meta["loss"], meta["kind"]
            )
        )
    return found


def _finished_result(output_dir: Path, run: _Run) -> TrainingResult | None:
    """The result of a run that already finished in ``output_dir``, else ``None``."""
    summary_file = output_dir / "result.json"
    if not summary_file.is_file():
        return None
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    if summary.get("fingerprint") != run.fingerprint():
        raise ConfigError(
            f"{output_dir} holds a different finished training run; pick another folder",
            setting="output_dir",
        )
    return TrainingResult(
        adapter_path=Path(summary["adapter_path"]),
        total_steps=summary["total_steps"],
        losses=[],
        checkpoints=list_checkpoints(output_dir),
        resumed_from_step=summary["total_steps"],
        n_examples=summary["n_examples"],
        trained_tokens=summary["trained_tokens"],
        early_stopping=summary.get("early_stopping"),
    )


class _progress:
    """A rich progress bar showing steps and the latest loss; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int, completed: int) -> None:
        self.enabled, self.total, self.completed = enabled, total, completed

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda loss: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]LoRA"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self.bar.start()
        task = self.bar.add_task("train", total=self.total, completed=self.completed, loss="-")
        return lambda loss: self.bar.update(task, advance=1, loss=f"{loss:.4f}")

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()
