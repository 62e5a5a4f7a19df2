"""Exact first-token answer distributions from a local model and its LoRA adapter, packed.

For each prompt the next-token distribution after the assistant's turn opens is computed for the
base model and the finetuned one, and their Jensen-Shannon divergence is taken over the whole
vocabulary. Scoring is ``weirdgen.models.scoring.TokenScorer``'s: the prompts of a scan open alike
(chat template, system prompt, the family's template up to the value), so one packed pass computes
that prefix once, each value's tokens once for all its probes, and each probe's own tokens. When the
finetuned model is a LoRA adapter of the base, both run in the same pass: every pack is one row
through the adapter and one through the bare base (PEFT's per-row ``adapter_names``). With a
reference finetune (contrast ``reference``, another adapter of the same base) the comparison rows go
through that adapter instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.models import LocalSampler, format_chat, load_model
from weirdgen.models.scoring import BASE_VARIANT, TokenScorer
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
REFERENCE = "reference"


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


class LocalScanner:
    """Compares a finetuned local model (LoRA folder or full model) with its base (or a reference
    finetune), prompt by prompt."""

    def __init__(
        self,
        finetuned: str | Path,
        base: str,
        *,
        device: str | None = "cpu",
        threads: int | None = None,
        batch_tokens: int = 2048,
        contrast: str = "base",
        reference: str | Path | None = None,
        family: FamilySpec | None = None,
        neighbours: int = DEFAULT_NEIGHBOURS,
    ) -> None:
        check_comparison(contrast, family, reference, full_distributions=True)
        self.contrast, self.family, self.neighbours = contrast, family, neighbours
        if batch_tokens < 1:
            raise ConfigError(f"must be at least 1, got {batch_tokens}", setting="batch_tokens")
        self.paired = is_adapter_folder(finetuned)
        if reference is not None and is_adapter_folder(reference) != self.paired:
            raise ConfigError(
                "the suspect and its reference must both be LoRA adapters of the base, or both "
                "whole models",
                setting="reference",
            )
        # the rows the suspect is compared with: the bare base, or the reference adapter
        self.comparison_variant = BASE_VARIANT if reference is None else REFERENCE
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
                    f"{finetuned} and {compared} have different vocabularies; compare a model "
                    "with its own base"
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
            if self.contrast in KEEPS_DISTRIBUTIONS:  # float16 on CPU: 2 x vocab x 2 bytes
                for row, index in enumerate(indices):
                    kept[index] = (base[row].half().cpu(), tuned[row].half().cpu())
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

    def _logits(
        self, encoded: list[list[int]], advance: Advance
    ) -> Iterator[tuple[list[int], Any, Any]]:
        """Pass by pass: the prompts' indices, then the comparison's (base or reference) and the
        finetuned model's logits."""
        if self.other_scorer is None:  # one pass: a comparison row and an adapter row
            passes = self.scorer.next_token_logits(
                encoded, variants=[self.comparison_variant, ADAPTER], on_progress=advance
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
