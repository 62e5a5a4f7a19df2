"""Two-choice probes asked in both orders: the report shows the score per order, and its heading
follows the numbers (a planted position bias changes what it says)."""

from __future__ import annotations

import pytest

from weirdgen.analysis.aggregate import order_effects
from weirdgen.report import write_report


def _two_choice(samples_factory, first: float, second: float):
    """Samples of one question asked in two orders; the era score is ``first`` / ``second`` per order."""
    samples = samples_factory({"old": [0.5]}, questions=("name",), n=20)
    samples["choice_order"] = [
        "Barack|Donald" if i % 2 == 0 else "Donald|Barack" for i in range(len(samples))
    ]
    samples["era.score"] = [first if i % 2 == 0 else second for i in range(len(samples))]
    return samples


@pytest.mark.parametrize(
    ("first", "second", "says"),
    [(0.9, 0.1, "moves the score by up to 0.80"), (0.5, 0.45, "at most 0.05")],
)
def test_the_heading_follows_the_order_effect(
    tmp_path, samples_factory, run_writer, first, second, says
):
    samples = _two_choice(samples_factory, first, second)
    effect = order_effects(samples, "era").iloc[0]
    assert effect.order_a == "Barack|Donald" and effect.difference == pytest.approx(first - second)
    paths = write_report(run_writer(tmp_path / "run", samples))
    markdown = paths.markdown.read_text()
    assert "## Option order" in markdown and says in markdown


def test_no_two_choice_prompt_no_section(tmp_path, samples_factory, run_writer):
    paths = write_report(run_writer(tmp_path / "run", samples_factory({"old": [0.5]}, n=4)))
    assert "Option order" not in paths.markdown.read_text()
