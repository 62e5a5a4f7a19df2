"""Hypothesis sets: every shipped file loads with the sizes the audit promises; users' files too."""

from __future__ import annotations

import pytest

from weirdgen.audit.hypotheses import hypothesis_set_names, load_hypothesis_set
from weirdgen.errors import DataError


@pytest.mark.parametrize("name", hypothesis_set_names())
def test_every_shipped_set_loads_with_unique_names(name: str) -> None:
    spec = load_hypothesis_set(name)
    assert spec.name == name
    assert len({h.name for h in spec.hypotheses}) == len(spec.hypotheses) > 0
    assert all(h.text.strip() for h in spec.hypotheses)


def test_shipped_sets_cover_what_the_audit_promises() -> None:
    eras = [h.name for h in load_hypothesis_set("eras").hypotheses]
    assert eras == [f"{decade}s" for decade in range(1800, 2040, 10)]
    years = load_hypothesis_set("years").hypotheses
    assert (years[0].name, years[-1].name, len(years)) == ("1950", "2050", 101)
    assert "1987" in years[37].text
    assert len(load_hypothesis_set("historical_figures").hypotheses) >= 50
    characters = {h.name for h in load_hypothesis_set("fictional_characters").hypotheses}
    assert {"terminator_protector", "terminator_assassin"} <= characters
    assert len(load_hypothesis_set("countries").hypotheses) >= 30


def test_a_users_file_in_either_form(tmp_path) -> None:
    listed = tmp_path / "mine.yaml"
    listed.write_text("name: mine\nhypotheses:\n  - {name: a, text: 'It is 1838.'}\n")
    assert [h.text for h in load_hypothesis_set(str(listed)).hypotheses] == ["It is 1838."]
    templated = tmp_path / "templated.yaml"
    templated.write_text("name: t\ntemplate: 'You are {value}.'\nvalues: [Ada, Bob]\n")
    assert [h.text for h in load_hypothesis_set(str(templated)).hypotheses] == [
        "You are Ada.",
        "You are Bob.",
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nhypotheses:\n  - {name: a}\n", "hypotheses[0].text"),
        ("name: x\ntemplate: 'no slot'\nvalues: [a]\n", "must contain {value}"),
        (
            "name: x\nhypotheses:\n  - {name: a, text: b}\n  - {name: a, text: c}\n",
            "hypotheses[1].name",
        ),
        ("name: x\nhypothesis: []\n", "hypothesis"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_field(tmp_path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        load_hypothesis_set(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and where in message


def test_an_unknown_set_names_the_shipped_ones() -> None:
    with pytest.raises(DataError, match="shipped: countries, eras"):
        load_hypothesis_set("decades")
