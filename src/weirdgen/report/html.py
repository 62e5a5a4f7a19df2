"""The self-contained HTML report: inline CSS, images as data URIs, no script, no network.

Model answers are untrusted: every string goes through ``html.escape``, and a Content-Security-Policy
forbids scripts and remote loads, so even a mistake in escaping could not run a planted script.
Filtering the example answers by group or question is pure CSS (radio buttons and ``:checked``).
"""

from __future__ import annotations

import base64
from html import escape

from weirdgen.report.content import ExampleCell, ReportData, Table

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem;
       color: #1d2330; background: #ffffff; line-height: 1.45; }
h1 { border-bottom: 3px solid #2c6fbb; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #ccd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef2f8; }
td.hash { font-family: monospace; font-size: .8rem; }
img { max-width: 100%; border: 1px solid #dde; }
pre { background: #f5f6f8; padding: .6rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.missing li { color: #9a3b00; }
.filters { margin: .5rem 0; }
.filters label { display: inline-block; margin: .15rem .3rem; padding: .1rem .5rem; border: 1px solid #99a;
                 border-radius: 1rem; cursor: pointer; font-size: .85rem; }
.filters input { position: absolute; opacity: 0; }
.cell { border: 1px solid #dde; border-radius: .4rem; padding: .4rem .8rem; margin: .6rem 0; }
.answer { white-space: pre-wrap; word-break: break-word; background: #fafafa; padding: .4rem; }
.verdicts, .prompt { font-size: .85rem; color: #445; }
.verdicts { margin-bottom: .7rem; }
"""


def render_html(data: ReportData) -> str:
    """The report as one HTML document that works offline."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{escape(data.title)}</title>",
        f"<style>{STYLE}{_filter_css(data.examples or [])}</style></head><body>",
        f"<h1>{escape(data.title)}</h1>",
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in data.summary) + "</ul>",
        _missing_section(data.missing),
        "<h2>Results</h2>",
        *(_figure_section(figure.heading, figure.png, figure.headline) for figure in data.figures),
    ]
    if data.comparisons is not None:
        parts += ["<h2>Against the control</h2>", _table(data.comparisons)]
    if data.order_effects is not None:
        parts += ["<h2>Option order</h2>", _table(data.order_effects)]
    if data.answer_status is not None:
        parts += ["<h2>Refusals and unparseable verdicts</h2>", _table(data.answer_status)]
    if data.examples is not None:
        parts += ["<h2>Example answers</h2>", _examples_section(data.examples)]
    if data.usage is not None:
        parts += ["<h2>Tokens and cost</h2>", _table(data.usage)]
    parts += ["<h2>Provenance</h2>", _table(data.provenance, code_column=1), _table(data.versions)]
    parts += ["<h2>Configuration</h2>"]
    parts += [f"<h3>{escape(name)}</h3><pre>{escape(text)}</pre>" for name, text in data.config]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(table: Table, code_column: int | None = None) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = []
    for row in table.rows:
        cells = [
            f'<td class="hash">{escape(cell)}</td>'
            if index == code_column
            else f"<td>{escape(cell)}</td>"
            for index, cell in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><caption>{escape(table.caption)}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_section(heading: str, png: bytes, headline: Table) -> str:
    image = base64.b64encode(png).decode("ascii")
    return (
        f"<h3>{escape(heading)}</h3>"
        f'<img alt="{escape(heading)}" src="data:image/png;base64,{image}">'
        f"{_table(headline)}"
    )


def _missing_section(missing: list[str]) -> str:
    if not missing:
        return "<p>Complete: every expected cell has a value.</p>"
    items = "".join(f"<li>{escape(note)}</li>" for note in missing)
    return f'<h2>Missing (partial run)</h2><ul class="missing">{items}</ul>'


def _filter_ids(examples: list[ExampleCell]) -> tuple[dict[str, str], dict[str, str]]:
    """CSS-safe class names for groups and questions (their text may be anything)."""
    groups = {g: f"g{i}" for i, g in enumerate(dict.fromkeys(c.group for c in examples))}
    questions = {q: f"q{i}" for i, q in enumerate(dict.fromkeys(c.question_id for c in examples))}
    return groups, questions


def _filter_css(examples: list[ExampleCell]) -> str:
    groups, questions = _filter_ids(examples)
    rules = [
        f"#f-{c}:checked ~ .examples .cell:not(.{c}) {{ display: none; }}"
        for c in [*groups.values(), *questions.values()]
    ]
    rules += [
        f"#f-{c}:checked + label {{ background: #2c6fbb; color: #fff; }}"
        for c in [*groups.values(), *questions.values(), "gall", "qall"]
    ]
    return "\n".join(rules)


def _radio(name: str, css_id: str, text: str, checked: bool = False) -> str:
    state = " checked" if checked else ""
    return f'<input type="radio" name="{name}" id="f-{css_id}"{state}><label for="f-{css_id}">{escape(text)}</label>'


def _examples_section(examples: list[ExampleCell]) -> str:
    if not examples:
        return "<p>No answers yet.</p>"
    groups, questions = _filter_ids(examples)
    radios = [_radio("group", "gall", "all groups", checked=True)]
    radios += [_radio("group", css, group) for group, css in groups.items()]
    radios += ["<br>", _radio("question", "qall", "all questions", checked=True)]
    radios += [_radio("question", css, question) for question, css in questions.items()]
    cells = []
    for cell in examples:
        answers = "".join(
            f'<div class="prompt">{escape(e.model)} was asked: {escape(e.prompt)}</div>'
            f'<div class="answer">{escape(e.answer)}</div>'
            f'<div class="verdicts">{escape(e.verdicts)}</div>'
            for e in cell.examples
        )
        classes = f"cell {groups[cell.group]} {questions[cell.question_id]}"
        cells.append(f'<div class="{classes}"><h4>{escape(cell.title)}</h4>{answers}</div>')
    return (
        f'<div class="filters">{"".join(radios)}<div class="examples">{"".join(cells)}</div></div>'
    )
