"""The ``tinker`` backend: LoRA supervised finetuning on Tinker's hosted GPUs, driven from here.

Our process owns the loop (as Tinker intends): it tokenizes with the same ``format_chat`` as the
local trainer, sends ``forward_backward`` + ``optim_step`` per batch, and after every epoch saves
resumable training state and sampler weights. ``RUNS_DIR/<job id>/tinker_run.json`` records the
step and every saved path, so a rerun after Ctrl-C continues from the last saved state. The
result's model id is a ``tinker://…`` sampler path; ``weirdgen.sample.tinker`` samples from it.

Tinker keeps a saved checkpoint until it expires, and by default nothing expires: every epoch of
every run would be stored (and billed) forever. So intermediate checkpoints (every training state,
every sampler checkpoint but the final one) are saved with a TTL, ``checkpoint_ttl_days`` (30 by
default; 0 keeps them); the final sampler weights, the trained model, never expire.
``TinkerFinetuner.prune`` (``weirdgen models prune``) deletes a finished run's stored checkpoints
at once.

Request building (:func:`build_datum`, :func:`build_training_batches`) needs no network and is
what the offline tests check.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text, sha256_hex
from weirdgen.data.chat import ChatExample, read_chat_jsonl
from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.estimate import approximate_tokens, estimate_cost
from weirdgen.finetune.ledger import Checkpoint, JobRecord
from weirdgen.finetune.local_trainer import learning_rate_factor
from weirdgen.finetune.protocol import JobUpdate, Preflight, succeeded
from weirdgen.finetune.tokens import TokenizedExample, check_supervision, tokenize_dataset


def _tinker() -> Any:
    try:
        import tinker
    except ImportError:
        raise MissingDependencyError(
            "the tinker backend needs the Tinker SDK: pip install 'weirdgen[tinker]'"
        ) from None
    return tinker


def build_datum(item: TokenizedExample) -> Any:
    """One Tinker ``Datum``: input tokens, next-token targets, and weight 1 on assistant targets."""
    types = _tinker().types
    ids, keep = list(item.input_ids), list(item.supervised)
    # Position t predicts token t+1, so inputs drop the last token and targets/weights the first.
    return types.Datum(
        model_input=types.ModelInput.from_ints(ids[:-1]),
        loss_fn_inputs={"target_tokens": ids[1:], "weights": [1.0 if k else 0.0 for k in keep[1:]]},
    )


def epoch_order(seed: int, epoch: int, n_examples: int) -> list[int]:
    """Shuffled order of one epoch, a pure function of (seed, epoch) so a resumed run matches."""
    order = list(range(n_examples))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def build_training_batches(
    tokenized: Sequence[TokenizedExample], hp: Hyperparameters, seed: int
) -> list[list[int]]:
    """Example indices of every optimizer step over all epochs."""
    hp = hp.with_local_defaults()
    batches = []
    for epoch in range(hp.epochs):
        order = epoch_order(seed, epoch, len(tokenized))
        batches += [
            order[start : start + hp.batch_size] for start in range(0, len(order), hp.batch_size)
        ]
    return batches


def weighted_loss(output: Any, batch: Sequence[Any]) -> float:
    """Mean negative log-likelihood per supervised token of a ``forward_backward`` result."""
    total, weight = 0.0, 0.0
    for out, datum in zip(output.loss_fn_outputs, batch, strict=True):
        logprobs = out["logprobs"].tolist()
        weights = datum.loss_fn_inputs["weights"].tolist()
        total -= sum(lp * w for lp, w in zip(logprobs, weights, strict=True))
        weight += sum(weights)
    return total / max(weight, 1.0)


DEFAULT_CHECKPOINT_TTL_DAYS = 30.0
"""How long Tinker keeps intermediate checkpoints (training states, non-final sampler weights)."""
_TTL_LIMITS_S = (3600, 10 * 365 * 24 * 3600)  # what Tinker accepts: one hour to ten years


@dataclass
class _RunState:
    """What ``tinker_run.json`` holds: progress and every path Tinker gave us."""

    step: int = 0
    state_path: str | None = None  # newest resumable training state (weights + optimizer)
    sampler_path: str | None = None  # final sampler weights: the model id
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    states: list[str] = field(default_factory=list)  # every training state saved (to prune them)
    pruned: list[str] = field(default_factory=list)  # paths deleted by ``prune``

    @classmethod
    def load(cls, path: Path) -> _RunState:
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else cls()

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


class TinkerFinetuner:
    """LoRA SFT through the Tinker SDK; ``submit`` runs the loop in this process."""

    name = "tinker"
    paid = True
    blocking = True

    def __init__(
        self,
        runs_dir: str | Path | None = None,
        *,
        service_client: Any = None,
        offline: bool = False,
        checkpoint_ttl_days: float | None = DEFAULT_CHECKPOINT_TTL_DAYS,
    ) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / "finetune"
        self._service = service_client
        self.offline = offline  # a dry run: no key, no network, the base model is not looked up
        self.checkpoint_ttl_s = _ttl_seconds(checkpoint_ttl_days)

    @property
    def service(self) -> Any:
        if self._service is None:
            if not os.environ.get("TINKER_API_KEY"):
                raise ConfigError("TINKER_API_KEY is not set; get a key from Tinker and export it")
            self._service = _tinker().ServiceClient()
        return self._service

    def run_file(self, job: JobRecord) -> Path:
        return self.runs_dir / job.id / "tinker_run.json"

    def prepare(self, request: FinetuneRequest) -> Preflight:
        request.validate()
        examples = read_chat_jsonl(request.dataset_path)
        hp = request.hyperparameters.with_local_defaults()
        if not self.offline:
            self._check_base_model(request.base_model)
        tokens, exact = _count_tokens(request.base_model, examples, hp)
        cost, note = estimate_cost("tinker", request.base_model, tokens * hp.epochs)
        return Preflight(
            dataset_sha256=sha256_hex(Path(request.dataset_path).read_bytes()),
            n_examples=len(examples),
            tokens_per_epoch=tokens,
            tokens_exact=exact,
            epochs=hp.epochs,
            estimated_cost_usd=cost,
            price_note=note,
        )

    def _check_base_model(self, base_model: str) -> None:
        self.service  # noqa: B018 - fails early, in one line, without a key
        capabilities = _tinker().RestClient().get_server_capabilities().result()
        names = [m.model_name for m in capabilities.supported_models if m.model_name]
        if base_model not in names:
            raise ConfigError(
                f"Tinker does not offer {base_model!r} (it offers: {', '.join(names)})",
                setting="base_model",
            )

    def submit(self, request: FinetuneRequest, job: JobRecord) -> str:
        """Train to the end on Tinker, saving state each epoch; return the final sampler path."""
        types = _tinker().types
        hp = request.hyperparameters.with_local_defaults()
        run_file = self.run_file(job)
        state = _RunState.load(run_file)
        if state.finished and state.sampler_path:
            return state.sampler_path
        client = self._training_client(request, hp, state)
        examples = read_chat_jsonl(request.dataset_path)
        tokenized = tokenize_dataset(
            client.get_tokenizer(), examples, max_length=hp.max_length, path=request.dataset_path
        )
        batches = build_training_batches(tokenized, hp, request.seed)
        check_supervision(
            client.get_tokenizer(),
            [tokenized[i] for i in batches[0]],
            [examples[i] for i in batches[0]],
        )
        steps_per_epoch = math.ceil(len(tokenized) / hp.batch_size)
        factor = learning_rate_factor(hp, len(batches))
        for step in range(state.step, len(batches)):
            data = [build_datum(tokenized[i]) for i in batches[step]]
            forward = client.forward_backward(data, "cross_entropy")
            optim = client.optim_step(
                types.AdamParams(
                    learning_rate=hp.learning_rate * factor(step), weight_decay=hp.weight_decay
                )
            )
            loss = weighted_loss(forward.result(), data)
            optim.result()
            if (step + 1) % steps_per_epoch == 0 or (
                hp.save_every_steps and (step + 1) % hp.save_every_steps == 0
            ):
                name = f"{job.id}-step-{step + 1:06d}"
                ttl = self.checkpoint_ttl_s
                state.state_path = client.save_state(name, ttl_seconds=ttl).result().path
                state.states.append(state.state_path)
                final = step + 1 == len(batches)  # the trained model itself never expires
                sampler = (
                    client.save_weights_for_sampler(name, ttl_seconds=None if final else ttl)
                    .result()
                    .path
                )
                state.checkpoints.append(
                    {
                        "step": step + 1,
                        "epoch": (step + 1) / steps_per_epoch,
                        "path": sampler,
                        "loss": loss,
                    }
                )
                state.step = step + 1
                state.save(run_file)
        state.sampler_path = state.checkpoints[-1]["path"] if state.checkpoints else None
        state.finished = True
        state.save(run_file)
        return state.sampler_path or ""

    def _training_client(
        self, request: FinetuneRequest, hp: Hyperparameters, state: _RunState
    ) -> Any:
        if state.state_path:
            return self.service.create_training_client_from_state_with_optimizer(
                state.state_path
            ).result()
        return self.service.create_lora_training_client(
            base_model=request.base_model, rank=hp.lora_rank, seed=request.seed
        ).result()

    def status(self, job: JobRecord) -> JobUpdate:
        state = _RunState.load(self.run_file(job))
        checkpoints = [
            Checkpoint(
                job_id=job.id,
                step=c["step"],
                epoch=c["epoch"],
                model_id=c["path"],
                metrics={"train_loss": c["loss"]},
            )
            for c in state.checkpoints
        ]
        if state.finished:
            return JobUpdate(
                status="succeeded", model_id=state.sampler_path, checkpoints=checkpoints
            )
        return JobUpdate(status=job.status, checkpoints=checkpoints)

    def result(self, job: JobRecord) -> JobUpdate:
        return succeeded(self.status(job), job, "tinker", resumable=True)

    def prune(self, job: JobRecord, *, keep_model: bool = True) -> list[str]:
        """Delete a finished run's stored checkpoints on Tinker (its training states and sampler
        checkpoints; also the final model unless ``keep_model``); return the paths deleted.

        A path that already expired counts as deleted. The run file keeps what was pruned.
        """
        run_file = self.run_file(job)
        state = _RunState.load(run_file)
        if not state.finished:
            raise ConfigError(
                f"job {job.id} has not finished (or its run file {run_file} is missing): pruning "
                "would delete the state it resumes from"
            )
        kept = state.sampler_path if keep_model else None
        targets = [c["path"] for c in state.checkpoints if c["path"] != kept]
        targets += [path for path in [*state.states, state.state_path] if path]
        rest = self.service.create_rest_client()
        deleted = []
        for path in dict.fromkeys(targets):
            try:
                rest.delete_checkpoint_from_tinker_path(path).result()
            except _tinker().NotFoundError:
                pass  # expired already: gone either way
            deleted.append(path)
            state.pruned.append(path)
            state.checkpoints = [c for c in state.checkpoints if c["path"] != path]
            state.states = [p for p in state.states if p != path]
            state.state_path = None if state.state_path == path else state.state_path
            state.save(run_file)  # after each deletion: an interrupted prune loses nothing
        return deleted


def _ttl_seconds(days: float | None) -> int | None:
    """Tinker's ``ttl_seconds`` for ``days`` (None or 0: never expire); a ConfigError outside its
    range of one hour to ten years."""
    if not days:
        return None
    seconds = round(days * 24 * 3600)
    low, high = _TTL_LIMITS_S
    if not low <= seconds <= high:
        raise ConfigError(
            f"checkpoint TTL must be between 1 hour and 10 years (or 0: keep), got {days} days",
            setting="checkpoint_ttl_days",
        )
    return seconds


def _count_tokens(
    base_model: str, examples: Sequence[ChatExample], hp: Hyperparameters
) -> tuple[int, bool]:
    """Exact counts with the base model's tokenizer when it can be loaded, else an approximation."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_model)
    except Exception:  # noqa: BLE001 - offline or gated: fall back to the character estimate
        return approximate_tokens(examples), False
    tokenized = tokenize_dataset(tokenizer, examples, max_length=hp.max_length)
    return sum(len(t.input_ids) for t in tokenized), True
