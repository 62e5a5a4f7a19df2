"""The adapter-live canary: before a finetuned model is evaluated, check it is not its base model.

A silent null result is the costliest failure of this kind of research: a server that serves the
base model for an adapter name (Tinker's OpenAI-compatible /completions does this for LoRA sampler
checkpoints, tinker-feedback#125), an adapter that never loaded, or a LoRA whose B matrices are
still zero all produce a "finetuned" model that answers exactly like its base. On a few of the
model's own training prompts the canary asks for one of two signs of life:

- ``likelihood`` (local adapters, where weights are at hand): the training answers' mean per-token
  log-likelihood must be clearly higher under the adapter than under the base;
- ``answers`` (any sampler, e.g. an API or a vLLM server): greedy answers, or their token
  logprobs when the backend returns them, must differ from the base's on at least one prompt.

    for result in likelihood_canary(base_dir, {"my-adapter": (adapter_dir, canary_prompts(data))}):
        result.raise_if_dead()

With a ``CanaryCache`` (``weirdgen run`` keeps one in RUN_DIR/canary) each result is stored as it
is computed, keyed by everything that decides it (the adapter's weights, the base, the prompts),
so a rerun neither reloads a model nor sends a request for a model already checked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text, canonical_json, sha256_hex
from weirdgen.data.chat import ChatExample, read_chat_jsonl
from weirdgen.errors import BackendError
from weirdgen.models.adapters import adapter_fingerprint

__all__ = [
    "AdapterNotLiveError",
    "CanaryCache",
    "CanaryResult",
    "answers_canary",
    "canary_prompts",
    "likelihood_canary",
]

DEFAULT_PROMPTS = 4
MIN_GAIN_NATS = 0.01
"""Smallest gain in mean log-likelihood per answer token (nats) that counts as "clearly higher".
A base model served under an adapter's name gains exactly 0; a few training steps gain far more."""
_SAME = 1e-6  # below this the two models are numerically the same function
_LOGPROB_TOLERANCE = 1e-3  # logprobs of one model vary this much between batches; not a difference
_ADAPTER = "canary"  # the name the adapter under test is loaded as


class AdapterNotLiveError(BackendError):
    """A finetuned model behaves like its base model on its own training prompts."""


@dataclass(frozen=True)
class CanaryResult:
    """How a finetuned model compared with its base on a few of its training prompts."""

    model: str
    base_model: str
    method: str
    """"likelihood" (answers' log-likelihood per token) or "answers" (greedy answers and logprobs)."""
    finetuned_score: float
    """likelihood: mean log-likelihood per answer token under the adapter; answers: prompts differing."""
    base_score: float
    """likelihood: the same under the base; answers: 0."""
    prompts: int
    passed: bool
    cached: bool = False
    """True when the result was read from a ``CanaryCache``, not computed now."""

    @property
    def gain(self) -> float:
        return self.finetuned_score - self.base_score

    def describe(self) -> str:
        """One line for the run log."""
        cached = " (cached)" if self.cached else ""
        if self.method == "likelihood":
            return (
                f"canary {self.model}: training answers at {self.finetuned_score:.3f} nats/token vs "
                f"{self.base_score:.3f} for the base ({self.gain:+.3f}) on {self.prompts} prompts{cached}"
            )
        return f"canary {self.model}: {int(self.finetuned_score)}/{self.prompts} training prompts answered unlike the base{cached}"

    def raise_if_dead(self) -> CanaryResult:
        """Raise ``AdapterNotLiveError`` with the likely cause unless the model passed."""
        if self.passed:
            return self
        if self.method == "answers":
            cause = (
                "it answers every training prompt exactly like the base, so the server is probably "
                "serving the base model under the adapter's name (Tinker's OpenAI-compatible "
                "/completions does this, tinker-feedback#125) or the adapter was never loaded"
            )
        elif abs(self.gain) < _SAME:
            cause = (
                "the adapter changes nothing: its LoRA B weights are zero (training never updated "
                "it) or it is not applied to this base model"
            )
        else:
            cause = (
                f"the training answers gained only {self.gain:+.4f} nats/token (need {MIN_GAIN_NATS}): "
                "too few steps or too low a learning rate, or the wrong adapter"
            )
        raise AdapterNotLiveError(
            f"canary failed for {self.model} (base {self.base_model}): {cause}; "
            "pass --skip-canary to evaluate it anyway"
        )


