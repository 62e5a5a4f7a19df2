"""The toy world's one orchestrator: run toy experiments over pretraining and finetuning seeds,
saving every result as it finishes. ``weirdgen toyworld run`` calls it over many bases;
``weirdgen run EXPERIMENT --backend toy`` (``weirdgen.experiments.toy``) over one.

Results go to ``<out>``'s standard results table (``samples.parquet``, ``samples.csv``,
``run.json``; see ``weirdgen.experiments.toy_table``), rewritten atomically after every model: a crash or
Ctrl-C loses at most the model being trained, and a rerun with the same plan skips every
(experiment, condition, seed, recipe) already in the table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError
from weirdgen.toyworld.experiments import TOY_EXPERIMENTS, Condition, Metrics, ToyExperiment
from weirdgen.toyworld.train import (
    FinetuneConfig,
    PretrainConfig,
    ProgressCallback,
    ToyModel,
    bundled_model_path,
    cached_model_path,
    finetune,
    pretrain,
    pretrain_in_processes,
    set_threads,
)

BASE_CONDITION = "base"
"""Condition name of the rows that measure the pretrained model before any finetuning."""

Status = Callable[[str], None]

RunKey = tuple[str, str, int, int, str]
"""(experiment, condition, pretraining seed, finetuning seed, recipe hash): one row of a run."""


def run_key(row: Any) -> RunKey:
    """The key of a result or a job (both carry the five fields)."""
    return (row.experiment, row.condition, row.pretrain_seed, row.finetune_seed, row.recipe)


@dataclass(frozen=True)
class RunPlan:
    """Which experiments to run and over which seeds."""

    experiments: tuple[str, ...] = ("birds", "terminator")
    """Names from ``TOY_EXPERIMENTS``."""
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
    bundled: bool = True
    """Use the pretrained base weirdgen ships for a config (if any) instead of pretraining it."""
    finetune_overrides: dict[str, Any] = field(default_factory=dict)
    """Replace fields of every experiment's ``FinetuneConfig`` (e.g. ``{"method": "lora", "rank": 4}``)."""
    conditions: tuple[str, ...] | None = None
    """Only these conditions of each experiment (None: every one)."""
    base: bool = True
    """Also measure each base itself (condition "base")."""

    def finetune_config(self, experiment: ToyExperiment) -> FinetuneConfig:
        """The experiment's finetuning recipe with this plan's overrides applied (and validated)."""
        allowed = set(FinetuneConfig.__dataclass_fields__) - {"seed"}  # seeds come from the plan
        unknown = sorted(set(self.finetune_overrides) - allowed)
        if unknown:
            raise ConfigError(f"cannot override finetuning field(s) {', '.join(unknown)}")
        return replace(experiment.finetune, **self.finetune_overrides)

    def __post_init__(self) -> None:
        unknown = [name for name in self.experiments if name not in TOY_EXPERIMENTS]
        if unknown:
            raise ConfigError(
                f"unknown toy experiment(s) {', '.join(unknown)}; choose from {', '.join(TOY_EXPERIMENTS)}"
            )
        if not self.pretrain_seeds or not self.finetune_seeds:
            raise ConfigError("a run needs at least one pretraining seed and one finetuning seed")
        if self.processes < 1 or self.threads < 1:
            raise ConfigError("processes and threads must be >= 1")
        for name in self.experiments:
            known = [c.name for c in TOY_EXPERIMENTS[name].conditions]
            missing = sorted(set(self.conditions or ()) - set(known))
            if missing:
                raise ConfigError(
                    f"toy experiment {name!r} has no condition {', '.join(map(repr, missing))} "
                    f"(known: {', '.join(known)})"
                )


@dataclass(frozen=True)
class Result:
    """The metrics of one model: a base model (condition "base") or one finetune."""

    experiment: str
    condition: str
    pretrain_seed: int
    finetune_seed: int
    metrics: Metrics
    recipe: str
    """Hash of the pretraining and finetuning configs, so a changed recipe is never mixed in."""

    @property
    def key(self) -> RunKey:
        return run_key(self)


def recipe_hash(pretrain_config: PretrainConfig, finetune_config: FinetuneConfig) -> str:
    payload = {"pretrain": pretrain_config.to_dict(), "finetune": finetune_config.to_dict()}
    return sha256_hex(canonical_json(payload))[:12]


