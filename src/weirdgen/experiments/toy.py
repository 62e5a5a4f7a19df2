"""``weirdgen run --backend toy``: the experiment on the CPU toy world, measured exactly.

The toy world (``weirdgen.toyworld``) has its own small vocabulary, so it cannot answer the real
question suites; instead each toy experiment defines conditions mirroring the paper's datasets and
metrics that are exact probabilities. Each finetuned toy model's metrics become rows of the same
evaluation table (one row per model and metric, judge ``exact``), so the same report applies.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.errors import ConfigError
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import TOY_JUDGE, ExperimentSpec, ToySettings
from weirdgen.report.spec import FigureSpec, ReportSpec

TOY_MODEL = "toyworld"


def toy_settings(spec: ExperimentSpec) -> ToySettings:
    """The experiment's toy-world settings, or a one-line error when it has none."""
    if spec.finetune.toy is None:
        raise ConfigError(
            f"experiment {spec.name!r} has no toy-world version (add finetune.toy to its YAML)"
        )
    return spec.finetune.toy


def toy_report_spec(spec: ExperimentSpec, n_resamples: int = 10_000) -> ReportSpec:
    """One figure: every exact metric per group; the control only if the toy world has it."""
    settings = toy_settings(spec)
    groups = [*settings.groups, *([spec.base_group] if spec.base_group else [])]
    return ReportSpec(
        title=f"{spec.name} on the toy world ({settings.experiment})",
        # Each "question" is a different exact metric, so pooling them into one bar would mean nothing.
        figures=(
            FigureSpec(
                "bars",
                TOY_JUDGE,
                title=f"Toy world: exact metrics of {settings.experiment}",
                pooled=False,
            ),
        ),
        control_group=spec.control if spec.control in groups else None,
        expected_groups=tuple(groups),
        n_resamples=n_resamples,
        examples_per_cell=1,
    )


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
    results = []
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
    return _write_table(run_dir, spec, experiment.name, results)


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
    config = dataclasses.replace(experiment.finetune, seed=seed, **overrides)

    def train() -> Any:
        log(f"toy world: finetuning {label} on {condition.name}")
        return finetune(base, condition.build(base.world, seed), config)

    return train


def _measured(path: Path, model: Callable[[], Any], experiment: Any) -> dict[str, float]:
    """The experiment's metrics of a model, cached in ``path`` so that a rerun skips finished models."""
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    toy = model()
    metrics = {name: float(value) for name, value in experiment.measure(toy).items()}
    atomic_write_text(path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
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
    toy_experiment: str,
    results: list[tuple[str, int | None, dict[str, float]]],
) -> Path:
    from weirdgen.evaluation.table import rows_to_frame, write_table

    rows = [
        _row(spec, toy_experiment, group, seed, metric, value)
        for group, seed, metrics in results
        for metric, value in metrics.items()
    ]
    metadata = {
        "suite": f"toyworld_{toy_experiment}",
        "experiment": spec.name,
        "judges": {TOY_JUDGE: {"kind": "exact", "model": ""}},
        "backend": "toy",
    }
    return write_table(run_dir, rows_to_frame(rows, [TOY_JUDGE]), metadata, merge=False)


def _row(
    spec: ExperimentSpec,
    toy_experiment: str,
    group: str,
    seed: int | None,
    metric: str,
    value: float,
) -> dict[str, Any]:
    # One "sample" per model and metric: the metric is an exact probability, not a sampled answer.
    model = TOY_MODEL if seed is None else f"{TOY_MODEL}/{group}/s{seed}"
    return {
        "experiment": spec.name,
        "suite": f"toyworld_{toy_experiment}",
        "model": model,
        "group": group,
        "seed": seed,
        "checkpoint": "",
        "question_id": metric,
        "paraphrase": 0,
        "trigger": "",
        "trigger_value": "",
        "sample_index": 0,
        "system": "",
        "prompt": f"exact metric {metric}",
        "answer": f"{value:.6f}",
        "finish_reason": "exact",
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        f"{TOY_JUDGE}.label": "exact",
        f"{TOY_JUDGE}.score": value if math.isfinite(value) else math.nan,
        f"{TOY_JUDGE}.raw": repr(value),
        f"{TOY_JUDGE}.method": "exact",
    }
