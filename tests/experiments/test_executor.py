"""The run executor: local (one after another) and Ray (one task per group and seed), which must
write the same table as the serial run and resume like it."""

from __future__ import annotations

import importlib.util
import textwrap

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
    columns = ["group", "seed", "model", "question_id", "exact.score"]
    ours = pd.read_parquet(tmp_path / "ray" / "samples.parquet")[columns]
    theirs = pd.read_parquet(tmp_path / "serial" / "samples.parquet")[columns]
    key = ["model", "question_id"]
    pd.testing.assert_frame_equal(
        ours.sort_values(key).reset_index(drop=True),
        theirs.sort_values(key).reset_index(drop=True),
    )
    # A rerun on Ray finds every seed measured: no task, no finetuning.
    lines: list[str] = []
    run_experiment(spec, parallel, tmp_path / "ray", log=lines.append)
    assert not any("finetuning" in line for line in lines)
