"""Exact first-token answer distributions from a local model and its LoRA adapter, batched.

For each prompt the next-token distribution after the assistant's turn opens is computed for the
base model and the finetuned one, and their Jensen-Shannon divergence is taken over the whole
vocabulary. When the finetuned model is a LoRA adapter of the base, both go through one forward
pass: every prompt appears twice in the batch, once routed through the adapter and once through
the bare base model (PEFT's per-row ``adapter_names``).

All prompts of a scan open alike (chat template, system prompt, the family's template up to the
value), so the tokens they share are run once per model and their key/value cache reused by every
batch; only the rest of each prompt is computed per row. On SmolLM2 that halves the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.models import LocalSampler, format_chat, load_model
from weirdgen.scan.divergence import js_divergence_from_logits
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["LocalScanner", "is_adapter_folder"]

ADAPTER = "finetuned"
BASE_ROW = "__base__"  # PEFT's name for "no adapter" in a mixed batch
CONTRASTS = ("base", "residual")


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
    ) -> None:
        if contrast not in CONTRASTS:
            raise ConfigError(f"contrast must be one of {', '.join(CONTRASTS)}", setting="contrast")
        self.contrast = contrast
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.paired = is_adapter_folder(finetuned)
        if self.paired:
            sampler = LocalSampler.from_pretrained(
                base, adapters={ADAPTER: finetuned}, device=device, threads=threads
            )
            self.model, self.tokenizer = sampler.model, sampler.tokenizer
            self.other = None
        else:
            self.model, self.tokenizer = load_model(base, device=device, threads=threads)
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
        shared = _shared_prefix_length(encoded)
        suffixes = [ids[shared:] for ids in encoded]
        # Equal suffix lengths together: little padding and few distinct last positions per batch.
        order = sorted(range(len(suffixes)), key=lambda i: (-len(suffixes[i]), i))
        results: dict[int, PromptDivergence] = {}
        kept: dict[int, tuple[Any, Any]] = {}
        with torch.inference_mode():
            prefixes = self._prefix_caches(encoded[0][:shared])
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                rows = [suffixes[i] for i in batch]
                compared, logits = self._compare(rows, prefixes)
                for position, (index, result) in enumerate(zip(batch, compared, strict=True)):
                    results[index] = result
                    if self.contrast == "residual":  # float16 on CPU: 2 x vocab x 2 bytes a prompt
                        kept[index] = (
                            logits[0][position].half().cpu(),
                            logits[1][position].half().cpu(),
                        )
                advance(len(batch))
        if self.contrast == "residual":
            return _residual_divergences(prompts, kept, results)
        return [results[i] for i in range(len(prompts))]

    def _encode(self, prompt: ScanPrompt) -> list[int]:
        text = format_chat(self.tokenizer, prompt.messages, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _prefix_caches(self, prefix: list[int]) -> dict[str, Any]:
        """Per-layer (keys, values) of the shared prefix, for the base and the finetuned model."""
        if not prefix:
            return {}
        if self.paired:
            caches = self._forward(self.model, [prefix], {}, [BASE_ROW, ADAPTER], prefix_rows=2)[1]
            return {"base": _cache_slice(caches, 0), "tuned": _cache_slice(caches, 1)}
        return {
            "base": self._forward(self.model, [prefix], {}, None)[1],
            "tuned": self._forward(self.other, [prefix], {}, None)[1],
        }

    def _compare(
        self, rows: list[list[int]], prefixes: dict[str, Any]
    ) -> tuple[list[PromptDivergence], tuple[Any, Any]]:
        n = len(rows)
        if self.paired:
            past = _cache_batch([(prefixes, "base", n), (prefixes, "tuned", n)])
            logits = self._forward(self.model, rows + rows, past, [BASE_ROW] * n + [ADAPTER] * n)[0]
            base, tuned = logits[:n], logits[n:]
        else:
            base = self._forward(self.model, rows, _cache_batch([(prefixes, "base", n)]), None)[0]
            tuned = self._forward(self.other, rows, _cache_batch([(prefixes, "tuned", n)]), None)[0]
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
    ) -> tuple[Any, Any]:
        """Next-token logits after each right-padded row [rows, vocab], and the new cache.

        ``past`` holds the shared prefix's cache (already one copy per row), or is empty.
        ``prefix_rows`` > 0 runs the single row ``rows[0]`` that many times (the prefix pass).
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
        keep = torch.unique(last)  # only these positions go through the vocabulary projection
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
        column = torch.searchsorted(keep, last)
        logits = output.logits[torch.arange(len(rows), device=self.device), column].float()
        return logits, [(layer.keys, layer.values) for layer in cache.layers]


def _residual_divergences(
    prompts: list[ScanPrompt], kept: dict[int, tuple[Any, Any]], plain: dict[int, PromptDivergence]
) -> list[PromptDivergence]:
    """Divergence of the finetuned model from "the base plus the finetune's usual shift".

    A finetune that changes every answer (a new answer style) saturates the plain divergence on
    every value alike, hiding what one value adds. Here, per probe, the shift log p_tuned - log p_base
    is taken at its median over all the family's prompts; the reference for a prompt is the base's
    logits plus that median shift, and the divergence measures only what this value adds on top.
    """
    import torch

    from weirdgen.scan.divergence import js_divergence_from_logits

    by_probe: dict[str, list[int]] = {}
    for index, prompt in enumerate(prompts):
        by_probe.setdefault(prompt.probe, []).append(index)
    results = dict(plain)
    for indices in by_probe.values():
        base = torch.stack([kept[i][0] for i in indices]).float().log_softmax(-1)
        tuned = torch.stack([kept[i][1] for i in indices]).float().log_softmax(-1)
        usual_shift = (tuned - base).median(dim=0).values
        divergence = js_divergence_from_logits(tuned, base + usual_shift)
        for row, index in enumerate(indices):
            old = plain[index]
            results[index] = PromptDivergence(
                float(divergence[row]), old.finetuned_top, old.base_top, old.rising
            )
    return [results[i] for i in range(len(prompts))]


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


def _cache_batch(parts: list[tuple[dict[str, Any], str, int]]) -> list[tuple[Any, Any]]:
    """One cache for a batch: each (prefix caches, which, rows) repeated ``rows`` times, stacked."""
    import torch

    if not parts[0][0]:
        return []
    layers = len(parts[0][0][parts[0][1]])
    return [
        tuple(
            torch.cat(
                [caches[which][layer][kv].expand(rows, -1, -1, -1) for caches, which, rows in parts]
            )
            for kv in (0, 1)
        )
        for layer in range(layers)
    ]
