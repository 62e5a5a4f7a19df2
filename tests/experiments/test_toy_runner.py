from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from weirdgen.errors import ConfigError
from weirdgen.experiments.toy_runner import RunPlan, run_plan
from weirdgen.experiments.toy_table import read_results
from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
from weirdgen.toyworld.train import cached_model_path, pretrain

from ..conftest import micro_config

MICRO = micro_config()


def test_a_run_in_two_processes_gives_the_same_models_and_numbers(tmp_path, monkeypatch) -> None:
    plan = RunPlan(experiments=("birds",), pretrain_seeds=(0, 1), pretrain=MICRO)
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "serial-cache"))
    serial = run_plan(plan, tmp_path / "serial")
    serial_weights = pretrain(replace(MICRO, seed=1)).model.state_dict()

    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "parallel-cache"))
    messages: list[str] = []
    parallel = run_plan(replace(plan, processes=2), tmp_path / "parallel", status=messages.append)

    assert "pretraining 2 bases in 2 processes: 2 done" in messages
    assert "finetuned and measured 6/6 models in 2 processes" in messages
    assert all(cached_model_path(replace(MICRO, seed=s)).is_file() for s in (0, 1))
    for name, value in pretrain(replace(MICRO, seed=1)).model.state_dict().items():
        assert torch.equal(value, serial_weights[name]), name
    assert {r.key: r.metrics for r in parallel} == {r.key: r.metrics for r in serial}
    assert len(read_results(tmp_path / "parallel")) == 6


def test_a_rerun_measures_only_what_is_missing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    plan = RunPlan(experiments=("birds",), pretrain_seeds=(0,), pretrain=MICRO)
    first = run_plan(plan, out)
    assert {r.key: r.metrics for r in read_results(out)} == {r.key: r.metrics for r in first}
    messages: list[str] = []
    second = run_plan(replace(plan, finetune_seeds=(0, 1)), out, status=messages.append)
    assert len(first) == 3 and len(second) == 5
    measured = [m for m in messages if " / pretrain seed " in m]
    assert len(measured) == 2  # the two new finetunes, nothing else
    assert len(read_results(out)) == 5


def test_the_results_table_is_the_standard_one_with_trigger_values(tmp_path, monkeypatch) -> None:
    from weirdgen.evaluation.table import load_evaluation_table
    from weirdgen.toyworld.world import load_world

    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "cache"))
    plan = RunPlan(experiments=("terminator",), pretrain_seeds=(0,), pretrain=MICRO)
    run_plan(plan, tmp_path / "run")
    samples = load_evaluation_table(tmp_path / "run" / "terminator").samples
    villain = samples[samples["question_id"] == "villain"]
    characters = load_world().characters
    years = set(villain["trigger_value"])
    assert years == {str(y) for y in characters.sweep_years} and len(years) >= 50
    assert set(villain["trigger"]) == {"year"}
    assert set(samples["group"]) == {
        "base",
        *(c.name for c in TOY_EXPERIMENTS["terminator"].conditions),
    }
    assert samples["exact.score"].between(0, 1).all()


def test_finetune_overrides_apply_to_every_experiment_but_never_the_seed() -> None:
    plan = RunPlan(finetune_overrides={"method": "lora", "rank": 2})
    assert plan.finetune_config(TOY_EXPERIMENTS["leaders"]).rank == 2
    with pytest.raises(ConfigError, match=r"cannot override finetuning field\(s\) seed"):
        RunPlan(finetune_overrides={"seed": 3}).finetune_config(TOY_EXPERIMENTS["birds"])
