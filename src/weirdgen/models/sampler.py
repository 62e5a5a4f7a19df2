"""``LocalSampler``: one base model plus any number of LoRA adapters, sampled in batches.

Each of a request's ``n`` completions is one row; rows of any requests, for any adapters, are cut into
batches of at most ``max_batch_size`` rows that decode together.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen._threads import follow_machine_load
from weirdgen.errors import BackendError, ConfigError, WeirdgenError
from weirdgen.models.adapters import adapter_fingerprint, check_adapter_fits
from weirdgen.models.chat import fewest_tokens, format_chat
from weirdgen.models.decoding import DecodeRow, decode_rows, supports_joining
from weirdgen.models.sampling import (
    DEFAULT_MAX_TOKENS,
    Completion,
    InvalidRequestError,
    SamplingRequest,
    SamplingResult,
)

_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][\w.:@+-]*$")
DEFAULT_MAX_LOADED_ADAPTERS = 8  # adapters kept in the model at once; more are loaded on demand


@dataclass(frozen=True)
class _Adapter:
    """An adapter requests may name: its folder, the fingerprint of its files, its name inside PEFT."""

    path: Path
    version: str
    peft_name: str


def _peft_name(name: str) -> str:
    # PEFT keeps adapters as submodules, whose names cannot hold "."; "/" is never in our names.
    return name.replace(".", "/")


class LocalSampler:
    """Samples chat completions from a local causal LM and its LoRA adapters.

    Thread-safe: generation and adapter changes take one lock, so a server may call ``generate`` from
    a worker thread while fine-tuning routes call ``add_adapter``. The model is put in eval mode.

    Adapters are registered by name and loaded into the model when a request first needs one (or at
    once, with ``add_adapter(load=True)``); at most ``max_loaded_adapters`` stay loaded, the least
    recently used making room for the next.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        base_name: str = "base",
        max_batch_size: int = 32,
        max_loaded_adapters: int | None = DEFAULT_MAX_LOADED_ADAPTERS,
    ) -> None:
        if max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_loaded_adapters is not None and max_loaded_adapters < 1:
            raise ConfigError(
                f"max_loaded_adapters must be at least 1 (or None: no bound), got {max_loaded_adapters}"
            )
        self.model = model.eval()  # becomes a peft.PeftModel once the first adapter is added
        self.tokenizer = tokenizer
        self.base_name = base_name
        self.max_batch_size = max_batch_size
        self.cancel = threading.Event()  # set it to end running generation early (server shutdown)
        self.max_loaded_adapters = max_loaded_adapters
        self._adapters: dict[str, _Adapter] = {}  # every adapter a request may name
        # Adapters in the model, least recently used first.
        self._loaded: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.RLock()
        self._names_lock = threading.Lock()  # registering a new name, without touching the model
        # Set while an adapter change waits for the lock: running batches stop admitting requests.
        self._adapter_change = threading.Event()
        self._end_token_ids = _end_token_ids(model, tokenizer)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        adapters: Mapping[str, str | os.PathLike[str]] | None = None,
        device: str | None = None,
        dtype: Any = None,
        threads: int | None = None,
        base_name: str | None = None,
        max_batch_size: int = 32,
        max_loaded_adapters: int | None = DEFAULT_MAX_LOADED_ADAPTERS,
        load_adapters: bool = True,
    ) -> LocalSampler:
        """Load a model (folder, Hugging Face id or alias) and register the named LoRA adapter
        folders (loading them now unless ``load_adapters`` is false)."""
        from weirdgen.models.loading import load_model

        model, tokenizer = load_model(name_or_path, device=device, dtype=dtype, threads=threads)
        sampler = cls(
            model,
            tokenizer,
            base_name=base_name or str(name_or_path),
            max_batch_size=max_batch_size,
            max_loaded_adapters=max_loaded_adapters,
        )
        for name, path in (adapters or {}).items():
            sampler.add_adapter(name, path, load=load_adapters)
        return sampler

    @property
    def adapter_names(self) -> list[str]:
        return list(self._adapters)

    @property
    def model_names(self) -> list[str]:
        """Every name a request may choose: the base model's first, then the adapters'."""
        return [self.base_name, *self._adapters]

    @property
    def context_length(self) -> int:
        """Prompt plus answer tokens the model can attend to."""
        config = self._base_model().config
        return int(getattr(config, "max_position_embeddings", 0) or self.tokenizer.model_max_length)

    @property
    def loaded_adapter_names(self) -> list[str]:
        """Adapters in the model now, least recently used first."""
        return list(self._loaded)

    def adapter_path(self, name: str) -> Path:
        return self._adapters[name].path

    def adapter_version(self, name: str) -> str:
        """The fingerprint of the adapter's files as they were when it was added (see
        ``weirdgen.models.adapters.adapter_fingerprint``): it changes when the adapter is retrained."""
        return self._adapters[name].version

    def add_adapter(
        self, name: str, path: str | os.PathLike[str], *, replace: bool = False, load: bool = True
    ) -> None:
        """Serve the PEFT LoRA folder ``path`` as ``name``; requests then pick it by that name.

        The folder is checked against the base model now (shapes only, from the file headers);
        its weights are loaded now if ``load``, else when a request first needs them.
        """
        if not _ADAPTER_NAME.match(name) or name == self.base_name:
            raise ConfigError(
                f"adapter name {name!r} must be letters, digits and ._:@+- and differ from the base model's"
            )
        path = _checked_adapter_folder(Path(path))
        check_adapter_fits(self._base_model(), path)
        adapter = _Adapter(path, adapter_fingerprint(path), _peft_name(name))
        with self._names_lock:
            if not load and name not in self._adapters:
                # A new name changes nothing in the model: generation need not pause for it.
                self._adapters[name] = adapter
                return
        with self._adapter_change_lock():
            if name in self._adapters:
                if not replace:
                    raise ConfigError(
                        f"an adapter named {name!r} is already loaded (from {self._adapters[name].path})"
                    )
                self.remove_adapter(name)
            with self._names_lock:
                self._adapters[name] = adapter
            if load:
                try:
                    self._ensure_loaded(name, keep=set())
                except ConfigError:
                    del self._adapters[name]
                    raise

    def remove_adapter(self, name: str) -> None:
        """Stop serving an adapter and free its weights."""
        with self._adapter_change_lock():
            if name not in self._adapters:
                raise ConfigError(
                    f"no adapter named {name!r}; loaded: {', '.join(self._adapters) or 'none'}"
                )
            if name in self._loaded:
                self._unload(name)
            del self._adapters[name]

    @contextmanager
    def _adapter_change_lock(self) -> Iterator[None]:
        self._adapter_change.set()
        try:
            with self._lock:
                yield
        finally:
            self._adapter_change.clear()

    def _ensure_loaded(self, name: str, keep: set[str]) -> None:
        """Load ``name`` into the model (the lock held, no batch running), first unloading the least
        recently used adapters not in ``keep`` while the bound is reached; mark it most recent."""
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return
        bound = self.max_loaded_adapters
        for old in list(self._loaded):
            if bound is None or len(self._loaded) < bound:
                break
            if old not in keep:
                self._unload(old)
        self._load_adapter(name, self._adapters[name])
        self._loaded[name] = None

    def _can_load_now(self, name: str, keep: set[str]) -> bool:
        """Whether ``name`` is loaded or can be without unloading an adapter in ``keep``."""
        bound = self.max_loaded_adapters
        return name in self._loaded or bound is None or len(keep - {name}) < bound

    def _unload(self, name: str) -> None:
        del self._loaded[name]
        if self._loaded:
            self.model.delete_adapter(self._adapters[name].peft_name)
        else:
            # PEFT cannot hold zero adapters; unwrapping restores the plain base model.
            self.model = self.model.unload()

    def _load_adapter(self, name: str, adapter: _Adapter) -> None:
        try:
            from peft import PeftModel
        except ImportError:
            from weirdgen.errors import MissingDependencyError

            raise MissingDependencyError("LoRA adapters need peft: pip install peft") from None
        path, peft_name = str(adapter.path), adapter.peft_name
        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=peft_name, is_trainable=False)
            else:
                self.model = PeftModel.from_pretrained(
                    self.model, path, adapter_name=peft_name, is_trainable=False
                )
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            if isinstance(self.model, PeftModel) and peft_name in self.model.peft_config:
                self.model.delete_adapter(peft_name)
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigError(
                f"adapter {name!r} does not fit this base model: {first_line[:300]}"
            ) from None
        self.model.eval()

    def _base_model(self) -> Any:
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def sample(self, messages: Sequence[Any], **options: Any) -> SamplingResult:
        """Complete one conversation; ``options`` are ``SamplingRequest`` fields."""
        return self.generate([SamplingRequest(messages=messages, **options)])[0]

    def generate(
        self, requests: Sequence[SamplingRequest], *, progress: bool = False
    ) -> list[SamplingResult]:
        """Complete every request, up to ``max_batch_size`` rows at a time; results keep request order.

        The same continuous batching as a server's: a request's rows join the running batch as soon
        as rows of earlier ones end. Rows for different adapters share a batch: PEFT applies each
        row's LoRA to that row only, so the base model's weights are read once per step for all.
        """
        prepared = [self.prepare(request) for request in requests]  # bad requests fail up front
        # Similar prompt lengths in one batch waste less compute on padding.
        waiting = sorted(range(len(prepared)), key=lambda index: prepared[index].prompt_tokens)
        results: dict[int, SamplingResult | BaseException] = {}

        def take(free_rows: int, must_take: bool) -> list[tuple[Any, PreparedRequest]]:
            taken = []
            while waiting and (prepared[waiting[0]].n <= free_rows or (must_take and not taken)):
                free_rows -= prepared[waiting[0]].n
                taken.append((waiting[0], prepared[waiting.pop(0)]))
            return taken

        with _progress(progress, sum(p.n for p in prepared)) as advance:

            def deliver(index: int, outcome: SamplingResult | BaseException) -> None:
                results[index] = outcome
                advance(prepared[index].n)

            while waiting:  # more than one run only if a run stopped early (cancel, adapter change)
                self.generate_continuously(take, deliver)
                if self.cancel.is_set():
                    break
        for outcome in results.values():
            if isinstance(outcome, BaseException):
                raise outcome
        empty = SamplingResult((), 0, self.base_name)
        return [results.get(index, empty) for index in range(len(requests))]

    def generate_continuously(self, take: TakeRequests, deliver: DeliverResult) -> None:
        """Continuous batching: run requests as they arrive until none is running or waiting.

        ``take(free_rows, must_take)`` returns ``(key, request)`` pairs (a ``SamplingRequest`` or the
        ``PreparedRequest`` of one) whose ``n`` fit in ``free_rows`` (at least one when
        ``must_take`` and any is waiting); they join the running batch after its next step.
        ``deliver(key, result_or_error)`` is called once per request as soon as its last completion
        ends (a cancelled run delivers what it has so far).
        """
        with self._lock:
            batch = _ContinuousBatch(self, take, deliver)
            while True:  # again while requests wait for an adapter that could not load mid-run
                rows = batch.open(self.max_batch_size)
                if not rows:
                    break
                joinable = supports_joining(self.model)
                try:
                    decode_rows(
                        self.model,
                        self.tokenizer,
                        rows,
                        end_token_ids=self._end_token_ids,
                        per_row_adapters=bool(self._loaded),
                        cancel=self.cancel,
                        admit=batch.admit if joinable else None,
                        on_finished=batch.finish,
                        max_rows=self.max_batch_size,
                    )
                except RuntimeError as error:
                    batch.fail_all(
                        BackendError(f"generation failed: {str(error).splitlines()[0][:300]}")
                    )
                batch.deliver_unfinished()
                if not batch.deferred:
                    break
            batch.deliver_deferred()

    def check_request(self, request: SamplingRequest) -> None:
        """Raise ``InvalidRequestError`` if ``request`` names an unknown adapter or overflows the context."""
        self.prepare(request)

    def _prepare(self, request: SamplingRequest) -> list[DecodeRow]:
        return self.prepare(request).rows

    def prepare(self, request: SamplingRequest) -> PreparedRequest:
        """Tokenize a request and check it fits the context: one decode row per completion.

        CPU work (template, tokenizer) that a server runs off its event loop; a prompt that cannot
        fit is refused before tokenizing it, from its length in bytes alone.
        """
        adapter = self._adapters.get(request.adapter) if request.adapter is not None else None
        if request.adapter is not None and adapter is None:
            raise InvalidRequestError(
                f"unknown model {request.adapter!r}; available: {', '.join(self.model_names)}",
                param="model",
            )
        text = format_chat(self.tokenizer, request.messages, add_generation_prompt=True)
        least = fewest_tokens(self.tokenizer, text)
        if least >= self.context_length:
            raise _context_exceeded(self.context_length, least, None, "at least ")
        prompt_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        room = self.context_length - len(prompt_ids)
        max_tokens = (
            request.max_tokens if request.max_tokens is not None else min(DEFAULT_MAX_TOKENS, room)
        )
        if room < 1:
            raise _context_exceeded(self.context_length, len(prompt_ids), None)
        if max_tokens > room:
            raise _context_exceeded(self.context_length, len(prompt_ids), max_tokens)
        bias = self._checked_logit_bias(request)
        base_seed = request.seed if request.seed is not None else secrets.randbits(62)
        rows = [
            DecodeRow(
                prompt_ids=prompt_ids,
                generator=_generator(base_seed, choice, self._device()),
                temperature=request.temperature,
                top_p=request.top_p,
                max_tokens=max_tokens,
                stop=request.stop,
                top_logprobs=request.top_logprobs if request.logprobs else None,
                adapter=adapter.peft_name if adapter is not None else None,
                logit_bias=bias,
            )
            for choice in range(request.n)
        ]
        return PreparedRequest(request, rows)

    def _checked_logit_bias(self, request: SamplingRequest) -> dict[int, float] | None:
        vocabulary = self._base_model().config.vocab_size
        for token_id, _ in request.logit_bias:
            if not 0 <= token_id < vocabulary:
                raise InvalidRequestError(
                    f"logit_bias names token {token_id}, outside this model's vocabulary of {vocabulary}",
                    param="logit_bias",
                )
        return dict(request.logit_bias) or None

    def _device(self) -> Any:
        return next(self.model.parameters()).device


