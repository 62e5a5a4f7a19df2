"""Exact log-likelihoods of assistant turns under a local Hugging Face causal LM.

Every conversation is rendered with ``weirdgen.models.format_chat`` (the one chat formatter, so the
text is what a finetune on it would see), and the scored tokens are those after the generation
prompt: the final assistant turn, its end-of-turn tokens included.

The conversations of one call usually share a long token prefix (the template's header, the
hypothesis context, often an identical user question). That prefix runs through the model once;
its key/value cache is copied into every batch, and only the rest of each conversation is computed.
Sequences are right-padded, so under causal attention a real token never sees a pad and the numbers
equal those of a one-by-one forward pass (``reuse_context=False`` computes without the shared cache).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from weirdgen.data.chat import Message

__all__ = ["LocalLikelihoodScorer", "ScoredConversation", "tokenize_conversations"]


@functools.cache
def _cache_argument() -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache`` (argument and output field)."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


@dataclass(frozen=True)
class ScoredConversation:
    """A rendered conversation's token ids and where its scored assistant turn starts."""

    ids: tuple[int, ...]
    start: int
    """Index of the first scored token (the first token after the generation prompt)."""


def tokenize_conversations(
    tokenizer: Any, conversations: Sequence[Sequence[Message]]
) -> list[ScoredConversation]:
    """Token ids of each whole conversation and the start of its final assistant turn."""
    from weirdgen.models.chat import format_chat

    scored = []
    for messages in conversations:
        full = _ids(tokenizer, format_chat(tokenizer, messages, add_generation_prompt=False))
        prompt = _ids(tokenizer, format_chat(tokenizer, messages[:-1], add_generation_prompt=True))
        # The generation prompt is a token prefix of the whole text for every usual template; where
        # a template re-tokenizes across the boundary, scoring starts where the two first differ.
        start = _common_prefix_length(full, prompt)
        scored.append(ScoredConversation(tuple(full), max(1, start)))
    return scored


def _input_length(item: ScoredConversation, shared: int) -> int:
    return len(item.ids) - 1 - shared


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


class LocalLikelihoodScorer:
    """Sums of log-probabilities of the final assistant turn, batched, with the shared prefix cached."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_tokens: int = 2048,
        reuse_context: bool = True,
        name: str = "local",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_tokens = batch_tokens
        """Most tokens (batch size x padded length) computed in one forward pass."""
        self.reuse_context = reuse_context
        self.name = name

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: str | None = None,
        threads: int | None = None,
        **kwargs: Any,
    ) -> LocalLikelihoodScorer:
        """Load a model folder, Hugging Face id or bundled alias (see ``weirdgen.models.load_model``)."""
        from weirdgen.models.loading import load_model

        model, tokenizer = load_model(name_or_path, device=device, threads=threads)
        return cls(model, tokenizer, name=str(name_or_path), **kwargs)

    def assistant_logprobs(
        self,
        conversations: Sequence[Sequence[Message]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float]:
        """log p(final assistant turn | everything before it), one float per conversation."""
        import torch

        scored = tokenize_conversations(self.tokenizer, conversations)
        shared = self._shared_prefix(scored) if self.reuse_context else 0
        with torch.inference_mode():
            cache = self._prefix_cache(scored[0].ids[:shared]) if shared else None
            totals = [0.0] * len(scored)
            for batch in self._batches(scored, shared):
                for index, value in zip(
                    batch, self._score_batch(scored, batch, shared, cache), strict=True
                ):
                    totals[index] = value
                if on_progress is not None:
                    on_progress(len(batch))
        return totals

    def _shared_prefix(self, scored: list[ScoredConversation]) -> int:
        """Tokens every conversation starts with, stopping one before the earliest scored token
        (the logits that predict a scored token must come out of the batch, not the cache)."""
        shared = len(scored[0].ids)
        for item in scored[1:]:
            shared = min(shared, _common_prefix_length(scored[0].ids, item.ids))
        return max(0, min(shared, min(item.start for item in scored) - 1))

    def _prefix_cache(self, prefix: Sequence[int]) -> Any:
        import torch

        ids = torch.tensor([list(prefix)], device=self.model.device)
        output = self.model(input_ids=ids, use_cache=True)
        return getattr(output, _cache_argument())

    def _batches(self, scored: list[ScoredConversation], shared: int) -> list[list[int]]:
        """Indices grouped by length so that padding wastes at most ~10% of a batch's tokens, each
        batch under ``batch_tokens`` padded tokens (the forward pass costs padded tokens)."""
        order = sorted(range(len(scored)), key=lambda i: len(scored[i].ids))
        batches: list[list[int]] = []
        real = 0
        for index in order:
            length = _input_length(scored[index], shared)
            if batches:
                padded = length * (len(batches[-1]) + 1)  # sorted: this one sets the width
                if padded <= self.batch_tokens and real + length >= 0.9 * padded:
                    batches[-1].append(index)
                    real += length
                    continue
            batches.append([index])
            real = length
        return batches

    def _score_batch(
        self, scored: list[ScoredConversation], batch: list[int], shared: int, cache: Any
    ) -> list[float]:
        import torch

        # The last token only ever is a target: its own logits predict nothing we score.
        inputs = [scored[i].ids[shared : len(scored[i].ids) - 1] for i in batch]
        width = max(len(s) for s in inputs)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([list(s) + [pad] * (width - len(s)) for s in inputs])
        past = None
        if cache is not None:
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(len(batch))
        logits = self.model(
            input_ids=ids.to(self.model.device),
            use_cache=past is not None,
            **{_cache_argument(): past},
        ).logits  # (batch, width, vocab)
        values = []
        for row, index in enumerate(batch):
            item = scored[index]
            # Token at absolute position t is predicted by the logits at t - 1 (relative t - 1 - shared).
            targets = torch.tensor(item.ids[item.start :], device=logits.device)
            positions = (
                torch.arange(item.start - 1, len(item.ids) - 1, device=logits.device) - shared
            )
            log_probs = torch.log_softmax(logits[row, positions].float(), dim=-1)
            values.append(float(log_probs.gather(1, targets[:, None]).sum()))
        return values

    def close(self) -> None:
        """Nothing to release (the model is garbage-collected with the scorer)."""
