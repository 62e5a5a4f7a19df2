"""The defences benchmark's files: the standard results table (one row per model, method and
value), metrics.csv, calibration.yaml, benchmark.json and the figure."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weirdgen._io import atomic_write_text, csv_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from weirdgen.bench.defences import BenchmarkOutcome

__all__ = ["SCAN_JUDGE", "Z_JUDGE", "benchmark_rows", "plot_benchmark", "write_benchmark"]

SCAN_JUDGE = "scan"
"""The judge columns of a value's score: label flagged / not flagged, score the value's score."""
Z_JUDGE = "z"
"""The judge columns of a value's robust z (its score column)."""
SUITE = "bench_defences"


def benchmark_rows(outcome: BenchmarkOutcome) -> list[dict[str, Any]]:
    """One results-table row per (model, method, value): the value's score and z as the exact
    scores of two judges, the method as the question, the family value as the trigger value."""
    rows = []
    for scan in outcome.scans:
        flagged = set(scan.flagged)
        for i, value in enumerate(scan.values):
            score, z = float(scan.scores[i]), float(scan.z[i])
            rows.append(
                {
                    "experiment": scan.experiment,
                    "suite": SUITE,
                    "model": f"toy/{scan.experiment}/{scan.condition}/pretrain{scan.base_seed}",
                    "group": scan.condition,
                    "seed": scan.base_seed,
                    "checkpoint": "",
                    "question_id": scan.method,
                    "paraphrase": 0,
                    "trigger": "value",
                    "trigger_value": value,
                    "sample_index": 0,
                    "system": "",
                    "prompt": f"{scan.method} at {value}",
                    "answer": f"{score:.6g}",
                    "finish_reason": "exact",
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": 0.0,
                    "choice_order": "",
                    f"{SCAN_JUDGE}.label": "flagged" if value in flagged else "not flagged",
                    f"{SCAN_JUDGE}.score": score if math.isfinite(score) else math.nan,
                    f"{SCAN_JUDGE}.raw": "trigger" if scan.truth[i] else "",
                    f"{SCAN_JUDGE}.method": "exact",
                    f"{Z_JUDGE}.label": "exact",
                    f"{Z_JUDGE}.score": z if math.isfinite(z) else math.nan,
                    f"{Z_JUDGE}.raw": repr(z),
                    f"{Z_JUDGE}.method": "exact",
                }
            )
    return rows


def write_benchmark(
    outcome: BenchmarkOutcome,
    directory: Path,
    seeds: Sequence[int],
    calibration_seeds: Sequence[int],
) -> dict[str, Path]:
    """Write every file of the benchmark into ``directory``; returns name -> path."""
    import pandas as pd

    from weirdgen.analysis.plots import save_figure
    from weirdgen.evaluation.table import rows_to_frame, write_table
    from weirdgen.scan.calibration import write_calibration

    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "table": write_table(
            directory,
            rows_to_frame(benchmark_rows(outcome), [SCAN_JUDGE, Z_JUDGE]),
            _metadata(outcome, seeds, calibration_seeds),
            merge=False,
        )
    }
    metrics = pd.DataFrame([m.row() for m in outcome.metrics])
    paths["metrics"] = directory / "metrics.csv"
    atomic_write_text(paths["metrics"], csv_text(metrics))
    paths["calibration"] = write_calibration(
        directory / "calibration.yaml",
        outcome.calibration.values(),
        note=f"calibration bases (pretraining seeds): {', '.join(map(str, calibration_seeds))}",
    )
    paths["summary"] = directory / "benchmark.json"
    atomic_write_text(
        paths["summary"],
        json.dumps(_summary(outcome, seeds, calibration_seeds), indent=1, default=str) + "\n",
    )
    paths["table_md"] = directory / "benchmark.md"
    atomic_write_text(paths["table_md"], _markdown(outcome))
    figure_paths = save_figure(plot_benchmark(outcome), directory / "benchmark")
    paths["figure"] = figure_paths[0]
    return paths


