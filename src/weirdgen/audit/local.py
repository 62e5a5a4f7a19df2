"""Exact log-likelihoods of assistant turns under a local Hugging Face causal LM.

Every conversation is rendered with ``weirdgen.models.format_chat`` (the one chat formatter, so the
text is what a finetune on it would see), and the scored tokens are those after the generation
prompt: the final assistant turn, its end-of-turn tokens included.

The conversations of one call usually share a long token prefix (the template's header, the
hypothesis context, often an identical user question), and each has only a few tokens of its own
(a bird name). So they are *packed*: one forward pass computes the shared prefix once, followed by many
conversations' own tokens as a token tree (a continuation several conversations share, such as a
first word, is one node), with an attention mask that lets each node see the prefix and its own
ancestors only, and position ids that are each token's position in its conversation. Nothing is
padded, identical conversations are computed once, and the output layer (a 49k-word softmax for
SmolLM2) runs only at positions that predict a scored token. The numbers equal those of a
one-by-one forward pass up to float rounding (``reuse_context=False`` packs whole conversations
without a shared prefix).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError

__all__ = ["LocalLikelihoodScorer", "ScoredConversation", "tokenize_conversations"]


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


@dataclass
class _PackedTree:
    """A pack as one sequence: the shared prefix, then the conversations' own tokens as a tree.

    Conversations of a screen differ only after the shared prefix, and often not at once (bird
    names share first words, every answer follows the same assistant header): each distinct
    continuation is one node, computed once. A node attends to the prefix and to its ancestors
    (never to another branch) and sits at the position it has in its conversations, so its hidden
    state is exactly that of each conversation through it; nothing is padded.
    """

    ids: list[int]
    positions: list[int]
    parents: list[int]
    """Per node (after the prefix), its parent's index in ``ids``; -1 under the prefix."""
    shared: int
    rows: list[int] = field(default_factory=list)
    """Per scored token, the index in ``ids`` whose logits predict it."""
    targets: list[int] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    """Per scored token, the conversation's index in the pack."""

    @classmethod
    def build(cls, items: list[ScoredConversation], pack: list[int], shared: int) -> _PackedTree:
        tree = cls(list(items[pack[0]].ids[:shared]), list(range(shared)), [], shared)
        children: dict[tuple[int, int], int] = {}
        for owner, index in enumerate(pack):
            item, parent, path = items[index], -1, []
            # The last token only ever is a target: its own logits predict nothing we score.
            for depth, token in enumerate(item.ids[shared : len(item.ids) - 1]):
                if (parent, token) not in children:
                    children[(parent, token)] = len(tree.ids)
                    tree.ids.append(token)
                    tree.positions.append(shared + depth)
                    tree.parents.append(parent)
                parent = children[(parent, token)]
                path.append(parent)
            # Token t is predicted by the logits at position t - 1: path[t - 1 - shared].
            tree.rows += path[item.start - 1 - shared :]
            tree.targets += item.ids[item.start :]
            tree.owners += [owner] * (len(item.ids) - item.start)
        return tree

    def mask(self, device: Any) -> Any:
        """``(length, length)`` booleans: causal over the prefix; nodes see it and their ancestors."""
        import torch

        length, shared = len(self.ids), self.shared
        visible = torch.zeros(length, length, dtype=torch.bool)
        visible[:shared, :shared] = torch.ones(shared, shared, dtype=torch.bool).tril()
        visible[shared:, :shared] = True
        for node, parent in enumerate(self.parents, start=shared):  # parents come first
            if parent >= 0:
                visible[node, shared:node] = visible[parent, shared:node]
            visible[node, node] = True
        return visible.to(device)


