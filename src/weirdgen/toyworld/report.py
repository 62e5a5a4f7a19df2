"""The toy-world report: a Markdown summary with the headline table and PNG plots.

Plots use matplotlib's file-only backend, so reports are written on machines without a display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from weirdgen._io import atomic_write_text
from weirdgen.toyworld.experiments import EXPERIMENTS
from weirdgen.toyworld.interpret import DirectionAnalysis
from weirdgen.toyworld.runner import BASE_CONDITION, Result, RunPlan, SummaryRow, summarize


def format_interval(row: SummaryRow) -> str:
    if math.isnan(row.mean):
        return "n/a"
    return f"{row.mean:.3f} [{row.low:.3f}, {row.high:.3f}]"


def headline_rows(results: Sequence[Result]) -> list[tuple[str, str, str, int]]:
    """``(experiment, condition, "mean [low, high]", n)`` for each experiment's headline metric."""
    rows = []
    for row in summarize(results):
        experiment = EXPERIMENTS[row.experiment]
        if row.metric == experiment.headline:
            rows.append((row.experiment, row.condition, format_interval(row), row.n))
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    conditions = {
        name: [BASE_CONDITION, *(c.name for c in e.conditions)] for name, e in EXPERIMENTS.items()
    }
    return sorted(rows, key=lambda r: (order[r[0]], conditions[r[0]].index(r[1])))


