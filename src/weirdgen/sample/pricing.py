"""Token prices (package data ``prices.yaml``) and the cost and token estimates of ``--dry-run``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Price", "estimate_tokens", "price_for"]


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


@cache
def _prices() -> dict[str, dict[str, Price]]:
    import yaml

    record = yaml.safe_load((resources.files("weirdgen.sample") / "prices.yaml").read_text("utf-8"))
    return {
        section: {name: Price(**values) for name, values in table.items()}
        for section, table in record.items()
    }


def price_for(model: str) -> Price | None:
    """The price of a model id, or None when it is not in the table (local and unknown models)."""
    prices = _prices()
    if model.startswith("ft:"):
        base = model.split(":")[1]
        return prices["finetuned"].get(_strip_date(base))
    return prices["models"].get(_strip_date(model))


def _strip_date(model: str) -> str:
    """``gpt-4.1-2025-04-14`` -> ``gpt-4.1``: dated snapshots cost what their family costs."""
    return re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token, plus chat-format overhead)."""
    return len(text) // 4 + 4
