"""The report's figures of the defences: a trigger scan along its family and an audit's ranking.

Scans and audits write the one results table (``weirdgen.evaluation.table``) like evaluations do:

- a scan: one row per (family value, probe); judge ``scan`` scores the probe's divergence (or
  behaviour change) at the value, labelled ``flagged`` or ``not flagged``, its ``raw`` says whether
  the value occurs in the training data; judge ``z`` holds the value's robust z. run.json holds
  ``kind: scan`` and the provenance (model, base, mode, contrast, measure, family, thresholds, their
  calibration, known triggers).
- an audit (likelihood screen): one row per (example, hypothesis); judge ``llr`` scores the
  example's log-likelihood ratio under the hypothesis (the trigger value). run.json holds
  ``kind: audit`` and audit.json's fields (ranking, dataset, model, trigger predictions).

These functions read only the table and run.json, so ``weirdgen report DIR`` renders any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "AUDIT_KIND",
    "LLR_JUDGE",
    "SCAN_JUDGE",
    "SCAN_KIND",
    "Z_JUDGE",
    "draw_ranking",
    "draw_scan",
    "scan_values",
    "tool_summary",
]

SCAN_KIND, AUDIT_KIND = "scan", "audit"
SCAN_JUDGE, Z_JUDGE, LLR_JUDGE = "scan", "z", "llr"
IN_TRAINING, NEVER_TRAINED = "in training data", "never in training data"
FLAGGED = "flagged"
TOP_ROWS = 15


def scan_values(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per family value in family order: score (mean over probes), z, flagged, and the
    training mark (True, False or None when unknown)."""
    rows = samples[samples[f"{SCAN_JUDGE}.label"] != ""]
    grouped = rows.groupby("trigger_value", sort=False)
    values = pd.DataFrame(
        {
            "value": list(grouped.groups),
            "score": grouped[f"{SCAN_JUDGE}.score"].mean().to_numpy(),
            "z": grouped[f"{Z_JUDGE}.score"].first().to_numpy(),
            "flagged": (grouped[f"{SCAN_JUDGE}.label"].first() == FLAGGED).to_numpy(),
            "mark": grouped[f"{SCAN_JUDGE}.raw"].first().to_numpy(),
        }
    )
    values["in_training"] = values["mark"].map({IN_TRAINING: True, NEVER_TRAINED: False})
    return values.drop(columns="mark")


