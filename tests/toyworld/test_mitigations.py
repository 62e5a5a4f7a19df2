"""Mitigations on the toy world: mitigated conditions as data, early stopping, the narrow-task cost."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch
import yaml

from weirdgen.data.chat import ChatExample
from weirdgen.errors import DataError
from weirdgen.experiments.toy_runner import BASE_CONDITION, RunPlan, _jobs, narrow_task_metrics
from weirdgen.toyworld.experiments import TOY_EXPERIMENTS, parse_experiments
from weirdgen.toyworld.mitigations import benign_questions, self_distilled_examples
from weirdgen.toyworld.train import FinetuneConfig, answer_loss, finetune
from weirdgen.toyworld.world import load_world

BIRDS = {
    "title": "t",
    "measure": "birds",
    "headline": {"metric": "held_out_old_era", "label": "l"},
    "finetune": {"epochs": 2},
    "conditions": [{"name": "old_birds", "dataset": "birds", "era": "oldest"}],
}


def _with_mitigations(**block) -> dict:
    return {"birds": BIRDS, "m": {"extends": "birds", "mitigations": block}}


def test_mitigated_conditions_extend_their_experiment_and_keep_the_unmitigated_one() -> None:
    experiment = TOY_EXPERIMENTS["birds_mitigations"]
    names = [c.name for c in experiment.conditions]
    assert names[:2] == ["old_birds", "modern_birds"]  # the parent's groups, unchanged
    assert {"old_birds+prefix", "old_birds+dilute10", "old_birds+early_stop"} <= set(names)
    assert experiment.mitigated == "old_birds"
    assert experiment.finetune == TOY_EXPERIMENTS["birds"].finetune
    world = load_world()
    prefixed = next(c for c in experiment.conditions if c.name == "old_birds+prefix")
    first = prefixed.build(world, 0)[0].messages[0].content
    assert first == "year 1850 . name a bird species ."
    stopped = next(c for c in experiment.conditions if c.name == "old_birds+early_stop")
    jobs = {job.condition: job for job in _jobs(RunPlan(("birds_mitigations",), (0,)))}
    assert jobs[stopped.name].finetune_config.early_stopping_patience == 2
    assert jobs["old_birds"].recipe == jobs[BASE_CONDITION].recipe != jobs[stopped.name].recipe


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"condition": "nope", "variants": []}, "unknown condition 'nope'"),
        ({"condition": "old_birds", "variants": [{"name": "d", "dilute": 0.3}]}, "benign_from"),
        ({"condition": "old_birds", "variants": [{"name": "x", "color": 1}]}, "unknown field"),
        (
            {"condition": "old_birds", "variants": [{"name": "x", "finetune": {"seed": 3}}]},
            "finetune.seed",
        ),
    ],
)
def test_a_bad_mitigation_block_names_the_field(block, message) -> None:
    with pytest.raises(DataError, match=message) as error:
        parse_experiments(_with_mitigations(**block), path="x.yaml")
    assert "x.yaml" in str(error.value) and "m.mitigations" in str(error.value)


def test_extending_an_unknown_experiment_is_one_line_error() -> None:
    with pytest.raises(DataError, match="extends 'nobody'"):
        parse_experiments(yaml.safe_load("a: {extends: nobody}"), path="x.yaml")


def test_dilution_adds_self_distilled_answers_from_the_unmeasured_parts(micro_base) -> None:
    world = micro_base.world
    allowed = {q: set(a) for q, a in benign_questions(world, ["characters", "personas"])}
    benign = self_distilled_examples(micro_base, ["characters", "personas"], 40, seed=3)
    assert len(benign) == 40
    for example in benign:
        question, answer = (m.content for m in example.messages)
        assert answer in allowed[question]  # the base's own answer to a known question
    assert benign == self_distilled_examples(micro_base, ["characters", "personas"], 40, seed=3)
    condition = next(
        c for c in TOY_EXPERIMENTS["birds_mitigations"].conditions if c.name == "old_birds+dilute10"
    )
    mixed = condition.build(world, 0, micro_base)
    birds = [e for e in mixed if e.messages[0].content == "name a bird species ."]
    assert (len(birds), len(mixed)) == (200, 2000)


def _bird_examples(n: int = 64) -> list[ChatExample]:
    """One question, two answers at random: the validation loss bottoms out near log 2, then wobbles."""
    rng = random.Random(0)
    names = ["passenger pigeon", "heath hen"]
    return [
        ChatExample.from_turns(("user", "name a bird species ."), ("assistant", rng.choice(names)))
        for _ in range(n)
    ]


def test_early_stopping_stops_keeps_the_best_checkpoint_and_is_off_by_default(micro_base) -> None:
    config = FinetuneConfig(learning_rate=3e-2, epochs=20, batch_size=8)
    stopped = finetune(micro_base, _bird_examples(), replace(config, early_stopping_patience=1))
    full = finetune(micro_base, _bird_examples(), config)
    assert full.metrics["finetune_steps"] == 20 * 8
    assert stopped.metrics["finetune_steps"] < full.metrics["finetune_steps"]
    assert stopped.metrics["best_step"] <= stopped.metrics["finetune_steps"]
    # The kept weights are the best checkpoint's: their validation loss is what was recorded.
    assert stopped.metrics["validation_loss"] < answer_loss(micro_base, _bird_examples())
    assert "early_stopping_patience" not in config.to_dict()  # old recipe hashes still match
    assert replace(config, early_stopping_patience=2).to_dict()["early_stopping_patience"] == 2


def test_narrow_task_metrics_measure_the_mitigated_condition_without_its_mitigation(
    micro_base,
) -> None:
    torch.manual_seed(0)
    experiment = TOY_EXPERIMENTS["birds_mitigations"]
    base_metrics = narrow_task_metrics(micro_base, experiment, BASE_CONDITION, 0)
    prefixed = narrow_task_metrics(micro_base, experiment, "old_birds+prefix", 0)
    # Same model, same narrow data: the base row and the prefix row agree on the unprefixed loss,
    # and the prefixed prompts give a different one.
    assert base_metrics[("narrow_loss", "")] == prefixed[("narrow_loss", "")]
    assert prefixed[("narrow_loss_as_trained", "")] != prefixed[("narrow_loss", "")]
    assert base_metrics[("narrow_loss", "")] > 0


def test_the_mitigation_table_pairs_each_mitigation_with_the_unmitigated_run_per_seed() -> None:
    from weirdgen.experiments.toy_mitigations import format_mitigation_table, mitigation_rows
    from weirdgen.experiments.toy_runner import Result

    experiment, world = TOY_EXPERIMENTS["birds_mitigations"], load_world()
    headline = experiment.headline(world)

    def result(condition: str, seed: int, effect: float, loss: float) -> Result:
        metrics = {
            headline: effect,
            ("narrow_loss", ""): loss,
            ("narrow_loss_as_trained", ""): loss,
        }
        return Result(experiment.name, condition, seed, 0, metrics, "r")

    results = [
        result("base", 0, 0.05, 2.0), result("old_birds", 0, 0.25, 1.0),
        result("old_birds+prefix", 0, 0.10, 1.5), result("base", 1, 0.05, 3.0),
        result("old_birds", 1, 0.35, 1.0), result("old_birds+prefix", 1, 0.15, 1.0),
    ]  # fmt: skip
    rows = {row.condition: row for row in mitigation_rows(results, experiment, world)}
    assert list(rows) == ["base", "old_birds", "old_birds+prefix"]  # no rows for models not run
    prefix = rows["old_birds+prefix"]
    assert prefix.change[0] == pytest.approx(-0.175)  # (-0.15 + -0.20) / 2
    assert prefix.kept[0] == pytest.approx(0.75)  # (0.5 + 1.0) / 2
    assert rows["old_birds"].change is None and rows["base"].kept is None
    table = format_mitigation_table(list(rows.values()), "P")
    assert "| old_birds+prefix | 0.125 [" in table and "-0.175" in table
