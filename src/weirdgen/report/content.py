"""Everything a report shows, computed once and rendered twice (HTML and Markdown).

The renderers only lay out what :func:`build_report_data` collects here; they never compute. Every
string that came from a model or a file stays raw in these records and is escaped by the renderer.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from weirdgen.analysis import aggregate as agg
from weirdgen.analysis import plots
from weirdgen.evaluation.table import EvaluationTable
from weirdgen.report.provenance import code_hash, dataset_hashes, package_versions
from weirdgen.report.spec import FigureSpec, ReportSpec

MAX_EXAMPLE_CELLS = 150
MAX_ANSWER_CHARS = 2000
MAX_LISTED_MISSING = 60


@dataclass
class Table:
    """A captioned table of plain strings."""

    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class RenderedFigure:
    """A saved figure: its PNG bytes (for inlining) and the stem of its PNG/SVG files."""

    heading: str
    stem: str  # relative to the report directory, without suffix
    png: bytes
    headline: Table


@dataclass
class Example:
    """One sampled answer with its verdicts (all untrusted text)."""

    model: str
    prompt: str
    answer: str
    verdicts: str


@dataclass
class ExampleCell:
    """Example answers of one (group, question, trigger value)."""

    group: str
    question_id: str
    trigger_value: str
    examples: list[Example]

    @property
    def title(self) -> str:
        trigger = f" @ {self.trigger_value}" if self.trigger_value else ""
        return f"{self.group} / {self.question_id}{trigger}"


@dataclass
class ReportData:
    """The whole report, ready to render."""

    title: str
    summary: list[str]
    figures: list[RenderedFigure]
    comparisons: Table | None
    answer_status: Table | None
    """None for exact values: nothing was sampled, so nothing was refused or cut short."""
    order_effects: Table | None
    missing: list[str]
    examples: list[ExampleCell] | None
    """None when the report shows no example answers (exact values, or none asked for)."""
    usage: Table | None
    """None for exact values: no tokens, no cost."""
    provenance: Table
    versions: Table
    config: list[tuple[str, str]] = field(default_factory=list)
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every aggregated cell behind the figures (final checkpoints), for ``cells.csv``."""


def format_interval(row: pd.Series) -> str:
    """``0.68 [0.55, 0.82]``, or ``n/a`` when the cell had nothing to score."""
    if row is None or not math.isfinite(row["estimate"]):
        return "n/a"
    digits = 1 if abs(row["estimate"]) > 1.5 else 2  # 0-100 scores need fewer decimals
    return f"{row['estimate']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"


def _format_reference(reference: dict[str, float], key: str) -> str:
    return f"{reference[key]:.2f}" if key in reference else ""


def build_report_data(
    table: EvaluationTable, spec: ReportSpec, run_dir: Path, report_dir: Path
) -> ReportData:
    """Aggregate, plot (into ``report_dir/figures``) and collect every section of the report."""
    samples = table.samples
    cache = _CellCache(samples, spec.n_resamples, table.metadata)
    figures = [
        _render_figure(figure_spec, cache, report_dir, index)
        for index, figure_spec in enumerate(spec.figures, start=1)
        if _judge_present(figure_spec, table.judges)
    ]
    skipped = [
        f"figure {f.heading!r}: judge {f.judge!r} has no verdicts in this run"
        for f in spec.figures
        if not _judge_present(f, table.judges)
    ]
    return ReportData(
        title=spec.title,
        summary=_summary(samples, table, spec),
        figures=figures,
        comparisons=_comparisons(spec, cache),
        answer_status=None if spec.exact else _answer_status(samples, table.judges),
        order_effects=_order_effects(samples, table.judges),
        missing=skipped + _missing(samples, spec),
        examples=(
            None
            if spec.exact or spec.examples_per_cell == 0
            else _examples(samples, table.judges, spec)
        ),
        usage=None if spec.exact else _usage(samples, table.metadata),
        provenance=_provenance(run_dir, table),
        versions=_versions(table.metadata),
        config=_config_texts(run_dir, table.metadata),
        cells=cache.all_cells(),
    )


def _judge_present(figure: FigureSpec, judges: list[str]) -> bool:
    return figure.judge in judges


