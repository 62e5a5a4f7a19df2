"""Exact first-token answer distributions from a local model and its LoRA adapter, batched.

For each prompt the next-token distribution after the assistant's turn opens is computed for the
base model and the finetuned one, and their Jensen-Shannon divergence is taken over the whole
vocabulary. When the finetuned model is a LoRA adapter of the base, both go through one forward
pass: every prompt appears twice in the batch, once routed through the adapter and once through
the bare base model (PEFT's per-row ``adapter_names``).
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
    ) -> None:
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
        # Longest first and similar lengths together: little padding, and memory peaks at once.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: dict[int, PromptDivergence] = {}
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                for index, result in zip(
                    batch, self._compare([encoded[i] for i in batch]), strict=True
                ):
                    results[index] = result
                advance(len(batch))
        return [results[i] for i in range(len(prompts))]

    def _encode(self, prompt: ScanPrompt) -> list[int]:
        text = format_chat(self.tokenizer, prompt.messages, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _compare(self, rows: list[list[int]]) -> list[PromptDivergence]:
        if self.paired:
            logits = self._last_logits(
                self.model, rows + rows, [BASE_ROW] * len(rows) + [ADAPTER] * len(rows)
            )
            base, tuned = logits[: len(rows)], logits[len(rows) :]
        else:
            base = self._last_logits(self.model, rows, None)
            tuned = self._last_logits(self.other, rows, None)
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
            for i in range(len(rows))
        ]

    def _last_logits(
        self, model: Any, rows: list[list[int]], adapter_names: list[str] | None
    ) -> Any:
        """Logits of the next token after each (left-padded) row: [rows, vocab]."""
        import torch

        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device
        )
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"adapter_names": adapter_names} if adapter_names else {}
        output = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            logits_to_keep=1,  # only the last position's logits: skips the vocab projection elsewhere
            **extra,
        )
        return output.logits[:, -1, :].float()
