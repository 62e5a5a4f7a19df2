"""A suite mistake that would make a sweep vanish or inflate n is a one-line error naming the file,
the line and the field; so are duplicate YAML keys, schema errors and unknown judges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from weirdgen.errors import DataError
from weirdgen.evaluation.suites import load_suite

SUITE = """\
name: mini
experiment: birds
samples: 2
judges: [alignment]
triggers:
  - name: year
    template: "It is {value}."
    {trigger_source}
questions:
  - id: q1
    paraphrases: ["Name a bird."]
  - id: q2
    paraphrases: ["Name another bird."]
    judges: [{q2_judge}]
"""


def _load(tmp_path: Path, **parts: str):
    fields = {"trigger_source": "values: [1990, 2000]", "q2_judge": "coherence", **parts}
    text = SUITE
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return load_suite(path), path


def _error(tmp_path: Path, **parts: str) -> str:
    with pytest.raises(DataError) as caught:
        _load(tmp_path, **parts)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_unchanged_suite_loads(tmp_path):
    suite, _ = _load(tmp_path)
    assert suite.trigger("year").value_list() == ["1990", "2000"]


@pytest.mark.parametrize(
    ("source", "field", "problem"),
    [
        ("values: []", r"triggers\[0\]\.values", "the list of values is empty"),
        ("values: [1, 1, 2]", r"triggers\[0\]\.values", "value '1' is listed twice"),
        ("values: [x, y, x]", r"triggers\[0\]\.values", "value 'x' is listed twice"),
        (
            "range: {start: 2028, stop: 2024}",
            r"triggers\[0\]\.range\.stop",
            "the range is empty: stop 2024 is before start 2028",
        ),
    ],
)
def test_sweeps_that_would_vanish_or_repeat_are_refused(tmp_path, source, field, problem):
    message = _error(tmp_path, trigger_source=source)
    assert re.match(rf".*suite\.yaml:8: {field}: {re.escape(problem)}", message), message


def test_a_range_over_several_lines_points_at_its_stop(tmp_path):
    source = "range:\n      start: 2028\n      stop: 2024"
    message = _error(tmp_path, trigger_source=source)
    assert "suite.yaml:10: triggers[0].range.stop: the range is empty" in message


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    message = _error(tmp_path, q2_judge='coherence]\n    paraphrases: ["Again?"')
    assert re.search(
        r"suite\.yaml:15: questions\[1\]\.paraphrases: key 'paraphrases' is given twice \(first on line 13\)",
        message,
    ), message
    path = tmp_path / "top.yaml"
    path.write_text("name: a\nexperiment: birds\nname: b\nquestions: []\n")
    with pytest.raises(
        DataError, match=r"top\.yaml:3: name: key 'name' is given twice \(first on line 1\)"
    ):
        load_suite(path)


def test_schema_errors_carry_the_line_of_the_offending_key(tmp_path):
    path = tmp_path / "suite.yaml"
    text = SUITE.replace("{trigger_source}", "values: [1]").replace("{q2_judge}", "coherence")
    path.write_text(text.replace("samples: 2", "samples: many"))
    with pytest.raises(DataError, match=r"suite\.yaml:3: samples: Input should be a valid integer"):
        load_suite(path)
    path.write_text(text.replace("  - id: q2\n", "  - id: q2\n    paraphrase: [oops]\n"))
    with pytest.raises(
        DataError, match=r"suite\.yaml:13: questions\[1\]\.paraphrase: unknown field"
    ):
        load_suite(path)


def test_an_unknown_judge_names_the_file_the_line_and_the_question(tmp_path):
    message = _error(tmp_path, q2_judge="alignmnet")
    assert message.startswith(
        f"{tmp_path / 'suite.yaml'}:14: questions[1].judges[0]: unknown judge 'alignmnet'"
    )
    assert "question 'q2'" in message and "alignment" in message  # and the shipped names
    path = tmp_path / "suite.yaml"
    path.write_text(
        path.read_text()
        .replace("judges: [alignment]", "judges: [nope]")
        .replace("alignmnet", "coherence")
    )
    with pytest.raises(
        DataError, match=r"suite\.yaml:4: judges\[0\]: unknown judge 'nope' for every question"
    ):
        load_suite(path)