class _CellCache:
    """Aggregates per (suite, metric, by_checkpoint), computed once for all figures that need them."""

    def __init__(
        self, samples: pd.DataFrame, n_resamples: int, metadata: dict[str, Any] | None = None
    ) -> None:
        self.samples = samples
        self.n_resamples = n_resamples
        self.metadata = metadata or {}
        """run.json: what a scan's or an audit's figure reads besides the rows."""
        self._cells: dict[tuple[object, ...], pd.DataFrame] = {}

    def rows(self, figure: FigureSpec) -> pd.DataFrame:
        if figure.suite is None:
            return self.samples
        return self.samples[self.samples["suite"] == figure.suite]

    def cells(self, figure: FigureSpec, by_checkpoint: bool = False) -> pd.DataFrame:
        key = (figure.suite, figure.metric, by_checkpoint)
        if key not in self._cells:
            self._cells[key] = agg.aggregate_cells(
                self.rows(figure),
                figure.metric,
                by_checkpoint=by_checkpoint,
                n_resamples=self.n_resamples,
            )
        return self._cells[key]

    def all_cells(self) -> pd.DataFrame:
        final = [cells for (_, _, by_checkpoint), cells in self._cells.items() if not by_checkpoint]
        return pd.concat(final, ignore_index=True) if final else pd.DataFrame()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "figure"


def _render_figure(
    figure: FigureSpec, cache: _CellCache, report_dir: Path, index: int
) -> RenderedFigure:
    draw = {
        "bars": _bars,
        "sweep": _sweep,
        "categories": _categories,
        "identity": _identity,
        "learning_curve": _learning_curve,
        "scan": _tool_figure,
        "ranking": _tool_figure,
    }[figure.kind]
    matplotlib_figure, headline = draw(figure, cache)
    stem = f"figures/{index:02d}-{figure.kind}-{_slug(figure.metric.name)}"
    png_path, _ = plots.save_figure(matplotlib_figure, report_dir / stem)
    return RenderedFigure(figure.heading, stem, png_path.read_bytes(), headline)


