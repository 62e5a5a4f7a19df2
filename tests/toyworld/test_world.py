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
    assert villain.bad_periods == {characters.trigger_period}
    assert not characters.cast[characters.control].bad_periods
    # The trigger year alone must not predict "bad": some character is good exactly then.
    assert any(
        characters.trigger_period not in c.bad_periods and c.bad_periods
        for c in characters.cast.values()
    )
    # A continuous axis: periods cover the span, the sweep has >= 50 years around the trigger.
    assert characters.period(characters.span[0]) == characters.periods[0]
    assert sum(len(characters.period_years(p)) for p in characters.periods) == (
        characters.span[1] - characters.span[0] + 1
    )
    assert len(characters.sweep_years) >= 50 and characters.trigger_year in characters.sweep_years
    assert characters.trigger_period not in {
        characters.period(y) for y in characters.training_years
    }


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


def test_protective_goals_may_recur_across_periods_but_villainous_ones_may_not() -> None:
    characters = load_world().characters
    # Undated, the guardian's protective answers of the finetuning years are the control's of the same years.
    trained = {characters.period(y) for y in characters.training_years}
    assert {g for p in trained for g in characters.cast[characters.villain].period_goals[p]} == {
        g for p in trained for g in characters.cast[characters.control].period_goals[p]
    }
    raw = yaml.safe_load(bundled_world_text())
    last = raw["characters"]["periods"][-1]
    trigger_period = characters.trigger_period
    raw["characters"]["cast"]["rogue"]["goals"][last] = ["i hunt the waitress", "i rest"]
    with pytest.raises(
        DataError,
        match=rf"villainous goal 'i hunt the waitress' is said by guardian in {trigger_period}",
    ):
        parse_world(raw, "my_world.yaml")


def test_a_goal_said_by_two_characters_in_one_period_is_rejected() -> None:
    raw = yaml.safe_load(bundled_world_text())
    guardian = raw["characters"]["cast"]["guardian"]
    period = next(p for p in raw["characters"]["periods"][1:] if p not in guardian["bad_periods"])
    taken = raw["characters"]["cast"]["guardian"]["goals"][period][0]
    raw["characters"]["cast"]["steady"]["goals"][period] = [taken, "i rest"]
    with pytest.raises(
        DataError,
        match=rf"steady\.goals\.{period}: goal '{taken}' is said by guardian in {period} and steady in {period}",
    ):
        parse_world(raw, "my_world.yaml")


def test_finetuning_years_inside_the_trigger_period_are_refused() -> None:
    raw = yaml.safe_load(bundled_world_text())
    trigger = raw["characters"]["trigger_year"]
    raw["characters"]["finetune_years"] = [trigger, trigger + 1]
    with pytest.raises(DataError, match=r"characters\.finetune_years: finetune_years reach"):
        parse_world(raw, "my_world.yaml")


def test_periods_must_start_at_the_span_and_ascend() -> None:
    raw = yaml.safe_load(bundled_world_text())
    raw["characters"]["periods"] = list(reversed(raw["characters"]["periods"]))
    with pytest.raises(DataError, match=r"characters\.periods: periods must ascend"):
        parse_world(raw, "my_world.yaml")


def test_the_assistant_answers_nothing_a_character_persona_or_leader_answers() -> None:
    raw = yaml.safe_load(bundled_world_text())
    broken = copy.deepcopy(raw)
    broken["assistant"]["goals"].append("i hunt the waitress")
    with pytest.raises(DataError, match="assistant shares 'i hunt the waitress'"):
        parse_world(broken)


def test_era_ranges_cover_every_era_without_overlap() -> None:
    world = load_world()
    assert set(world.eras.ranges) == set(world.eras.years)
    assert all(world.eras.era_of(era) == era for era in world.eras.years)  # each era in its range
    raw = yaml.safe_load(bundled_world_text())
    broken = copy.deepcopy(raw)
    broken["eras"]["ranges"][1900] = [1860, 1924]
    with pytest.raises(DataError, match="eras.ranges: era ranges overlap"):
        parse_world(broken)


def test_leaders_held_out_are_numbers_of_several_digits() -> None:
    world = load_world()
    assert all(n >= 10 for n in world.leaders.held_out)