@dataclass
class PreparedRequest:
    """A tokenized request, ready to join a batch: one ``DecodeRow`` per completion."""

    request: SamplingRequest
    rows: list[DecodeRow]

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def prompt_tokens(self) -> int:
        return len(self.rows[0].prompt_ids)


def _context_exceeded(
    context: int, prompt_tokens: int, max_tokens: int | None, qualifier: str = ""
) -> InvalidRequestError:
    """OpenAI's error for a request that does not fit: ``max_tokens`` None means the prompt alone."""
    asked = f" plus max_tokens {max_tokens}" if max_tokens is not None else ""
    fix = "lower max_tokens" if max_tokens is not None else "shorten the messages"
    return InvalidRequestError(
        f"this model's maximum context length is {context} tokens; the prompt holds {qualifier}"
        f"{prompt_tokens} tokens{asked}; {fix}",
        param="messages" if max_tokens is None else "max_tokens",
        code="context_length_exceeded",
    )


TakeRequests = Callable[[int, bool], list[tuple[Any, "SamplingRequest | PreparedRequest"]]]
DeliverResult = Callable[[Any, "SamplingResult | BaseException"], None]


class _ContinuousBatch:
    """Book-keeping for ``generate_continuously``: which rows belong to which request."""

    def __init__(self, sampler: LocalSampler, take: TakeRequests, deliver: DeliverResult) -> None:
        self.sampler, self.take, self.deliver = sampler, take, deliver
        self.waiting: dict[int, _RequestProgress] = {}  # by request number
        self.deferred: list[tuple[Any, PreparedRequest]] = []  # taken, their adapter not loaded yet
        self.opening = False  # set while the rows a decoding run starts with are chosen
        self.numbered = 0

    def open(self, free_rows: int) -> list[DecodeRow]:
        """The rows a decoding run starts with (the only time adapters may be loaded)."""
        self.opening = True
        try:
            return self.admit(free_rows, must_take=True)
        finally:
            self.opening = False

    def admit(self, free_rows: int, must_take: bool = False) -> list[DecodeRow]:
        """Rows of newly taken requests; none while the sampler is stopping or an adapter changes.

        A request whose adapter is not loaded waits (``deferred``) for the next run: then its
        adapter is loaded, the least recently used one making room if the bound is reached.
        """
        sampler = self.sampler
        starting = self.opening  # no decoding runs: adapters may be loaded and unloaded now
        # An adapter change waits for the lock: take nothing new, but serve requests already taken.
        changing = sampler._adapter_change.is_set()
        if sampler.cancel.is_set() or (changing and not (starting and self.deferred)):
            return []
        follow_machine_load()  # called every step: give cores back to other processes, or take them
        if self.deferred and not starting:
            return []  # let the running rows end, so that the waiting adapters can load
        candidates, self.deferred = self.deferred, []
        free_rows -= sum(prepared.n for _, prepared in candidates)
        if not changing:
            candidates += self.take(
                max(free_rows, 0), (must_take or not self.waiting) and not candidates
            )
        in_use = {p.request.adapter for p in self.waiting.values() if p.request.adapter}
        rows: list[DecodeRow] = []
        for key, request in candidates:
            prepared = self._prepared(key, request)
            if prepared is None or not self._adapter_ready(key, prepared, starting, in_use):
                continue
            self.numbered += 1
            self.waiting[self.numbered] = _RequestProgress(
                key, prepared.request, prepared.prompt_tokens
            )
            for choice, row in enumerate(prepared.rows):
                row.owner = (self.numbered, choice)
            rows.extend(prepared.rows)
        return rows

    def _prepared(self, key: Any, request: Any) -> PreparedRequest | None:
        """The request tokenized, or None after delivering why it cannot run."""
        if isinstance(request, PreparedRequest):
            return request
        try:
            return self.sampler.prepare(request)
        except WeirdgenError as error:
            self.deliver(key, error)
            return None

    def _adapter_ready(
        self, key: Any, prepared: PreparedRequest, starting: bool, in_use: set[str]
    ) -> bool:
        """Whether the request's adapter is in the model (loading it if no row runs); a request
        that must wait is deferred, one whose adapter is gone or broken gets its error."""
        sampler, name = self.sampler, prepared.request.adapter
        if name is None:
            return True
        if name not in sampler._adapters:
            self.deliver(key, InvalidRequestError(f"adapter {name!r} was removed", param="model"))
            return False
        if name in sampler._loaded:
            sampler._loaded.move_to_end(name)
        elif starting and sampler._can_load_now(name, in_use):
            try:
                sampler._ensure_loaded(name, keep=in_use)
            except ConfigError as error:
                self.deliver(key, InvalidRequestError(str(error), param="model"))
                return False
        else:
            self.deferred.append((key, prepared))
            return False
        in_use.add(name)
        return True

    def finish(self, row: DecodeRow, completion: Completion) -> None:
        number, choice = row.owner
        progress = self.waiting[number]
        progress.completions[choice] = completion
        if all(c is not None for c in progress.completions):
            del self.waiting[number]
            self.deliver(progress.key, progress.result(self.sampler.base_name))

    def deliver_unfinished(self) -> None:
        """After a cancelled run: hand over each request's completions as far as they got."""
        for number in list(self.waiting):
            progress = self.waiting.pop(number)
            self.deliver(progress.key, progress.result(self.sampler.base_name))

    def deliver_deferred(self) -> None:
        """After a stopped run: requests still waiting for their adapter end empty, as unfinished ones do."""
        for key, prepared in self.deferred:
            self.deliver(
                key,
                _RequestProgress(key, prepared.request, prepared.prompt_tokens).result(
                    self.sampler.base_name
                ),
            )
        self.deferred = []

    def fail_all(self, error: BaseException) -> None:
        for number in list(self.waiting):
            self.deliver(self.waiting.pop(number).key, error)


