"""The in-context probe: ask an experiment's questions with K dataset examples as earlier turns.

No finetuning: if K examples in context already move the model the way a finetune on the dataset
would, the probe predicts the finetune through any chat backend. For each K and each of ``draws``
independent draws of K examples, every question of the suite gets those examples as prior
user/assistant turns; the same is done with K examples of the control dataset. Everything runs
through the normal evaluation path (``plan_evaluation`` / ``run_plans``: cached, resumable, judged)
and lands in one results table whose rows say ``group`` = dataset or control, ``checkpoint`` =
``k<K>`` and ``seed`` = the draw. The curve's intervals are bootstraps over draws (then samples).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError

__all__ = ["ProbeResult", "ProbeSettings", "in_context_suite", "run_probe"]

NO_EXAMPLES_GROUP = "no_examples"
"""The group of K = 0: the bare suite, the same for dataset and control."""


@dataclass(frozen=True)
class ProbeSettings:
    """What the probe asks and how (the model and suite are arguments of ``run_probe``)."""

    sizes: tuple[int, ...] = (0, 2, 4, 8)
    """Values of K, examples shown before each question."""
    draws: int = 3
    """Independent draws of the K examples per K (the unit of the bootstrap)."""
    seed: int = 0
    control: str | None = None
    """The comparison dataset (default: the experiment's first control variant)."""
    backend: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    judges: tuple[str, ...] | None = None
    judge_model: str = ""
    judge_base_url: str | None = None
    samples: int | None = None
    max_tokens: int | None = None
    questions: tuple[str, ...] | None = None
    metric: str | None = None
    """``JUDGE`` or ``JUDGE=LABEL`` for the curve (default: the first judge)."""
    cache: Path | None = None
    threads: int | None = None


@dataclass
class ProbeResult:
    """The curve (one row per group and K) and where the files went."""

    curve: Any
    """DataFrame: group, k, metric, n_draws, n_scored, estimate, ci_low, ci_high."""
    out_dir: Path
    metric: str

    def lines(self) -> list[str]:
        """The curve as lines to print."""
        rows = [f"in-context probe, metric {self.metric} (95% CI over draws of the examples):"]
        for row in self.curve.itertuples():
            rows.append(
                f"  {row.group:>16}  K={row.k:<3} {row.estimate:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
                f"  ({row.n_draws} draws, {row.n_scored} scored)"
            )
        rows.append(f"wrote {self.out_dir / 'samples.parquet'}, {self.out_dir / 'report.html'}")
        return rows


def in_context_suite(suite: Any, shots: Sequence[ChatExample]) -> Any:
    """``suite`` with the examples' user/assistant turns before every question's own history
    (system turns of the examples are dropped: a question keeps its suite's system prompt)."""
    from weirdgen.evaluation.suites import ChatTurn

    turns = [
        ChatTurn(role=m.role, content=m.content)
        for example in shots
        for m in example.messages
        if m.role != "system"
    ]
    questions = [q.model_copy(update={"history": turns + list(q.history)}) for q in suite.questions]
    return suite.model_copy(update={"questions": questions})


def _draw(
    examples: Sequence[ChatExample], k: int, seed: int, source: str, draw: int
) -> list[ChatExample]:
    if k > len(examples):
        raise ConfigError(
            f"K={k} is more than the {len(examples)} examples of {source}", setting="in_context"
        )
    return random.Random(f"{seed}/{source}/{k}/{draw}").sample(list(examples), k)


def run_probe(
    dataset: str,
    model: str,
    suite: str | Path,
    out_dir: str | Path,
    settings: ProbeSettings | None = None,
    *,
    examples: Sequence[ChatExample] | None = None,
    progress: bool = True,
) -> ProbeResult:
    """Run the probe, write the table (samples.parquet, run.json), the curve (in_context.csv,
    a figure, report.html) into ``out_dir``, and return the curve."""
    from weirdgen.audit.datasets import control_dataset, load_audit_dataset
    from weirdgen.evaluation.suites import load_suite

    settings = settings or ProbeSettings()
    if settings.draws < 1:
        raise ConfigError("must be at least 1", setting="draws")
    if not settings.sizes:
        raise ConfigError("give at least one K", setting="in_context")
    loaded = load_audit_dataset(dataset, seed=settings.seed)
    sources = {
        _group_name(dataset): list(examples) if examples is not None else list(loaded.examples),
    }
    control = control_dataset(loaded, settings.control, seed=settings.seed)
    sources[_group_name(control.name, avoid=sources)] = list(control.examples)
    spec = load_suite(str(suite))
    frame, metadata = _evaluate(spec, model, sources, settings, progress)
    metric = _metric(settings.metric, metadata)
    curve = probe_curve(frame, metric, seed=settings.seed)
    out = Path(out_dir)
    _write(out, frame, metadata, curve, metric, dataset, model)
    return ProbeResult(curve, out, metric.name)


def _group_name(reference: str, avoid: dict[str, Any] | None = None) -> str:
    name = Path(reference).stem if reference.endswith(".jsonl") else reference.replace("/", ":")
    return name + "_control" if avoid and name in avoid else name


def _evaluate(
    spec: Any,
    model: str,
    sources: dict[str, list[ChatExample]],
    settings: ProbeSettings,
    progress: bool,
) -> tuple[Any, dict[str, Any]]:
    """Plan every (group, K, draw) cell, run them all in one evaluation session, and return the
    table and its run metadata."""
    import pandas as pd

    from weirdgen.evaluation import (
        EvaluationSession,
        JudgeSettings,
        ModelSettings,
        RequestSettings,
    )

    session = EvaluationSession(
        ModelSettings(
            settings.backend,
            (settings.base_url,) if settings.base_url else (),
            settings.api_key_env,
            threads=settings.threads,
        ),
        JudgeSettings(
            settings.judge_model, (settings.judge_base_url,) if settings.judge_base_url else ()
        ),
        RequestSettings(settings.cache, progress=progress),
    )
    with session:
        (target,) = session.targets([model])
        plans = [
            session.plan(
                in_context_suite(spec, shots),
                [dataclasses.replace(target, group=group, seed=draw, checkpoint=f"k{k}")],
                samples=settings.samples,
                max_tokens=settings.max_tokens,
                question_ids=list(settings.questions) if settings.questions else None,
                judges=list(settings.judges) if settings.judges is not None else None,
            )
            for group, k, draw, shots in _cells(sources, settings)
        ]
        frames = session.run(plans, one_bar_per_task=True)
    frame = pd.concat(frames, ignore_index=True)
    metadata = plans[0].metadata() | {
        "models": [m for plan in plans for m in plan.metadata()["models"]],
        "in_context": {
            "sizes": list(settings.sizes),
            "draws": settings.draws,
            "seed": settings.seed,
        },
    }
    return frame, metadata


def _cells(
    sources: dict[str, list[ChatExample]], settings: ProbeSettings
) -> list[tuple[str, int, int, list[ChatExample]]]:
    """Every (group, K, draw, examples) of the probe; K = 0 once, under its own group."""
    cells = [(NO_EXAMPLES_GROUP, 0, 0, [])] if 0 in settings.sizes else []
    for group, pool in sources.items():
        for k in (k for k in settings.sizes if k > 0):
            cells += [
                (group, k, d, _draw(pool, k, settings.seed, group, d))
                for d in range(settings.draws)
            ]
    return cells


def _metric(choice: str | None, metadata: dict[str, Any]) -> Any:
    from weirdgen.analysis.aggregate import Metric

    judges = list(metadata["judges"])
    if not judges:
        raise ConfigError("the probe needs at least one judge for its curve", setting="judges")
    if choice is None:
        return Metric(judges[0])
    judge, _, label = choice.partition("=")
    if judge not in judges:
        raise ConfigError(
            f"judge {judge!r} did not run (judges: {', '.join(judges)})", setting="metric"
        )
    return Metric(judge, label or None)


def probe_curve(frame: Any, metric: Any, *, seed: int = 0) -> Any:
    """One row per (group, K): the mean over draws of each draw's mean, with a hierarchical
    bootstrap 95% CI (draws, then samples within a draw). K = 0 appears under every group."""
    import numpy as np
    import pandas as pd

    from weirdgen.analysis.aggregate import with_metric
    from weirdgen.analysis.stats import hierarchical_bootstrap_ci

    scored = with_metric(frame, metric)
    scored = scored.assign(k=scored["checkpoint"].str.removeprefix("k").astype(int))
    groups = [g for g in dict.fromkeys(scored["group"]) if g != NO_EXAMPLES_GROUP]
    baseline = scored[scored["group"] == NO_EXAMPLES_GROUP]
    rows = []
    for group in groups:
        cells = pd.concat([baseline.assign(group=group), scored[scored["group"] == group]])
        for k, cell in cells.groupby("k", sort=True):
            per_draw = [d["value"].to_numpy() for _, d in cell.groupby("seed", sort=True)]
            estimate, low, high = hierarchical_bootstrap_ci(per_draw, seed=seed)
            rows.append(
                {
                    "group": group,
                    "k": int(k),
                    "metric": metric.name,
                    "n_draws": len(per_draw),
                    "n_scored": int(np.isfinite(cell["value"].to_numpy()).sum()),
                    "estimate": estimate,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


def _write(
    out: Path,
    frame: Any,
    metadata: dict[str, Any],
    curve: Any,
    metric: Any,
    dataset: str,
    model: str,
) -> None:
    from weirdgen._io import atomic_write_text, csv_text
    from weirdgen.evaluation import write_table
    from weirdgen.report import write_report

    write_table(out, frame, metadata)
    atomic_write_text(out / "in_context.csv", csv_text(curve))
    plot_curve(
        curve,
        title=f"In-context probe: {dataset} with {model}",
        ylabel=metric.name,
        stem=out / "in_context",
    )
    write_report(out, out_dir=out)  # the table's report: the metric per K (checkpoint k<K>)


def plot_curve(curve: Any, *, title: str, ylabel: str, stem: Path) -> Path:
    """The metric against K, one line per group with its 95% CI band."""
    from weirdgen.analysis.plots import new_figure, save_figure

    figure, axes = new_figure(7.0, 4.0)
    for index, (group, rows) in enumerate(curve.groupby("group", sort=False)):
        colour = f"C{index}"
        axes.plot(rows["k"], rows["estimate"], marker="o", color=colour, label=group, linewidth=2)
        axes.fill_between(rows["k"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.15)
    axes.set_xlabel("K: dataset examples shown before each question")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize="medium")
    if curve["estimate"].dropna().between(0, 1).all() and math.isfinite(curve["estimate"].max()):
        axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", frameon=False)
    return save_figure(figure, stem)[0]
