"""``weirdgen run --backend toy``: the experiment on the CPU toy world, measured exactly.

The toy world (``weirdgen.toyworld``) has its own small vocabulary, so it cannot answer the real
question suites; instead each toy experiment defines conditions mirroring the paper's datasets and
metrics that are exact probabilities. Each finetuned toy model's metrics become rows of the same
evaluation table (one row per model and metric, judge ``exact``), so the same report applies.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
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
    from weirdgen.toyworld.table import experiment_figures
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
    from weirdgen.toyworld.table import suite_name

    return suite_name(settings.experiment)


def run_toy(
    spec: ExperimentSpec, options: RunOptions, run_dir: Path, log: Callable[[str], None] = print
) -> Path:
    """Pretrain (cached), finetune every mapped group x seed, measure, and write the evaluation table."""
    from weirdgen.toyworld.experiments import EXPERIMENTS
    from weirdgen.toyworld.train import set_threads

    settings = toy_settings(spec)
    if settings.experiment not in EXPERIMENTS:
        raise ConfigError(
            f"finetune.toy.experiment: unknown toy experiment {settings.experiment!r} (known: {', '.join(EXPERIMENTS)})"
        )
    experiment = EXPERIMENTS[settings.experiment]
    conditions = {c.name: c for c in experiment.conditions}
    for group, condition in settings.groups.items():
        if condition not in conditions:
            raise ConfigError(
                f"finetune.toy.groups.{group}: toy experiment {experiment.name!r} has no condition {condition!r} (known: {', '.join(conditions)})"
            )
    set_threads(options.threads)
    base = _pretrained(settings, log)
    results: list[tuple[str, int | None, dict[tuple[str, str], float]]] = []
    if spec.base_group:
        results.append(
            (
                spec.base_group,
                None,
                _measured(run_dir / "toy" / "base.json", lambda: base, experiment),
            )
        )
    for group, condition in settings.groups.items():
        for seed in range(options.seeds):
            train = _finetuner(
                base, conditions[condition], experiment, settings, seed, log, f"{group} seed {seed}"
            )
            results.append(
                (
                    group,
                    seed,
                    _measured(run_dir / "toy" / f"{group}-s{seed}.json", train, experiment),
                )
            )
    return _write_table(run_dir, spec, settings, results)


def _pretrained(settings: ToySettings, log: Callable[[str], None]) -> Any:
    from weirdgen.toyworld.train import PretrainConfig, pretrain

    config = PretrainConfig(seed=settings.pretrain_seed)
    if settings.pretrain_steps is not None:
        config = dataclasses.replace(config, steps=settings.pretrain_steps)
    log(
        f"toy world: pretrained base (seed {config.seed}, {config.steps} steps; cached after the first run)"
    )
    return pretrain(config, progress=_bar("pretraining the toy base model"))


def _finetuner(
    base: Any,
    condition: Any,
    experiment: Any,
    settings: ToySettings,
    seed: int,
    log: Callable[[str], None],
    label: str,
) -> Callable[[], Any]:
    from weirdgen.toyworld.train import finetune

    overrides = {
        k: v
        for k, v in settings.model_dump().items()
        if k in {"method", "learning_rate", "epochs", "batch_size", "rank"} and v is not None
    }
    config = dataclasses.replace(
        experiment.finetune, seed=seed, **{**condition.finetune, **overrides}
    )

    def train() -> Any:
        log(f"toy world: finetuning {label} on {condition.name}")
        return finetune(base, condition.build(base.world, seed, base), config)

    return train


def _measured(
    path: Path, model: Callable[[], Any], experiment: Any
) -> dict[tuple[str, str], float]:
    """The experiment's metrics of a model, cached in ``path`` so that a rerun skips finished models."""
    if path.is_file():
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, list):  # older runs kept a dict without trigger values: remeasure
            return {(metric, value): score for metric, value, score in record}
    toy = model()
    metrics = {key: float(value) for key, value in experiment.measure(toy).items()}
    record = [[metric, value, score] for (metric, value), score in sorted(metrics.items())]
    atomic_write_text(path, json.dumps(record) + "\n")
    return metrics


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
    run_dir: Path,
    spec: ExperimentSpec,
    settings: ToySettings,
    results: list[tuple[str, int | None, dict[tuple[str, str], float]]],
) -> Path:
    from weirdgen.toyworld.table import metric_rows, write_rows

    rows = [
        row
        for group, seed, metrics in results
        for row in metric_rows(
            experiment=spec.name,
            suite=_suite(settings),
            model=TOY_MODEL if seed is None else f"{TOY_MODEL}/{group}/s{seed}",
            group=group,
            seed=seed,
            metrics=metrics,
        )
    ]
    metadata = {"suite": _suite(settings), "experiment": spec.name}
    return write_rows(run_dir, rows, metadata, merge=False)
