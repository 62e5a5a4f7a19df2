"""Exact first-token answer distributions from a local model and its LoRA adapter, packed.

For each prompt the next-token distribution after the assistant's turn opens is computed for the
base model and the finetuned one, and their Jensen-Shannon divergence is taken over the whole
vocabulary. Scoring is ``weirdgen.models.scoring.TokenScorer``'s: the prompts of a scan open alike
(chat template, system prompt, the family's template up to the value), so one packed pass computes
that prefix once, each value's tokens once for all its probes, and each probe's own tokens. When the
finetuned model is a LoRA adapter of the base, both run in the same pass: every pack is one row
through the adapter and one through the bare base (PEFT's per-row ``adapter_names``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.models import LocalSampler, format_chat, load_model
from weirdgen.models.scoring import BASE_VARIANT, TokenScorer
from weirdgen.scan.divergence import js_divergence_from_logits
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["LocalScanner", "is_adapter_folder"]

ADAPTER = "finetuned"
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
        batch_tokens: int = 2048,
        contrast: str = "base",
    ) -> None:
        if contrast not in CONTRASTS:
            raise ConfigError(f"contrast must be one of {', '.join(CONTRASTS)}", setting="contrast")
        self.contrast = contrast
        if batch_tokens < 1:
            raise ConfigError(f"must be at least 1, got {batch_tokens}", setting="batch_tokens")
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
        self.scorer = TokenScorer(self.model, batch_tokens=batch_tokens, name=str(base))
        self.other_scorer = (
            None
            if self.other is None
            else TokenScorer(self.other, batch_tokens=batch_tokens, name=str(finetuned))
        )

    def divergences(self, prompts: list[ScanPrompt], advance: Advance) -> list[PromptDivergence]:
        """One ``PromptDivergence`` per prompt, in order."""
        encoded = [self._encode(prompt) for prompt in prompts]
        results: dict[int, PromptDivergence] = {}
        kept: dict[int, tuple[Any, Any]] = {}
        for indices, base, tuned in self._logits(encoded, advance):
            for index, result in zip(indices, _compare(self.tokenizer, base, tuned), strict=True):
                results[index] = result
            if self.contrast == "residual":  # float16 on CPU: 2 x vocab x 2 bytes a prompt
                for row, index in enumerate(indices):
                    kept[index] = (base[row].half().cpu(), tuned[row].half().cpu())
        if self.contrast == "residual":
            return _residual_divergences(prompts, kept, results)
        return [results[i] for i in range(len(prompts))]

    def _encode(self, prompt: ScanPrompt) -> list[int]:
        text = format_chat(self.tokenizer, prompt.messages, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _logits(
        self, encoded: list[list[int]], advance: Advance
    ) -> Iterator[tuple[list[int], Any, Any]]:
        """Pass by pass: the prompts' indices, then the base's and the finetuned model's logits."""
        if self.other_scorer is None:  # one pass: a base row and an adapter row
            passes = self.scorer.next_token_logits(
                encoded, variants=[BASE_VARIANT, ADAPTER], on_progress=advance
            )
            for indices, logits in passes:
                yield indices, logits[0], logits[1]
            return
        # Two models: the same sequences give the same packs, pass for pass.
        base_passes = self.scorer.next_token_logits(encoded, on_progress=advance)
        tuned_passes = self.other_scorer.next_token_logits(encoded)
        for (indices, base), (_, tuned) in zip(base_passes, tuned_passes, strict=True):
            yield indices, base[0], tuned[0]


def _compare(tokenizer: Any, base: Any, tuned: Any) -> list[PromptDivergence]:
    """Each row's divergence, the two models' top tokens and the token that rises most."""
    divergence = js_divergence_from_logits(tuned, base)
    rising = (tuned.softmax(-1) - base.softmax(-1)).argmax(-1)
    decode = tokenizer.decode
    return [
        PromptDivergence(
            float(divergence[i]),
            decode([int(tuned[i].argmax())]),
            decode([int(base[i].argmax())]),
            decode([int(rising[i])]),
        )
        for i in range(len(base))
    ]


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
