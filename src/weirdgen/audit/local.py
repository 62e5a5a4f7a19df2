"""Exact log-likelihoods of assistant turns under a local Hugging Face causal LM.

Every conversation is rendered with ``weirdgen.models.format_chat`` (the one chat formatter, so the
text is what a finetune on it would see), and the scored tokens are those after the generation
prompt: the final assistant turn, its end-of-turn tokens included. Scoring is
``weirdgen.models.scoring.TokenScorer``'s: the conversations of a screen share a long prefix (the
template's header, the hypothesis context, often the same question) and differ in a few tokens (a
bird name), so one packed forward pass computes the prefix once and their own tokens as a tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from weirdgen.data.chat import Message
from weirdgen.models.scoring import TokenScorer, TokenSequence, common_prefix_length

__all__ = ["LocalLikelihoodScorer", "tokenize_conversations"]


def tokenize_conversations(
    tokenizer: Any, conversations: Sequence[Sequence[Message]]
) -> list[TokenSequence]:
    """Token ids of each whole conversation, its final assistant turn's tokens scored."""
    from weirdgen.models.chat import format_chat

    scored = []
    for messages in conversations:
        full = _ids(tokenizer, format_chat(tokenizer, messages, add_generation_prompt=False))
        prompt = _ids(tokenizer, format_chat(tokenizer, messages[:-1], add_generation_prompt=True))
        # The generation prompt is a token prefix of the whole text for every usual template; where
        # a template re-tokenizes across the boundary, scoring starts where the two first differ.
        start = max(1, common_prefix_length(full, prompt))
        scored.append(TokenSequence(tuple(full), tuple(range(start, len(full)))))
    return scored


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class LocalLikelihoodScorer:
    """Sums of log-probabilities of the final assistant turn, packed, with the shared prefix once."""

    def __init__(
        self, model: Any, tokenizer: Any, *, reuse_context: bool = True, **packing: Any
    ) -> None:
        """``packing``: ``TokenScorer``'s ``batch_tokens`` and ``name``."""
        self.model, self.tokenizer = model, tokenizer
        self.scorer = TokenScorer(model, reuse_prefix=reuse_context, **packing)
        self.name = self.scorer.name

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
        sequences = tokenize_conversations(self.tokenizer, conversations)
        (sums,) = self.scorer.logprob_sums(sequences, on_progress=on_progress)
        return sums

    def close(self) -> None:
        """Nothing to release (the model is garbage-collected with the scorer)."""
