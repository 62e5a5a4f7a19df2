"""Pretraining (cached by a hash of its config) and finetuning (full or LoRA) of the toy GPT.

``pretrain`` returns a ``ToyModel``: the GPT with its tokenizer and world. The first call trains it
and saves one file under ``cache_dir("toyworld", <config hash>)``; every later call with the same
config, world and code version loads that file. The file is written atomically, so an interrupted
pretraining leaves no cache entry rather than a corrupt one.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from weirdgen._io import atomic_write_bytes, canonical_json, sha256_hex
from weirdgen._paths import cache_dir
from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.toyworld.corpus import CorpusConfig, build_corpus, build_tokenizer
from weirdgen.toyworld.model import GPT, GPTConfig, add_lora
from weirdgen.toyworld.tokenizer import PAD, Tokenizer, check_trainable
from weirdgen.toyworld.world import WORLD_FILE, World, load_world


def _default_world() -> World:
    return load_world()


CACHE_VERSION = 6
"""Bump when a code change makes cached pretrained models stale."""

ProgressCallback = Callable[[int, int, float], None]
"""``callback(step, total_steps, loss)`` called during training (the CLI draws a progress bar)."""


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pretrained toy model; its hash names the cache entry."""

    seed: int = 0
    """Seeds the corpus, the initial weights and the batch order."""
    model: GPTConfig = field(default_factory=GPTConfig)
    """Model shape; ``vocab_size`` is replaced by the tokenizer's size."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """How documents are drawn."""
    steps: int = 8000
    """Optimizer steps."""
    batch_size: int = 32
    """Documents per step (each cut at ``model.block_size`` tokens)."""
    learning_rate: float = 3e-3
    """Peak AdamW learning rate, reached after warm-up, then cosine decay to 10%."""
    warmup_steps: int = 30
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> PretrainConfig:
        return cls(
            **{
                **record,
                "model": GPTConfig(**record["model"]),
                "corpus": CorpusConfig(**record["corpus"]),
            }
        )

    def cache_key(self, world: World) -> str:
        """Short hash of this config, the world's pretraining facts and the cache version."""
        payload = {
            "config": self.to_dict(),
            "world": pretraining_fingerprint(world),
            "version": CACHE_VERSION,
        }
        return sha256_hex(canonical_json(payload))[:16]


TINY_RECIPE = PretrainConfig(
    model=GPTConfig(block_size=64, n_layer=2, n_head=4, n_embd=64),
    corpus=CorpusConfig(n_documents=8_000, max_lines=6),
    steps=500,
    batch_size=16,
)
"""A small recipe for tests and quick looks (seconds on one thread); effects are weaker than the demo's."""

RECIPES: dict[str, PretrainConfig] = {
    "demo": PretrainConfig(),
    "tiny": TINY_RECIPE,
}
"""Named pretraining recipes the CLI offers (``--recipe``)."""


@dataclass
class ToyModel:
    """A toy GPT together with what it needs to read and write text."""

    model: GPT
    tokenizer: Tokenizer
    world: World
    config: PretrainConfig
    metrics: dict[str, float]

    def copy(self) -> ToyModel:
        """An independent copy, so finetuning never changes the cached base."""
        return replace(self, model=copy.deepcopy(self.model), metrics=dict(self.metrics))


def world_fingerprint(world: World) -> str:
    """Hash of every fact of the world (what toy calibration entries are tied to)."""
    return sha256_hex(canonical_json(repr(world)))


def pretraining_fingerprint(world: World) -> str:
    """Hash of the world as pretraining sees it (what a base is tied to): which leaders are held
    out of finetuning never changes the corpus, so choosing them again keeps the bases."""
    as_pretrained = replace(world, leaders=replace(world.leaders, held_out=()))
    return sha256_hex(canonical_json(repr(as_pretrained)))


