"""The Markdown twin of the HTML report: the same sections, figures linked as files beside it.

Model answers go into fenced code blocks whose fence is longer than any backtick run in the answer,
so Markdown renderers show them literally (no HTML, no links, no images from an answer).
"""

from __future__ import annotations

import re
from html import escape

from weirdgen.report.content import ReportData, Table


def render_markdown(data: ReportData) -> str:
    """The report as GitHub-flavoured Markdown; figure paths are relative to the report directory."""
    parts = [f"# {_inline(data.title)}", "", *(f"- {_inline(line)}" for line in data.summary), ""]
    if data.missing:
        parts += [
            "## Missing (partial run)",
            "",
            *(f"- {_inline(note)}" for note in data.missing),
            "",
        ]
    parts += ["## Results", ""]
    for figure in data.figures:
        parts += [
            f"### {_inline(figure.heading)}",
            "",
            f"![{_inline(figure.heading)}]({figure.stem}.png)",
            "",
            _table(figure.headline),
            "",
        ]
    if data.comparisons is not None:
        parts += ["## Against the control", "", _table(data.comparisons), ""]
    if data.order_effects is not None:
        parts += ["## Option order", "", _table(data.order_effects), ""]
    if data.answer_status is not None:
        parts += ["## Refusals and unparseable verdicts", "", _table(data.answer_status), ""]
    if data.examples is not None:
        parts += ["## Example answers", ""]
    for cell in data.examples or []:
        parts += [f"### {_inline(cell.title)}", ""]
        for example in cell.examples:
            parts += [
                f"- {_inline(example.model)} was asked: {_inline(example.prompt)}",
                "",
                _fenced(example.answer),
                "",
                f"  verdicts: {_inline(example.verdicts)}",
                "",
            ]
    if data.usage is not None:
        parts += ["## Tokens and cost", "", _table(data.usage), ""]
    parts += ["## Provenance", "", _table(data.provenance), "", _table(data.versions), ""]
    parts += ["## Configuration", ""]
    for name, text in data.config:
        parts += [f"### {_inline(name)}", "", _fenced(text), ""]
    return "\n".join(parts).rstrip() + "\n"


def _inline(text: str) -> str:
    """One line of untrusted text made inert: HTML escaped, Markdown punctuation backslashed."""
    text = escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", text)


def _fenced(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _table(table: Table) -> str:
    lines = [
        f"**{_inline(table.caption)}**",
        "",
        "| " + " | ".join(_inline(h) for h in table.header) + " |",
    ]
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(_inline(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)
