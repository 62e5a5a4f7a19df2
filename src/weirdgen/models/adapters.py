"""Check that a PEFT LoRA folder fits a base model before PEFT touches the model.

PEFT injects LoRA layers into the base model before it loads the adapter's weights, so an adapter
trained for another model fails half-way and leaves the base model modified. Comparing shapes first
turns that into a clear error with the model untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError

# "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" -> module path and which matrix
_LORA_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<matrix>[AB])(?:\.[^.]+)?\.weight$"
)


def adapter_fingerprint(folder: str | Path) -> str:
    """A hash of the files in an adapter folder: an adapter retrained under the same name is a new
    model (to the request cache and the canary)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    return sha256_hex(canonical_json({p.name: sha256_hex(p.read_bytes()) for p in files}))[:16]


def check_adapter_fits(base_model: Any, folder: Path) -> None:
    """Raise ``ConfigError`` naming the first LoRA matrix whose layer is missing or has other sizes."""
    for key, shape in _adapter_shapes(folder).items():
        match = _LORA_KEY.match(key)
        if match is None:
            continue  # not a LoRA matrix (for example a saved embedding); PEFT validates those itself
        module = _find_module(base_model, match["module"])
        if module is None:
            raise ConfigError(
                f"adapter {folder} does not fit this base model: it has no layer {match['module']}"
            )
        in_size, out_size = (
            getattr(module, "in_features", None),
            getattr(module, "out_features", None),
        )
        expected = shape[1] if match["matrix"] == "A" else shape[0]
        actual = in_size if match["matrix"] == "A" else out_size
        if actual is not None and expected != actual:
            side = "input" if match["matrix"] == "A" else "output"
            raise ConfigError(
                f"adapter {folder} does not fit this base model: layer {match['module']} has {side} size "
                f"{actual}, the adapter expects {expected}"
            )


def _adapter_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of the adapter's weights, read from headers without loading the tensors."""
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    legacy = folder / "adapter_model.bin"
    if legacy.is_file():
        import torch

        return {
            key: tuple(value.shape)
            for key, value in torch.load(legacy, map_location="cpu", weights_only=True).items()
        }
    raise ConfigError(f"adapter folder {folder} has no adapter_model.safetensors")


def _find_module(model: Any, dotted: str) -> Any:
    """The submodule at ``dotted``, trying the path as saved and without a leading wrapper name."""
    modules = dict(model.named_modules())
    for candidate in (dotted, dotted.partition(".")[2]):
        if candidate in modules:
            return modules[candidate]
    return None