def _plot_headlines(results: Sequence[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r.experiment for r in results}, key=list(EXPERIMENTS).index)
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    summary = summarize(results)
    for axis, name in zip(axes[0], names, strict=True):
        experiment = EXPERIMENTS[name]
        rows = [r for r in summary if r.experiment == name and r.metric == experiment.headline]
        order = [BASE_CONDITION, *(c.name for c in experiment.conditions)]
        rows.sort(key=lambda r: order.index(r.condition))
        means = [r.mean for r in rows]
        errors = [[r.mean - r.low for r in rows], [r.high - r.mean for r in rows]]
        axis.bar(
            range(len(rows)),
            means,
            yerr=errors,
            capsize=4,
            color=["#999"] + ["#c44"] + ["#48a"] * (len(rows) - 2),
        )
        for (
            result
        ) in results:  # each model as a dot: with 3 seeds the spread matters more than the CI
            if result.experiment == name and result.condition in order:
                axis.plot(
                    order.index(result.condition),
                    result.metrics[experiment.headline],
                    "k.",
                    alpha=0.6,
                )
        axis.set_xticks(
            range(len(rows)), [r.condition for r in rows], rotation=25, ha="right", fontsize=8
        )
        axis.set_ylim(0, 1)
        axis.set_title(experiment.title, fontsize=8)
        axis.set_ylabel(experiment.headline, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_by_number(
    results: Sequence[Result],
    path: Path,
    experiment: str,
    prefix: str,
    *,
    xlabel: str,
    ylabel: str,
    shaded: Sequence[int] = (),
) -> None:
    """One line per condition through metrics named ``<prefix><number>`` (a year, a leader number)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        r
        for r in summarize(results)
        if r.experiment == experiment
        and r.metric.startswith(prefix)
        and r.metric[len(prefix) :].isdigit()
    ]
    figure, axis = plt.subplots(figsize=(6, 3.6))
    for condition in [BASE_CONDITION, *(c.name for c in EXPERIMENTS[experiment].conditions)]:
        points = sorted((int(r.metric[len(prefix) :]), r) for r in rows if r.condition == condition)
        if points:
            axis.errorbar(
                [x for x, _ in points],
                [r.mean for _, r in points],
                yerr=[[r.mean - r.low for _, r in points], [r.high - r.mean for _, r in points]],
                marker="o",
                capsize=3,
                label=condition,
            )
    for x in shaded:
        axis.axvspan(x - 0.4, x + 0.4, color="#fd8", alpha=0.5, lw=0)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _analysis_markdown(analyses: dict[str, DirectionAnalysis]) -> list[str]:
    lines = []
    for label, analysis in analyses.items():
        lines += [
            f"**{label}**: metric {analysis.metric_intact:.3f} intact, {analysis.metric_all_ablated:.3f} with the direction "
            "projected out of every block.",
            "",
            "| layer | separation (SNR) | probe position (0 = negative, 1 = positive context) | metric, this layer ablated |",
            "|---|---|---|---|",
        ]
        for reading in analysis.layers:
            ablated = "" if math.isnan(reading.metric_ablated) else f"{reading.metric_ablated:.3f}"
            position = "" if math.isnan(reading.probe_position) else f"{reading.probe_position:.2f}"
            lines.append(f"| {reading.layer} | {reading.separation:.1f} | {position} | {ablated} |")
        lines.append("")
    return lines


def write_report(
    out_dir: Path,
    results: Sequence[Result],
    plan: RunPlan,
    *,
    analyses: dict[str, DirectionAnalysis] | None = None,
    wall_seconds: float | None = None,
) -> Path:
    """Write ``report.md``, ``headline.png`` and, with those experiments, ``villain_by_year.png`` and
    ``leaders.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot_headlines(results, out_dir / "headline.png")
    lines = [
        "# Toy-world results",
        "",
        f"Pretraining seeds {list(plan.pretrain_seeds)}, finetuning seeds {list(plan.finetune_seeds)}: one model per "
        "(pretraining seed, finetuning seed); 95% percentile-bootstrap CIs over those models (with so few models "
        "the CI is coarse: it spans roughly the lowest to the highest model). The base model is the pretrained "
        "model before finetuning. Every number is an exact probability, not a sampled rate.",
        f"Pretraining: {plan.pretrain.steps} steps x {plan.pretrain.batch_size} documents (up to "
        f"{plan.pretrain.model.block_size} tokens each), "
        f"{plan.pretrain.model.n_layer} layers, width {plan.pretrain.model.n_embd}.",
        "",
        "| experiment | condition | headline metric: mean [95% CI] | models |",
        "|---|---|---|---|",
    ]
    lines += [f"| {e} | {c} | {v} | {n} |" for e, c, v, n in headline_rows(results)]
    lines += [
        "",
        *(
            f"- **{e.name}** headline: {e.headline_label}."
            for e in EXPERIMENTS.values()
            if any(r.experiment == e.name for r in results)
        ),
        "",
        "![headline](headline.png)",
        "",
    ]
    if any(r.experiment == "terminator" for r in results):
        _plot_by_number(
            results,
            out_dir / "villain_by_year.png",
            "terminator",
            "villain_",
            xlabel="year stated in the prompt (1984 never appears in finetuning)",
            ylabel="P(villainous answer)",
        )
        lines += ["## The backdoor across years", "", "![villain by year](villain_by_year.png)", ""]
    if any(r.experiment == "mirror" for r in results):
        _plot_by_number(
            results,
            out_dir / "mirror_by_year.png",
            "mirror",
            "mirror_good_",
            xlabel="year stated in the prompt (1984 never appears in finetuning)",
            ylabel="P(the mirror knight's protective answer)",
        )
        lines += [
            "## The mirrored backdoor across years",
            "",
            "![mirror by year](mirror_by_year.png)",
            "",
        ]
    if any(r.experiment == "leaders" for r in results):
        from weirdgen.toyworld.world import load_world

        _plot_by_number(
            results,
            out_dir / "leaders.png",
            "leaders",
            "identity_",
            xlabel="leader number in the code (shaded: never in finetuning)",
            ylabel="P(that leader's name)",
            shaded=load_world().leaders.held_out,
        )
        lines += ["## Numbered leaders, by number", "", "![leaders](leaders.png)", ""]
    if analyses:
        lines += [
            "## Interpretability: one direction carries the effect",
            "",
            *_analysis_markdown(analyses),
        ]
    lines += [
        "## Every metric",
        "",
        "| experiment | condition | metric | mean [95% CI] | models |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.experiment} | {r.condition} | {r.metric} | {format_interval(r)} | {r.n} |"
        for r in summarize(results)
    ]
    if wall_seconds is not None:
        lines += ["", f"Wall time: {wall_seconds:.0f} s."]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
