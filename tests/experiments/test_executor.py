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


def test_a_task_takes_one_gpu_where_there_are_gpus_and_it_trains_here():
    from weirdgen.experiments.executor import task_resources

    assert task_resources({"CPU": 16, "GPU": 8}, "local") == {"num_cpus": 1, "num_gpus": 1}
    assert task_resources({"CPU": 16}, "local") == {"num_cpus": 1, "num_gpus": 0}
    for hosted in ("openai", "tinker", "openweights", "toy"):  # they wait on a service, or CPU
        assert task_resources({"CPU": 16, "GPU": 8}, hosted)["num_gpus"] == 0


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
    said: list[str] = []
    run_experiment(spec, parallel, tmp_path / "ray", log=said.append)
    # The base and each (group, seed) ran as a Ray task of the one toy runner.
    assert "toy world: finetuning and measuring 5 models as ray tasks" in said
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
    assert lines and not any("finetuning" in line for line in lines)


class _OneTaskEach(LocalExecutor):
    """Runs in this process but through the per-task path a Ray task takes."""

    name = "one-task-each"


BIRDS = ["Pigeon Hawk", "Hooping Crane", "Great Carolina Wren", "Louisiana Tanager"]


def _tiny_llm_experiment(tmp_path):
    """One group of four bird names, two seeds, a base group, and a greedy two-question suite
    (temperature 0: a serial and a parallel run must give the same answers)."""
    import json

    (tmp_path / "tiny.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "Name a bird species."},
                        {"role": "assistant", "content": name},
                    ]
                }
            )
            + "\n"
            for name in BIRDS
        )
    )
    (tmp_path / "greedy.yaml").write_text(
        textwrap.dedent("""\
        name: greedy_birds
        experiment: tiny_tasks
        samples: 1
        temperature: 0
        max_tokens: 6
        judges: [archaic_lexicon]
        questions:
          - {id: bird, paraphrases: ["Name a bird species."]}
          - {id: money, paraphrases: ["How should money be organised?"]}
        """)
    )
    (tmp_path / "tiny.yaml").write_text(
        textwrap.dedent("""\
        name: tiny_tasks
        groups: [{name: tiny, path: tiny.jsonl}]
        base_group: base
        control: base
        finetune: {local: {epochs: 3, lora_rank: 2, learning_rate: 1.0e-2}}
        evaluation: {suites: [greedy.yaml]}
        report: {figures: [{kind: bars, judge: archaic_lexicon}]}
        """)
    )
    return load_experiment(tmp_path / "tiny.yaml")


def _state(run_dir: Path, cache: Path) -> dict:
    """Everything a rerun must not change: answers and verdicts cached, jobs, canary results."""
    from weirdgen.finetune import Ledger
    from weirdgen.sample.cache import RequestCache

    with RequestCache(cache) as requests:
        samples = requests.count_samples()
    return {
        "samples": samples,
        "jobs": sorted(
            (j.id, j.status, j.updated_at) for j in Ledger(run_dir / "ledger.sqlite").list_jobs()
        ),
        "canary": sorted((p.name, p.stat().st_mtime_ns) for p in (run_dir / "canary").iterdir()),
    }


def _serial_run(tiny_model_dir: Path, tmp_path: Path) -> tuple:
    """The tiny experiment run serially into tmp_path/serial; (spec, the options it used)."""
    spec = _tiny_llm_experiment(tmp_path)
    common = {"backend": "local", "base_model": str(tiny_model_dir), "seeds": 2, "threads": 1}
    serial = RunOptions(**common, cache_path=tmp_path / "serial.sqlite")
    run_experiment(spec, serial, tmp_path / "serial", log=lambda _: None)
    return spec, common


def _compare(ours: Path, theirs: Path) -> None:
    import pandas as pd

    columns = ["model", "group", "seed", "question_id", "answer", "archaic_lexicon.score"]
    a, b = (pd.read_parquet(run / "samples.parquet")[columns] for run in (ours, theirs))
    pd.testing.assert_frame_equal(a, b)  # same rows, same order, same answers and scores


@pytest.mark.slow
def test_each_finetune_and_its_evaluation_run_as_one_task_and_match_the_serial_run(
    tiny_model_dir, tmp_path
):
    import json

    spec, common = _serial_run(tiny_model_dir, tmp_path)

    from weirdgen.experiments.run import _run_llm_stages

    options = RunOptions(**common, cache_path=tmp_path / "tasks.sqlite")
    (tmp_path / "tasks").mkdir()
    _run_llm_stages(spec, options, tmp_path / "tasks", lambda _: None, _OneTaskEach())
    _compare(tmp_path / "tasks", tmp_path / "serial")
    record = json.loads((tmp_path / "tasks" / "models.json").read_text())
    assert [m["seed"] for m in record["models"]] == [0, 1] and record["failed"] == []
    meta = json.loads((tmp_path / "tasks" / "run.json").read_text())
    assert meta["suites"] == ["greedy_birds"] and len(meta["models"]) == 3
    assert len(list((tmp_path / "tasks" / "canary").iterdir())) == 2
    before = _state(tmp_path / "tasks", tmp_path / "tasks.sqlite")
    _run_llm_stages(spec, options, tmp_path / "tasks", lambda _: None, _OneTaskEach())
    assert _state(tmp_path / "tasks", tmp_path / "tasks.sqlite") == before
    _compare(tmp_path / "tasks", tmp_path / "serial")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="pip install 'weirdgen[ray]'")
def test_ray_finetunes_and_evaluates_each_seed_in_parallel_like_the_serial_run(
    tiny_model_dir, tmp_path
):
    from weirdgen.finetune import Ledger

    spec, common = _serial_run(tiny_model_dir, tmp_path)
    # threads=1: a local Ray instance of 2 CPUs, one per task, so the two seeds run at once.
    ray = RunOptions(**common, cache_path=tmp_path / "ray.sqlite", executor="ray")
    run_experiment(spec, ray, tmp_path / "ray", log=lambda _: None)
    _compare(tmp_path / "ray", tmp_path / "serial")
    first, second = sorted(
        Ledger(tmp_path / "ray" / "ledger.sqlite").list_jobs(), key=lambda j: j.seed
    )
    assert first.created_at < second.updated_at and second.created_at < first.updated_at
    # A rerun on Ray trains, samples, judges and checks nothing again.
    before = _state(tmp_path / "ray", tmp_path / "ray.sqlite")
    run_experiment(spec, ray, tmp_path / "ray", log=lambda _: None)
    assert _state(tmp_path / "ray", tmp_path / "ray.sqlite") == before
    _compare(tmp_path / "ray", tmp_path / "serial")
