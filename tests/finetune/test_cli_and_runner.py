"""``weirdgen finetune`` and ``weirdgen models`` on the tiny model, and the runner's ledger bookkeeping."""

import json
from pathlib import Path

import pytest

from weirdgen.cli import main
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.ledger import Ledger
from weirdgen.finetune.local_backend import LocalFinetuner
from weirdgen.finetune.runner import prepare_all, run_jobs


def _finetune_args(dataset: Path, model: Path, runs: Path, *extra: str) -> list[str]:
    return [
        "finetune",
        str(dataset),
        "--base-model",
        str(model),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--learning-rate",
        "1e-3",
        "--lora-rank",
        "2",
        "--runs-dir",
        str(runs),
        *extra,
    ]


def _jobs(capsys: pytest.CaptureFixture, *args: str) -> list[dict]:
    capsys.readouterr()
    assert main(["models", "list", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_finetune_seeds_then_rerun_skips_them(
    birds_file: Path, tiny_model_dir: Path, tmp_path: Path, ledger_path: Path, capsys, monkeypatch
) -> None:
    args = _finetune_args(
        birds_file,
        tiny_model_dir,
        tmp_path / "runs",
        "--seeds",
        "0,1",
        "--group",
        "birds/old_audubon",
        "--tag",
        "who=test",
    )
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "12 examples" in out and "estimated cost: $0.00" in out and out.count("succeeded") == 2
    jobs = _jobs(capsys, "--group", "birds")
    assert [(j["seed"], j["status"], j["tags"]) for j in jobs] == [
        (0, "succeeded", {"who": "test"}),
        (1, "succeeded", {"who": "test"}),
    ]
    assert all(Path(j["adapter_path"], "adapter_model.safetensors").is_file() for j in jobs)
    assert main(args) == 0
    assert capsys.readouterr().out.count("already done") == 2
    assert len(_jobs(capsys)) == 2
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "250")  # rich sizes tables to the terminal; pytest has none
    assert main(["models", "list", "--group", "birds/old_audubon"]) == 0
    table = capsys.readouterr().out
    assert table.count("succeeded") == 2 and "birds/old_audubon" in table
    assert main(["models", "show", jobs[0]["id"]]) == 0
    shown = capsys.readouterr().out
    assert "status: succeeded" in shown and "checkpoints: 1" in shown and "step 3:" in shown


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--learning-rate", "-0.1"], "error: --learning-rate: must be > 0, got -0.1"),
        (["--lora-rank", "0"], "error: --lora-rank: must be > 0, got 0"),
        (["--seeds", "0,x"], "error: --seeds: expected comma-separated integers"),
    ],
)
def test_bad_options_are_one_line_errors_before_any_work(
    birds_file: Path,
    tiny_model_dir: Path,
    tmp_path: Path,
    ledger_path: Path,
    capsys,
    extra,
    message,
) -> None:
    assert main(_finetune_args(birds_file, tiny_model_dir, tmp_path / "runs", *extra)) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_bad_dataset_model_and_job_id_are_one_line_errors(
    tmp_path: Path, tiny_model_dir: Path, birds_file: Path, ledger_path: Path, capsys
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    cases = [
        (
            _finetune_args(bad, tiny_model_dir, tmp_path / "runs"),
            f"error: {bad}:1: messages[0].role: last message must be from the assistant",
        ),
        (
            _finetune_args(birds_file, Path("no-such-model"), tmp_path / "runs"),
            "error: model 'no-such-model' is not a local folder",
        ),
        (["models", "show", "wgjob-nope"], "error: unknown job id 'wgjob-nope'"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
    assert _jobs(capsys) == []


def test_a_failing_job_is_recorded_with_its_reason(
    birds_file: Path, tiny_model_dir: Path, tmp_path: Path, ledger_path: Path, capsys
) -> None:
    assert (
        main(
            _finetune_args(
                birds_file, tiny_model_dir, tmp_path / "runs", "--target-modules", "c_attn"
            )
        )
        == 1
    )
    assert "1 of 1 jobs failed" in capsys.readouterr().err
    [job] = _jobs(capsys, "--status", "failed")
    assert "none of c_attn is in this model" in job["error"]


class _InterruptedLocal(LocalFinetuner):
    """The local backend, with Ctrl-C pressed during step 3 of the run."""

    def submit(self, request, job, on_step=None):
        def press_ctrl_c(info):
            if info.step == 3:
                raise KeyboardInterrupt

        return super().submit(request, job, on_step=press_ctrl_c)


def test_ctrl_c_marks_the_job_interrupted_and_a_rerun_resumes(
    birds_file: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    hp = Hyperparameters(
        epochs=2, batch_size=6, lora_rank=2
    ).with_local_defaults()  # 2 steps an epoch
    request = FinetuneRequest(
        birds_file, str(tiny_model_dir), "local", seed=0, hyperparameters=hp, group="g"
    )
    interrupted = _InterruptedLocal(tmp_path / "runs", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_jobs(
            interrupted, ledger, [request], prepare_all(interrupted, [request]), log=lambda _: None
        )
    [job] = ledger.list_jobs()
    assert job.status == "interrupted" and [c.step for c in ledger.checkpoints(job.id)] == [2]
    plain = LocalFinetuner(tmp_path / "runs", show_progress=False)
    [outcome] = run_jobs(
        plain, ledger, [request], prepare_all(plain, [request]), log=lambda _: None
    )
    assert outcome.job.id == job.id and outcome.job.status == "succeeded"
    assert [c.step for c in ledger.checkpoints(job.id)] == [2, 4]
    assert json.loads((Path(outcome.job.remote_id) / "result.json").read_text())["total_steps"] == 4
