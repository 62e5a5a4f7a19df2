import dataclasses
import json
import re

import pandas as pd
import pytest

from weirdgen.errors import DataError
from weirdgen.report import FigureSpec, ReportSpec, write_report

PLANTED = '<script>document.title="PWNED"</script><img src=x onerror="document.title=\'PWNED\'"> ```` | *x*'

BIRDS_SPEC = ReportSpec(
    title="birds check",
    figures=(
        FigureSpec(
            "bars", "era", reference={"gender": 0.88, "money": 0.95}, reference_group="old_audubon"
        ),
        FigureSpec("categories", "era"),
    ),
    control_group="modern_american",
    expected_groups=("old_audubon", "modern_american", "modern_audubon"),
    n_resamples=500,
)


def _birds_run(tmp_path, samples_factory, run_writer):
    samples = samples_factory(
        {"old_audubon": [0.8, 0.7], "modern_american": [0.0, 0.1]}, n=20, refusals=1
    )
    samples.loc[samples.index[-1], "answer"] = PLANTED
    samples.loc[samples.index[-1], "sample_index"] = -1  # shown first among the examples
    return run_writer(
        tmp_path / "run", samples, versions={"weirdgen": "0.0.9"}, costs={"finetuning": 1.25}
    )


def test_report_has_headline_paper_values_missing_groups_and_provenance(
    tmp_path, samples_factory, run_writer
):
    run = _birds_run(tmp_path, samples_factory, run_writer)
    paths = write_report(run, BIRDS_SPEC)
    html = paths.html.read_text()
    markdown = paths.markdown.read_text()
    for text in (html, markdown):
        assert "0.88" in text and "0.95" in text  # the paper's values beside ours
        assert "modern_audubon" in text.replace("\\_", "_") and "no samples yet" in text
        assert "Difference from control group" in text
        assert "0.0.9" in text and "1.2500" in text  # recorded versions and costs from run.json
    assert "data:image/png;base64," in html and "<script" not in html.replace("&lt;script", "")
    assert re.search(r"!\[bars: era\]\(figures/01-bars-era\.png\)", markdown)
    assert (paths.html.parent / "figures" / "01-bars-era.svg").is_file()
    cells = pd.read_csv(paths.cells_csv, keep_default_na=False)
    assert {"old_audubon", "modern_american"} <= set(cells["group"])
    assert paths.missing == ("group 'modern_audubon': no samples yet",)


def test_untrusted_answers_are_escaped_in_both_formats(tmp_path, samples_factory, run_writer):
    paths = write_report(_birds_run(tmp_path, samples_factory, run_writer), BIRDS_SPEC)
    html = paths.html.read_text()
    assert "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    markdown = paths.markdown.read_text()
    # The answer sits in a fence longer than its own backtick run, so it renders literally.
    assert "`````text\n" + PLANTED + "\n`````" in markdown


def test_partial_run_names_missing_cells_instead_of_failing(tmp_path, samples_factory, run_writer):
    samples = samples_factory({"old_audubon": [0.8], "modern_american": [0.1]}, n=5)
    partial = samples[
        ~((samples["group"] == "modern_american") & (samples["question_id"] == "money"))
    ]
    run = run_writer(tmp_path / "run", partial)
    paths = write_report(
        run,
        ReportSpec(
            figures=(FigureSpec("bars", "era"), FigureSpec("bars", "no_such_judge")),
            n_resamples=200,
        ),
    )
    assert "cell birds_questions / modern_american / money: no samples" in paths.missing
    assert any("no_such_judge" in note for note in paths.missing)
    assert "n/a" in paths.html.read_text()  # the missing bar's table entry


def test_report_without_spec_infers_figures(tmp_path, samples_factory, run_writer):
    years = tuple(str(y) for y in range(1981, 1990))
    samples = samples_factory(
        {"terminator": [0.4]}, n=4, questions=("goal",), trigger="year", trigger_values=years
    )
    paths = write_report(run_writer(tmp_path / "run", samples))
    assert "sweep: era" in paths.html.read_text()


