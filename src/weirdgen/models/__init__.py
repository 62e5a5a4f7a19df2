"""Local models: find and load them, format chats, and sample in batches with LoRA adapters.

Importing this package is cheap; torch and transformers load on first use of a function that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.models.chat import FALLBACK_CHAT_TEMPLATE, format_chat
    from weirdgen.models.loading import load_model
    from weirdgen.models.resolve import SMOLLM2_ALIAS, resolve_model
    from weirdgen.models.sampler import LocalSampler
    from weirdgen.models.sampling import (
        Completion,
        InvalidRequestError,
        SamplingRequest,
        SamplingResult,
        TokenLogprob,
        TopLogprob,
    )

__all__ = [
    "FALLBACK_CHAT_TEMPLATE",
    "SMOLLM2_ALIAS",
    "Completion",
    "InvalidRequestError",
    "LocalSampler",
    "SamplingRequest",
    "SamplingResult",
    "TokenLogprob",
    "TopLogprob",
    "format_chat",
    "load_model",
    "resolve_model",
]

_HOMES = {
    "FALLBACK_CHAT_TEMPLATE": "chat",
    "format_chat": "chat",
    "load_model": "loading",
    "SMOLLM2_ALIAS": "resolve",
    "resolve_model": "resolve",
    "LocalSampler": "sampler",
    "Completion": "sampling",
    "InvalidRequestError": "sampling",
    "SamplingRequest": "sampling",
    "SamplingResult": "sampling",
    "TokenLogprob": "sampling",
    "TopLogprob": "sampling",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
