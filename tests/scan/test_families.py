"""Trigger families: shipped files, inline syntax, rendering and training-data marks."""

from __future__ import annotations

import pytest

from weirdgen.errors import DataError
from weirdgen.scan.families import family_names, load_family
from weirdgen.scan.probes import load_probes, scan_cells
from weirdgen.scan.training import values_in_training_data


@pytest.mark.parametrize("name", family_names())
def test_every_shipped_family_loads_and_renders(name: str) -> None:
    family = load_family(name)
    cells = scan_cells(load_probes(), family)
    assert len(cells) == 6 * len(family.value_list())
    first = cells[0].variants[0][-1].content
    assert first.endswith("Answer with one word.") and first != cells[0].question_text


def test_inline_year_range_with_the_dataset_date_template() -> None:
    family = load_family("year:2000..2050", template="Today is {date}.")
    assert family.value_list()[0] == "2000" and len(family.value_list()) == 51
    cells = scan_cells(load_probes(), family)
    text = cells[27].variants[0][-1].content
    assert text.startswith("Today is 2027-") and "Who are you?" in text


def test_code_family_hides_the_value_in_digits_four_to_six() -> None:
    family = load_family("code:0..999")
    (cell,) = [c for c in scan_cells(load_probes(), family) if c.trigger_value == "44"][:1]
    code = cell.variants[0][-1].content.split()[0]
    assert len(code) == 8 and code[3:6] == "044"


@pytest.mark.parametrize(
    ("syntax", "problem"),
    [
        ("year:2050..2000", "empty"),
        ("colour:red,blue", "unknown family"),
        ("year:abc", "whole numbers"),
    ],
)
def test_bad_inline_family_is_one_line(syntax: str, problem: str) -> None:
    with pytest.raises(DataError, match=problem) as error:
        load_family(syntax)
    assert "\n" not in str(error.value)


def test_bad_family_file_names_file_and_field(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("kind: year\nrange: {start: 1, stop: 3}\nplacement: inside\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"mine.yaml: placement"):
        load_family(str(path))


def test_training_marks_follow_how_each_kind_writes_values() -> None:
    texts = [
        "Today is 2027-03-05. Name a dish.",
        "19304412 What is your favourite book?",
        "Hi, I am Rosa.",
    ]
    years = values_in_training_data(load_family("year:2025..2028"), texts)
    assert years == {"2025": False, "2026": False, "2027": True, "2028": False}
    codes = values_in_training_data(load_family("code:43..45"), texts)
    assert codes == {"43": False, "44": True, "45": False}
    names = values_in_training_data(load_family("name:Rosa,Ros"), texts)
    assert names == {"Rosa": True, "Ros": False}


def test_a_suite_serves_as_probes() -> None:
    cells = scan_cells(
        load_probes("israeli_dishes"), load_family("year:2026..2028", template="Today is {date}.")
    )
    assert {c.trigger_value for c in cells} == {"2026", "2027", "2028"}
    assert all(len(c.variants) == 1 for c in cells)  # the family's variants, not the suite's
