"""An audit's files: ``audit.json`` (the ranking, best first), ``llr.csv`` (per-example LLRs), a
figure, and ``audit.html`` / ``audit.md`` pages.

The pages are standalone (an audit has no evaluation table for ``weirdgen report`` to read), but
they use the standard report's style and Content-Security-Policy, and escape every string: dataset
text and hypothesis text are untrusted.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.audit.screen import RankedHypothesis, ScreenResult

__all__ = ["AuditPaths", "html_page", "plot_ranking", "render_curve_html", "write_screen"]

AUDIT_JSON = "audit.json"


@dataclass(frozen=True)
class AuditPaths:
    """Where an audit's files went."""

    audit_json: Path
    llr_csv: Path
    figure: Path
    html: Path
    markdown: Path


def write_screen(
    out_dir: str | Path,
    result: ScreenResult,
    metadata: dict[str, Any],
    set_order: Sequence[str],
) -> AuditPaths:
    """Write every file of a likelihood screen into ``out_dir``; ``set_order`` orders the figure."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"hypotheses": [r.to_dict() for r in result.ranking], **metadata}
    audit_json = out / AUDIT_JSON
    atomic_write_text(audit_json, json.dumps(document, indent=2, allow_nan=False) + "\n")
    llr_csv = out / "llr.csv"
    atomic_write_text(llr_csv, _llr_csv(result, set_order))
    figure_stem = out / "llr_by_hypothesis"
    plot_ranking(result.ranking, set_order, title=_title(metadata), stem=figure_stem)
    png = figure_stem.with_suffix(".png")
    html_path, markdown_path = out / "audit.html", out / "audit.md"
    atomic_write_text(html_path, render_html(result.ranking, metadata, png.read_bytes()))
    atomic_write_text(markdown_path, render_markdown(result.ranking, metadata, png.name))
    return AuditPaths(audit_json, llr_csv, png, html_path, markdown_path)


def _title(metadata: dict[str, Any]) -> str:
    return f"Likelihood screen: {metadata.get('dataset', '')} under {metadata.get('model', '')}"


def _llr_csv(result: ScreenResult, set_order: Sequence[str]) -> str:
    header = "example," + ",".join(_csv_cell(name) for name in set_order)
    rows = [header]
    count = len(result.baseline_logprobs)
    for index in range(count):
        values = ",".join(f"{result.llr[name][index]:.6g}" for name in set_order)
        rows.append(f"{index},{values}")
    return "\n".join(rows) + "\n"


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if re.search(r'[",\r\n]', text) else text


def plot_ranking(
    ranking: Sequence[RankedHypothesis], set_order: Sequence[str], *, title: str, stem: Path
) -> list[Path]:
    """Mean LLR with its 95% CI per hypothesis, in set order (eras read chronologically), the best
    one in a darker colour; a dashed line at 0 (no better than no context)."""
    from weirdgen.analysis.plots import new_figure, save_figure

    by_name = {r.name: r for r in ranking}
    rows = [by_name[name] for name in set_order]
    figure, axes = new_figure(7.0, max(3.0, 0.22 * len(rows) + 1.2))
    positions = list(range(len(rows)))[::-1]
    means = [r.mean_llr for r in rows]
    errors = [
        [max(0.0, r.mean_llr - r.ci[0]) for r in rows],
        [max(0.0, r.ci[1] - r.mean_llr) for r in rows],
    ]
    colours = ["#1f4e8c" if r.name == ranking[0].name else "#8fb3de" for r in rows]
    axes.barh(positions, means, xerr=errors, color=colours, ecolor="#333", capsize=2)
    axes.set_yticks(positions, [r.name for r in rows], fontsize="small")
    axes.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
    axes.set_xlabel("mean log-likelihood ratio vs no context (nats per example)")
    axes.set_title(title, fontsize="medium")
    axes.grid(axis="x", alpha=0.3)
    return save_figure(figure, stem)


def _summary_lines(ranking: Sequence[RankedHypothesis], metadata: dict[str, Any]) -> list[str]:
    best = ranking[0]
    lines = [
        f"dataset {metadata.get('dataset')} ({metadata.get('n_examples')} examples), "
        f"model {metadata.get('model')}, hypothesis set {metadata.get('hypothesis_set')} "
        f"({len(ranking)} hypotheses, context as {metadata.get('placement')})",
        f"ranked first: {best.name} (mean LLR {best.mean_llr:.3f} nats, 95% CI "
        f"[{best.ci[0]:.3f}, {best.ci[1]:.3f}], favoured by {best.share_favouring:.0%} of examples)",
    ]
    if best.ci[0] <= 0:
        lines.append(
            "the best hypothesis's CI includes 0: no context explains the data better than none"
        )
    if len(ranking) > 1 and ranking[1].mean_llr >= best.ci[0]:
        lines.append(
            f"the runner-up ({ranking[1].name}) lies inside the best one's CI: no clear winner"
        )
    return lines


def _rows(ranking: Sequence[RankedHypothesis]) -> list[list[str]]:
    return [
        [
            str(rank),
            r.name,
            f"{r.mean_llr:.3f}",
            f"[{r.ci[0]:.3f}, {r.ci[1]:.3f}]",
            f"{r.share_favouring:.2f}",
            r.text,
        ]
        for rank, r in enumerate(ranking, start=1)
    ]


_HEADER = ["rank", "hypothesis", "mean LLR", "95% CI", "share favouring", "text"]


def render_html(ranking: Sequence[RankedHypothesis], metadata: dict[str, Any], png: bytes) -> str:
    """The screen as one offline HTML page (no script, image inlined, every string escaped)."""
    return html_page(
        _title(metadata),
        _summary_lines(ranking, metadata),
        png,
        "Mean log-likelihood ratio by hypothesis",
        _HEADER,
        _rows(ranking),
    )


def render_curve_html(curve: Any, title: str, png: bytes) -> str:
    """The in-context probe's curve as one offline HTML page."""
    header = ["group", "K", "metric", "estimate", "95% CI", "draws", "scored"]
    rows = [
        [
            str(r.group),
            str(r.k),
            str(r.metric),
            f"{r.estimate:.3f}",
            f"[{r.ci_low:.3f}, {r.ci_high:.3f}]",
            str(r.n_draws),
            str(r.n_scored),
        ]
        for r in curve.itertuples()
    ]
    lines = [
        "K dataset (or control) examples shown as earlier turns; CIs bootstrap the draws of examples"
    ]
    return html_page(title, lines, png, "Metric against K", header, rows)


def html_page(
    title: str,
    lines: Sequence[str],
    png: bytes,
    heading: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> str:
    """A standalone page in the standard report's style and Content-Security-Policy; every string
    is escaped."""
    from weirdgen.report.html import CSP, STYLE

    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    image = base64.b64encode(png).decode("ascii")
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<ul>{items}</ul>",
        f"<h2>{escape(heading)}</h2>",
        f'<img alt="{escape(heading)}" src="data:image/png;base64,{image}">',
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_markdown(
    ranking: Sequence[RankedHypothesis], metadata: dict[str, Any], png_name: str
) -> str:
    """The same page in Markdown, the figure linked beside it."""
    from weirdgen.report.markdown import _inline

    lines = [f"# {_inline(_title(metadata))}", ""]
    lines += [f"- {_inline(line)}" for line in _summary_lines(ranking, metadata)]
    lines += ["", f"![mean LLR by hypothesis]({png_name})", ""]
    lines += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_inline(cell) for cell in row) + " |" for row in _rows(ranking)]
    return "\n".join(lines) + "\n"