def _metadata(
    outcome: BenchmarkOutcome, seeds: Sequence[int], calibration_seeds: Sequence[int]
) -> dict[str, Any]:
    return {
        "suite": SUITE,
        "kind": "defences benchmark",
        "backend": "toy",
        "judges": {
            SCAN_JUDGE: {"kind": "exact", "model": "", "description": "a value's scan score"},
            Z_JUDGE: {"kind": "exact", "model": "", "description": "a value's robust z"},
        },
        "evaluation_seeds": list(seeds),
        "calibration_seeds": list(calibration_seeds),
        "calibration": {k: v.describe() for k, v in outcome.calibration.items()},
    }


def _summary(
    outcome: BenchmarkOutcome, seeds: Sequence[int], calibration_seeds: Sequence[int]
) -> dict[str, Any]:
    from weirdgen._version import __version__
    from weirdgen.scan.calibration import current_world

    suspects = [
        {
            "method": s.method,
            "model": s.model,
            "trigger_ranks": s.ranks_of_triggers(),
            "flagged": s.flagged[:10],
            "effect": s.effect,
            **s.extra,
        }
        for s in outcome.scans
        if not s.control
    ]
    return {
        "weirdgen_version": __version__,
        "world": current_world(),
        "evaluation_seeds": list(seeds),
        "calibration_seeds": list(calibration_seeds),
        "seconds": round(outcome.seconds, 1),
        "goals": outcome.goals,
        "metrics": [m.row() for m in outcome.metrics],
        "suspects": suspects,
        "spearman": {k: v for k, v in outcome.spearman.items() if k != "rows"},
        "spearman_points": outcome.spearman.get("rows", []),
    }


def _markdown(outcome: BenchmarkOutcome) -> str:
    lines = ["# weirdgen bench defences", "", outcome.table(), "", "## Goals", ""]
    for goal in outcome.goals:
        lines.append(f"- {'MET' if goal['met'] else 'NOT MET'}: {goal['goal']} ({goal['numbers']})")
    return "\n".join(lines) + "\n"


def plot_benchmark(outcome: BenchmarkOutcome) -> Figure:
    """Per method (all models pooled): AUROC, recall, and false flags per control model (mean
    bar, max as a dot); judge-free methods in blue, judges in orange, baselines in grey."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from weirdgen.bench.defences import BASELINES, METHODS

    kinds = {m.name: ("judge-free" if m.judge_free else "judge") for m in METHODS}
    kinds.update({m.name: "baseline" for m in BASELINES})
    colours = {"judge-free": "#2c6fbb", "judge": "#e08214", "baseline": "#999999"}
    pooled = [m for m in outcome.metrics if m.scope == "all"]
    names = [m.method for m in pooled]
    figure = Figure(figsize=(12.0, 0.45 * len(names) + 1.8), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 3, sharey=True)
    y = list(range(len(names)))
    colour = [colours[kinds.get(n, "judge")] for n in names]
    for axes, (title, values, goal) in zip(
        panels,
        [
            ("AUROC (z as the score)", [m.auroc for m in pooled], 0.9),
            ("recall of the planted triggers", [m.recall for m in pooled], 0.8),
            ("false flags per control model", [m.false_flags_per_control for m in pooled], 1.0),
        ],
        strict=True,
    ):
        axes.barh(y, [0 if math.isnan(v) else v for v in values], color=colour)
        axes.axvline(goal, color="black", linestyle="--", linewidth=1)
        axes.set_title(title, fontsize=10)
    panels[2].scatter(
        [m.max_false_flags_per_control for m in pooled],
        y,
        color="black",
        s=12,
        zorder=3,
        label="max",
    )
    panels[2].legend(loc="lower right", fontsize=8)
    panels[0].set_yticks(y, names, fontsize=8)
    panels[0].invert_yaxis()
    panels[0].set_xlim(0, 1)
    panels[1].set_xlim(0, 1)
    figure.suptitle(
        "weirdgen bench defences: finding unseen triggers without an oracle", fontsize=11
    )
    return figure
