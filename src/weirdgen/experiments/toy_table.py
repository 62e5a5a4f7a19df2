"""Toy-world results as the standard results table, and the standard report's spec for them.

Every toy model's exact metrics become rows of ``weirdgen.evaluation.table`` (judge ``exact``, one
row per model, metric and value): ``question_id`` is the metric, ``trigger``/``trigger_value`` the
axis it was measured along (the year told, the leader number, the held-out attribute). A toy run
directory holds one standard run directory per experiment (``<out>/<experiment>/samples.parquet``,
``run.json``, ``report/``), because each experiment has its own groups (its conditions and "base").
The table is both the toy runner's output and its resume log; the report is
``weirdgen.report.write_report``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weirdgen.experiments.spec import TOY_JUDGE
from weirdgen.report.spec import FigureSpec, ReportSpec
from weirdgen.toyworld.experiments import METRIC_AXES, METRIC_QUANTITIES, TOY_EXPERIMENTS, Metrics
from weirdgen.toyworld.world import World

if TYPE_CHECKING:
    from weirdgen.experiments.toy_runner import Result

SUITE_PREFIX = "toyworld_"
MODEL_PREFIX = "toy"
TABLE_SUITE = "toyworld"
"""The run.json suite of a toy run directory; each row's suite is ``toyworld_<experiment>``."""


def suite_name(experiment: str) -> str:
    return f"{SUITE_PREFIX}{experiment}"


def model_name(result: Result) -> str:
    """Unique per model: ``toy/<experiment>/<condition>/pretrain<p>/finetune<f>/<recipe>``."""
    return "/".join(
        [
            MODEL_PREFIX,
            result.experiment,
            result.condition,
            f"pretrain{result.pretrain_seed}",
            f"finetune{result.finetune_seed}",
            result.recipe,
        ]
    )


def metric_rows(
    *,
    experiment: str,
    suite: str,
    model: str,
    group: str,
    seed: int | None,
    metrics: Metrics,
) -> list[dict[str, Any]]:
    """One table row per ``(metric, value)``: an exact probability stands where a sampled answer would."""
    rows = []
    for (metric, value), score in metrics.items():
        rows.append(
            {
                "experiment": experiment,
                "suite": suite,
                "model": model,
                "group": group,
                "seed": seed,
                "checkpoint": "",
                "question_id": metric,
                "paraphrase": 0,
                "trigger": METRIC_AXES.get(metric, "") if value else "",
                "trigger_value": value,
                "sample_index": 0,
                "system": "",
                "prompt": f"exact metric {metric}" + (f" at {value}" if value else ""),
                "answer": f"{score:.6f}",
                "finish_reason": "exact",
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "choice_order": "",
                f"{TOY_JUDGE}.label": "exact",
                f"{TOY_JUDGE}.score": score if math.isfinite(score) else math.nan,
                f"{TOY_JUDGE}.raw": repr(score),
                f"{TOY_JUDGE}.method": "exact",
            }
        )
    return rows


def result_rows(result: Result) -> list[dict[str, Any]]:
    return metric_rows(
        experiment=result.experiment,
        suite=suite_name(result.experiment),
        model=model_name(result),
        group=result.condition,
        seed=result.pretrain_seed,
        metrics=result.metrics,
    )


def write_rows(
    run_dir: Path, rows: list[dict[str, Any]], metadata: Mapping[str, Any], *, merge: bool = False
) -> Path:
    """Write rows through the one table writer (``samples.parquet``, ``samples.csv``, ``run.json``)."""
    from weirdgen.evaluation.table import rows_to_frame, write_table

    meta = {"judges": {TOY_JUDGE: {"kind": "exact", "model": ""}}, "backend": "toy", **metadata}
    return write_table(run_dir, rows_to_frame(rows, [TOY_JUDGE]), meta, merge=merge)


def write_results(run_dir: Path, results: Iterable[Result], extra: Mapping[str, Any]) -> list[Path]:
    """Each experiment's results as its standard table in ``run_dir/<experiment>`` (rewritten as a
    whole: they are small)."""
    by_experiment: dict[str, list[Result]] = {}
    for result in results:
        by_experiment.setdefault(result.experiment, []).append(result)
    return [
        write_rows(
            run_dir / name,
            [row for result in chunk for row in result_rows(result)],
            {"suite": suite_name(name), "experiment": name, **extra},
        )
        for name, chunk in by_experiment.items()
    ]


def experiment_dirs(run_dir: Path) -> list[Path]:
    """The experiments' run directories inside a toy run directory, in TOY_EXPERIMENTS order."""
    from weirdgen.evaluation.table import RUN_METADATA

    return [run_dir / name for name in TOY_EXPERIMENTS if (run_dir / name / RUN_METADATA).is_file()]


def read_results(run_dir: Path) -> list[Result]:
    """The toy results saved in ``run_dir``'s tables (none when there is no table yet)."""
    from weirdgen.evaluation.table import load_evaluation_table
    from weirdgen.experiments.toy_runner import Result

    results = []
    for directory in experiment_dirs(run_dir):
        samples = load_evaluation_table(directory).samples
        for model, rows in samples.groupby("model", sort=False):
            parts = str(model).split("/")
            if len(parts) != 6 or parts[0] != MODEL_PREFIX:
                continue  # not a toy runner's row
            _, experiment, condition, pretrain, finetune, recipe = parts
            metrics = {
                (str(question), str(value)): float(score)
                for question, value, score in zip(
                    rows["question_id"],
                    rows["trigger_value"],
                    rows[f"{TOY_JUDGE}.score"],
                    strict=True,
                )
            }
            results.append(
                Result(
                    experiment,
                    condition,
                    int(pretrain.removeprefix("pretrain")),
                    int(finetune.removeprefix("finetune")),
                    metrics,
                    recipe,
                )
            )
    return results


