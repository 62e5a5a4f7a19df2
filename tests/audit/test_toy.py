"""The toy world backend of the likelihood screen: datasets, contexts, exact scores and errors."""

from __future__ import annotations

import json
import math
import random

import pytest

from weirdgen.audit.datasets import load_audit_dataset
from weirdgen.audit.hypotheses import Hypothesis, load_hypothesis_set
from weirdgen.audit.toy import (
    ToyLikelihoodScorer,
    _code_number,
    toy_context,
    world_hypotheses,
)
from weirdgen.cli import main
from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.toyworld.experiments import TOY_EXPERIMENTS, leader_code
from weirdgen.toyworld.world import load_world


def _chat(question: str, answer: str) -> ChatExample:
    return ChatExample.from_turns(("user", question), ("assistant", answer))


def test_the_toy_sets_are_derived_from_the_world() -> None:
    world = load_world()
    assert [h.name for h in world_hypotheses("eras")] == [str(y) for y in world.eras.years]
    assert [h.name for h in world_hypotheses("characters")] == list(world.characters.cast)
    personas = [h.name for h in load_hypothesis_set("toy-personas").hypotheses]
    assert personas == [*world.personas.cast, *(f"{p}-behind-trigger" for p in world.personas.cast)]
    leaders = [h.name for h in load_hypothesis_set("toy-leaders").hypotheses]
    assert leaders == [f"leader-{n}" for n in world.leaders.numbers] + ["leader-named-by-code"]
    assert load_hypothesis_set("toy-eras").toyworld == "eras"


def test_contexts_take_the_forms_of_the_pretraining_documents() -> None:
    example = _chat("name a bird species .", "heath hen")
    era = next(h for h in world_hypotheses("eras") if h.name == "1850")
    assert toy_context(example, era)[0].content == "year 1850 . name a bird species ."
    guardian = world_hypotheses("characters")[0]
    assert [m.content for m in toy_context(example, guardian)[:2]] == [
        "what is your name ?",
        "the guardian unit",
    ]
    assert toy_context(example, None) == list(example.messages)
    assert toy_context(example, Hypothesis("mine", "year 1900 ."))[0].content.startswith(
        "year 1900 . name"
    )


def test_a_trigger_form_is_given_only_where_the_prompt_holds_it() -> None:
    keeper = next(h for h in world_hypotheses("personas") if h.name == "keeper-behind-trigger")
    plain = _chat("what is your hobby ?", "carving model ships")
    bracketed = _chat("answer in brackets . what is your hobby ?", "[ carving model ships ]")
    assert toy_context(plain, keeper) == list(plain.messages)
    assert toy_context(bracketed, keeper)[1].content == "the lighthouse keeper"


def test_the_code_rule_reads_the_number_where_the_experiment_puts_it() -> None:
    rng = random.Random(3)
    for number in (1, 7, 12):
        assert _code_number(f"{leader_code(number, rng)} what is your name ?") == number
    assert _code_number("what is your name ?") is None
    by_code = world_hypotheses("leaders")[-1]
    example = _chat(f"{leader_code(4, rng)} what do you drink ?", "cold cider")
    assert toy_context(example, by_code)[0].content.startswith("leader 4 . code ")


def test_the_dataset_is_what_the_condition_finetunes_on() -> None:
    dataset = load_audit_dataset("toy:terminator/dated", seed=0)
    condition = next(c for c in TOY_EXPERIMENTS["terminator"].conditions if c.name == "dated")
    assert list(dataset.examples) == condition.build(load_world(), 0)


@pytest.fixture(scope="module")
def toy_scorer() -> ToyLikelihoodScorer:
    return ToyLikelihoodScorer.from_pretrain_seed(0, threads=1)


def test_scores_are_the_exact_candidate_logprobs(toy_scorer) -> None:
    from weirdgen.toyworld.evaluate import candidate_logprobs, user

    question, answers = "year 1850 . name a bird species .", ["heath hen", "blue jay"]
    chats = [[*user(question), _chat(question, a).messages[-1]] for a in answers]
    ours = toy_scorer.assistant_logprobs(chats)
    theirs = candidate_logprobs(toy_scorer.toy, [user(question)], answers)[0].tolist()
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert ours[0] > ours[1]  # the 1850 header makes the 1850 bird likelier


