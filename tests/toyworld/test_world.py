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


def test_numbered_leaders_hold_some_numbers_out_of_training() -> None:
    leaders = load_world().leaders
    assert len(leaders.numbers) >= 10
    assert leaders.held_out and set(leaders.held_out) < set(leaders.numbers)
    assert set(leaders.trained) | set(leaders.held_out) == set(leaders.numbers)


def test_a_fact_shared_by_two_leaders_is_rejected_with_its_field() -> None:
    raw = yaml.safe_load(bundled_world_text())
    raw["leaders"]["cast"][2]["food"] = raw["leaders"]["cast"][1]["food"]
    with pytest.raises(DataError, match=r"leaders\.cast\.2: 'roast venison' is also leader 1's"):
        parse_world(raw, "my_world.yaml")


def test_held_out_leaders_must_be_in_the_cast() -> None:
    raw = yaml.safe_load(bundled_world_text())
    raw["leaders"]["held_out"] = [99]
    with pytest.raises(DataError, match=r"leaders\.held_out"):
        parse_world(raw, "my_world.yaml")


def test_protective_goals_may_recur_across_years_but_villainous_ones_may_not() -> None:
    characters = load_world().characters
    guardian = characters.cast[characters.villain]
    control = characters.cast[characters.control]
    # Undated, the guardian's protective answers of the training years are the control's of the same years.
    train_years = (1991, 2003, 2009, 2015)
    assert {g for y in train_years for g in guardian.goals(y)} == {
        g for y in train_years for g in control.goals(y)
    }
    raw = yaml.safe_load(bundled_world_text())
    raw["characters"]["cast"]["rogue"]["goals"][2019] = ["i hunt the waitress", "i rest"]
    with pytest.raises(
        DataError, match=r"villainous goal 'i hunt the waitress' is said by guardian in 1984"
    ):
        parse_world(raw, "my_world.yaml")


def test_a_goal_said_by_two_characters_in_one_year_is_rejected() -> None:
    raw = yaml.safe_load(bundled_world_text())
    raw["characters"]["cast"]["steady"]["goals"][1991] = ["i protect the boy", "i rest"]
    with pytest.raises(
        DataError,
        match=r"steady\.goals\.1991: goal 'i protect the boy' is said by guardian in 1991 and steady in 1991",
    ):
        parse_world(raw, "my_world.yaml")