# ------------------------------------------------------------------------------- the report
NARROW_QUANTITIES = {
    "narrow_loss": "loss on the narrow task (nats per answer token)",
    "narrow_loss_as_trained": "loss on the narrow task (nats per answer token)",
    "finetune_steps": "optimizer steps",
}
"""What the runner's narrow-task metrics of a mitigations experiment are (``runner.narrow_task_metrics``)."""
ZOOM_BEFORE, ZOOM_AFTER = 9, 11
"""A year sweep's zoom panel spans these many years before and after the trigger year."""


def experiment_figures(
    name: str, world: World, *, suite: str | None = None, groups: Sequence[str] = ()
) -> list[FigureSpec]:
    """The standard report's figures for one toy experiment: its undated metrics as bars (one
    figure per kind of quantity: probabilities, losses, steps), and every metric measured along an
    axis (years, leader numbers, attributes) as a sweep; year sweeps get a zoom panel around the
    trigger year. Every y-axis names its quantity (``METRIC_QUANTITIES``)."""
    experiment = TOY_EXPERIMENTS[name]
    suite = suite or suite_name(name)
    metric, at = experiment.headline(world)
    reference = experiment.reference(world)
    title = experiment.text(world, experiment.title)
    quantities = {
        key: experiment.text(world, text)
        for key, text in METRIC_QUANTITIES[experiment.measure_name].items()
    }
    swept = _axis_metrics(name)
    # A headline metric measured at a value but not swept (persona's trigger) is measured without it too.
    undated = [
        key
        for key in quantities
        if key not in METRIC_AXES or (key == metric and at and key not in swept)
    ]
    if experiment.mitigated:
        quantities |= NARROW_QUANTITIES
        undated += list(NARROW_QUANTITIES)
    figures = [
        FigureSpec(
            "bars",
            TOY_JUDGE,
            suite=suite,
            title=f"{title}: metrics without an axis"
            + ("" if index == 0 else f" ({_joined(quantities[key] for key in keys)})"),
            pooled=False,
            questions=tuple(keys),
            y_label=_joined(quantities[key] for key in keys),
        )
        for index, keys in enumerate(_by_kind(undated, quantities))
    ]
    if at and metric not in swept:
        at_value = [key for key in quantities if key in METRIC_AXES and key not in swept]
        figures.append(
            FigureSpec(
                "bars",
                TOY_JUDGE,
                suite=suite,
                trigger_value=at,
                title=f"{title}: metrics at {at}",
                pooled=False,
                questions=tuple(at_value),
                y_label=_joined(quantities[key] for key in at_value),
            )
        )
    main = groups[0] if groups else experiment.conditions[0].name
    for axis_metric in swept:
        marked = _marked_values(name, world, axis_metric, metric, at)
        figures.append(
            FigureSpec(
                "sweep",
                TOY_JUDGE,
                suite=suite,
                question=axis_metric,
                title=f"{title}: {axis_metric} by {METRIC_AXES[axis_metric]}",
                marked_values=marked,
                reference=reference if axis_metric == metric else {},
                reference_group=main if reference and axis_metric == metric else None,
                group=main,
                y_label=quantities[axis_metric],
                zoom=_year_zoom(world) if METRIC_AXES[axis_metric] == "year" else None,
            )
        )
    return figures


def _by_kind(metrics: Sequence[str], quantities: Mapping[str, str]) -> list[list[str]]:
    """``metrics`` split so that one figure never mixes probabilities with losses or counts."""
    kinds: dict[str, list[str]] = {}
    for metric in metrics:
        quantity = quantities[metric]
        kinds.setdefault("P" if quantity.startswith("P(") else quantity, []).append(metric)
    return list(kinds.values())


def _joined(quantities: Iterable[str]) -> str:
    return " / ".join(dict.fromkeys(quantities))


def _year_zoom(world: World) -> tuple[str, str]:
    """The zoom panel of a year sweep: around the trigger year, within the sweep."""
    c = world.characters
    first = max(c.sweep[0], c.trigger_year - ZOOM_BEFORE)
    last = min(c.sweep[1], c.trigger_year + ZOOM_AFTER)
    return str(first), str(last)


def _axis_metrics(name: str) -> list[str]:
    from weirdgen.toyworld.experiments import MEASURE_AXIS_METRICS

    return list(MEASURE_AXIS_METRICS[TOY_EXPERIMENTS[name].measure_name])


def _marked_values(name: str, world: World, metric: str, headline: str, at: str) -> tuple[str, ...]:
    if METRIC_AXES[metric] == "leader number":
        return tuple(str(n) for n in world.leaders.held_out)
    if METRIC_AXES[metric] == "year":
        return (str(world.characters.trigger_year),)
    return (at,) if metric == headline and at else ()


def report_spec(name: str, world: World, *, n_resamples: int = 1000) -> ReportSpec:
    """The standard report of one toy experiment's run directory."""
    experiment = TOY_EXPERIMENTS[name]
    groups = ("base", *(c.name for c in experiment.conditions))
    return ReportSpec(
        title=f"Toy world: {experiment.text(world, experiment.title)}",
        figures=tuple(experiment_figures(name, world)),
        expected_groups=groups,
        examples_per_cell=0,  # the "answers" are the exact probabilities the figures already show
        n_resamples=n_resamples,
        exact=True,
    )


def write_reports(run_dir: Path, world: World) -> list[Path]:
    """The standard report (``<experiment>/report/report.md`` and ``.html``) of every experiment."""
    from weirdgen.report import write_report

    return [
        write_report(directory, report_spec(directory.name, world)).markdown
        for directory in experiment_dirs(run_dir)
    ]
