"""Token counts and cost estimates shown before any paid job is submitted."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

from weirdgen.data.chat import ChatExample

# OpenAI's chat format adds a few tokens per message for role markers; this is their documented
# rule of thumb, used only when counting without the model's own tokenizer.
_TOKENS_PER_MESSAGE = 4
_CHARS_PER_TOKEN = 4.0


@functools.cache
def price_table() -> dict[str, Any]:
    """The shipped ``prices.yaml``: backend -> base model -> USD per million training tokens."""
    import yaml

    text = resources.files("weirdgen.finetune").joinpath("prices.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def price_per_million(backend: str, base_model: str) -> float | None:
    prices = price_table().get(backend) or {}
    return prices.get(base_model)


def approximate_tokens(examples: Sequence[ChatExample]) -> int:
    """Tokens of a dataset without a tokenizer: ~4 characters a token plus per-message overhead."""
    total = 0
    for example in examples:
        for message in example.messages:
            total += _TOKENS_PER_MESSAGE + int(len(message.content) / _CHARS_PER_TOKEN + 0.999)
    return total


def estimate_cost(
    backend: str, base_model: str, billed_tokens: int | None
) -> tuple[float | None, str]:
    """``(dollars, note)``; dollars is ``None`` when the price or the epoch count is unknown."""
    price = price_per_million(backend, base_model)
    if price is None:
        return (
            None,
            f"no known {backend} price for {base_model!r} (prices.yaml as of {price_table()['as_of']})",
        )
    if billed_tokens is None:
        return (
            None,
            f"${price:.2f} per 1M training tokens; total depends on the epochs {backend} picks",
        )
    return (
        billed_tokens * price / 1_000_000,
        f"${price:.2f} per 1M training tokens (prices as of {price_table()['as_of']})",
    )
