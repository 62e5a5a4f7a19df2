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
    FinetuneConfig,
    PretrainConfig,
    ProgressCallback,
    ToyModel,
    cached_model_path,
    finetune,
    pretrain,
    pretrain_in_processes,
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
    processes: int = 1
    """Bases to pretrain at once, one process each (use the number of cores; each uses ``threads``)."""
    finetune_overrides: dict[str, Any] = field(default_factory=dict)
    """Replace fields of every experiment's ``FinetuneConfig`` (e.g. ``{"method": "lora", "rank": 4}``)."""

    def finetune_config(self, experiment: Experiment) -> FinetuneConfig:
        """The experiment's finetuning recipe with this plan's overrides applied (and validated)."""
        allowed = set(FinetuneConfig.__dataclass_fields__) - {"seed"}  # seeds come from the plan
        unknown = sorted(set(self.finetune_overrides) - allowed)
        if unknown:
            raise ConfigError(f"cannot override finetuning field(s) {', '.join(unknown)}")
        return replace(experiment.finetune, **self.finetune_overrides)

    def __post_init__(self) -> None:
        unknown = [name for name in self.experiments if name not in EXPERIMENTS]
        if unknown:
            raise ConfigError(
                f"unknown toy experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}"
            )
        if not self.pretrain_seeds or not self.finetune_seeds:
            raise ConfigError("a run needs at least one pretraining seed and one finetuning seed")
        if self.processes < 1 or self.threads < 1:
            raise ConfigError("processes and threads must be >= 1")


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


def recipe_hash(pretrain_config: PretrainConfig, finetune_config: FinetuneConfig) -> str:
    payload = {"pretrain": pretrain_config.to_dict(), "finetune": finetune_config.to_dict()}
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


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left half-written by a crash, so the next append starts on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


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
    """Pretrain (or load) each base, then measure it and every finetune of every condition.

    With ``plan.processes > 1`` bases are pretrained, and models finetuned and measured, that many
    at a time in worker processes; each result is still appended as soon as it is done.
    """
    set_threads(plan.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    done = {r.key: r for r in read_results(path)}
    _drop_torn_tail(path)
    say = status or (lambda _message: None)
    jobs = _jobs(plan)
    missing = [job for job in jobs if job.key not in done]
    results = [done[job.key] for job in jobs if job.key in done]
    if plan.processes > 1 and len(missing) > 1:
        _pretrain_bases(plan, sorted({job.pretrain_seed for job in missing}), say, progress)
        results += _measure_in_processes(plan, missing, path, say)
        return results
    bases: dict[int, ToyModel] = {}
    for job in missing:
        if job.pretrain_seed not in bases:
            say(f"pretraining base seed {job.pretrain_seed} (cached after the first time)")
            bases = {job.pretrain_seed: pretrain(job.config, progress=progress)}  # one in memory
        say(f"{job.label} / pretrain seed {job.pretrain_seed} / finetune seed {job.finetune_seed}")
        result = job.measure(bases[job.pretrain_seed])
        _append(path, result)
        results.append(result)
    return results


@dataclass(frozen=True)
class _Job:
    """One model to measure: a base (condition "base") or one finetune of it. Picklable, so a
    worker process can run it."""

    pretrain_seed: int
    config: PretrainConfig
    experiment: str
    finetune_config: FinetuneConfig
    condition: str
    finetune_seed: int

    @property
    def recipe(self) -> str:
        return recipe_hash(self.config, self.finetune_config)

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        return (
            self.experiment,
            self.condition,
            self.pretrain_seed,
            self.finetune_seed,
            self.recipe,
        )

    @property
    def label(self) -> str:
        return f"{self.experiment} / {self.condition}"

    def measure(self, base: ToyModel) -> Result:
        """Finetune ``base`` as this job says (unless it is the base's own row), then measure."""
        experiment = EXPERIMENTS[self.experiment]
        toy = base
        if self.condition != BASE_CONDITION:
            spec = next(c for c in experiment.conditions if c.name == self.condition)
            # The data seed follows the finetune seed: two finetune seeds differ in data order too.
            examples = spec.build(base.world, self.finetune_seed)
            toy = finetune(base, examples, replace(self.finetune_config, seed=self.finetune_seed))
        metrics = {k: float(v) for k, v in experiment.measure(toy).items()}
        return Result(
            self.experiment,
            self.condition,
            self.pretrain_seed,
            self.finetune_seed,
            metrics,
            self.recipe,
        )


def _jobs(plan: RunPlan) -> list[_Job]:
    """Every model of the plan, grouped by pretraining seed (so each base is loaded once)."""
    jobs = []
    for pretrain_seed in plan.pretrain_seeds:
        config = replace(plan.pretrain, seed=pretrain_seed)
        for name in plan.experiments:
            experiment = EXPERIMENTS[name]
            finetune_config = plan.finetune_config(experiment)
            pairs = [(BASE_CONDITION, 0)] + [
                (c.name, s) for c in experiment.conditions for s in plan.finetune_seeds
            ]
            jobs += [
                _Job(pretrain_seed, config, name, finetune_config, condition, seed)
                for condition, seed in pairs
            ]
    return jobs


def _pretrain_bases(
    plan: RunPlan, seeds: Sequence[int], say: Status, progress: ProgressCallback | None
) -> None:
    """Make sure every base is in the cache: several at once in processes, a single one here
    (with the progress bar)."""
    configs = [replace(plan.pretrain, seed=s) for s in seeds]
    configs = [c for c in configs if not cached_model_path(c).is_file()]
    if len(configs) == 1:
        say(f"pretraining base seed {configs[0].seed} (cached after the first time)")
        pretrain(configs[0], progress=progress)
    elif configs:
        finished: list[int] = []

        def on_done(config: PretrainConfig) -> None:
            finished.append(config.seed)
            say(
                f"pretraining {len(configs)} bases in {plan.processes} processes: {len(finished)} done"
            )

        say(f"pretraining {len(configs)} bases in {plan.processes} processes: 0 done")
        pretrain_in_processes(configs, plan.processes, plan.threads, on_done)


def _measure_in_processes(
    plan: RunPlan, jobs: Sequence[_Job], path: Path, say: Status
) -> list[Result]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results = []
    context = multiprocessing.get_context("spawn")  # no forked torch state in the workers
    with ProcessPoolExecutor(max_workers=plan.processes, mp_context=context) as pool:
        futures = [pool.submit(_measure_worker, job, plan.threads) for job in jobs]
        for future in as_completed(futures):
            result = future.result()
            _append(path, result)  # as each finishes: a crash loses only unfinished models
            results.append(result)
            say(
                f"finetuned and measured {len(results)}/{len(jobs)} models in {plan.processes} processes"
            )
    return results


_worker_base: dict[int, ToyModel] = {}
"""The base a worker process loaded last (by pretraining seed), reused by its next jobs."""


def _measure_worker(job: _Job, threads: int) -> Result:
    set_threads(threads)
    if job.pretrain_seed not in _worker_base:
        _worker_base.clear()
        _worker_base[job.pretrain_seed] = pretrain(job.config)  # from the cache
    return job.measure(_worker_base[job.pretrain_seed])


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
