"""The measured table of a mitigated toy experiment: each mitigation's effect beside the
unmitigated finetune (paired by pretraining seed) and what it costs on the narrow task.

The mitigations themselves are data transforms of the organism (``weirdgen.toyworld.mitigations``);
this module tabulates the toy runner's results (``weirdgen.experiments.toy_runner``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weirdgen.analysis.stats import bootstrap_mean_ci
from weirdgen.toyworld.world import World

Interval = tuple[float, float, float]
"""``(mean, low, high)``: a mean with its 95% bootstrap CI over pretraining seeds."""


@dataclass(frozen=True)
class MitigationRow:
    """One condition of a mitigated experiment over pretraining seeds: its effect (the
    experiment's headline metric), the change against the unmitigated condition (paired by seed),
    and the cost: its narrow-task loss and the share of the unmitigated finetune's learning kept."""

    experiment: str
    condition: str
    n: int
    effect: Interval
    change: Interval | None
    """Mitigated minus unmitigated effect, per seed (None for rows that mitigate nothing)."""
    narrow_loss: Interval
    narrow_loss_as_trained: Interval
    """The same with the prompts as trained (the prefix on them, if any)."""
    kept: Interval | None
    """Per seed ``(base loss - this loss) / (base loss - unmitigated loss)``: 1 learns the narrow
    task as well as the unmitigated finetune, 0 not at all."""
    steps: float


def mitigation_rows(results: Sequence[Any], experiment: Any, world: World) -> list[MitigationRow]:
    """The rows of ``experiment`` (mitigated) from toy ``Result``s: base, conditions in order."""
    headline = experiment.headline(world)
    by_condition: dict[str, dict[int, dict]] = {}
    for result in results:
        if result.experiment == experiment.name:
            by_condition.setdefault(result.condition, {})[result.pretrain_seed] = result.metrics
    base = by_condition.get("base", {})
    unmitigated = by_condition.get(experiment.mitigated, {})
    rows = []
    for condition in ["base", *(c.name for c in experiment.conditions)]:
        models = by_condition.get(condition)
        if not models:
            continue
        seeds = sorted(models)
        effect = [models[s][headline] for s in seeds]
        loss = [models[s][("narrow_loss", "")] for s in seeds]
        as_trained = [models[s][("narrow_loss_as_trained", "")] for s in seeds]
        paired = [s for s in seeds if s in unmitigated and s in base]
        mitigates = condition.partition("+")[0] == experiment.mitigated and "+" in condition
        change = kept = None
        if mitigates and paired:
            change = bootstrap_mean_ci(
                [models[s][headline] - unmitigated[s][headline] for s in paired]
            )
            kept = bootstrap_mean_ci([_kept(base[s], unmitigated[s], models[s]) for s in paired])
        steps = [models[s].get(("finetune_steps", ""), 0.0) for s in seeds]
        rows.append(
            MitigationRow(
                experiment.name,
                condition,
                len(seeds),
                bootstrap_mean_ci(effect),
                change,
                bootstrap_mean_ci(loss),
                bootstrap_mean_ci(as_trained),
                kept,
                sum(steps) / len(steps),
            )
        )
    return rows


def _kept(base: dict, unmitigated: dict, mitigated: dict) -> float:
    key = ("narrow_loss", "")
    learned = base[key] - unmitigated[key]
    return (base[key] - mitigated[key]) / learned if learned else float("nan")


def format_mitigation_table(rows: Sequence[MitigationRow], label: str) -> str:
    """A Markdown table of ``rows`` (intervals as mean [low, high])."""
    lines = [
        f"| condition | {label} | change vs unmitigated | narrow-task loss | "
        "narrow learning kept | loss on the training prompts | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.condition} | {_interval(row.effect)} | {_interval(row.change, signed=True)} | "
            f"{_interval(row.narrow_loss)} | {_interval(row.kept)} | "
            f"{_interval(row.narrow_loss_as_trained)} | {row.steps:.0f} |"
        )
    return "\n".join(lines)


def _interval(value: Interval | None, *, signed: bool = False) -> str:
    if value is None:
        return ""
    mean, low, high = value
    form = "+.3f" if signed else ".3f"
    return f"{mean:{form}} [{low:{form}}, {high:{form}}]"