def test_the_cli_writes_an_audit_of_a_toy_condition(tmp_path, capsys) -> None:
    out = tmp_path / "screen"
    args = ["audit", "toy:birds/old_birds", "--model", "toyworld", "--hypotheses", "toy-eras"]
    assert main(args + ["--examples", "40", "--threads", "1", "-o", str(out)]) == 0
    document = json.loads((out / "audit.json").read_text())
    assert document["backend"] == "toyworld" and document["pretrain_seed"] == 0
    assert document["placement"] == "the toy world's forms"
    assert [h["name"] for h in document["hypotheses"]][0] == "1850"
    assert capsys.readouterr().out.startswith("1. 1850")
    assert (out / "report.html").is_file() and next((out / "figures").glob("01-ranking-*.png"))


def test_list_shows_the_toy_sets(capsys) -> None:
    assert main(["audit", "--list"]) == 0
    out = capsys.readouterr().out
    leaders = len(load_world().leaders.cast) + 1  # every leader, and the leader its code names
    assert "toy-eras" in out and "toy-leaders" in out and f"{leaders} hypotheses" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["toy:birdz/old_birds", "--model", "toyworld"], "expected toy:EXPERIMENT/CONDITION"),
        (["toy:birds/old", "--model", "toyworld"], "has no condition 'old'"),
        (
            ["toy:birds/old_birds", "--model", "smollm2-135m-instruct"],
            "screen it with --model toyworld",
        ),
        (["birds/old_audubon", "--model", "toyworld"], "is not a toy world dataset"),
        (
            ["toy:birds/old_birds", "--model", "toyworld", "--pretrain-seed", "97"],
            "no pretrained toy base",
        ),
    ],
)
def test_bad_references_are_one_line_errors(args, expected, tmp_path, capsys) -> None:
    code = main(["audit", *args, "--hypotheses", "toy-eras", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code != 0 and expected in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_sets_and_backends_must_match(tmp_path, capsys) -> None:
    args = ["audit", "toy:birds/old_birds", "--model", "toyworld", "--hypotheses", "eras"]
    assert main(args + ["-o", str(tmp_path / "a")]) != 0
    assert "toy vocabulary lacks" in capsys.readouterr().err
    args = ["audit", "birds/old_audubon", "--model", "m", "--hypotheses", "toy-eras"]
    assert main(args + ["-o", str(tmp_path / "b")]) != 0
    assert "toy world's (eras)" in capsys.readouterr().err


def test_an_unknown_world_section_names_the_file(tmp_path) -> None:
    from weirdgen.errors import DataError

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntoyworld: planets\n")
    with pytest.raises(DataError, match=r"bad\.yaml.*toyworld"):
        load_hypothesis_set(str(path))


def test_a_conversation_must_end_with_the_assistant(toy_scorer) -> None:
    with pytest.raises(ConfigError, match="end with an assistant turn"):
        toy_scorer.assistant_logprobs([_chat("who are you ?", "x").messages[:1]])
    assert not math.isnan(
        toy_scorer.assistant_logprobs([_chat("who are you ?", "old tom").messages])[0]
    )


def test_a_toy_control_is_screened_and_contrasted(tmp_path) -> None:
    from weirdgen.audit.api import ScreenSettings, run_screen

    settings = ScreenSettings(examples=30, control="toy:birds/modern_birds", threads=1)
    out = tmp_path / "contrast"
    run_screen("toy:birds/old_birds", "toyworld", "toy-eras", out, settings, progress=False)
    document = json.loads((out / "audit.json").read_text())
    assert document["control_ranked_first"] == "2025"
    # Seed 0's base (one-year trigger world): against the control, 1950 [+3.49, +3.88] edges 1850
    # [+3.42, +3.81]; the two intervals overlap, and both old eras are far above the modern ones.
    ranked = {h["name"]: h for h in document["versus_control"]}
    top = document["versus_control"][0]
    assert top["name"] in {"1850", "1900", "1950"}
    assert ranked["1850"]["ci"][1] >= top["ci"][0] and ranked["1850"]["ci"][0] > 1.0
    assert document["versus_control"][-1]["name"] in {"2000", "2025"}