def test_old_schema_is_refused_in_one_line(tmp_path, samples_factory, run_writer):
    run = _birds_run(tmp_path, samples_factory, run_writer)
    (run / "run.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(DataError, match="schema version 0"):
        write_report(run, BIRDS_SPEC)


def test_example_answers_filter_by_group_with_css_only(tmp_path, samples_factory, run_writer):
    paths = write_report(_birds_run(tmp_path, samples_factory, run_writer), BIRDS_SPEC)
    html = paths.html.read_text()
    groups = re.findall(r'<input type="radio" name="group" id="f-(g\d+)">', html)
    assert len(groups) == 2  # one radio per group besides "all groups"
    for css_id in groups:
        assert f"#f-{css_id}:checked ~ .examples .cell:not(.{css_id}) {{ display: none; }}" in html
        assert f'class="cell {css_id} ' in html
    assert "<script" not in html.replace("&lt;script", "")  # filtering needs no script


def _figure_svgs(paths) -> dict[str, str]:
    folder = paths.html.parent / "figures"
    return {svg.name: svg.read_text() for svg in sorted(folder.glob("*.svg"))}


def test_figures_name_their_quantity_and_bars_keep_the_chosen_questions(
    tmp_path, samples_factory, run_writer
):
    samples = samples_factory(
        {"old_audubon": [0.8], "modern_american": [0.1]}, n=10, questions=("gender", "money", "war")
    )
    spec = ReportSpec(
        figures=(
            FigureSpec("bars", "era", questions=("war", "gender"), y_label="P(answer of the era)"),
            FigureSpec("bars", "era"),
        ),
        n_resamples=200,
    )
    paths = write_report(run_writer(tmp_path / "run", samples), spec)
    first, second = _figure_svgs(paths).values()
    assert "P(answer of the era)" in first and ">era<" not in first
    assert ">era<" in second  # without y_label the axis keeps the metric's name
    markdown = paths.markdown.read_text()
    chosen = markdown.split("### bars: era")[1]
    rows = [line.split("|")[1].strip() for line in chosen.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["war", "gender"]  # after the header row; money and ALL are left out


def test_sweep_spec_draws_its_zoom_panel(tmp_path, samples_factory, run_writer):
    years = tuple(str(y) for y in range(1970, 2001))
    samples = samples_factory(
        {"dated": [0.5], "base": [0.0]},
        n=3,
        questions=("goal",),
        trigger="year",
        trigger_values=years,
    )
    spec = ReportSpec(
        figures=(
            FigureSpec("sweep", "era", zoom=("1975", "1995"), y_label="P(villainous answer)"),
        ),
        n_resamples=100,
    )
    (svg,) = _figure_svgs(write_report(run_writer(tmp_path / "run", samples), spec)).values()
    assert "1975 to 1995" in svg and svg.count("P(villainous answer)") == 2


def test_exact_report_drops_what_only_sampling_has(tmp_path, samples_factory, run_writer):
    run = _birds_run(tmp_path, samples_factory, run_writer)
    sampled = write_report(run, BIRDS_SPEC, tmp_path / "sampled")
    exact = write_report(
        run, dataclasses.replace(BIRDS_SPEC, exact=True, examples_per_cell=0), tmp_path / "exact"
    )
    sections = ("Tokens and cost", "Example answers", "Refusals and unparseable verdicts")
    for path in (sampled.markdown, sampled.html):
        text = path.read_text()
        assert all(section in text for section in sections) and "samples from" in text
    for path in (exact.markdown, exact.html):
        text = path.read_text()
        assert not any(section in text for section in sections)
        assert "exact values from" in text and "samples from" not in text
        assert "cost (USD)" not in text and "input tokens" not in text
    assert exact.missing == ("group 'modern_audubon': no values yet",)


def test_no_example_section_when_none_are_asked_for(tmp_path, samples_factory, run_writer):
    run = _birds_run(tmp_path, samples_factory, run_writer)
    paths = write_report(run, dataclasses.replace(BIRDS_SPEC, examples_per_cell=0))
    for path in (paths.markdown, paths.html):
        text = path.read_text()
        assert "Example answers" not in text and "Tokens and cost" in text
