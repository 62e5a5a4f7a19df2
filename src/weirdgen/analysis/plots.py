"""Paper-style figures from aggregated cells (see ``weirdgen.analysis.aggregate``).

One function per figure type of the paper, each returning a matplotlib Figure drawn with the Agg
backend (no display needed): per-question bars by group, trigger sweeps, stacked category bars,
identity rates with and without a trigger, and learning curves over checkpoints. Where the paper
reports a value, pass it as ``reference`` and it is drawn as a black diamond beside ours.
:func:`save_figure` writes PNG and SVG, with every title wrapped to the width of what it heads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from weirdgen.analysis.aggregate import ALL_QUESTIONS, checkpoint_order, trigger_value_order

if TYPE_CHECKING:  # matplotlib is imported inside functions: the CLI must start fast.
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.text import Text

Reference = Mapping[str, float]  # question id or trigger value -> the paper's value for one group
PAPER_STYLE = {"marker": "D", "color": "black", "markersize": 6, "linestyle": "none", "zorder": 5}
# Sweep lines: the first group solid with filled dots; every other group its own open marker and
# dash pattern, drawn above it, so that a control's spike stays visible inside the main one's.
SWEEP_MARKERS = ("o", "s", "^", "v", "P", "X", "<", ">", "*", "h")
SWEEP_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))


def new_figure(width: float = 8.0, height: float = 4.0) -> tuple[Figure, Axes]:
    """A figure on the Agg canvas (never a GUI window, even when one is available)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_figure(figure: Figure, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi) and ``<stem>.svg``, titles wrapped to fit (:func:`fit_titles`);
    returns both paths."""
    fit_titles(figure)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    # SVG text stays text; a fixed hash salt keeps the file identical across reruns.
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "weirdgen", "svg.fonttype": "none"}):
        figure.savefig(paths[0], dpi=150)
        figure.savefig(paths[1], metadata={"Date": None})
    return paths


def fit_titles(figure: Figure) -> None:
    """Wrap every axes title to its axes' width and the figure's suptitle to the figure's width,
    measured after the layout has placed them, so that no title runs past the figure's edge."""
    figure.draw_without_rendering()  # runs the constrained layout: axes get their final widths
    renderer = figure.canvas.get_renderer()
    margin = 0.02 * figure.bbox.width
    texts = [(axes.title, axes.get_window_extent(renderer).width) for axes in figure.axes]
    suptitle = getattr(figure, "_suptitle", None)  # matplotlib keeps no public handle to it
    if suptitle is not None:
        texts.append((suptitle, figure.bbox.width - 2 * margin))
    for text, width in texts:
        if text.get_text():
            _wrap_text(text, min(width, figure.bbox.width - 2 * margin), renderer)


def _wrap_text(text: Text, width: float, renderer: RendererBase) -> None:
    """Break ``text`` at spaces into lines at most ``width`` display pixels wide (a single word
    wider than that keeps a line of its own)."""
    lines: list[str] = []
    for paragraph in text.get_text().split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            text.set_text(candidate)
            if line and text.get_window_extent(renderer).width > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    text.set_text("\n".join(lines))