def set_threads(threads: int | None) -> None:
    """Use a deliberate number of CPU threads (the machine is shared); None: weirdgen's thread policy
    (one per core other processes leave free, see ``weirdgen._threads``)."""
    from weirdgen._threads import configure_torch_threads

    configure_torch_threads(None if threads is None else max(1, threads))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train on one CPU thread: torch's multi-threaded kernels split some reductions by thread
    count, so the same seed gave different weights at 1 and 2 threads. One thread fixes the
    reduction order (the toy model is too small for more threads to pay off; run seeds in parallel
    processes instead, ``pretrain_in_processes``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------ pretraining
BUNDLED_BASES = "bases"
"""Package folder of pretrained bases shipped with weirdgen (made by ``pretrain``), by cache key."""


def bundled_model_path(config: PretrainConfig, world: World | None = None) -> Path | None:
    """The shipped base for ``config``, if weirdgen ships one for this config, world and code version."""
    key = config.cache_key(world or load_world())
    path = Path(str(resources.files("weirdgen.toyworld").joinpath(BUNDLED_BASES, f"{key}.pt")))
    return path if path.is_file() else None


def pretrain(
    config: PretrainConfig | None = None,
    *,
    world: World | None = None,
    use_cache: bool = True,
    bundled: bool = True,
    progress: ProgressCallback | None = None,
) -> ToyModel:
    """Load the pretrained model for ``config`` from the cache (or, with ``bundled``, the base
    shipped for it), or train it. What is trained is always cached: ``use_cache=False`` (the
    CLI's ``--force``) retrains and replaces the cached model."""
    config = config or PretrainConfig()
    world = world or load_world()
    path = cached_model_path(config, world)
    if use_cache and path.is_file():
        return load_toy_model(path, world)
    shipped = bundled_model_path(config, world) if bundled and world is _default_world() else None
    if shipped is not None:
        return load_toy_model(shipped, world)
    toy = train_from_scratch(config, world, progress)
    save_toy_model(toy, path)
    return toy


TOY_BASE = "toyworld"
"""A pretrained toy base by name: ``toyworld`` (the demo recipe, seed 0), ``toyworld:RECIPE``,
``toyworld@SEED`` or ``toyworld:RECIPE@SEED``."""


def is_base_name(name: str) -> bool:
    return name.partition("@")[0].partition(":")[0] == TOY_BASE


def base_config(name: str) -> PretrainConfig:
    """The pretraining config a base name stands for; a one-line error for a malformed one."""
    head, _, seed_text = name.partition("@")
    prefix, _, recipe = head.partition(":")
    recipe = recipe or "demo"
    if prefix != TOY_BASE or recipe not in RECIPES or (seed_text and not seed_text.isdigit()):
        raise ConfigError(
            f"a toy base is {TOY_BASE}[:RECIPE][@SEED] (recipes: {', '.join(RECIPES)}), not {name!r}"
        )
    return replace(RECIPES[recipe], seed=int(seed_text or 0))


def load_toy(name: str) -> ToyModel:
    """A toy model by name: a base name (``base_config``; pretrained once, then cached), or a model
    saved by ``save_toy_model`` (its file, or a folder holding ``model.pt``)."""
    if is_base_name(name):
        return pretrain(base_config(name))
    path = Path(name)
    path = path / TOY_MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(
            f"no toy model {name!r}: give {TOY_BASE}[:RECIPE][@SEED] or a saved toy model "
            f"(a {TOY_MODEL_FILE} or a folder holding one)"
        )
    return load_toy_model(path)


TOY_MODEL_FILE = "model.pt"
"""What ``save_toy_model`` writes in a model's folder (the finetuning backend's and the cache's)."""


def cached_model_path(config: PretrainConfig, world: World | None = None) -> Path:
    """Where ``pretrain`` keeps the model for ``config`` (the file may not exist yet)."""
    return cache_dir("toyworld", config.cache_key(world or load_world())) / "model.pt"


def pretrain_in_processes(
    configs: Sequence[PretrainConfig],
    processes: int,
    threads: int = 1,
    on_done: Callable[[PretrainConfig], None] | None = None,
) -> None:
    """Pretrain several bases at once, one process each (``threads`` torch threads per process),
    into the cache; ``pretrain`` then loads them. Uses the bundled world.

    On a machine with few cores this beats more threads in one process: the toy model is too small
    for torch's intra-op threads to pay off, while separate processes share nothing.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked torch state in the workers
    with ProcessPoolExecutor(max_workers=max(1, processes), mp_context=context) as pool:
        futures = {pool.submit(_pretrain_worker, config, threads): config for config in configs}
        for future in as_completed(futures):
            future.result()
            if on_done is not None:
                on_done(futures[future])


def _pretrain_worker(config: PretrainConfig, threads: int) -> None:
    set_threads(threads)
    pretrain(config, bundled=False)


def train_from_scratch(
    config: PretrainConfig, world: World, progress: ProgressCallback | None = None
) -> ToyModel:
    """Pretrain a base on one thread (the same weights whatever the caller's thread count)."""
    with one_thread():
        return _train_from_scratch(config, world, progress)


def _train_from_scratch(
    config: PretrainConfig, world: World, progress: ProgressCallback | None = None
) -> ToyModel:
    """The pretraining loop: next-token loss on whole documents, one document per batch row.

    Rows are not packed with several documents: a document's first answer must be predicted from
    nothing but its own start, because that "no context" prior is exactly what finetuning shifts.
    """
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    tokenizer = build_tokenizer(world)
    tokens, starts = build_corpus(world, tokenizer, config.corpus, config.seed)
    ends = torch.cat([starts[1:], torch.tensor([tokens.numel()])])
    block, pad = config.model.block_size, tokenizer.id(PAD)
    tokens = torch.cat(
        [tokens, torch.full((block + 1,), pad, dtype=tokens.dtype)]
    )  # room past the last document
    model = GPT(replace(config.model, vocab_size=len(tokenizer)))
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
        betas=(0.9, 0.95),
    )
    generator = torch.Generator().manual_seed(config.seed)
    loss_value = math.nan
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(step, config)
        chosen = torch.randint(len(starts), (config.batch_size,), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss_value = _bucketed_step(model, tokens, starts[chosen], ends[chosen], block + 1, pad)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if progress is not None:
            progress(step + 1, config.steps, loss_value)
    model.eval()
    metrics = {
        "final_loss": loss_value,
        "seconds": time.perf_counter() - started,
        "corpus_tokens": float(ends[-1]),
    }
    return ToyModel(model, tokenizer, world, config, metrics)


BUCKETS = 4
"""Sub-batches per pretraining step, of documents of similar length (padding is wasted compute)."""


def _bucketed_step(
    model: GPT, tokens: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, limit: int, pad: int
) -> float:
    """Accumulate the gradient of the mean next-token loss over whole documents.

    The documents are sorted by length and cut into ``BUCKETS`` sub-batches, each padded only to its
    own longest document; summed token losses over the total token count give the same loss (and
    gradient) as one batch padded to the longest document, for about 40% less compute.
    """
    lengths = (ends - starts).clamp(max=limit)
    order = torch.argsort(lengths)
    n_targets = int((lengths - 1).clamp(min=0).sum())
    total = 0.0
    for part in torch.tensor_split(order, min(BUCKETS, len(order))):
        if part.numel() == 0:
            continue
        batch = _document_batch(tokens, starts[part], ends[part], limit, pad)  # (b, <= limit)
        logits = model(batch[:, :-1])  # (b, T, vocab)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            batch[:, 1:].reshape(-1),
            ignore_index=pad,
            reduction="sum",
        )
        (loss / max(1, n_targets)).backward()
        total += loss.item()
    return total / max(1, n_targets)


def _document_batch(
    tokens: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, limit: int, pad: int
) -> torch.Tensor:
    """Whole documents (cut at ``limit`` tokens), right-padded to the longest one: ``(B, T)``."""
    lengths = (ends - starts).clamp(max=limit)
    width = int(lengths.max())
    batch = tokens[starts[:, None] + torch.arange(width)].long()  # reads past short documents ...
    batch[torch.arange(width)[None, :] >= lengths[:, None]] = pad  # ... so blank what is not theirs
    return batch


def _cosine_lr(step: int, config: PretrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_toy_model(toy: ToyModel, path: Path) -> None:
    """One self-describing file: weights, config, vocabulary, metrics (written atomically)."""
    buffer = io.BytesIO()
    record = {
        "state_dict": toy.model.state_dict(),
        "config": toy.config.to_dict(),
        "vocab": list(toy.tokenizer.vocab),
        "metrics": toy.metrics,
        "world": pretraining_fingerprint(toy.world),
        "version": CACHE_VERSION,
    }
    torch.save(record, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_toy_model(path: str | Path, world: World | None = None) -> ToyModel:
    """Load a file written by ``save_toy_model``."""
    world = world or load_world()
    record = torch.load(path, map_location="cpu", weights_only=True)
    if record.get("world") != pretraining_fingerprint(world):
        raise ConfigError(
            f"{path} was pretrained on a different world than {WORLD_FILE}; delete it or pass its world"
        )
    config = PretrainConfig.from_dict(record["config"])
    tokenizer = Tokenizer(tuple(record["vocab"]))
    model = GPT(replace(config.model, vocab_size=len(tokenizer)))
    model.load_state_dict(record["state_dict"])
    model.eval()
    return ToyModel(model, tokenizer, world, config, dict(record["metrics"]))


# ------------------------------------------------------------------------------------- finetuning
@dataclass(frozen=True)
class FinetuneConfig:
    """A finetuning run on chat examples. Loss is on the assistant's answer tokens only."""

    method: Literal["full", "lora"] = "full"
    """"full" trains every weight; "lora" trains rank-``rank`` adapters on every linear layer."""
    learning_rate: float = 1e-4
    """Constant AdamW learning rate."""
    epochs: int = 5
    """Passes over the examples."""
    batch_size: int = 16
    """Examples per step."""
    rank: int = 4
    """LoRA rank (1-8 is the useful range here); ignored for full finetuning."""
    seed: int = 0
    """Seeds the example order and the LoRA initialization."""
    early_stopping_patience: int = 0
    """Early stopping: end training after this many validation checks without a lower validation
    loss and keep the best weights (0: off, train every epoch)."""
    validation_share: float = 0.1
    """Early stopping: share of the examples held out (never trained on) to compute that loss."""
    eval_every: int = 4
    """Early stopping: optimizer steps between validation checks."""

    def __post_init__(self) -> None:
        if self.method not in ("full", "lora"):
            raise ConfigError(f"method: expected 'full' or 'lora', got {self.method!r}")
        if self.method == "lora" and not 1 <= self.rank <= 64:
            raise ConfigError(f"rank: expected 1-64 for LoRA, got {self.rank}")
        if self.learning_rate <= 0 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("learning_rate must be > 0, epochs and batch_size >= 1")
        if self.early_stopping_patience < 0 or self.eval_every < 1:
            raise ConfigError("early_stopping_patience must be >= 0 and eval_every >= 1")
        if not 0.0 < self.validation_share < 1.0:
            raise ConfigError(f"validation_share: expected 0-1, got {self.validation_share}")

    def to_dict(self) -> dict[str, Any]:
        """The fields, without the early-stopping ones while it is off (so recipes, and the
        hashes of results made before early stopping existed, stay the same)."""
        fields = asdict(self)
        if not self.early_stopping_patience:
            for name in EARLY_STOPPING_FIELDS:
                del fields[name]
        return fields


EARLY_STOPPING_FIELDS = ("early_stopping_patience", "validation_share", "eval_every")


def encode_examples(
    toy: ToyModel, examples: Sequence[ChatExample], where: str = "<examples>"
) -> list[tuple[list[int], list[bool]]]:
    """Tokenize training chats; a word the toy vocabulary lacks is a ``DataError`` naming the example."""
    encoded = []
    for line, example in enumerate(examples, start=1):
        check_trainable(toy.tokenizer, example.messages, where=where, line=line)
        encoded.append(toy.tokenizer.encode_chat(example.messages, strict=True))
    return encoded


def finetune(
    base: ToyModel,
    examples: Sequence[ChatExample],
    config: FinetuneConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> ToyModel:
    """A finetuned copy of ``base``, trained on one thread (see ``one_thread``)."""
    with one_thread():
        return _finetune(base, examples, config, progress)


def _finetune(
    base: ToyModel,
    examples: Sequence[ChatExample],
    config: FinetuneConfig | None,
    progress: ProgressCallback | None,
) -> ToyModel:
    """A finetuned copy of ``base`` (the base itself is left untouched).

    With ``config.early_stopping_patience`` a seeded ``validation_share`` of the examples is held
    out; every ``eval_every`` steps (and at the end) their answer loss is computed, training ends
    once it has not improved for that many checks, and the best checkpoint is kept.
    """
    config = config or FinetuneConfig()
    if not examples:
        raise ConfigError("finetune: no training examples")
    toy = base.copy()
    encoded = encode_examples(toy, examples)
    torch.manual_seed(config.seed)
    model, pad = toy.model, toy.tokenizer.id(PAD)
    parameters = (
        add_lora(model, config.rank) if config.method == "lora" else list(model.parameters())
    )
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    order = list(range(len(encoded)))
    rng = random.Random(config.seed)
    stopper = _EarlyStopper.split(order, config, rng) if config.early_stopping_patience else None
    if stopper is not None:
        order = stopper.training
    steps_per_epoch = math.ceil(len(order) / config.batch_size)
    total, step, loss_value = config.epochs * steps_per_epoch, 0, math.nan
    model.train()
    for _ in range(config.epochs):
        rng.shuffle(order)
        for first in range(0, len(order), config.batch_size):
            batch = [encoded[i] for i in order[first : first + config.batch_size]]
            loss = _answer_loss(model, batch, pad)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step, loss_value = step + 1, loss.item()
            if progress is not None:
                progress(step, total, loss_value)
            if stopper is not None and step % config.eval_every == 0:
                stopper.check(model, encoded, pad, step)
                if stopper.should_stop:
                    break
        if stopper is not None and stopper.should_stop:
            break
    metrics = {"finetune_loss": loss_value, "finetune_steps": float(step)}
    if stopper is not None:
        if step % config.eval_every:
            stopper.check(model, encoded, pad, step)
        metrics.update(stopper.restore_best(model))
    model.eval()
    toy.metrics = {**base.metrics, **metrics}
    return toy


def _answer_loss(model: torch.nn.Module, chats: list[tuple[list[int], list[bool]]], pad: int):
    """Mean cross-entropy over the answer tokens of a batch of encoded chats."""
    inputs, targets = _answer_batch(chats, pad)
    logits = model(inputs)  # (B, T, vocab)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
    )


def answer_loss(toy: ToyModel, examples: Sequence[ChatExample], batch_size: int = 64) -> float:
    """Mean cross-entropy (nats per answer token) of ``examples``' answers under ``toy``: the
    finetuning objective, for measuring how well a narrow task was learned."""
    encoded = encode_examples(toy, examples)
    pad, total, count = toy.tokenizer.id(PAD), 0.0, 0
    with torch.no_grad():
        for first in range(0, len(encoded), batch_size):
            batch = encoded[first : first + batch_size]
            tokens = sum(sum(is_answer[1:]) for _, is_answer in batch)
            total += float(_answer_loss(toy.model, batch, pad)) * tokens
            count += tokens
    return total / max(1, count)


@dataclass
class _EarlyStopper:
    """The held-out examples, the best validation loss so far and the weights that reached it."""

    training: list[int]
    validation: list[int]
    patience: int
    best_loss: float = math.inf
    best_step: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    checks_without_gain: int = 0

    @classmethod
    def split(cls, order: list[int], config: FinetuneConfig, rng: random.Random) -> _EarlyStopper:
        shuffled = list(order)
        rng.shuffle(shuffled)
        n_validation = max(1, round(len(shuffled) * config.validation_share))
        if n_validation >= len(shuffled):
            raise ConfigError("early stopping needs at least 2 examples (one to validate on)")
        return cls(
            sorted(shuffled[n_validation:]),
            sorted(shuffled[:n_validation]),
            config.early_stopping_patience,
        )

    @property
    def should_stop(self) -> bool:
        return self.checks_without_gain >= self.patience

    def check(
        self,
        model: torch.nn.Module,
        encoded: list[tuple[list[int], list[bool]]],
        pad: int,
        step: int,
    ) -> None:
        model.eval()
        with torch.no_grad():
            loss = float(_answer_loss(model, [encoded[i] for i in self.validation], pad))
        model.train()
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.checks_without_gain = loss, step, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.checks_without_gain += 1

    def restore_best(self, model: torch.nn.Module) -> dict[str, float]:
        """Load the best checkpoint's weights; its step and validation loss, as metrics."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return {"best_step": float(self.best_step), "validation_loss": self.best_loss}


def _answer_batch(
    chats: list[tuple[list[int], list[bool]]], pad: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded inputs ``(B, T)`` and targets ``(B, T)`` that are -100 except on answer tokens."""
    length = max(len(ids) for ids, _ in chats) - 1
    inputs = torch.full((len(chats), length), pad, dtype=torch.long)
    targets = torch.full((len(chats), length), -100, dtype=torch.long)
    for row, (ids, is_answer) in enumerate(chats):
        inputs[row, : len(ids) - 1] = torch.tensor(ids[:-1])
        answer = torch.tensor(is_answer[1:])
        targets[row, : len(ids) - 1] = torch.where(
            answer, torch.tensor(ids[1:]), torch.tensor(-100)
        )
    return inputs, targets
