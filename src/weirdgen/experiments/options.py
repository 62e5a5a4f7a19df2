"""The settings of one ``weirdgen run``, and the plan file that makes a run directory resumable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.errors import ConfigError

PLAN_FILE = "plan.json"
EXECUTORS = ("local", "ray")
"""Where each (group, seed) is finetuned and evaluated: one after another in this process, or as
one Ray task each (``weirdgen[ray]``)."""
# Settings that decide which models a run directory holds: a rerun must repeat them.
IDENTITY_FIELDS = ("experiment", "backend", "base_model")


@dataclass(frozen=True)
class RunOptions:
    """How to run an experiment (the command-line options of ``weirdgen run``)."""

    backend: str
    """A finetuning backend's registry name (``weirdgen.finetune.registry``)."""
    base_model: str
    """Model to finetune: a bundled alias, a local folder, a Hugging Face id or an API model id."""
    seeds: int = 1
    """Finetuning seeds per group (0 .. seeds-1)."""
    judge_model: str = ""
    """Model for LLM judges; empty runs only the offline judges."""
    judge_base_url: str | None = None
    """OpenAI-compatible endpoint of the judge model (default: the OpenAI API)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint for the openai backend (e.g. `weirdgen serve`; default: OpenAI)."""
    samples: int | None = None
    """Samples per paraphrase and trigger value, overriding the experiment and suites."""
    cache_path: Path | None = None
    """Request cache (default: the shared weirdgen cache)."""
    threads: int | None = 2
    """CPU threads for local training and sampling."""
    concurrency: int = 32
    """Requests in flight per model when sampling."""
    executor: str = "local"
    """Where each (group, seed) is finetuned and evaluated: "local" (one after another) or "ray"
    (one task each)."""
    address: str | None = None
    """ray: the cluster to join (``ray start --head`` prints it); None starts a local instance."""
    sampler_url: str | None = None
    """Sample through this OpenAI-compatible server (vLLM, `weirdgen serve`); training stays put."""
    skip_canary: bool = False
    """Evaluate finetuned models even when they answer their training prompts like the base."""

    def validate(self, *, dry_run: bool = False) -> RunOptions:
        """Raise ``ConfigError`` naming the first bad option; return self. A ``dry_run`` needs no
        server to sample from (it only plans the evaluation)."""
        if self.backend not in run_backends():
            raise ConfigError(
                f"unknown backend {self.backend!r} (known: {', '.join(run_backends())})",
                setting="backend",
            )
        if self.seeds < 1:
            raise ConfigError(f"need at least 1, got {self.seeds}", setting="seeds")
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"unknown executor {self.executor!r} (known: {', '.join(EXECUTORS)})",
                setting="executor",
            )
        entry = finetuner_entry(self.backend)
        if entry.needs_sampler_url and not self.sampler_url and not dry_run:
            raise ConfigError(entry.needs_sampler_url, setting="sampler_url")
        if entry.refuses_sampler_url and self.sampler_url:
            raise ConfigError(entry.refuses_sampler_url, setting="sampler_url")
        if not self.base_model.strip() and not entry.default_base_model:
            raise ConfigError(f"required for the {self.backend} backend", setting="base_model")
        return self


def finetuner_entry(backend: str) -> Any:
    """The finetuning registry's entry of the run's backend (``FinetunerEntry``)."""
    from weirdgen.finetune.registry import FINETUNERS

    return FINETUNERS.get(backend)


def run_backends() -> list[str]:
    """What ``weirdgen run --backend`` takes: every finetuning backend."""
    from weirdgen.finetune.registry import FINETUNERS

    return FINETUNERS.names()


def check_plan(run_dir: Path, experiment: str, options: RunOptions) -> None:
    """Record the run's identity in ``plan.json``, or check a resumed run repeats it.

    A run directory holds one experiment on one backend and base model; changing the number of seeds
    or samples is fine (finished work is reused), changing those is refused.
    """
    plan = {
        "experiment": experiment,
        **{k: v for k, v in asdict(options).items() if k != "cache_path"},
    }
    path = run_dir / PLAN_FILE
    if path.is_file():
        previous: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for field in IDENTITY_FIELDS:
            if previous.get(field) != plan[field]:
                raise ConfigError(
                    f"{run_dir} holds a run with {field} {previous.get(field)!r}, not {plan[field]!r}: "
                    "use another -o, or repeat the original options to resume"
                )
    atomic_write_text(path, json.dumps(plan, indent=2, sort_keys=True) + "\n")


def read_plan(run_dir: Path) -> dict[str, Any]:
    """The plan of a run directory ({} when it was not made by ``weirdgen run``)."""
    path = run_dir / PLAN_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
