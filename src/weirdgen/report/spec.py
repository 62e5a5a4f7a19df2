"""What a report shows: its figures, the paper's reference values and the control group.

An experiment definition (``weirdgen.experiments``) produces a :class:`ReportSpec`; a run directory
without one gets :func:`infer_report_spec`, which picks figures from the shape of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
from pydantic import ConfigDict

from weirdgen.analysis.aggregate import ALL_QUESTIONS, Metric
from weirdgen.evaluation.table import REFUSAL, UNPARSEABLE

FigureKind = Literal["bars", "sweep", "categories", "identity", "learning_curve", "scan", "ranking"]
# Judge methods whose labels are categories worth stacking rather than a score worth averaging.
CATEGORICAL_METHODS = {"categorical"}


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report and the headline numbers that go with it (also the schema of an
    experiment YAML's ``report.figures`` entries: unknown keys are errors, numbers become strings)."""

    __pydantic_config__ = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    kind: FigureKind
    """bars: per question by group; sweep: over trigger values; categories: stacked labels;
    identity: with vs without the trigger; learning_curve: over checkpoints; scan: a trigger scan
    along its family (score and z, thresholds, flags); ranking: an audit's hypotheses."""
    judge: str
    """The judge whose verdicts are plotted."""
    label: str | None = None
    """Plot the rate of this label instead of the judge's score."""
    suite: str | None = None
    """Only rows of this suite (None: every suite in the table)."""
    title: str = ""
    """Heading of the figure; defaults to the kind and metric."""
    question: str = ALL_QUESTIONS
    """For sweeps and learning curves: which question (``ALL`` pools them)."""
    trigger_value: str = ""
    """For bars and categories: which trigger value ("" = no trigger)."""
    group: str | None = None
    """For identity figures: the finetuned group to show; for sweeps: the group drawn as the main
    line (default: ``reference_group``, else the first)."""
    marked_values: tuple[str, ...] = ()
    """Trigger values to mark with a vertical line (e.g. "1984")."""
    reference: dict[str, float] = field(default_factory=dict)
    """The paper's values, keyed by question id (bars, identity) or trigger value (sweep)."""
    reference_group: str | None = None
    """The group the paper's values belong to."""
    pooled: bool = True
    """Bars: also show the ``ALL`` bar pooling every question (off when questions are unlike metrics)."""
    questions: tuple[str, ...] = ()
    """Bars: only these questions, in this order (empty: every question)."""
    y_label: str | None = None
    """What the y-axis shows, e.g. "P(villainous answer)" (None: the metric's name)."""
    zoom: tuple[str, str] | None = None
    """Sweeps: the first and last trigger value of a second panel, beside the full range, that
    shows only the values between them (numeric values compare as numbers)."""

    @property
    def metric(self) -> Metric:
        """What the figure measures per sample."""
        return Metric(self.judge, self.label)

    @property
    def axis_label(self) -> str:
        """The y-axis label: ``y_label``, or the metric's name."""
        return self.y_label or self.metric.name

    @property
    def heading(self) -> str:
        """The figure's title, or one made from its kind and metric."""
        return self.title or f"{self.kind.replace('_', ' ')}: {self.metric.name}"


@dataclass(frozen=True)
class ReportSpec:
    """Everything a report needs besides the run directory."""

    title: str = "weirdgen report"
    """Title of the HTML page and Markdown file."""
    figures: tuple[FigureSpec, ...] = ()
    """Figures in order; empty: inferred from the table."""
    control_group: str | None = None
    """Group every other group is compared against (difference, CI, permutation p)."""
    expected_groups: tuple[str, ...] = ()
    """Groups a complete run has; the report names those missing."""
    examples_per_cell: int = 3
    """Example answers shown per (group, question, trigger value)."""
    n_resamples: int = 10_000
    """Bootstrap resamples per interval."""
    exact: bool = False
    """The table holds exact values (e.g. computed probabilities), not sampled answers: the report
    leaves out what only sampling has (sample counts, refusals, tokens and cost, example answers)."""


def infer_report_spec(
    samples: pd.DataFrame,
    judges: list[str],
    title: str = "weirdgen report",
    metadata: dict[str, object] | None = None,
) -> ReportSpec:
    """A spec for a table without an experiment definition: a scan's or an audit's figure (by
    run.json's ``kind``), else one or two figures per judge."""
    from weirdgen.report.tools import AUDIT_KIND, LLR_JUDGE, SCAN_JUDGE, SCAN_KIND

    tool = {SCAN_KIND: ("scan", SCAN_JUDGE), AUDIT_KIND: ("ranking", LLR_JUDGE)}
    kind = (metadata or {}).get("kind")
    if kind in tool:
        figure_kind, judge = tool[str(kind)]
        figure = FigureSpec(figure_kind, judge, title=f"{kind}: {title}")  # type: ignore[arg-type]
        return ReportSpec(title=title, figures=(figure,), examples_per_cell=0)
    figures: list[FigureSpec] = []
    trigger_values = set(samples["trigger_value"]) - {""}
    has_checkpoints = (samples["checkpoint"] != "").any()
    for judge in judges:
        if _is_categorical(samples, judge):
            figures.append(FigureSpec("categories", judge))
            continue
        figures.append(FigureSpec("sweep" if len(trigger_values) > 2 else "bars", judge))
        if has_checkpoints:
            figures.append(FigureSpec("learning_curve", judge))
    return ReportSpec(title=title, figures=tuple(figures))


def _is_categorical(samples: pd.DataFrame, judge: str) -> bool:
    methods = set(samples[f"{judge}.method"])
    if methods & CATEGORICAL_METHODS:
        return True
    scores = samples[f"{judge}.score"].dropna()
    labels = set(samples[f"{judge}.label"]) - {REFUSAL, UNPARSEABLE}
    return scores.empty and len(labels) > 1