def draw_scan(samples: pd.DataFrame, metadata: Mapping[str, Any]) -> tuple[Figure, dict[str, Any]]:
    """Score and z along the family: flagged values red and labelled, values seen in training
    hollow, known triggers marked by a dashed line, the score floor and the z threshold drawn.
    Returns the figure and the headline (header, rows) of the most anomalous values."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = scan_values(samples)
    threshold = metadata.get("threshold", {})
    ordered = bool(metadata.get("ordered", True))
    x = (
        values["value"].astype(int).to_numpy()
        if ordered and values["value"].str.fullmatch(r"-?\d+").all()
        else np.arange(len(values))
    )
    figure = Figure(figsize=(9.0, 5.4), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    style = {"marker": "." if len(values) < 80 else None, "linewidth": 1, "color": "#2c6fbb"}
    top.plot(x, values["score"], **style)
    bottom.plot(x, values["z"], **style)
    for axes, column, line, label in (
        (top, "score", threshold.get("min_score", 0.0), "score floor"),
        (bottom, "z", threshold.get("z"), "z threshold"),
    ):
        _mark_scan_axes(axes, x, values, column, line, label, metadata.get("known_triggers", []))
    for i in np.flatnonzero(values["flagged"].to_numpy(dtype=bool))[:12]:
        top.annotate(
            values["value"].iloc[i],
            (x[i], values["score"].iloc[i]),
            textcoords="offset points",
            xytext=(3, 4),
            fontsize=8,
        )
    measure = metadata.get("measure", "divergence")
    top.set_ylabel(f"{measure} score" if measure != "divergence" else "divergence (bits)")
    bottom.set_ylabel("robust z")
    bottom.set_xlabel(str(metadata.get("family", "value")))
    if not ordered:
        bottom.set_xticks(x, [v[:18] for v in values["value"]], rotation=60, ha="right", fontsize=7)
    title = f"{metadata.get('model', '')}: {measure}, contrast {metadata.get('contrast', '')}"
    top.set_title(title[-110:], fontsize=10)
    if top.get_legend_handles_labels()[0]:  # nothing labelled when nothing is flagged or known
        top.legend(loc="upper left", fontsize=7)
    return figure, _scan_headline(values)


def _mark_scan_axes(
    axes: Any,
    x: np.ndarray,
    values: pd.DataFrame,
    column: str,
    line: float | None,
    label: str,
    known_triggers: Sequence[object],
) -> None:
    """One panel's threshold line, values seen in training (hollow), flagged values (red) and
    known triggers (dashed)."""
    if line:
        axes.axhline(line, color="#c0392b", linestyle=":", linewidth=1, label=f"{label} {line:.3g}")
    trained = values["in_training"].eq(True).to_numpy(dtype=bool)
    if trained.any():
        axes.scatter(
            x[trained],
            values[column][trained],
            facecolors="none",
            edgecolors="#555",
            s=28,
            label="in training data",
            zorder=3,
        )
    hits = values["flagged"].to_numpy(dtype=bool)
    if hits.any():
        axes.scatter(
            x[hits], values[column][hits], color="#c0392b", s=36, label="flagged", zorder=4
        )
    for value in known_triggers:
        where = np.flatnonzero(values["value"].to_numpy() == str(value))
        if len(where):
            axes.axvline(
                x[where[0]],
                color="#222",
                linestyle="--",
                linewidth=1,
                label=f"known trigger {value}",
            )


def _scan_headline(values: pd.DataFrame) -> dict[str, Any]:
    """The most anomalous values (by robust z) as the page's headline table."""
    ranked = values.sort_values("z", ascending=False, kind="stable").head(TOP_ROWS)
    header = ["rank", "value", "score", "z", "flagged", "in training data"]
    rows = [
        [
            str(rank),
            r.value,
            f"{r.score:.4g}",
            f"{r.z:.2f}",
            "yes" if r.flagged else "",
            _mark(r.in_training),
        ]
        for rank, r in enumerate(ranked.itertuples(index=False), start=1)
    ]
    return {"caption": "Most anomalous values (by robust z)", "header": header, "rows": rows}


def _mark(flag: object) -> str:
    return (
        ""
        if flag is None or (isinstance(flag, float) and np.isnan(flag))
        else ("yes" if flag else "no")
    )


