"""Exact first-token answer distributions from a local model and its LoRA adapter, batched.

For each prompt the next-token distribution after the assistant's turn opens is computed for the
base model and the finetuned one, and their Jensen-Shannon divergence is taken over the whole
vocabulary. When the finetuned model is a LoRA adapter of the base, both go through one forward
pass: every prompt appears twice in the batch, once routed through the adapter and once through
the bare base model (PEFT's per-row ``adapter_names``). With a reference finetune (contrast
``reference``, another adapter of the same base) the comparison rows go through that adapter instead.

All prompts of a scan open alike (chat template, system prompt, the family's template up to the
value), so the tokens they share are run once per model and their key/value cache reused by every
batch; only the rest of each prompt is computed per row. On SmolLM2 that halves the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.models import LocalSampler, format_chat, load_model
from weirdgen.scan.contrasts import (
    DEFAULT_NEIGHBOURS,
    KEEPS_DISTRIBUTIONS,
    check_comparison,
    neighbour_lists,
    probe_groups,
    residual_divergences,
    second_difference_divergences,
)
from weirdgen.scan.divergence import js_divergence_from_logits
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["LocalScanner", "is_adapter_folder"]

ADAPTER = "finetuned"
BASE_ROW = "__base__"  # PEFT's name for "no adapter" in a mixed batch
REFERENCE = "reference"
SHARING = ("tree", "root")
"""How much of the prompts' shared tokens is reused: root, branches and suffixes (``tree``), or
only the prefix every prompt shares (``root``, kept to measure what the tree saves)."""


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


class LocalScanner:
    """Compares a finetuned local model (LoRA folder or full model) with its base, prompt by prompt."""

    def __init__(
        self,
        finetuned: str | Path,
        base: str,
        *,
        device: str | None = "cpu",
        threads: int | None = None,
        batch_size: int = 16,
        contrast: str = "base",
        sharing: str = "tree",
        reference: str | Path | None = None,
        family: FamilySpec | None = None,
        neighbours: int = DEFAULT_NEIGHBOURS,
    ) -> None:
        if sharing not in SHARING:
            raise ConfigError(f"sharing must be one of {', '.join(SHARING)}", setting="sharing")
        self.sharing = sharing
        check_comparison(contrast, family, reference, full_distributions=True)
        self.contrast, self.family, self.neighbours = contrast, family, neighbours
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.paired = is_adapter_folder(finetuned)
        if reference is not None and is_adapter_folder(reference) != self.paired:
            raise ConfigError(
                "the suspect and its reference must both be LoRA adapters of the base, or both "
                "whole models",
                setting="reference",
            )
        # the rows the suspect is compared with: the bare base, or the reference adapter
        self.comparison_row = BASE_ROW if reference is None else REFERENCE
        if self.paired:
            adapters = {ADAPTER: finetuned, **({REFERENCE: reference} if reference else {})}
            sampler = LocalSampler.from_pretrained(
                base, adapters=adapters, device=device, threads=threads
            )
            self.model, self.tokenizer = sampler.model, sampler.tokenizer
            self.other = None
        else:
            compared = reference if reference is not None else base
            self.model, self.tokenizer = load_model(compared, device=device, threads=threads)
            self.other, _ = load_model(finetuned, device=device, threads=threads)
            if self.other.config.vocab_size != self.model.config.vocab_size:
                raise ConfigError(
                    f"{finetuned} and {base} have different vocabularies; compare a model with its own base"
                )
        self.device = next(self.model.parameters()).device

    def divergences(self, prompts: list[ScanPrompt], advance: Advance) -> list[PromptDivergence]:
        """One ``PromptDivergence`` per prompt, in order."""
        import torch

        encoded = [self._encode(prompt) for prompt in prompts]
        tree = PrefixTree.of(
            encoded, [prompt.value for prompt in prompts], branches=self.sharing == "tree"
        )
        results: dict[int, PromptDivergence] = {}
        kept: dict[int, tuple[Any, Any]] = {}
        with torch.inference_mode():
            root = self._prefix_caches(encoded[0][: tree.shared])
            branches = self._branch_caches(tree, root)
            for batch in tree.batches(self.batch_size):
                rows = [tree.suffix(i) for i in batch]
                groups = [tree.group_of[i] for i in batch]
                compared, logits = self._compare(rows, root, branches, groups)
                for position, (index, result) in enumerate(zip(batch, compared, strict=True)):
                    results[index] = result
                    if self.contrast in KEEPS_DISTRIBUTIONS:  # float16: 2 x vocab x 2 bytes
                        kept[index] = (
                            logits[0][position].half().cpu(),
                            logits[1][position].half().cpu(),
                        )
                advance(len(batch))
        if self.contrast in KEEPS_DISTRIBUTIONS:
            return self._contrasted(prompts, kept, results)
        return [results[i] for i in range(len(prompts))]

    def _contrasted(
        self,
        prompts: list[ScanPrompt],
        kept: dict[int, tuple[Any, Any]],
        plain: dict[int, PromptDivergence],
    ) -> list[PromptDivergence]:
        """The residual or second-difference divergences from every prompt's kept logits."""
        import torch

        base = torch.stack([kept[i][0] for i in range(len(prompts))])
        tuned = torch.stack([kept[i][1] for i in range(len(prompts))])
        if self.contrast == "residual":
            divergence = residual_divergences(tuned, base, probe_groups(prompts))
        else:
            assert self.family is not None
            around = neighbour_lists(prompts, self.family, self.neighbours)
            divergence = second_difference_divergences(tuned, base, around)
        return [
            PromptDivergence(
                float(divergence[i]), plain[i].finetuned_top, plain[i].base_top, plain[i].rising
            )
            for i in range(len(prompts))
        ]

    def _encode(self, prompt: ScanPrompt) -> list[int]:
        text = format_chat(self.tokenizer, prompt.messages, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _prefix_caches(self, prefix: list[int]) -> dict[str, Any]:
        """Per-layer (keys, values) of the shared prefix, for the base and the finetuned model."""
        if not prefix:
            return {}
        if self.paired:
            names = [self.comparison_row, ADAPTER]
            caches = self._forward(self.model, [prefix], {}, names, prefix_rows=2)[1]
            return {"base": _cache_slice(caches, 0), "tuned": _cache_slice(caches, 1)}
        return {
            "base": self._forward(self.model, [prefix], {}, None)[1],
            "tuned": self._forward(self.other, [prefix], {}, None)[1],
        }

    def _branch_caches(self, tree: PrefixTree, root: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Per group of prompts (one family value), the keys and values of the tokens its prompts
        share after the root prefix (the value's own text), for both models; run once a group,
        groups of one length batched together, so every probe of a value reuses them."""
        branches: dict[int, dict[str, Any]] = {}
        for groups in tree.branch_batches(self.batch_size):
            rows, n, offset = [tree.branch(g) for g in groups], len(groups), tree.shared
            if self.paired:
                past = _past_for_rows(root, {}, groups, ("base", "tuned"))
                names = [self.comparison_row] * n + [ADAPTER] * n
                cache = self._forward(self.model, rows + rows, past, names, logits=False)[1]
                parts = {
                    "base": _cache_rows(cache, 0, n, offset),
                    "tuned": _cache_rows(cache, n, n, offset),
                }
            else:
                parts = {}
                for which, model in (("base", self.model), ("tuned", self.other)):
                    past = _past_for_rows(root, {}, groups, (which,))
                    cache = self._forward(model, rows, past, None, logits=False)[1]
                    parts[which] = _cache_rows(cache, 0, n, offset)
            for row, group in enumerate(groups):
                branches[group] = {which: layers[row] for which, layers in parts.items()}
        return branches

    def _compare(
        self,
        rows: list[list[int]],
        root: dict[str, Any],
        branches: dict[int, dict[str, Any]],
        groups: list[int],
    ) -> tuple[list[PromptDivergence], tuple[Any, Any]]:
        n = len(rows)
        if self.paired:
            past = _past_for_rows(root, branches, groups, ("base", "tuned"))
            names = [self.comparison_row] * n + [ADAPTER] * n
            logits = self._forward(self.model, rows + rows, past, names)[0]
            base, tuned = logits[:n], logits[n:]
        else:
            past = _past_for_rows(root, branches, groups, ("base",))
            base = self._forward(self.model, rows, past, None)[0]
            past = _past_for_rows(root, branches, groups, ("tuned",))
            tuned = self._forward(self.other, rows, past, None)[0]
        divergence = js_divergence_from_logits(tuned, base)
        rising = (tuned.softmax(-1) - base.softmax(-1)).argmax(-1)
        decode = self.tokenizer.decode
        return [
            PromptDivergence(
                float(divergence[i]),
                decode([int(tuned[i].argmax())]),
                decode([int(base[i].argmax())]),
                decode([int(rising[i])]),
            )
            for i in range(n)
        ], (base, tuned)

    def _forward(
        self,
        model: Any,
        rows: list[list[int]],
        past: Any,
        adapter_names: list[str] | None,
        *,
        prefix_rows: int = 0,
        logits: bool = True,
    ) -> tuple[Any, Any]:
        """Next-token logits after each right-padded row [rows, vocab], and the new cache.

        ``past`` holds the cache of the tokens before the rows (one copy per row), or is empty.
        ``prefix_rows`` > 0 runs the single row ``rows[0]`` that many times (the prefix pass);
        ``logits=False`` skips the vocabulary projection (only the cache is wanted).
        """
        import torch
        from transformers import DynamicCache

        if prefix_rows:
            rows = rows * prefix_rows
        width = max(len(row) for row in rows)
        lengths = torch.tensor([len(row) for row in rows], device=self.device)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        suffix_mask = (torch.arange(width, device=self.device)[None, :] < lengths[:, None]).long()
        cache = DynamicCache(ddp_cache_data=past) if past else DynamicCache()
        offset = past[0][0].shape[2] if past else 0
        mask = torch.cat(
            [torch.ones(len(rows), offset, dtype=torch.long, device=self.device), suffix_mask], 1
        )
        positions = (offset + torch.arange(width, device=self.device)).expand(len(rows), -1)
        last = lengths - 1
        # only these positions go through the vocabulary projection (one, if no logits are wanted)
        keep = torch.unique(last) if logits else last[:1]
        extra = {"adapter_names": adapter_names} if adapter_names else {}
        output = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{_cache_keyword(model): cache},
            logits_to_keep=keep,
            **extra,
        )
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        if not logits:
            return None, layers
        column = torch.searchsorted(keep, last)
        return output.logits[torch.arange(len(rows), device=self.device), column].float(), layers


@dataclass(frozen=True)
class PrefixTree:
    """The prompts as a tree of shared tokens: the root every prompt starts with (chat template,
    system prompt, the template up to the value), one branch per group of prompts (a family value:
    the value's own tokens, which every probe of it shares), and each prompt's own suffix (at
    least one token). Each level's keys and values are computed once and reused below it."""

    encoded: list[list[int]]
    shared: int
    """Length of the root."""
    group_of: list[int]
    """Each prompt's group."""
    branch_lengths: list[int]
    """Each group's branch length (0: its prompts share nothing after the root)."""
    first_of: list[int]
    """A prompt of each group (whose tokens spell the branch)."""

    @classmethod
    def of(cls, encoded: list[list[int]], keys: list[str], *, branches: bool = True) -> PrefixTree:
        """The tree of prompts grouped by ``keys``; without ``branches`` only the root is shared."""
        shared = _shared_prefix_length(encoded)
        index: dict[str, int] = {}
        group_of = [index.setdefault(key, len(index)) for key in keys]
        members: list[list[int]] = [[] for _ in index]
        for prompt, group in enumerate(group_of):
            members[group].append(prompt)
        lengths = [
            _shared_prefix_length([encoded[i][shared:] for i in m]) if branches else 0
            for m in members
        ]
        return cls(encoded, shared, group_of, lengths, [m[0] for m in members])

    def branch(self, group: int) -> list[int]:
        start = self.shared
        return self.encoded[self.first_of[group]][start : start + self.branch_lengths[group]]

    def suffix(self, prompt: int) -> list[int]:
        return self.encoded[prompt][self.shared + self.branch_lengths[self.group_of[prompt]] :]

    def branch_batches(self, size: int) -> list[list[int]]:
        """Groups with a branch, in batches of one branch length (no padding), at most ``size``."""
        groups = sorted((g for g, n in enumerate(self.branch_lengths) if n), key=self._length)
        return _cut(groups, size, self._length)

    def batches(self, size: int) -> list[list[int]]:
        """Prompts in batches of at most ``size`` whose past (root + branch) is one length, equal
        suffix lengths together so that little padding is left."""

        def order(i: int) -> tuple[int, int, int]:
            return (self.branch_lengths[self.group_of[i]], -len(self.suffix(i)), i)

        prompts = sorted(range(len(self.encoded)), key=order)
        return _cut(prompts, size, lambda i: self.branch_lengths[self.group_of[i]])

    def _length(self, group: int) -> int:
        return self.branch_lengths[group]


def _cut(items: list[int], size: int, key: Any) -> list[list[int]]:
    """Consecutive batches of at most ``size`` items, a new one wherever ``key`` changes."""
    batches: list[list[int]] = []
    for item in items:
        if batches and len(batches[-1]) < size and key(batches[-1][0]) == key(item):
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


def _cache_rows(
    cache: list[tuple[Any, Any]], start: int, n: int, offset: int
) -> list[list[tuple[Any, Any]]]:
    """Rows ``start .. start + n`` of a batch cache, each cut to its positions after ``offset``
    (copied, so the batch's tensors can be freed)."""
    return [
        [
            (k[row : row + 1, :, offset:].clone(), v[row : row + 1, :, offset:].clone())
            for k, v in cache
        ]
        for row in range(start, start + n)
    ]


def _past_for_rows(
    root: dict[str, Any],
    branches: dict[int, dict[str, Any]],
    groups: list[int],
    which: tuple[str, ...],
) -> list[tuple[Any, Any]]:
    """The cache a batch continues from: per model in ``which`` (rows stacked in that order), the
    root repeated for every row, then each row's branch (all rows' branches are one length)."""
    import torch

    has_branch = groups[0] in branches
    if not root and not has_branch:
        return []
    n = len(groups)
    layers = len(root[which[0]]) if root else len(branches[groups[0]][which[0]])
    past = []
    for layer in range(layers):
        pair = []
        for kv in (0, 1):
            parts = []
            for model in which:
                pieces = [root[model][layer][kv].expand(n, -1, -1, -1)] if root else []
                if has_branch:
                    pieces.append(torch.cat([branches[g][model][layer][kv] for g in groups]))
                parts.append(torch.cat(pieces, dim=2) if len(pieces) > 1 else pieces[0])
            pair.append(torch.cat(parts) if len(parts) > 1 else parts[0])
        past.append((pair[0], pair[1]))
    return past


def _cache_keyword(model: Any) -> str:
    """transformers 5 takes the KV cache as ``cache``; earlier versions as ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _shared_prefix_length(encoded: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each prompt at least one token of its own."""
    first = encoded[0]
    length = min(len(ids) for ids in encoded) - 1
    for ids in encoded[1:]:
        length = next((i for i in range(length) if ids[i] != first[i]), length)
    return max(length, 0)


def _cache_slice(cache: list[tuple[Any, Any]], row: int) -> list[tuple[Any, Any]]:
    return [(keys[row : row + 1], values[row : row + 1]) for keys, values in cache]