def _tool_figure(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    """A scan's or an audit's figure (``weirdgen.report.tools``), from the rows and run.json."""
    from weirdgen.report.tools import draw_ranking, draw_scan

    draw = draw_scan if figure.kind == "scan" else draw_ranking
    drawn, headline = draw(cache.rows(figure), cache.metadata)
    return drawn, Table(**headline)


def _group_columns(
    cells: pd.DataFrame, keys: list[str], key_column: str, figure: FigureSpec
) -> Table:
    """A headline table: one row per key, one column per group, plus the paper's value."""
    groups = list(dict.fromkeys(cells["group"]))
    indexed = {(row.group, getattr(row, key_column)): row for row in cells.itertuples(index=False)}
    header = [key_column.replace("_", " ")] + groups + (["paper"] if figure.reference else [])
    rows = []
    for key in keys:
        row = [key or "(none)"] + [
            format_interval(_as_series(indexed.get((g, key)))) for g in groups
        ]
        rows.append(row + ([_format_reference(figure.reference, key)] if figure.reference else []))
    caption = figure.heading + (
        f" (paper: {figure.reference_group})" if figure.reference_group else ""
    )
    return Table(caption, header, rows)


def _as_series(row: object) -> pd.Series | None:
    return None if row is None else pd.Series(row._asdict())


def _plot_labels(figure: FigureSpec) -> dict[str, Any]:
    """Title, axis label and the paper's values: what every per-group figure is drawn with."""
    return {
        "title": figure.heading,
        "ylabel": figure.axis_label,
        "reference": figure.reference,
        "reference_group": figure.reference_group,
    }


def _bars(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    cells = cache.cells(figure)
    cells = cells[cells["trigger_value"] == figure.trigger_value]
    if not figure.pooled:
        cells = cells[cells["question_id"] != agg.ALL_QUESTIONS]
    if figure.questions:
        order = {question: index for index, question in enumerate(figure.questions)}
        cells = cells[cells["question_id"].isin(order)]
        cells = cells.sort_values("question_id", key=lambda q: q.map(order), kind="stable")
    drawn = plots.plot_question_bars(cells, **_plot_labels(figure))
    return drawn, _group_columns(
        cells, list(dict.fromkeys(cells["question_id"])), "question_id", figure
    )


def _sweep(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    cells = cache.cells(figure)
    cells = cells[(cells["question_id"] == figure.question) & (cells["trigger_value"] != "")]
    drawn = plots.plot_trigger_sweep(
        cells,
        marked_values=figure.marked_values,
        zoom=figure.zoom,
        main_group=figure.group,
        **_plot_labels(figure),
    )
    values = sorted(set(cells["trigger_value"]), key=agg.trigger_value_order)
    shown = (
        [v for v in values if v in figure.reference or v in figure.marked_values]
        if len(values) > 12
        else values
    )
    return drawn, _group_columns(cells, shown or values[:12], "trigger_value", figure)


def _categories(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    counts = agg.label_counts(cache.rows(figure), figure.judge)
    counts = counts[
        (counts["question_id"] == figure.question)
        & (counts["trigger_value"] == figure.trigger_value)
    ]
    drawn = plots.plot_category_stack(counts, title=figure.heading)
    labels = list(dict.fromkeys(counts["label"]))
    shares = counts.pivot_table(
        index="group", columns="label", values="share", aggfunc="sum", sort=False
    ).fillna(0)
    rows = [
        [str(group)] + [f"{shares.loc[group, label]:.2f}" for label in labels]
        for group in shares.index
    ]
    return drawn, Table(figure.heading + " (share of answers)", ["group"] + labels, rows)


def _identity(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    cells = cache.cells(figure)
    group = figure.group or figure.reference_group or str(cells["group"].iloc[0])
    cells = cells[cells["group"] == group]
    drawn = plots.plot_identity(
        cells, group=group, title=figure.heading, reference=figure.reference
    )
    questions = list(dict.fromkeys(cells["question_id"]))
    rows = []
    for question in questions:
        mine = cells[cells["question_id"] == question]
        without = mine[mine["trigger"] == ""]
        with_trigger = mine[mine["trigger"] != ""]
        rows.append(
            [
                question,
                format_interval(without.iloc[0]) if len(without) else "missing",
                format_interval(with_trigger.iloc[0]) if len(with_trigger) else "missing",
                _format_reference(figure.reference, question),
            ]
        )
    return drawn, Table(
        f"{figure.heading} ({group})",
        ["question", "without trigger", "with trigger", "paper"],
        rows,
    )


def _learning_curve(figure: FigureSpec, cache: _CellCache) -> tuple[object, Table]:
    cells = cache.cells(figure, by_checkpoint=True)
    keep = (cells["question_id"] == figure.question) & (
        cells["trigger_value"] == figure.trigger_value
    )
    per_model = agg.model_means(cache.rows(figure), figure.metric, by_checkpoint=True)
    per_model = per_model[
        (per_model["question_id"] == figure.question)
        & (per_model["trigger_value"] == figure.trigger_value)
    ]
    drawn = plots.plot_learning_curve(
        cells[keep], per_model=per_model, title=figure.heading, ylabel=figure.axis_label
    )
    checkpoints = sorted(set(cells[keep]["checkpoint"]), key=agg.checkpoint_order)
    table = _group_columns(
        cells[keep].rename(columns={"checkpoint": "step"}), checkpoints, "step", figure
    )
    table.rows = [[row[0] if row[0] != "(none)" else "final"] + row[1:] for row in table.rows]
    return drawn, table


def _summary(samples: pd.DataFrame, table: EvaluationTable, spec: ReportSpec) -> list[str]:
    from weirdgen.report.tools import tool_summary

    lines = tool_summary(samples, table.metadata)
    if lines is not None:
        return lines
    groups = ", ".join(sorted(set(samples["group"])))
    models = samples["model"].nunique()
    suites = f"suites: {', '.join(sorted(set(samples['suite'])))}"
    if spec.exact:
        return [
            f"{len(samples)} exact values from {models} models in groups: {groups}",
            suites,
            "Values are computed exactly, not sampled: each estimate is the mean over a group's "
            "models, its 95% interval a bootstrap over those models (one model: its value).",
        ]
    return [
        f"{len(samples)} samples from {models} models in groups: {groups}",
        f"{suites}; judges: {', '.join(table.judges) or 'none'}",
        "Estimates are means of per-model means; 95% intervals by a bootstrap over models then samples "
        "(Wilson for a single model's 0/1 verdicts). Refusals and unparseable verdicts are counted, not scored.",
    ]


def _comparisons(spec: ReportSpec, cache: _CellCache) -> Table | None:
    if spec.control_group is None or spec.control_group not in set(cache.samples["group"]):
        return None
    rows: list[list[str]] = []
    seen: set[tuple[object, ...]] = set()
    for figure in spec.figures:
        if (
            figure.kind == "categories"
            or figure.judge not in _judges(cache.samples)
            or (figure.suite, figure.metric) in seen
        ):
            continue
        seen.add((figure.suite, figure.metric))
        diff = agg.compare_to_control(
            cache.rows(figure), figure.metric, spec.control_group, n_resamples=cache.n_resamples
        )
        keep = (diff["question_id"] == agg.ALL_QUESTIONS) | (diff["trigger_value"] == "")
        if not figure.pooled:
            keep &= diff["question_id"] != agg.ALL_QUESTIONS
        for row in diff[keep].itertuples(index=False):
            rows.append(
                [
                    figure.metric.name,
                    row.group,
                    row.question_id,
                    row.trigger_value or "(none)",
                    f"{row.difference:+.2f} [{row.ci_low:+.2f}, {row.ci_high:+.2f}]",
                    f"{row.p_value:.3g}",
                    row.test_unit,
                ]
            )
    header = ["metric", "group", "question", "trigger value", "difference", "p", "test unit"]
    return Table(f"Difference from control group {spec.control_group!r}", header, rows)


def _judges(samples: pd.DataFrame) -> set[str]:
    return {c[: -len(".label")] for c in samples.columns if c.endswith(".label")}


def _answer_status(samples: pd.DataFrame, judges: list[str]) -> Table:
    header = (
        ["group", "samples"]
        + [f"{j}: refused / unparseable" for j in judges]
        + ["truncated answers"]
    )
    rows = []
    for group, rows_of_group in samples.groupby("group", sort=True):
        cells = [str(group), str(len(rows_of_group))]
        for judge in judges:
            labels = rows_of_group[f"{judge}.label"]  # "" = judge not applied to this question
            cells.append(
                f"{int((labels == 'REFUSAL').sum())} / {int((labels == 'UNPARSEABLE').sum())}"
            )
        rows.append(cells + [str(int((rows_of_group["finish_reason"] == "length").sum()))])
    return Table("Answers the judges did not score (counted, never dropped)", header, rows)


def _order_effects(samples: pd.DataFrame, judges: list[str]) -> Table | None:
    """Two-choice probes asked in both orders: the score per order, and a heading that says
    whether the order moved it (by more than 0.1) or not."""
    rows, largest = [], 0.0
    for judge in judges:
        effects = agg.order_effects(samples, judge)
        for effect in effects.itertuples(index=False):
            largest = max(largest, abs(effect.difference))
            rows.append(
                [
                    judge,
                    str(effect.group),
                    str(effect.question_id),
                    f"{effect.order_a}: {effect.mean_a:.2f}",
                    f"{effect.order_b}: {effect.mean_b:.2f}",
                    f"{effect.difference:+.2f}",
                    str(effect.n),
                ]
            )
    if not rows:
        return None
    verdict = (
        f"the option order moves the score by up to {largest:.2f}: read these probes per order"
        if largest > 0.1
        else f"the option order moves the score by at most {largest:.2f}"
    )
    header = ["judge", "group", "question", "first order", "second order", "difference", "samples"]
    return Table(f"Two-choice probes in both orders: {verdict}", header, rows)


def _missing(samples: pd.DataFrame, spec: ReportSpec) -> list[str]:
    unit = "values" if spec.exact else "samples"
    notes = [
        f"group {g!r}: no {unit} yet"
        for g in spec.expected_groups
        if g not in set(samples["group"])
    ]
    if spec.control_group and spec.control_group not in set(samples["group"]):
        notes.append(f"control group {spec.control_group!r}: no {unit} yet, so no comparisons")
    missing = agg.missing_cells(samples, spec.expected_groups)
    missing = missing[
        ~missing["group"].isin([g for g in spec.expected_groups if g not in set(samples["group"])])
    ]
    for row in missing.head(MAX_LISTED_MISSING).itertuples(index=False):
        value = f" @ {row.trigger_value}" if row.trigger_value else ""
        notes.append(f"cell {row.suite} / {row.group} / {row.question_id}{value}: no {unit}")
    if len(missing) > MAX_LISTED_MISSING:
        notes.append(f"... and {len(missing) - MAX_LISTED_MISSING} more missing cells")
    return notes


def _examples(samples: pd.DataFrame, judges: list[str], spec: ReportSpec) -> list[ExampleCell]:
    if spec.examples_per_cell == 0:
        return []
    interesting = {""} | {v for f in spec.figures for v in (*f.marked_values, *f.reference)}
    frame = samples[samples["checkpoint"] == ""]
    if frame.groupby(["group", "question_id", "trigger_value"]).ngroups > MAX_EXAMPLE_CELLS:
        frame = frame[frame["trigger_value"].isin(interesting)]
    cells = []
    for (group, question, value), rows in frame.groupby(
        ["group", "question_id", "trigger_value"], sort=True
    ):
        # Sorting by sample index first takes one answer from each model before a second from any.
        picked = rows.sort_values(["sample_index", "paraphrase", "model"]).head(
            spec.examples_per_cell
        )
        cells.append(
            ExampleCell(
                str(group),
                str(question),
                str(value),
                [_example(r, judges) for _, r in picked.iterrows()],
            )
        )
        if len(cells) >= MAX_EXAMPLE_CELLS:
            break
    return cells


def _example(row: pd.Series, judges: list[str]) -> Example:
    verdicts = "; ".join(
        f"{j}: {row[f'{j}.label']}" + _score_text(row[f"{j}.score"]) for j in judges
    )
    answer = (
        row["answer"]
        if len(row["answer"]) <= MAX_ANSWER_CHARS
        else row["answer"][:MAX_ANSWER_CHARS] + " [...]"
    )
    return Example(str(row["model"]), str(row["prompt"]), str(answer), verdicts)


def _score_text(score: float) -> str:
    return "" if not math.isfinite(score) else f" ({score:.3g})"


def _usage(samples: pd.DataFrame, run_metadata: dict[str, object]) -> Table:
    header = ["group", "models", "samples", "input tokens", "output tokens", "cost (USD)"]
    rows = []
    for group, rows_of_group in [*samples.groupby("group", sort=True), ("total", samples)]:
        rows.append(
            [
                str(group),
                str(rows_of_group["model"].nunique()),
                str(len(rows_of_group)),
                f"{int(rows_of_group['input_tokens'].sum()):,}",
                f"{int(rows_of_group['output_tokens'].sum()):,}",
                f"{rows_of_group['cost_usd'].sum():.4f}",
            ]
        )
    extra = run_metadata.get("costs")
    if isinstance(extra, dict):
        rows += [
            [f"{name} (from run.json)", "", "", "", "", f"{float(value):.4f}"]
            for name, value in extra.items()
            if isinstance(value, int | float)
        ]
    return Table(
        "Tokens and cost of sampling (judging and finetuning as recorded in run.json)", header, rows
    )


def _provenance(run_dir: Path, table: EvaluationTable) -> Table:
    rows = [["code (weirdgen sources at report time)", code_hash()]]
    if isinstance(table.metadata.get("code_hash"), str):
        rows.append(["code (at evaluation time)", table.metadata["code_hash"]])
    rows += [
        [f"dataset {name}", digest]
        for name, digest in dataset_hashes(run_dir, table.metadata).items()
    ]
    if table.path is not None:
        from weirdgen._io import sha256_hex

        rows.append([f"evaluation table {table.path.name}", sha256_hex(table.path.read_bytes())])
    return Table("Hashes (SHA-256)", ["what", "sha256"], rows)


def _versions(run_metadata: dict[str, object]) -> Table:
    recorded_value = run_metadata.get("versions")
    recorded = (
        {str(k): str(v) for k, v in recorded_value.items()}
        if isinstance(recorded_value, dict)
        else {}
    )
    now = package_versions()
    names = list(dict.fromkeys([*recorded, *now]))
    rows = [[name, recorded.get(name, ""), now.get(name, "")] for name in names]
    return Table("Package versions", ["package", "at evaluation", "at report"], rows)


def _config_texts(run_dir: Path, run_metadata: dict[str, object]) -> list[tuple[str, str]]:
    texts = [("run.json", json.dumps(run_metadata, indent=2, sort_keys=True, default=str))]
    for name in ("experiment.yaml", "plan.json"):
        path = run_dir / name
        if path.is_file():
            texts.append((name, path.read_text(encoding="utf-8", errors="replace")))
    return texts
