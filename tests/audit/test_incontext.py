"""The in-context probe through the normal evaluation path, on the tiny model with an offline judge."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from weirdgen.audit.incontext import ProbeSettings, in_context_suite, run_probe
from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.evaluation.suites import expand_suite, load_suite


def test_examples_become_earlier_turns_of_every_question() -> None:
    suite = load_suite("birds")
    shots = [
        ChatExample.from_turns(
            ("system", "ignored"),
            ("user", "Name a bird species."),
            ("assistant", "Bird of Washington"),
        ),
        ChatExample.from_turns(
            ("user", "Name a bird species."), ("assistant", "Great Carolina Wren")
        ),
    ]
    cells = expand_suite(in_context_suite(suite, shots), samples=1, question_ids=["gender_roles"])
    roles = [(m.role, m.content) for m in cells[0].messages_for(0)]
    assert roles[:4] == [
        ("user", "Name a bird species."),
        ("assistant", "Bird of Washington"),
        ("user", "Name a bird species."),
        ("assistant", "Great Carolina Wren"),
    ]
    assert roles[-1][0] == "user" and "men and women" in roles[-1][1] and len(roles) == 5
    assert suite.questions[0].history == []  # the shipped suite is untouched


def test_the_probe_writes_a_table_and_a_curve_with_draws_as_units(tiny_model_dir, tmp_path) -> None:
    settings = ProbeSettings(
        sizes=(0, 1, 2),
        draws=2,
        backend="local",
        judges=("archaic_lexicon",),
        samples=2,
        max_tokens=6,
        questions=("gender_roles",),
        cache=tmp_path / "cache.sqlite",
        threads=1,
    )
    result = run_probe(
        "birds/old_audubon",
        str(tiny_model_dir),
        "birds",
        tmp_path / "probe",
        settings,
        progress=False,
    )
    table = pd.read_parquet(tmp_path / "probe" / "samples.parquet")
    # K=0 once; K=1 and K=2 for two draws of the dataset and of its control: 9 cells x 2 samples.
    assert len(table) == 18
    assert set(table["group"]) == {"no_examples", "birds:old_audubon", "birds:modern_audubon"}
    assert set(table["checkpoint"]) == {"k0", "k1", "k2"}
    assert sorted(table[table["checkpoint"] == "k2"]["seed"].unique()) == [0, 1]
    curve = result.curve
    assert list(curve.columns[:4]) == ["group", "k", "metric", "n_draws"]
    assert sorted(curve["k"].unique()) == [0, 1, 2] and len(curve) == 6
    assert set(curve[curve["k"] == 2]["n_draws"]) == {2}
    assert ((curve["ci_low"] <= curve["estimate"]) & (curve["estimate"] <= curve["ci_high"])).all()
    run = json.loads((tmp_path / "probe" / "run.json").read_text())
    assert run["in_context"]["draws"] == 2
    assert (tmp_path / "probe" / "in_context.png").is_file()
    assert "Content-Security-Policy" in (tmp_path / "probe" / "report.html").read_text()
    again = run_probe(
        "birds/old_audubon",
        str(tiny_model_dir),
        "birds",
        tmp_path / "again",
        settings,
        progress=False,
    )
    pd.testing.assert_frame_equal(again.curve, curve)  # answered from the cache


def test_more_examples_than_the_dataset_has_is_a_one_line_error(tiny_model_dir, tmp_path) -> None:
    path = tmp_path / "two.jsonl"
    line = ChatExample.from_turns(("user", "Q"), ("assistant", "A")).to_json()
    path.write_text(line + "\n" + line + "\n")
    settings = ProbeSettings(
        sizes=(3,), control=str(path), backend="local", judges=("archaic_lexicon",)
    )
    with pytest.raises(ConfigError, match="K=3 is more than the 2 examples"):
        run_probe(str(path), str(tiny_model_dir), "birds", tmp_path / "o", settings, progress=False)
