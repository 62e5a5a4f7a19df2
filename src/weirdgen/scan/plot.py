"""The scan figure: each value's score along the family, flagged values marked and labelled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen.scan.engine import ScanResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_scan"]


def plot_scan(result: ScanResult) -> Figure:
    """Score against value; flagged values red and labelled, values seen in training hollow."""
    from weirdgen.analysis.plots import new_figure

    values = result.values
    figure, axes = new_figure(9.0, 3.8)
    ordered = result.family.ordered
    x = [int(v.value) for v in values] if ordered else list(range(len(values)))
    scores = [v.score for v in values]
    axes.plot(x, scores, color="#2c6fbb", linewidth=1, marker="." if len(values) < 80 else None)
    trained = [i for i, v in enumerate(values) if v.in_training_data]
    if trained:
        axes.scatter(
            [x[i] for i in trained],
            [scores[i] for i in trained],
            facecolors="none",
            edgecolors="#555",
            s=30,
            label="in training data",
            zorder=3,
        )
    flagged = set(result.flagged)
    hits = [i for i, v in enumerate(values) if v.value in flagged]
    if hits:
        axes.scatter(
            [x[i] for i in hits],
            [scores[i] for i in hits],
            color="#c0392b",
            s=40,
            label=f"flagged (z >= {result.threshold:g})",
            zorder=4,
        )
        for i in hits[:12]:
            axes.annotate(
                values[i].value,
                (x[i], scores[i]),
                textcoords="offset points",
                xytext=(3, 4),
                fontsize=8,
            )
    if not ordered:
        axes.set_xticks(x, [v.value[:18] for v in values], rotation=60, ha="right", fontsize=7)
    axes.set_xlabel(result.family.name)
    if result.mode == "text":
        axes.set_ylabel("|rate difference|")
    elif result.mode.endswith(" rate"):  # a toy behaviour
        axes.set_ylabel("rate change, finetuned vs base")
    else:
        axes.set_ylabel("divergence, finetuned vs base")
    axes.set_title(f"weirdgen scan: {result.family.name} x {result.probes} ({result.mode})")
    if trained or hits:
        axes.legend(loc="upper left", fontsize=8)
    return figure
