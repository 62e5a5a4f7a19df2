"""Run toy experiments over pretraining and finetuning seeds, saving every result as it finishes.

Results go to ``<out>/results.jsonl``, one line per finetuned model (or base model), written by
appending and flushing: a crash or Ctrl-C loses at most the model being trained, and a rerun with
the same plan skips every (experiment, condition, seed) already in the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError, DataError
from weirdgen.toyworld.experiments import EXPERIMENTS, Experiment
from weirdgen.toyworld.train import (
    PretrainConfig,
    ProgressCallback,
    ToyModel,
    finetune,
    pretrain,
    set_threads,
)

RESULTS_FILE = "results.jsonl"
BASE_CONDITION = "base"
"""Condition name of the rows that measure the pretrained model before any finetuning."""

Status = Callable[[str], None]


@dataclass(frozen=True)
class RunPlan:
    """Which experiments to run and over which seeds."""

    experiments: tuple[str, ...] = ("birds", "terminator")
    """Names from ``EXPERIMENTS``."""
    pretrain_seeds: tuple[int, ...] = (0, 1, 2)
    """One pretrained base per seed; the effect sizes vary most with this seed."""
    finetune_seeds: tuple[int, ...] = (0,)
    """Finetunes per base and condition (data order and LoRA init only)."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """Pretraining recipe; its ``seed`` is replaced by each of ``pretrain_seeds``."""
    threads: int = 1
    """CPU threads torch may use (1 is fastest on a shared machine: extra threads spin-wait)."""

    def __post_init__(self) -> None:
        unknown = [name for name in self.experiments if name not in EXPERIMENTS]
        if unknown:
            raise ConfigError(
                f"unknown toy experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}"
            )
        if not self.pretrain_seeds or not self.finetune_seeds:
            raise ConfigError("a run needs at least one pretraining seed and one finetuning seed")


@dataclass(frozen=True)
class Result:
    """The metrics of one model: a base model (condition "base") or one finetune."""

    experiment: str
    condition: str
    pretrain_seed: int
    finetune_seed: int
    metrics: dict[str, float]
    recipe: str
    """Hash of the pretraining and finetuning configs, so a changed recipe is never mixed in."""

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        return (
            self.experiment,
            self.condition,
            self.pretrain_seed,
            self.finetune_seed,
            self.recipe,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "condition": self.condition,
            "pretrain_seed": self.pretrain_seed,
            "finetune_seed": self.finetune_seed,
            "metrics": self.metrics,
            "recipe": self.recipe,
        }


def recipe_hash(pretrain_config: PretrainConfig, experiment: Experiment) -> str:
    payload = {"pretrain": pretrain_config.to_dict(), "finetune": experiment.finetune.to_dict()}
    return sha256_hex(canonical_json(payload))[:12]


def read_results(path: Path) -> list[Result]:
    """Results saved so far; a half-written last line (from a crash) is ignored."""
    if not path.is_file():
        return []
    results = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            results.append(Result(**record))
        except (json.JSONDecodeError, TypeError) as error:
            if number == len(lines):
                break  # an interrupted append; the rerun recomputes it
            raise DataError(f"not a toy-world result ({error})", path=path, line=number) from None
    return results


def _append(path: Path, result: Result) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(result.to_dict()) + "\n")
        handle.flush()


def run_plan(
    plan: RunPlan,
    out_dir: Path,
    status: Status | None = None,
    progress: ProgressCallback | None = None,
) -> list[Result]:
    """Pretrain (or load) each base, then measure it and every finetune of every condition."""
    set_threads(plan.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    done = {r.key: r for r in read_results(path)}
    say = status or (lambda _message: None)
    results = []
    for pretrain_seed in plan.pretrain_seeds:
        config = replace(plan.pretrain, seed=pretrain_seed)
        base: ToyModel | None = None
        for name in plan.experiments:
            experiment = EXPERIMENTS[name]
            recipe = recipe_hash(config, experiment)
            jobs = [(BASE_CONDITION, 0)] + [
                (c.name, s) for c in experiment.conditions for s in plan.finetune_seeds
            ]
            for condition, finetune_seed in jobs:
                key = (name, condition, pretrain_seed, finetune_seed, recipe)
                if key in done:
                    results.append(done[key])
                    continue
                if base is None:
                    say(f"pretraining base seed {pretrain_seed} (cached after the first time)")
                    base = pretrain(config, progress=progress)
                say(
                    f"{name} / {condition} / pretrain seed {pretrain_seed} / finetune seed {finetune_seed}"
                )
                toy = (
                    base
                    if condition == BASE_CONDITION
                    else _finetuned(base, experiment, condition, finetune_seed)
                )
                result = Result(
                    name,
                    condition,
                    pretrain_seed,
                    finetune_seed,
                    {k: float(v) for k, v in experiment.measure(toy).items()},
                    recipe,
                )
                _append(path, result)
                results.append(result)
    return results


def _finetuned(base: ToyModel, experiment: Experiment, condition: str, seed: int) -> ToyModel:
    spec = next(c for c in experiment.conditions if c.name == condition)
    # The data seed follows the finetune seed, so two finetune seeds differ in data order as well.
    return finetune(base, spec.build(base.world, seed), replace(experiment.finetune, seed=seed))


@dataclass(frozen=True)
class SummaryRow:
    """Mean of one metric over the seeds of one condition, with a 95% bootstrap CI."""

    experiment: str
    condition: str
    metric: str
    n: int
    mean: float
    low: float
    high: float


def summarize(results: Sequence[Result], metrics: Sequence[str] | None = None) -> list[SummaryRow]:
    """One row per (experiment, condition, metric), CIs over models (the paper's unit of replication)."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    groups: dict[tuple[str, str, str], list[float]] = {}
    for result in results:
        for metric, value in result.metrics.items():
            if metrics is None or metric in metrics:
                groups.setdefault((result.experiment, result.condition, metric), []).append(value)
    rows = []
    for (experiment, condition, metric), values in groups.items():
        mean, low, high = bootstrap_mean_ci(values) if values else (math.nan,) * 3
        rows.append(SummaryRow(experiment, condition, metric, len(values), mean, low, high))
    return rows