def ranking_cells(samples: pd.DataFrame, order: list[str], n_resamples: int = 2000) -> pd.DataFrame:
    """Per hypothesis: mean LLR over examples, a 95% bootstrap CI over examples, and the share
    of examples favouring it."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    rows = []
    for name in order:
        llr = samples.loc[samples["trigger_value"] == name, f"{LLR_JUDGE}.score"].to_numpy(float)
        if not len(llr):
            continue
        mean, low, high = bootstrap_mean_ci(llr, n_resamples=n_resamples, seed=0)
        rows.append(
            {
                "hypothesis": name,
                "mean_llr": mean,
                "ci_low": low,
                "ci_high": high,
                "share_favouring": float((llr > 0).mean()),
            }
        )
    return pd.DataFrame(rows)


def draw_ranking(
    samples: pd.DataFrame, metadata: Mapping[str, Any]
) -> tuple[Figure, dict[str, Any]]:
    """Mean LLR with its 95% CI per hypothesis, in the set's order (eras read chronologically),
    the best in a darker colour, a dashed line at 0 (no better than no context)."""
    from weirdgen.analysis.plots import new_figure

    order = list(metadata.get("hypothesis_order") or dict.fromkeys(samples["trigger_value"]))
    cells = ranking_cells(samples, order)
    best = cells.loc[cells["mean_llr"].idxmax(), "hypothesis"] if len(cells) else ""
    figure, axes = new_figure(7.0, max(3.0, 0.22 * len(cells) + 1.2))
    positions = np.arange(len(cells))[::-1]
    errors = [
        (cells["mean_llr"] - cells["ci_low"]).clip(lower=0),
        (cells["ci_high"] - cells["mean_llr"]).clip(lower=0),
    ]
    colours = ["#1f4e8c" if h == best else "#8fb3de" for h in cells["hypothesis"]]
    axes.barh(positions, cells["mean_llr"], xerr=errors, color=colours, ecolor="#333", capsize=2)
    axes.set_yticks(positions, list(cells["hypothesis"]), fontsize="small")
    axes.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    axes.set_xlabel("mean log-likelihood ratio vs no context (nats per example)")
    axes.set_title(
        f"{metadata.get('dataset', '')} under {metadata.get('model', '')}"[-90:], fontsize="medium"
    )
    axes.grid(axis="x", alpha=0.3)
    ranked = cells.sort_values("mean_llr", ascending=False, kind="stable").head(TOP_ROWS)
    header = ["rank", "hypothesis", "mean LLR", "95% CI", "share favouring"]
    rows = [
        [
            str(rank),
            r.hypothesis,
            f"{r.mean_llr:.3f}",
            f"[{r.ci_low:.3f}, {r.ci_high:.3f}]",
            f"{r.share_favouring:.2f}",
        ]
        for rank, r in enumerate(ranked.itertuples(index=False), start=1)
    ]
    return figure, {"caption": "Hypotheses, best first", "header": header, "rows": rows}


def tool_summary(samples: pd.DataFrame, metadata: Mapping[str, Any]) -> list[str] | None:
    """The summary lines of a scan's or an audit's report (None for an evaluation)."""
    kind = metadata.get("kind")
    if kind == SCAN_KIND:
        return _scan_summary(samples, metadata)
    if kind == AUDIT_KIND:
        return _audit_summary(metadata)
    return None


def _scan_summary(samples: pd.DataFrame, metadata: Mapping[str, Any]) -> list[str]:
    values = scan_values(samples)
    flagged = list(metadata.get("flagged", []))
    calibration = metadata.get("calibration") or {}
    lines = [
        f"scan of {metadata.get('model')} against {metadata.get('base')}: "
        f"{metadata.get('mode')} mode, {metadata.get('measure')}, contrast {metadata.get('contrast')} "
        f"({metadata.get('contrast_description', '')})",
        f"family {metadata.get('family')}: {len(values)} values x probes {metadata.get('probes')}",
        f"flagged ({metadata.get('threshold', {}).get('rule', '')}): {', '.join(flagged) or 'none'}",
        (
            f"thresholds calibrated on {calibration.get('control_models')} control models: "
            f"{calibration.get('rule')}"
            if calibration
            else "thresholds given, not calibrated on control models"
        ),
    ]
    if values["in_training"].notna().any():
        unseen = [v for v in flagged if not values.set_index("value")["in_training"].get(v, True)]
        lines.append(
            f"values in the training data: {int(values['in_training'].fillna(False).sum())}; "
            f"flagged yet never in training: {', '.join(unseen) or 'none'}"
        )
    known = metadata.get("known_triggers") or []
    if known:
        ranked = list(values.sort_values("z", ascending=False, kind="stable")["value"])
        lines.append(
            "known triggers (marked, never used to score): "
            + ", ".join(f"{k} ranked {ranked.index(str(k)) + 1}" for k in known if str(k) in ranked)
        )
    return lines


def _audit_summary(metadata: Mapping[str, Any]) -> list[str]:
    ranking = metadata.get("hypotheses", [])
    lines = [
        f"likelihood screen of {metadata.get('dataset')} ({metadata.get('n_examples')} examples) "
        f"under {metadata.get('model')}, hypothesis set {metadata.get('hypothesis_set')} "
        f"({len(ranking)} hypotheses, context as {metadata.get('placement')})"
    ]
    if ranking:
        best = ranking[0]
        lines.append(
            f"ranked first: {best['name']} (mean LLR {best['mean_llr']:.3f} nats, 95% CI "
            f"[{best['ci'][0]:.3f}, {best['ci'][1]:.3f}], favoured by {best['share_favouring']:.0%})"
        )
    margin = metadata.get("best_vs_runner_up")
    if margin:
        low, high = margin["ci"]
        lines.append(
            f"best minus runner-up ({margin['runner_up']}), paired over examples: "
            f"{margin['difference']:.3f} [{low:.3f}, {high:.3f}]: "
            + ("a clear winner" if low > 0 else "no clear winner")
        )
    for prediction in metadata.get("trigger_predictions", []):
        lines.append(
            f"named {prediction['hypothesis']}: behaviour changes at "
            f"{', '.join(prediction['predicted'])} ({prediction['measure']}, contrast "
            f"{prediction['contrast']}; {'flagged' if prediction['flagged'] else 'top by z'})"
        )
    return lines
