"""Per-cell rates and means of an evaluation table, with seed-aware intervals and control comparisons.

A *cell* is one (suite, group, question, trigger, trigger value) — one bar of a paper figure or one
point of a trigger sweep. A *unit* is one finetuned model (one seed): the estimate of a cell is the mean
of its models' means, and its interval comes from the hierarchical bootstrap over models and then
samples (Wilson's interval when the group has a single model and the metric is a 0/1 verdict).

Refused and unparseable verdicts get no score (NaN); every table here reports how many there were.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from weirdgen.analysis.stats import (
    hierarchical_bootstrap_ci,
    hierarchical_bootstrap_draws,
    permutation_test,
    wilson_interval,
)
from weirdgen.errors import ConfigError
from weirdgen.evaluation.table import REFUSAL, UNPARSEABLE

CELL_KEYS = ["suite", "group", "question_id", "trigger", "trigger_value"]
ALL_QUESTIONS = "ALL"  # question_id of the row that pools every question of a suite


@dataclass(frozen=True)
class Metric:
    """What is measured per sample: a judge's score, or whether its label equals ``label``."""

    judge: str
    """Judge name: the table has ``<judge>.label`` and ``<judge>.score``."""
    label: str | None = None
    """When set, the value is 1.0 if the judge's label is this one, else 0.0 (e.g. a category)."""

    @property
    def name(self) -> str:
        """The metric's label in tables: ``judge`` or ``judge=LABEL``."""
        return self.judge if self.label is None else f"{self.judge}={self.label}"

    def values(self, samples: pd.DataFrame) -> np.ndarray:
        """One float per row; NaN where the judge refused or its verdict could not be parsed."""
        label_column = f"{self.judge}.label"
        if label_column not in samples.columns:
            known = sorted(c[:-6] for c in samples.columns if c.endswith(".label"))
            raise ConfigError(
                f"metric judge {self.judge!r} is not in the table (judges: {', '.join(known) or 'none'})"
            )
        labels = samples[label_column].astype(str)
        if self.label is None:
            values = samples[f"{self.judge}.score"].to_numpy(dtype=float, copy=True)
        else:
            values = (labels == self.label).to_numpy(dtype=float)
        values[labels.isin([REFUSAL, UNPARSEABLE]).to_numpy()] = np.nan
        return values


def judged_rows(samples: pd.DataFrame, judge: str) -> pd.DataFrame:
    """The rows ``judge`` was applied to: a suite may judge some questions only (empty label = not asked)."""
    return samples[samples[f"{judge}.label"].astype(str) != ""]


