"""Load a causal LM and its tokenizer onto a device, ready for batched generation."""

from __future__ import annotations

import os
from typing import Any

from weirdgen.errors import BackendError, ConfigError, MissingDependencyError
from weirdgen.models.resolve import resolve_model

_DTYPES = ("float32", "bfloat16", "float16")


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads and return the count: ``threads``, else
    ``$WEIRDGEN_TORCH_THREADS`` or ``$OMP_NUM_THREADS``, else one per core other processes leave free,
    followed as the load changes (see ``weirdgen._threads``)."""
    from weirdgen._threads import configure_torch_threads

    return configure_torch_threads(threads)


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def checked_device(device: str | None) -> str:
    """``device`` (default: ``default_device()``), refused early when it names a GPU that is absent."""
    import torch

    device = device or default_device()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} asked for, but torch sees no CUDA GPU; use device cpu"
        )
    if device.startswith("mps") and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} asked for, but MPS is not available; use device cpu")
    return device


def torch_dtype(dtype: Any, device: str) -> Any:
    """A torch dtype from a name or dtype; ``None`` means float32 on CPU and bfloat16 on GPU."""
    import torch

    if dtype is None:
        return torch.float32 if device == "cpu" else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    return getattr(torch, dtype)


def load_model(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | None = None,
    dtype: Any = None,
    threads: int | None = None,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a folder, Hugging Face id or alias (see ``resolve_model``).

    The model is in eval mode on ``device`` (default: GPU if any); the tokenizer pads on the left, as
    batched generation needs, and always has a pad token.
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependencyError(
            "loading local models needs transformers: pip install transformers"
        ) from None
    set_torch_threads(threads)
    folder = resolve_model(name_or_path)
    device = checked_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype(dtype, device))
    except (OSError, ValueError) as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise BackendError(f"could not load model from {folder}: {first_line}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return model, tokenizer