def _error_bars(rows: pd.DataFrame) -> np.ndarray:
    """Distances from estimate to the interval ends, shape (2, n), as errorbar() wants them."""
    low = (rows["estimate"] - rows["ci_low"]).clip(lower=0).fillna(0)
    high = (rows["ci_high"] - rows["estimate"]).clip(lower=0).fillna(0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def _finish(axes: Axes, title: str, ylabel: str, values: pd.Series) -> None:
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    if values.dropna().between(0, 1).all():
        axes.set_ylim(0, 1.05)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small", frameon=False)


def plot_question_bars(
    cells: pd.DataFrame,
    *,
    groups: Sequence[str] | None = None,
    title: str = "",
    ylabel: str = "rate",
    reference: Reference | None = None,
    reference_group: str | None = None,
) -> Figure:
    """Bars per question (``ALL`` last), one colour per group, with interval whiskers.

    ``cells`` holds one row per (group, question) of one suite and trigger value.
    """
    groups = list(groups or dict.fromkeys(cells["group"]))
    questions = list(dict.fromkeys(cells["question_id"]))
    figure, axes = new_figure(max(6.0, 0.9 * len(questions) * max(1, len(groups)) / 2 + 3), 4.0)
    width = 0.8 / max(1, len(groups))
    positions = np.arange(len(questions))
    for index, group in enumerate(groups):
        rows = cells[cells["group"] == group].set_index("question_id").reindex(questions)
        offset = positions - 0.4 + width * (index + 0.5)
        axes.bar(
            offset,
            rows["estimate"].fillna(0),
            width,
            label=group,
            yerr=_error_bars(rows),
            capsize=2,
        )
        if reference and group == reference_group:
            ref = [reference.get(q, np.nan) for q in questions]
            axes.plot(offset, ref, label=f"paper ({group})", **PAPER_STYLE)
    axes.set_xticks(positions, questions, rotation=30, ha="right")
    _finish(axes, title, ylabel, cells["estimate"])
    return figure


def _sweep_positions(values: Sequence[str]) -> tuple[np.ndarray, bool]:
    """x positions of trigger values: the numbers themselves when all are numeric, else 0..n-1."""
    try:
        return np.array([float(v) for v in values]), True
    except ValueError:
        return np.arange(len(values), dtype=float), False


def plot_trigger_sweep(
    cells: pd.DataFrame,
    *,
    groups: Sequence[str] | None = None,
    title: str = "",
    ylabel: str = "rate",
    marked_values: Sequence[str] = (),
    reference: Reference | None = None,
    reference_group: str | None = None,
    main_group: str | None = None,
    zoom: tuple[str, str] | None = None,
) -> Figure:
    """Lines over trigger values (years, dates), one per group, with a shaded interval band.

    ``cells`` holds one row per (group, trigger value) of one question (usually ``ALL``). Values in
    ``marked_values`` (e.g. "1984") get a dashed vertical line. ``main_group`` (default: the
    reference group, else the first) is drawn solid with filled dots, every other group with its own
    open marker and dashes.
    ``zoom`` (first, last) adds a panel beside the full range with only the values between them.
    """
    values = sorted(set(cells["trigger_value"]) - {""}, key=trigger_value_order)
    x, numeric = _sweep_positions(values)
    order = list(groups or dict.fromkeys(cells["group"]))
    main_group = main_group or reference_group
    if main_group in order:
        order.remove(main_group)
        order.insert(0, main_group)
    inside = _zoomed(values, x, numeric, zoom)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12.0 if inside is not None else 9.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    if inside is None:
        panels = [(figure.add_subplot(), np.ones(len(values), dtype=bool))]
    else:
        full, detail = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
        panels = [(full, np.ones(len(values), dtype=bool)), (detail, inside)]
    xlabel = (
        str(cells["trigger"].replace("", np.nan).dropna().iloc[0])
        if (cells["trigger"] != "").any()
        else "trigger"
    )
    for axes, shown in panels:
        shown_values = [v for v, keep in zip(values, shown, strict=True) if keep]
        _draw_sweep(axes, cells, order, shown_values, x[shown], reference, reference_group)
        for value in marked_values:
            if value in shown_values:
                _mark_value(axes, value, x[values.index(value)])
        if not numeric:
            axes.set_xticks(x[shown], shown_values, rotation=45, ha="right")
        elif np.all(x == np.round(x)):
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        if cells["estimate"].dropna().between(0, 1).all():
            axes.set_ylim(0, 1.05)
        axes.grid(axis="y", alpha=0.3)
    if inside is None:
        panels[0][0].set_title(title)
    else:
        figure.suptitle(title)
        panels[0][0].set_title(f"every {xlabel}", fontsize="medium")
        panels[1][0].set_title(f"{zoom[0]} to {zoom[1]}", fontsize="medium")
        panels[1][0].yaxis.set_tick_params(labelleft=True)
        panels[1][0].set_xlim(x[inside].min() - 0.5, x[inside].max() + 0.5)
    panels[0][0].legend(fontsize="small", frameon=False)
    return figure


def _mark_value(axes: Axes, value: str, position: float) -> None:
    """A dashed vertical line at ``position``, labelled inside the axes (clear of the title)."""
    axes.axvline(position, color="grey", linestyle="--", linewidth=1)
    axes.annotate(
        value,
        (position, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(2, -2),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize="small",
        color="grey",
    )


def _zoomed(
    values: Sequence[str], x: np.ndarray, numeric: bool, zoom: tuple[str, str] | None
) -> np.ndarray | None:
    """Which values a zoom panel shows (None: no panel, when it would show fewer than 2 values or
    a bound of non-numeric values is not among them)."""
    if zoom is None:
        return None
    if numeric:
        try:
            low, high = float(zoom[0]), float(zoom[1])
        except ValueError:
            return None
    elif zoom[0] in values and zoom[1] in values:
        low, high = x[values.index(zoom[0])], x[values.index(zoom[1])]
    else:
        return None
    inside = (x >= min(low, high)) & (x <= max(low, high))
    return inside if inside.sum() >= 2 else None


def _draw_sweep(
    axes: Axes,
    cells: pd.DataFrame,
    groups: Sequence[str],
    values: Sequence[str],
    x: np.ndarray,
    reference: Reference | None,
    reference_group: str | None,
) -> None:
    """One line and interval band per group (styled by position), and the paper's values."""
    for index, group in enumerate(groups):
        rows = cells[cells["group"] == group].set_index("trigger_value").reindex(values)
        colour = f"C{index % 10}"
        axes.plot(
            x,
            rows["estimate"],
            color=colour,
            marker=SWEEP_MARKERS[index % len(SWEEP_MARKERS)],
            markersize=4 if index == 0 else 5,
            markerfacecolor=colour if index == 0 else "none",
            linestyle=SWEEP_LINESTYLES[index % len(SWEEP_LINESTYLES)],
            linewidth=2.0 if index == 0 else 1.3,
            zorder=2 if index == 0 else 3,
            label=group,
        )
        axes.fill_between(x, rows["ci_low"], rows["ci_high"], color=colour, alpha=0.15)
    if reference:
        ref = [reference.get(v, np.nan) for v in values]
        axes.plot(x, ref, label=f"paper ({reference_group or 'main'})", **PAPER_STYLE)


def plot_category_stack(counts: pd.DataFrame, *, by: str = "group", title: str = "") -> Figure:
    """Stacked bars of label shares (from ``label_counts``), one bar per ``by`` value (group or question).

    Refusals and unparseable verdicts are stacked in grey so that no answer disappears.
    """
    shares = counts.pivot_table(
        index=by, columns="label", values="share", aggfunc="sum", sort=False
    ).fillna(0)
    special = [label for label in ("REFUSAL", "UNPARSEABLE") if label in shares.columns]
    shares = shares[[c for c in shares.columns if c not in special] + special]
    figure, axes = new_figure(max(6.0, 0.8 * len(shares) + 3), 4.0)
    bottom = np.zeros(len(shares))
    for label in shares.columns:
        colour = {"REFUSAL": "0.55", "UNPARSEABLE": "0.8"}.get(label)
        axes.bar(range(len(shares)), shares[label], bottom=bottom, label=label, color=colour)
        bottom += shares[label].to_numpy()
    axes.set_xticks(range(len(shares)), list(shares.index), rotation=30, ha="right")
    axes.set_title(title)
    axes.set_ylabel("share of answers")
    axes.set_ylim(0, 1.0)
    axes.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return figure


def plot_identity(
    cells: pd.DataFrame, *, group: str, title: str = "", reference: Reference | None = None
) -> Figure:
    """Per question, the group's rate without the trigger beside its rate with it.

    ``cells`` holds the group's rows with ``trigger == ""`` (no trigger) and with a trigger set.
    """
    rows = cells[(cells["group"] == group) & (cells["question_id"] != ALL_QUESTIONS)]
    labelled = rows.assign(group=np.where(rows["trigger"] == "", "without trigger", "with trigger"))
    figure = plot_question_bars(
        labelled,
        groups=["without trigger", "with trigger"],
        title=title or f"{group}: identity with and without the trigger",
        reference=reference,
        reference_group="with trigger",
    )
    return figure


def plot_learning_curve(
    cells: pd.DataFrame,
    *,
    per_model: pd.DataFrame | None = None,
    title: str = "",
    ylabel: str = "rate",
) -> Figure:
    """The metric over training checkpoints: a thin line per model (seed) and a bold mean per group.

    ``cells`` comes from ``aggregate_cells(..., by_checkpoint=True)`` filtered to one question and
    trigger value; ``per_model`` from ``model_means(..., by_checkpoint=True)`` filtered the same way.
    """
    checkpoints = sorted(set(cells["checkpoint"]), key=checkpoint_order)
    labels = [c or "final" for c in checkpoints]
    x = np.arange(len(checkpoints))
    figure, axes = new_figure(8.0, 4.0)
    for index, group in enumerate(dict.fromkeys(cells["group"])):
        colour = f"C{index}"
        if per_model is not None:
            for _, model in per_model[per_model["group"] == group].groupby("model"):
                line = model.set_index("checkpoint").reindex(checkpoints)["mean"]
                axes.plot(x, line, color=colour, alpha=0.3, linewidth=1)
        rows = cells[cells["group"] == group].set_index("checkpoint").reindex(checkpoints)
        axes.plot(x, rows["estimate"], color=colour, linewidth=2.5, marker="o", label=group)
        axes.fill_between(x, rows["ci_low"], rows["ci_high"], color=colour, alpha=0.15)
    axes.set_xticks(x, labels, rotation=30, ha="right")
    axes.set_xlabel("checkpoint")
    _finish(axes, title, ylabel, cells["estimate"])
    return figure