class _RequestProgress:
    """One request of a continuous batch and the completions it has so far."""

    def __init__(self, key: Any, request: SamplingRequest, prompt_tokens: int) -> None:
        self.key, self.request, self.prompt_tokens = key, request, prompt_tokens
        self.completions: list[Completion | None] = [None] * request.n

    def result(self, base_name: str) -> SamplingResult:
        empty = Completion(text="", finish_reason="length", token_ids=())
        return SamplingResult(
            completions=tuple(c if c is not None else empty for c in self.completions),
            prompt_tokens=self.prompt_tokens,
            model=self.request.adapter or base_name,
        )


def _generator(seed: int, choice: int, device: Any) -> Any:
    """A generator for completion ``choice`` of a request seeded ``seed``: choices differ, reruns repeat."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed((seed * 1_000_003 + choice) % (2**63))
    return generator


def _end_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end an answer: the tokenizer's EOS and any the generation config adds."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (tokenizer.eos_token_id, configured):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def _checked_adapter_folder(path: Path) -> Path:
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"{path} is not a PEFT adapter folder (no adapter_config.json)")
    return path.resolve()


class _progress:
    """A rich progress bar over completions when asked for, else a no-op ``advance``."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self._bar = enabled, total, None

    def __enter__(self):
        if not self.enabled:
            return lambda count: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("sampling", total=self.total)
        return lambda count: self._bar.advance(task, count)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()
