"""The prompts of a scan and what each comparison of finetuned and base on one prompt gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from weirdgen.data.chat import Message
from weirdgen.evaluation.suites import PromptCell

__all__ = ["PromptDivergence", "ScanPrompt", "scan_prompts"]

Advance = Callable[[int], None]
"""Progress callback: called with the number of prompts just finished."""


@dataclass(frozen=True)
class ScanPrompt:
    """One rendering of one family value with one probe."""

    value: str
    probe: str
    """The probe's question id, with ``#k`` for paraphrase k > 0."""
    variant: int
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class PromptDivergence:
    """Finetuned vs base on one prompt: the divergence and the tokens that tell why."""

    divergence: float
    finetuned_top: str = ""
    """The finetuned model's most likely first answer token."""
    base_top: str = ""
    """The base model's most likely first answer token."""
    rising: str = ""
    """The token whose probability the finetune raised most (exact backends only)."""


def scan_prompts(cells: list[PromptCell]) -> list[ScanPrompt]:
    """Every rendering of every cell, flattened, in the cells' order."""
    prompts = []
    for cell in cells:
        probe = cell.question_id + (f"#{cell.paraphrase}" if cell.paraphrase else "")
        for variant, messages in enumerate(cell.variants):
            prompts.append(ScanPrompt(cell.trigger_value, probe, variant, messages))
    return prompts