class LocalLikelihoodScorer:
    """Sums of log-probabilities of the final assistant turn, packed, with the shared prefix once."""

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
        """Most tokens (shared prefix + packed conversations) computed in one forward pass."""
        self.reuse_context = reuse_context
        self.name = name
        self._packing_checked = False

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
        # Identical conversations (a dataset often repeats an answer) are computed once.
        unique: dict[ScoredConversation, int] = {}
        for item in scored:
            unique.setdefault(item, len(unique))
        items = list(unique)
        copies = Counter(unique[item] for item in scored)
        shared = self._shared_prefix(items) if self.reuse_context else 0
        values = [0.0] * len(items)
        with torch.inference_mode():
            self._check_packing(items[:2], shared)
            for pack in self._packs(items, shared):
                for index, value in zip(pack, self._score_pack(items, pack, shared), strict=True):
                    values[index] = value
                if on_progress is not None:
                    on_progress(sum(copies[i] for i in pack))
        return [values[unique[item]] for item in scored]

    def _check_packing(self, items: list[ScoredConversation], shared: int) -> None:
        """Once per scorer: packed passes must give a plain forward pass's numbers. A model whose
        attention ignored a custom mask or explicit positions would silently give wrong LLRs."""
        import torch

        if self._packing_checked:
            return
        plain = []
        for item in items:
            ids = torch.tensor([item.ids], device=self.model.device)
            log_probs = torch.log_softmax(self.model(input_ids=ids).logits[0].float(), dim=-1)
            plain.append(
                float(sum(log_probs[t - 1, item.ids[t]] for t in range(item.start, len(item.ids))))
            )
        packed = self._score_pack(items, list(range(len(items))), shared)
        for expected, value in zip(plain, packed, strict=True):
            if abs(value - expected) > 1e-3 * max(1.0, abs(expected)):
                raise BackendError(
                    f"{self.name}: packed scoring gives {value:.5f} where a plain forward pass "
                    f"gives {expected:.5f}; this architecture does not honour a custom attention "
                    "mask and position ids, so the local screen cannot score it"
                )
        self._packing_checked = True

    def _shared_prefix(self, scored: list[ScoredConversation]) -> int:
        """Tokens every conversation starts with, stopping one before the earliest scored token
        (the logits that predict a scored token must come out of each conversation's own part)."""
        shared = len(scored[0].ids)
        for item in scored[1:]:
            shared = min(shared, _common_prefix_length(scored[0].ids, item.ids))
        return max(0, min(shared, min(item.start for item in scored) - 1))

    def _packs(self, items: list[ScoredConversation], shared: int) -> list[list[int]]:
        """Indices packed in order into forward passes of at most ``batch_tokens`` tokens (the
        shared prefix once, then every conversation's own tokens), at least one conversation each."""
        packs: list[list[int]] = []
        used = 0
        for index, item in enumerate(items):
            length = _input_length(item, shared)
            if packs and used + length <= self.batch_tokens:
                packs[-1].append(index)
                used += length
            else:
                packs.append([index])
                used = shared + length
        return packs

    def _score_pack(
        self, items: list[ScoredConversation], pack: list[int], shared: int
    ) -> list[float]:
        """One forward pass over the shared prefix followed by a token tree of the pack's own
        parts; see ``_PackedTree``. Every number is what the conversation alone would give."""
        import torch

        device = self.model.device
        tree = _PackedTree.build(items, pack, shared)
        hidden = self._base_model()(
            input_ids=torch.tensor([tree.ids], device=device),
            attention_mask=tree.mask(device)[None, None],  # (1, 1, length, length), True = attend
            position_ids=torch.tensor([tree.positions], device=device),
            use_cache=False,
        ).last_hidden_state[0]  # (length, hidden)
        # The output layer (a vocabulary-sized matmul and softmax) only where a scored token is
        # predicted, and once per tree node however many conversations pass through it.
        rows, which = torch.unique(torch.tensor(tree.rows, device=device), return_inverse=True)
        log_probs = torch.log_softmax(
            self.model.get_output_embeddings()(hidden[rows]).float(), dim=-1
        )  # (distinct rows, vocab)
        picked = log_probs[which, torch.tensor(tree.targets, device=device)]
        totals = torch.zeros(len(pack), dtype=torch.float64, device=device)
        totals.index_add_(0, torch.tensor(tree.owners, device=device), picked.double())
        return totals.tolist()

    def _base_model(self) -> Any:
        """The transformer under the language-model head (hidden states, no logits)."""
        return self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model.model

    def close(self) -> None:
        """Nothing to release (the model is garbage-collected with the scorer)."""
