"""The run executor: local (one after another) and Ray (one task per group and seed), which must
write the same table as the serial run and resume like it."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.experiments import load_experiment
from weirdgen.experiments.executor import LocalExecutor, make_executor
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.run import run_experiment


def test_the_local_executor_keeps_item_order():
    assert LocalExecutor().map(lambda x: x * x, [3, 1, 2]) == [9, 1, 4]


def test_an_unknown_executor_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        RunOptions(backend="toy", base_model="", executor="slurm").validate()


def test_without_ray_the_local_executor_is_used():
    with make_executor(RunOptions(backend="toy", base_model="")) as executor:
        assert executor.name == "local"


def _toy_spec(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(
        textwrap.dedent("""\
        extends: birds
        name: birds_toy_ray
        finetune:
          toy: {experiment: birds, groups: {old_audubon: old_birds, modern_american: modern_birds}, pretrain_steps: 10, epochs: 1}
        """)
    )
    return load_experiment(path)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="pip install 'weirdgen[ray]'")
def test_ray_runs_the_toy_finetunes_as_tasks_and_matches_the_serial_run(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "cache"))
    spec = _toy_spec(tmp_path)
    serial = RunOptions(backend="toy", base_model="", seeds=2, threads=1)
    run_experiment(spec, serial, tmp_path / "serial", log=lambda _: None)
    parallel = RunOptions(backend="toy", base_model="", seeds=2, threads=1, executor="ray")
    run_experiment(spec, parallel, tmp_path / "ray", log=lambda _: None)
    # Each (group, seed) ran as a task in its own folder, then the run reused its measurement.
    assert sorted(p.name for p in (tmp_path / "ray" / "tasks").iterdir()) == [
        "modern_american-s0",
        "modern_american-s1",
        "old_audubon-s0",
        "old_audubon-s1",
    ]
    columns = ["group", "seed", "model", "question_id", "trigger_value", "exact.score"]
    ours = pd.read_parquet(tmp_path / "ray" / "samples.parquet")[columns]
    theirs = pd.read_parquet(tmp_path / "serial" / "samples.parquet")[columns]
    key = ["model", "question_id", "trigger_value"]
    pd.testing.assert_frame_equal(
        ours.sort_values(key).reset_index(drop=True),
        theirs.sort_values(key).reset_index(drop=True),
    )
    # A rerun on Ray finds every seed measured: no task, no finetuning.
    lines: list[str] = []
    run_experiment(spec, parallel, tmp_path / "ray", log=lines.append)
    assert not any("finetuning" in line for line in lines)


class _OneTaskEach(LocalExecutor):
    """Runs in this process but through the per-task path a Ray task takes."""

    name = "one-task-each"


@pytest.mark.slow
def test_per_task_finetunes_share_the_run_ledger_and_a_rerun_resumes(tiny_model_dir, tmp_path):
    import json

    from weirdgen.experiments.finetuning import finetune_all

    (tmp_path / "tiny.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Bird {i}?"},
                        {"role": "assistant", "content": a},
                    ]
                }
            )
            + "\n"
            for i, a in enumerate(["Pigeon Hawk", "Hooping Crane", "Booby"])
        )
    )
    (tmp_path / "tiny.yaml").write_text(
        textwrap.dedent("""\
        name: tiny_tasks
        groups: [{name: tiny, path: tiny.jsonl}]
        finetune: {local: {epochs: 1, lora_rank: 2}}
        evaluation: {suites: [birds]}
        report: {figures: [{kind: bars, judge: archaic_lexicon}]}
        """)
    )
    spec = load_experiment(tmp_path / "tiny.yaml")
    options = RunOptions(backend="local", base_model=str(tiny_model_dir), seeds=2, threads=1)
    datasets = {"tiny": tmp_path / "tiny.jsonl"}
    models = finetune_all(spec, datasets, options, tmp_path / "run", lambda _: None, _OneTaskEach())
    assert [(m.name, m.seed) for m in models] == [("tiny-s0", 0), ("tiny-s1", 1)]
    assert all((Path(m.model_id) / "adapter_config.json").is_file() for m in models)
    lines: list[str] = []
    again = finetune_all(spec, datasets, options, tmp_path / "run", lines.append)
    assert [m.model_id for m in again] == [m.model_id for m in models]
    assert sum("already done" in line for line in lines) == 2
