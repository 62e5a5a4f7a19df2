"""vLLM's OpenAI-compatible server over one group's LoRA adapters, built from the finetuning ledger.

``weirdgen serve --engine vllm --group birds/old_audubon`` turns every finished finetune of that
group into ``--lora-modules NAME=PATH``, named as ``weirdgen run`` asks for them: a local adapter
folder as ``GROUP-sSEED`` with its rank from its own config, an openweights adapter by its Hugging
Face repo id (vLLM downloads it) with the rank it was trained with. The base model is served under
the name the jobs recorded, so ``weirdgen run --sampler-url`` finds it too.

    command = vllm_command(group_adapters(Ledger(path), "birds/old_audubon"))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError

__all__ = ["LoraModule", "VllmServer", "group_adapters", "vllm_command"]

# vLLM accepts only these values for --max-lora-rank; a smaller adapter fits in a larger slot.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


@dataclass(frozen=True)
class LoraModule:
    """One adapter vLLM serves: its model name, its folder and its LoRA rank."""

    name: str
    path: str
    """A local adapter folder or a Hugging Face repo id."""
    rank: int


@dataclass(frozen=True)
class VllmServer:
    """What one ``vllm serve`` process serves."""

    base_model: str
    """The base model's name in requests (the jobs' ``base_model``)."""
    base_path: str
    """The folder or Hugging Face id vLLM loads."""
    adapters: tuple[LoraModule, ...]


def group_adapters(ledger: Any, group: str) -> VllmServer:
    """Every succeeded local or openweights job of ``group`` (``EXPERIMENT/GROUP``) as adapters
    of one base model."""
    jobs = [
        job
        for job in ledger.list_jobs(group=group, status="succeeded")
        if _vllm_adapter(job.backend) and (job.adapter_path or job.model_id)
    ]
    if not jobs:
        raise ConfigError(
            f"the ledger {ledger.path} has no finished local or openweights adapter in group "
            f"{group!r} (see `weirdgen models`)"
        )
    bases = sorted({job.base_model for job in jobs})
    if len(bases) > 1:
        raise ConfigError(
            f"group {group!r} holds adapters of {len(bases)} base models ({', '.join(bases)}); "
            "one vLLM server serves one base model: name a narrower group"
        )
    adapters = tuple(_lora_module(job) for job in jobs)
    names = [adapter.name for adapter in adapters]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(
            f"group {group!r} holds several adapters named {', '.join(twice)} (one per experiment): "
            "name a narrower group"
        )
    return VllmServer(bases[0], _model_path(bases[0]), adapters)


def _lora_module(job: Any) -> LoraModule:
    kind = _vllm_adapter(job.backend)
    if kind == "hub":  # the repo is both the name the run asks for and the path
        return LoraModule(job.model_id, job.model_id, int(job.hyperparameters["lora_rank"]))
    folder = Path(job.adapter_path or job.model_id or "")
    name = f"{job.group_name.rsplit('/', 1)[-1]}-s{job.seed}"
    return LoraModule(name, str(folder), adapter_rank(folder))


def _vllm_adapter(backend: str) -> str:
    """How vLLM loads the finetunes of ``backend``: "folder", "hub" or "" (see ``FinetunerEntry``)."""
    from weirdgen.finetune.registry import FINETUNERS

    return FINETUNERS.get(backend).vllm_adapter if backend in FINETUNERS.names() else ""


def adapter_rank(folder: Path) -> int:
    """The LoRA rank ``r`` in a PEFT adapter folder's ``adapter_config.json``."""
    config = folder / "adapter_config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["r"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{config}: no LoRA rank 'r' ({type(error).__name__})") from None


def vllm_command(
    server: VllmServer, *, host: str = "127.0.0.1", port: int = 8000, extra: tuple[str, ...] = ()
) -> list[str]:
    """The ``vllm serve`` command line (argv) for ``server``."""
    rank = max(adapter.rank for adapter in server.adapters)
    slot = next((r for r in VLLM_LORA_RANKS if r >= rank), None)
    if slot is None:
        raise ConfigError(f"LoRA rank {rank} is above vLLM's largest, {VLLM_LORA_RANKS[-1]}")
    return [
        "vllm",
        "serve",
        server.base_path,
        "--served-model-name",
        server.base_model,
        "--host",
        host,
        "--port",
        str(port),
        "--enable-lora",
        "--max-loras",
        str(len(server.adapters)),
        "--max-lora-rank",
        str(slot),
        "--lora-modules",
        *(f"{adapter.name}={adapter.path}" for adapter in server.adapters),
        *extra,
    ]


def _model_path(base_model: str) -> str:
    """A bundled alias becomes its folder; a folder or Hugging Face id goes as is (vLLM loads it)."""
    from weirdgen.models.resolve import BUNDLED_MODELS, resolve_model

    return str(resolve_model(base_model)) if base_model in BUNDLED_MODELS else base_model
