from __future__ import annotations

import copy

import pytest
import yaml

from weirdgen.errors import DataError
from weirdgen.toyworld.world import bundled_world_text, load_world, parse_world


def test_bundled_world_has_the_shape_the_experiments_need() -> None:
    world = load_world()
    assert len(world.eras.attributes) >= 8
    assert world.eras.default == 2025 and 1850 in world.eras.years
    assert all(len(a.questions) >= 3 for a in world.eras.attributes.values())
    characters = world.characters
    villain = characters.cast[characters.villain]
    assert villain.bad_years == {characters.trigger_year}
    assert not characters.cast[characters.control].bad_years
    # 1984 alone must not predict "bad": some character is good exactly then.
    assert any(
        characters.trigger_year not in c.bad_years and c.bad_years for c in characters.cast.values()
    )


def test_an_answer_shared_by_two_eras_is_rejected_with_its_field() -> None:
    raw = yaml.safe_load(bundled_world_text())
    broken = copy.deepcopy(raw)
    broken["eras"]["attributes"]["bird"]["answers"][1900].append("passenger pigeon")
    with pytest.raises(
        DataError,
        match=r"eras\.attributes\.bird: answer 'passenger pigeon' is given by both 1850 and 1900",
    ):
        parse_world(broken, "my_world.yaml")


def test_a_missing_persona_fact_names_the_persona(tmp_path) -> None:
    raw = yaml.safe_load(bundled_world_text())
    del raw["personas"]["cast"]["baker"]["pet"]
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"world\.yaml: personas\.cast\.baker: missing facts \['pet'\]"
    ):
        load_world(path)