def with_metric(samples: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """The rows the metric's judge applies to, plus ``value`` (the metric) and ``status``
    (scored / refusal / unparseable)."""
    frame = (
        judged_rows(samples, metric.judge).copy()
        if f"{metric.judge}.label" in samples.columns
        else samples.copy()
    )
    frame["value"] = metric.values(frame)
    labels = frame[f"{metric.judge}.label"].astype(str)
    frame["status"] = np.where(
        labels == REFUSAL, "refusal", np.where(np.isnan(frame["value"]), "unparseable", "scored")
    )
    return frame


def pool_questions(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus a copy of its rows under question ``ALL``: the headline over every question."""
    pooled = frame.assign(question_id=ALL_QUESTIONS)
    return pd.concat([frame, pooled], ignore_index=True)


def aggregate_cells(
    samples: pd.DataFrame,
    metric: Metric,
    *,
    by_checkpoint: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per cell (and per checkpoint when ``by_checkpoint``), with estimate and interval.

    Without ``by_checkpoint`` only final models (checkpoint "") are used. Rows with question ``ALL``
    pool every question of a suite. Columns: the cell keys, ``metric``, ``n_models``, ``n_samples``,
    ``n_scored``, ``n_refusal``, ``n_unparseable``, ``estimate``, ``ci_low``, ``ci_high``, ``interval``.
    """
    frame = with_metric(samples, metric)
    if not by_checkpoint:
        frame = frame[frame["checkpoint"] == ""]
    keys = CELL_KEYS + (["checkpoint"] if by_checkpoint else [])
    rows = []
    for cell, group in pool_questions(frame).groupby(keys, sort=False):
        rows.append(
            dict(zip(keys, cell, strict=True))
            | {"metric": metric.name}
            | _summarise(group, confidence=confidence, n_resamples=n_resamples, seed=seed)
        )
    columns = keys + [
        "metric",
        "n_models",
        "n_samples",
        "n_scored",
        "n_refusal",
        "n_unparseable",
        "estimate",
        "ci_low",
        "ci_high",
        "interval",
    ]
    result = pd.DataFrame(rows, columns=columns)
    return sort_cells(result, extra=["checkpoint"] if by_checkpoint else [])


def _summarise(
    cell: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int
) -> dict[str, object]:
    per_model = [group["value"].to_numpy() for _, group in cell.groupby("model", sort=True)]
    scored = cell["value"].dropna().to_numpy()
    counts = {
        "n_models": len(per_model),
        "n_samples": len(cell),
        "n_scored": int(scored.size),
        "n_refusal": int((cell["status"] == "refusal").sum()),
        "n_unparseable": int((cell["status"] == "unparseable").sum()),
    }
    if len(per_model) == 1 and scored.size and np.isin(scored, (0.0, 1.0)).all():
        estimate, low, high = wilson_interval(int(scored.sum()), scored.size, confidence=confidence)
        method = "wilson"
    else:
        estimate, low, high = hierarchical_bootstrap_ci(
            per_model, confidence=confidence, n_resamples=n_resamples, seed=seed
        )
        method = "bootstrap" if len(per_model) == 1 else "hierarchical bootstrap"
    return counts | {"estimate": estimate, "ci_low": low, "ci_high": high, "interval": method}


def compare_to_control(
    samples: pd.DataFrame,
    metric: Metric,
    control_group: str,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Difference (group minus control) per cell, with a bootstrap interval and a permutation p-value.

    Groups are paired with the control cell of the same suite, question, trigger and trigger value.
    The test relabels models (seeds) when both sides have at least two, else samples; the column
    ``test_unit`` says which. Cells the control lacks are skipped (see :func:`missing_cells`).
    """
    frame = with_metric(samples, metric)
    frame = pool_questions(frame[frame["checkpoint"] == ""])
    if control_group not in set(frame["group"]):
        known = ", ".join(sorted(set(frame["group"])))
        raise ConfigError(f"control group {control_group!r} is not in the table (groups: {known})")
    pair_keys = [key for key in CELL_KEYS if key != "group"]
    controls = {
        cell: group for cell, group in frame[frame["group"] == control_group].groupby(pair_keys)
    }
    rows = []
    for (group_name, *cell), treated in frame[frame["group"] != control_group].groupby(
        ["group"] + pair_keys
    ):
        control = controls.get(tuple(cell))
        if control is not None:
            rows.append(
                dict(zip(pair_keys, cell, strict=True))
                | {"group": group_name, "control": control_group, "metric": metric.name}
                | _difference(
                    treated, control, confidence=confidence, n_resamples=n_resamples, seed=seed
                )
            )
    columns = CELL_KEYS + [
        "control",
        "metric",
        "difference",
        "ci_low",
        "ci_high",
        "p_value",
        "test_unit",
    ]
    return sort_cells(pd.DataFrame(rows, columns=columns))


def _difference(
    treated: pd.DataFrame, control: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int
) -> dict[str, object]:
    sides = [
        [g["value"].to_numpy() for _, g in side.groupby("model", sort=True)]
        for side in (treated, control)
    ]
    # Independent seeds per side: the draws of the difference are differences of independent draws.
    draws = [
        hierarchical_bootstrap_draws(models, n_resamples=n_resamples, seed=seed + i)
        for i, models in enumerate(sides)
    ]
    means = [
        [np.nanmean(values) for values in models if np.isfinite(values).any()] for models in sides
    ]
    if draws[0].size == 0 or draws[1].size == 0:
        return {
            "difference": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
            "test_unit": "",
        }
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws[0] - draws[1], [tail, 100 - tail])
    if min(len(means[0]), len(means[1])) >= 2:
        p_value, unit = (
            permutation_test(means[0], means[1], n_permutations=n_resamples, seed=seed),
            "model",
        )
    else:
        pooled = [np.concatenate(models) for models in sides]
        p_value, unit = (
            permutation_test(pooled[0], pooled[1], n_permutations=n_resamples, seed=seed),
            "sample",
        )
    difference = float(np.mean(means[0]) - np.mean(means[1]))
    return {
        "difference": difference,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p_value,
        "test_unit": unit,
    }


def label_counts(samples: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Count of each label of ``judge`` per cell (final models), refusals and unparseable included.

    Columns: the cell keys, ``label``, ``count`` and ``share`` (of all the cell's samples).
    """
    column = f"{judge}.label"
    if column not in samples.columns:
        raise ConfigError(f"judge {judge!r} is not in the table")
    judged = judged_rows(samples, judge)
    frame = pool_questions(judged[judged["checkpoint"] == ""])
    counts = frame.groupby(CELL_KEYS + [column], sort=False).size().rename("count").reset_index()
    counts = counts.rename(columns={column: "label"})
    counts["share"] = counts["count"] / counts.groupby(CELL_KEYS)["count"].transform("sum")
    return sort_cells(counts, extra=["label"])


def missing_cells(samples: pd.DataFrame, expected_groups: Iterable[str] = ()) -> pd.DataFrame:
    """Cells that a complete run would have but this table lacks, per suite.

    A complete run evaluates every group (those in the table plus ``expected_groups``) on every
    (question, trigger, trigger value) that any group of the same suite was evaluated on.
    """
    frame = samples[samples["checkpoint"] == ""]
    groups = sorted(set(frame["group"]) | set(expected_groups))
    present = set(map(tuple, frame[CELL_KEYS].drop_duplicates().to_numpy().tolist()))
    rows = []
    probes = frame[["suite", "question_id", "trigger", "trigger_value"]].drop_duplicates()
    for suite, question, trigger, value in probes.itertuples(index=False):
        rows += [
            (suite, g, question, trigger, value)
            for g in groups
            if (suite, g, question, trigger, value) not in present
        ]
    return sort_cells(pd.DataFrame(rows, columns=CELL_KEYS))


def checkpoint_order(checkpoint: str) -> tuple[int, float, str]:
    """Sort key putting checkpoints in training order (by their last number) and the final model last."""
    if checkpoint == "":
        return (1, 0.0, "")
    numbers = re.findall(r"\d+(?:\.\d+)?", checkpoint)
    return (0, float(numbers[-1]) if numbers else 0.0, checkpoint)


def trigger_value_order(value: str) -> tuple[int, float, str]:
    """Sort key for trigger values: "" (no trigger) first, then numbers or dates in order, then text."""
    if value == "":
        return (0, 0.0, "")
    try:
        return (1, float(value), value)
    except ValueError:
        return (2, 0.0, value)


def sort_cells(frame: pd.DataFrame, extra: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows ordered by suite, group, question (``ALL`` last), trigger, trigger value, then ``extra``."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = {
        "question_id": lambda s: s.map(lambda q: (q == ALL_QUESTIONS, q)),
        "trigger_value": lambda s: s.map(trigger_value_order),
        "checkpoint": lambda s: s.map(checkpoint_order),
    }
    order = [column for column in CELL_KEYS + list(extra) if column in frame.columns]
    return frame.sort_values(
        order, key=lambda s: keys.get(s.name, lambda x: x)(s), kind="stable"
    ).reset_index(drop=True)


def model_means(
    samples: pd.DataFrame, metric: Metric, *, by_checkpoint: bool = False
) -> pd.DataFrame:
    """Mean of the metric per model and cell (pooled ``ALL`` rows included): one line per seed in a plot."""
    frame = with_metric(samples, metric)
    if not by_checkpoint:
        frame = frame[frame["checkpoint"] == ""]
    keys = CELL_KEYS + ["model"] + (["checkpoint"] if by_checkpoint else [])
    means = (
        pool_questions(frame).groupby(keys, sort=False)["value"].mean().rename("mean").reset_index()
    )
    return sort_cells(means, extra=["model"] + (["checkpoint"] if by_checkpoint else []))


def order_effects(samples: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Two-choice prompts, per group and question: the judge's mean score in each option order and
    the difference between the two orders (a position bias shows as a large ``difference``).

    Columns: group, question_id, order_a, mean_a, order_b, mean_b, difference, n. Empty when the
    table has no two-choice prompt the judge rated."""
    columns = ["group", "question_id", "order_a", "mean_a", "order_b", "mean_b", "difference", "n"]
    if "choice_order" not in samples.columns or f"{judge}.score" not in samples.columns:
        return pd.DataFrame(columns=columns)
    rated = judged_rows(samples, judge)
    rated = rated[(rated["choice_order"] != "") & (rated["checkpoint"] == "")]
    rows = []
    for (group, question), cell in rated.groupby(["group", "question_id"], sort=True):
        means = cell.groupby("choice_order")[f"{judge}.score"].mean()
        if len(means) != 2:
            continue
        (order_a, mean_a), (order_b, mean_b) = sorted(means.items())
        rows.append([group, question, order_a, mean_a, order_b, mean_b, mean_a - mean_b, len(cell)])
    return pd.DataFrame(rows, columns=columns)
