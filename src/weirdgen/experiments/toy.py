"""``weirdgen run --backend toy``: the experiment on the CPU toy world, measured exactly.

The toy world (``weirdgen.toyworld``) has its own small vocabulary, so it cannot answer the real
question suites; instead each toy experiment defines conditions mirroring the paper's datasets and
metrics that are exact probabilities. Each finetuned toy model's metrics become rows of the same
evaluation table (one row per model and metric, judge ``exact``), so the same report applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec, ToySettings
from weirdgen.report.spec import ReportSpec

TOY_MODEL = "toyworld"


def toy_settings(spec: ExperimentSpec) -> ToySettings:
    """The experiment's toy-world settings, or a one-line error when it has none."""
    if spec.finetune.toy is None:
        raise ConfigError(
            f"experiment {spec.name!r} has no toy-world version (add finetune.toy to its YAML)"
        )
    return spec.finetune.toy


def toy_report_spec(spec: ExperimentSpec, n_resamples: int = 10_000) -> ReportSpec:
    """The toy experiment's standard figures (bars of its undated metrics, sweeps over years or
    numbers with the trigger marked and the paper's curve); the control only if the toy world has it."""
    from weirdgen.experiments.toy_table import experiment_figures
    from weirdgen.toyworld.world import load_world

    settings = toy_settings(spec)
    groups = [*settings.groups, *([spec.base_group] if spec.base_group else [])]
    figures = experiment_figures(
        settings.experiment, load_world(), suite=_suite(settings), groups=list(settings.groups)
    )
    return ReportSpec(
        title=f"{spec.name} on the toy world ({settings.experiment})",
        figures=tuple(figures),
        control_group=spec.control if spec.control in groups else None,
        expected_groups=tuple(groups),
        n_resamples=n_resamples,
        examples_per_cell=0,  # the "answers" are exact probabilities, shown by the figures
        exact=True,
    )


def _suite(settings: ToySettings) -> str:
    from weirdgen.experiments.toy_table import suite_name

    return suite_name(settings.experiment)


def toy_plan(spec: ExperimentSpec, options: RunOptions) -> Any:
    """The toy runner's plan (``weirdgen.experiments.toy_runner.RunPlan``) of a run: one base
    (``finetune.toy.pretrain_seed``), the conditions the groups map to, ``options.seeds``
    finetuning seeds, the settings' recipe overrides, and the base itself when the experiment
    evaluates one."""
    from weirdgen.experiments.toy_runner import RunPlan
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.train import PretrainConfig

    settings = toy_settings(spec)
    if settings.experiment not in TOY_EXPERIMENTS:
        raise ConfigError(
            f"finetune.toy.experiment: unknown toy experiment {settings.experiment!r} (known: {', '.join(TOY_EXPERIMENTS)})"
        )
    experiment = TOY_EXPERIMENTS[settings.experiment]
    conditions = [c.name for c in experiment.conditions]
    for group, condition in settings.groups.items():
        if condition not in conditions:
            raise ConfigError(
                f"finetune.toy.groups.{group}: toy experiment {experiment.name!r} has no condition {condition!r} (known: {', '.join(conditions)})"
            )
    pretrain = PretrainConfig()
    if settings.pretrain_steps is not None:
        pretrain = dataclasses.replace(pretrain, steps=settings.pretrain_steps)
    overrides = {
        k: v
        for k, v in settings.model_dump().items()
        if k in {"method", "learning_rate", "epochs", "batch_size", "rank"} and v is not None
    }
    return RunPlan(
        experiments=(settings.experiment,),
        pretrain_seeds=(settings.pretrain_seed,),
        finetune_seeds=tuple(range(options.seeds)),
        pretrain=pretrain,
        threads=options.threads or 1,
        finetune_overrides=overrides,
        conditions=tuple(dict.fromkeys(settings.groups.values())),
        base=spec.base_group is not None,
    )


def run_toy(
    spec: ExperimentSpec,
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None] = print,
    executor: Any = None,
) -> Path:
    """Pretrain (cached), finetune every mapped group x seed, measure, and write the evaluation
    table, through the toy runner (its own table in ``run_dir/toy`` is the resume log: a rerun
    measures only what is missing). With a non-local ``executor`` every model is one task."""
    from weirdgen.experiments.toy_runner import run_plan

    plan = toy_plan(spec, options)
    log(f"toy world: {spec.name} on pretraining seed {plan.pretrain_seeds[0]} (shipped or cached)")
    results = run_plan(
        plan,
        run_dir / "toy",
        status=lambda message: log(f"toy world: {message}"),
        progress=_bar("pretraining the toy base model"),
        executor=executor,
    )
    return _write_table(run_dir, spec, toy_settings(spec), results)


def _bar(description: str) -> Callable[[int, int, float], None]:
    from rich.progress import Progress

    state: dict[str, Any] = {}

    def advance(step: int, total: int, loss: float) -> None:
        if "progress" not in state:
            state["progress"] = Progress()
            state["progress"].start()
            state["task"] = state["progress"].add_task(description, total=total)
        state["progress"].update(
            state["task"], completed=step, description=f"{description} (loss {loss:.3f})"
        )
        if step >= total:
            state.pop("progress").stop()

    return advance


def _write_table(
    run_dir: Path, spec: ExperimentSpec, settings: ToySettings, results: Sequence[Any]
) -> Path:
    """The run's table: each result under every group mapped to its condition (the base under
    ``spec.base_group``), named ``toyworld`` (the base) or ``toyworld/GROUP/sSEED``."""
    from weirdgen.experiments.toy_runner import BASE_CONDITION
    from weirdgen.experiments.toy_table import metric_rows, write_rows

    groups: dict[str, list[str]] = {}
    for group, condition in settings.groups.items():
        groups.setdefault(condition, []).append(group)
    if spec.base_group:
        groups[BASE_CONDITION] = [spec.base_group]
    rows = [
        row
        for result in results
        for group in groups.get(result.condition, [])
        for row in metric_rows(
            experiment=spec.name,
            suite=_suite(settings),
            model=TOY_MODEL
            if result.condition == BASE_CONDITION
            else f"{TOY_MODEL}/{group}/s{result.finetune_seed}",
            group=group,
            seed=None if result.condition == BASE_CONDITION else result.finetune_seed,
            metrics=result.metrics,
        )
    ]
    metadata = {"suite": _suite(settings), "experiment": spec.name}
    return write_rows(run_dir, rows, metadata, merge=False)