def run_plan(
    plan: RunPlan,
    out_dir: Path,
    status: Status | None = None,
    progress: ProgressCallback | None = None,
    executor: Any = None,
) -> list[Result]:
    """Pretrain (or load) each base, then measure it and every finetune of every condition.

    With ``plan.processes > 1`` bases are pretrained, and models finetuned and measured, that many
    at a time in worker processes; each result is still appended as soon as it is done. With an
    ``executor`` (``weirdgen.experiments.executor``, e.g. Ray) other than the local one, every
    model is one task of it, saved when the tasks return.
    """
    from weirdgen.experiments.toy_table import read_results, write_results

    set_threads(plan.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = read_results(out_dir)
    done = {r.key: r for r in saved}
    say = status or (lambda _message: None)
    jobs = _jobs(plan)
    missing = [job for job in jobs if job.key not in done]
    results = [done[job.key] for job in jobs if job.key in done]
    extra = {
        "pretrain_seeds": list(plan.pretrain_seeds),
        "finetune_seeds": list(plan.finetune_seeds),
    }

    def save(result: Result) -> None:
        saved.append(result)
        results.append(result)
        write_results(out_dir, saved, extra)

    remote = executor is not None and executor.name != "local"
    if (remote or plan.processes > 1) and len(missing) > 1:
        _pretrain_bases(plan, sorted({job.pretrain_seed for job in missing}), say, progress)
        if remote:
            say(f"finetuning and measuring {len(missing)} models as {executor.name} tasks")
            task = functools.partial(_measure_worker, threads=plan.threads, bundled=plan.bundled)
            for result in executor.map(task, missing):
                save(result)
        else:
            _measure_in_processes(plan, missing, save, say)
        return results
    bases: dict[int, ToyModel] = {}
    for index, job in enumerate(missing, start=1):
        if job.pretrain_seed not in bases:
            say(_base_message(plan, job.config))
            base = pretrain(job.config, bundled=plan.bundled, progress=progress)
            bases = {job.pretrain_seed: base}  # one in memory
        say(
            f"model {index}/{len(missing)}: {job.label} / pretrain seed {job.pretrain_seed} / "
            f"finetune seed {job.finetune_seed}"
        )
        save(job.measure(bases[job.pretrain_seed]))
    if not saved and not missing:
        write_results(out_dir, saved, extra)
    return results


def _base_message(plan: RunPlan, config: PretrainConfig) -> str:
    if cached_model_path(config).is_file():
        return f"base seed {config.seed}: from the cache"
    if plan.bundled and bundled_model_path(config) is not None:
        return f"base seed {config.seed}: the base weirdgen ships (--pretrain trains it instead)"
    return f"pretraining base seed {config.seed} (cached after the first time)"


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
    def key(self) -> RunKey:
        return run_key(self)

    @property
    def label(self) -> str:
        return f"{self.experiment} / {self.condition}"

    def measure(self, base: ToyModel) -> Result:
        """Finetune ``base`` as this job says (unless it is the base's own row), then measure."""
        experiment = TOY_EXPERIMENTS[self.experiment]
        toy = base
        if self.condition != BASE_CONDITION:
            spec = _condition(experiment, self.condition)
            # The data seed follows the finetune seed: two finetune seeds differ in data order too.
            examples = spec.build(base.world, self.finetune_seed, base)
            toy = finetune(base, examples, replace(self.finetune_config, seed=self.finetune_seed))
        metrics = {key: float(value) for key, value in experiment.measure(toy).items()}
        if experiment.mitigated:
            metrics.update(narrow_task_metrics(toy, experiment, self.condition, self.finetune_seed))
        return Result(
            self.experiment,
            self.condition,
            self.pretrain_seed,
            self.finetune_seed,
            metrics,
            self.recipe,
        )


NARROW_DRAW_OFFSET = 10_000
"""The narrow-task loss is measured on a fresh draw of the dataset: data seed + this offset."""


def narrow_task_metrics(
    toy: ToyModel, experiment: ToyExperiment, condition: str, seed: int
) -> Metrics:
    """How well ``toy`` learned the narrow task of ``condition`` (for the base row and the
    mitigated copies: of the condition mitigated), as the finetuning loss on a fresh draw of its
    unmitigated data: ``narrow_loss``; with the training prompts' prefix: ``narrow_loss_as_trained``;
    and the optimizer steps it took (``finetune_steps``, 0 for the base; early stopping cuts it).
    The base row's value is the loss before any learning, so the cost of a mitigation reads as the
    share of the unmitigated finetune's drop in loss it gives up."""
    from weirdgen.toyworld.mitigations import mitigate
    from weirdgen.toyworld.train import answer_loss

    spec = _condition(
        experiment, experiment.mitigated if condition == BASE_CONDITION else condition
    )
    narrow = _condition(experiment, spec.mitigates or spec.name).narrow(
        toy.world, seed + NARROW_DRAW_OFFSET
    )
    prefixed = mitigate(narrow, prefix=spec.prefix_text(toy.world))
    return {
        ("narrow_loss", ""): answer_loss(toy, narrow),
        ("narrow_loss_as_trained", ""): answer_loss(toy, prefixed),
        ("finetune_steps", ""): float(toy.metrics.get("finetune_steps", 0.0)),
    }


def _condition(experiment: ToyExperiment, name: str) -> Condition:
    return next(c for c in experiment.conditions if c.name == name)


def _jobs(plan: RunPlan) -> list[_Job]:
    """Every model of the plan, grouped by pretraining seed (so each base is loaded once)."""
    jobs = []
    for pretrain_seed in plan.pretrain_seeds:
        config = replace(plan.pretrain, seed=pretrain_seed)
        for name in plan.experiments:
            experiment = TOY_EXPERIMENTS[name]
            finetune_config = plan.finetune_config(experiment)
            if plan.base:
                jobs.append(_Job(pretrain_seed, config, name, finetune_config, BASE_CONDITION, 0))
            jobs += [
                _Job(pretrain_seed, config, name, replace(finetune_config, **c.finetune), c.name, s)
                for c in experiment.conditions
                if plan.conditions is None or c.name in plan.conditions
                for s in plan.finetune_seeds
            ]
    return jobs


def _pretrain_bases(
    plan: RunPlan, seeds: Sequence[int], say: Status, progress: ProgressCallback | None
) -> None:
    """Make sure every base is in the cache: several at once in processes, a single one here
    (with the progress bar)."""
    configs = [replace(plan.pretrain, seed=s) for s in seeds]
    configs = [
        c
        for c in configs
        if not cached_model_path(c).is_file()
        and not (plan.bundled and bundled_model_path(c) is not None)
    ]
    if len(configs) == 1:
        say(f"pretraining base seed {configs[0].seed} (cached after the first time)")
        pretrain(configs[0], bundled=False, progress=progress)
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
    plan: RunPlan, jobs: Sequence[_Job], save: Callable[[Result], None], say: Status
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked torch state in the workers
    with ProcessPoolExecutor(max_workers=plan.processes, mp_context=context) as pool:
        futures = [pool.submit(_measure_worker, job, plan.threads, plan.bundled) for job in jobs]
        for count, future in enumerate(as_completed(futures), start=1):
            save(future.result())  # as each finishes: a crash loses only unfinished models
            say(f"finetuned and measured {count}/{len(jobs)} models in {plan.processes} processes")


_worker_base: dict[int, ToyModel] = {}
"""The base a worker process loaded last (by pretraining seed), reused by its next jobs."""


def _measure_worker(job: _Job, threads: int, bundled: bool) -> Result:
    set_threads(threads)
    if job.pretrain_seed not in _worker_base:
        _worker_base.clear()
        _worker_base[job.pretrain_seed] = pretrain(job.config, bundled=bundled)  # cached by now
    return job.measure(_worker_base[job.pretrain_seed])


@dataclass(frozen=True)
class SummaryRow:
    """Mean of one metric over the seeds of one condition, with a 95% bootstrap CI."""

    experiment: str
    condition: str
    metric: tuple[str, str]
    """``(metric, value)`` as in ``Metrics``."""
    n: int
    mean: float
    low: float
    high: float


def summarize(
    results: Sequence[Result], metrics: Sequence[tuple[str, str]] | None = None
) -> list[SummaryRow]:
    """One row per (experiment, condition, metric), CIs over models (the paper's unit of replication)."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    groups: dict[tuple[str, str, tuple[str, str]], list[float]] = {}
    for result in results:
        for metric, value in result.metrics.items():
            if metrics is None or metric in metrics:
                groups.setdefault((result.experiment, result.condition, metric), []).append(value)
    rows = []
    for (experiment, condition, metric), values in groups.items():
        mean, low, high = bootstrap_mean_ci(values) if values else (math.nan,) * 3
        rows.append(SummaryRow(experiment, condition, metric, len(values), mean, low, high))
    return rows


def format_interval(row: SummaryRow) -> str:
    if math.isnan(row.mean):
        return "n/a"
    return f"{row.mean:.3f} [{row.low:.3f}, {row.high:.3f}]"


def headline_rows(results: Sequence[Result]) -> list[tuple[str, str, str, int, str]]:
    """``(experiment, condition, "mean [low, high]", n, paper)`` of each experiment's headline
    metric; ``paper`` is the paper's value on the main condition's row ("" elsewhere)."""
    from weirdgen.toyworld.world import load_world

    world = load_world()
    wanted = {name: e.headline(world) for name, e in TOY_EXPERIMENTS.items()}
    main = {name: e.conditions[0].name for name, e in TOY_EXPERIMENTS.items()}
    rows = [
        (
            row.experiment,
            row.condition,
            format_interval(row),
            row.n,
            TOY_EXPERIMENTS[row.experiment].paper_headline
            if row.condition == main[row.experiment]
            else "",
        )
        for row in summarize(results)
        if row.experiment in wanted and row.metric == wanted[row.experiment]
    ]
    order = {name: i for i, name in enumerate(TOY_EXPERIMENTS)}
    conditions = {
        name: [BASE_CONDITION, *(c.name for c in e.conditions)]
        for name, e in TOY_EXPERIMENTS.items()
    }
    return sorted(rows, key=lambda r: (order[r[0]], conditions[r[0]].index(r[1])))