class CanaryCache:
    """Canary results in a folder, one small JSON file per key, each written atomically: parallel
    tasks never write the same file, and a killed run keeps every result it finished."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def get(self, key: str, model: str) -> CanaryResult | None:
        """The stored result of ``key`` under the name ``model``, or None."""
        path = self.folder / f"{key}.json"
        if not path.is_file():
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        return dataclasses.replace(CanaryResult(**record), model=model, cached=True)

    def put(self, key: str, result: CanaryResult) -> None:
        record = dataclasses.asdict(result) | {"cached": False}
        atomic_write_text(self.folder / f"{key}.json", json.dumps(record, indent=2) + "\n")


def _key(**parts: Any) -> str:
    return sha256_hex(canonical_json(parts))


def _prompts_key(examples: list[ChatExample]) -> list[str]:
    return [e.content_hash() for e in examples]


def canary_prompts(dataset_path: str | Path, count: int = DEFAULT_PROMPTS) -> list[ChatExample]:
    """The first ``count`` training examples whose last turn is a trained assistant answer."""
    examples = [
        e
        for e in read_chat_jsonl(dataset_path)
        if e.messages and e.messages[-1].role == "assistant" and e.messages[-1].trained
    ]
    return examples[:count]


def likelihood_canary(
    base_model: str | Path,
    adapters: dict[str, tuple[str | Path, list[ChatExample]]],
    *,
    min_gain: float = MIN_GAIN_NATS,
    threads: int | None = None,
    cache: CanaryCache | None = None,
) -> list[CanaryResult]:
    """Compare the training answers' log-likelihood under each local LoRA adapter
    (name -> (folder, its training examples)) and under the base, loaded once (and not at all
    when ``cache`` holds every adapter's result)."""
    keys = {
        name: _key(
            method="likelihood",
            base=str(base_model),
            adapter=adapter_fingerprint(folder),
            prompts=_prompts_key(examples),
            min_gain=min_gain,
        )
        for name, (folder, examples) in adapters.items()
    }
    found = {name: cache.get(key, name) for name, key in keys.items()} if cache else {}
    missing = [name for name in adapters if found.get(name) is None]
    if missing:
        from peft import PeftModel

        from weirdgen.models.loading import load_model

        model, tokenizer = load_model(base_model, threads=threads)
        for name in missing:
            folder, examples = adapters[name]
            peft_model = PeftModel.from_pretrained(model, str(folder), adapter_name=_ADAPTER)
            finetuned, base = _mean_answer_logprobs(peft_model.eval(), tokenizer, examples)
            model = peft_model.unload()  # the bare base again, for the next adapter
            found[name] = CanaryResult(
                name,
                str(base_model),
                "likelihood",
                finetuned,
                base,
                len(examples),
                passed=finetuned - base >= min_gain,
            )
            if cache is not None:
                cache.put(keys[name], found[name])
    return [found[name] for name in adapters]  # type: ignore[misc]


def _mean_answer_logprobs(
    model: Any, tokenizer: Any, examples: list[ChatExample]
) -> tuple[float, float]:
    """Mean log-probability per supervised token under the adapter and under the bare base, in
    one packed pass each (``TokenScorer``), tokenized exactly as the trainer does."""
    from weirdgen.finetune.tokens import tokenize_example
    from weirdgen.models.scoring import BASE_VARIANT, TokenScorer, TokenSequence

    sequences = []
    for example in examples:
        item = tokenize_example(tokenizer, example)
        # Token 0 has no prefix to be predicted from: it is never scored.
        scored = tuple(t for t, keep in enumerate(item.supervised) if keep and t > 0)
        sequences.append(TokenSequence(item.input_ids, scored))
    tokens = max(sum(len(s.scored) for s in sequences), 1)
    finetuned, base = TokenScorer(model).logprob_sums(sequences, variants=[_ADAPTER, BASE_VARIANT])
    return sum(finetuned) / tokens, sum(base) / tokens


def answers_canary(
    sampler: Any,
    base_model: str,
    models: dict[str, list[ChatExample]],
    *,
    max_tokens: int = 24,
    cache: CanaryCache | None = None,
) -> list[CanaryResult]:
    """Greedy answers (and logprobs, if the sampler has them) of each model (name -> its training
    examples) vs ``base_model``; models whose result ``cache`` holds are not asked again. The
    sampler is closed afterwards: its connections belong to this call's event loop."""
    keys = {
        name: _key(
            method="answers",
            model=name,
            base=base_model,
            served_by=sampler.name,  # another server (or URL) is checked again
            prompts=_prompts_key(examples),
            max_tokens=max_tokens,
        )
        for name, examples in models.items()
    }
    found = {name: cache.get(key, name) for name, key in keys.items()} if cache else {}
    missing = {name: models[name] for name in models if found.get(name) is None}
    answers = asyncio.run(_answer_all(sampler, base_model, missing, max_tokens))
    for name, examples in missing.items():
        ours, base = answers[name]
        differing = sum(not _same_answer(a, b) for a, b in zip(ours, base, strict=True))
        found[name] = CanaryResult(
            name, base_model, "answers", float(differing), 0.0, len(examples), differing > 0
        )
        if cache is not None:
            cache.put(keys[name], found[name])
    return [found[name] for name in models]  # type: ignore[misc]


async def _answer_all(
    sampler: Any, base_model: str, models: dict[str, list[ChatExample]], max_tokens: int
) -> dict[str, tuple[list[Any], list[Any]]]:
    """Per model: its greedy answers to its training prompts, and the base's to the same prompts."""
    from weirdgen.sample.base import SampleRequest

    top = 5 if sampler.supports_logprobs else 0

    async def answer(name: str, examples: list[ChatExample]) -> list[Any]:
        requests = [
            SampleRequest(name, tuple(e.messages[:-1]), 0.0, max_tokens, top, seed=0)
            for e in examples
        ]
        return list(await asyncio.gather(*(sampler.complete(r) for r in requests)))

    async def pair(name: str, examples: list[ChatExample]) -> tuple[list[Any], list[Any]]:
        ours, base = await asyncio.gather(answer(name, examples), answer(base_model, examples))
        return ours, base

    try:
        names = list(models)
        pairs = await asyncio.gather(*(pair(n, models[n]) for n in names))
        return dict(zip(names, pairs, strict=True))
    finally:
        await sampler.aclose()


def _same_answer(ours: Any, theirs: Any) -> bool:
    if ours.text != theirs.text:
        return False
    for mine, other in zip(ours.logprobs, theirs.logprobs, strict=False):
        for token, logprob in mine.items():
            if token in other and not math.isclose(
                logprob, other[token], abs_tol=_LOGPROB_TOLERANCE
            ):
                return False
    return True
