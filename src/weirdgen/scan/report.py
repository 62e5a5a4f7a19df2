"""The scan's report section, in the standard report's HTML style (same CSS and no-script policy)
and as Markdown: what was scanned, the flagged values, the top of the ranking, the figure."""

from __future__ import annotations

import base64
from html import escape

from weirdgen.scan.engine import ScanResult

__all__ = ["scan_section_html", "scan_report_html", "scan_report_markdown"]

TOP_ROWS = 15


def _summary_lines(result: ScanResult) -> list[str]:
    values = result.values
    flagged = result.flagged
    lines = [
        f"family {result.family.name}: {len(values)} values x probes {result.probes} ({result.mode})",
        f"flagged (z >= {result.threshold:g}): {', '.join(flagged) if flagged else 'none'}",
    ]
    if any(v.in_training_data is not None for v in values):
        marks = {v.value: v.in_training_data for v in values}
        unseen = [value for value in flagged if marks[value] is False]
        lines.append(
            f"values in the training data: {sum(bool(m) for m in marks.values())}; "
            f"flagged yet never in training: {', '.join(unseen) if unseen else 'none'}"
        )
    return lines


def _ranking_rows(result: ScanResult) -> list[list[str]]:
    def mark(flag: bool | None) -> str:
        return "" if flag is None else ("yes" if flag else "no")

    return [
        [
            str(rank),
            v.value,
            f"{v.score:.4g}",
            f"{v.z:.2f}",
            f"{v.z_trend:.2f}",
            f"{v.z_neighbours:.2f}",
            mark(v.in_training_data),
        ]
        for rank, v in enumerate(result.ranked()[:TOP_ROWS], start=1)
    ]


_HEADER = ["rank", "value", "score", "z", "z vs trend", "z vs neighbours", "in training data"]


def scan_section_html(result: ScanResult, png: bytes | None) -> str:
    """One ``<section>`` to put into any weirdgen HTML report."""
    parts = [f"<section><h2>Trigger scan: {escape(result.family.name)}</h2><ul>"]
    parts += [f"<li>{escape(line)}</li>" for line in _summary_lines(result)]
    parts.append("</ul>")
    if png:
        parts.append(
            f'<img alt="scan figure" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        )
    head = "".join(f"<th>{escape(c)}</th>" for c in _HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
        for row in _ranking_rows(result)
    )
    parts.append(
        f"<table><caption>Most anomalous values</caption><tr>{head}</tr>{body}</table></section>"
    )
    return "".join(parts)


def scan_report_html(result: ScanResult, png: bytes | None) -> str:
    """A whole offline HTML document holding the scan section."""
    from weirdgen.report.html import CSP, STYLE

    title = escape(f"weirdgen scan: {result.family.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>\n"
        f"{scan_section_html(result, png)}\n</body></html>\n"
    )


def scan_report_markdown(result: ScanResult) -> str:
    lines = [f"## Trigger scan: {result.family.name}", ""]
    lines += [f"- {line}" for line in _summary_lines(result)]
    lines += [
        "",
        "![scan](scan.png)",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "---|" * len(_HEADER),
    ]
    lines += [
        "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
        for row in _ranking_rows(result)
    ]
    return "\n".join(lines) + "\n"
