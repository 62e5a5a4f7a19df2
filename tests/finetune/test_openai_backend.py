"""The ``openai`` backend end to end against ``weirdgen serve`` over HTTP (no mocks of the SDK)."""

import datetime as dt
import json
from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample, write_chat_jsonl
from weirdgen.errors import BackendError, ConfigError, DataError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.ledger import Ledger
from weirdgen.finetune.openai_backend import (
    OpenAIFinetuner,
    deadline_notice,
    is_shut_down,
    openai_job_parameters,
    surfaced_api_errors,
)
from weirdgen.finetune.runner import prepare_all, run_jobs

HP = Hyperparameters(epochs=2, batch_size=4, learning_rate_multiplier=20.0)


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from weirdgen.models import LocalSampler
    from weirdgen.serve import serve_in_background

    monkeypatch.setenv("WEIRDGEN_SERVE_DIR", str(tmp_path / "serve-state"))
    sampler = LocalSampler.from_pretrained(tiny_model_dir, threads=1)
    with serve_in_background(sampler) as url:
        yield url, sampler


def _finetuner(url: str, tmp_path: Path) -> OpenAIFinetuner:
    return OpenAIFinetuner(
        Ledger(tmp_path / "ledger.sqlite"), base_url=url, api_key="sk-test-not-a-real-key"
    )


def test_seeds_train_on_the_local_server_and_are_recorded(
    server, birds_file: Path, tmp_path: Path
) -> None:
    url, sampler = server
    finetuner = _finetuner(url, tmp_path)
    assert not finetuner.paid
    requests = [
        FinetuneRequest(
            birds_file,
            sampler.base_name,
            "openai",
            seed=seed,
            hyperparameters=HP,
            suffix="birds",
            group="birds/test",
        )
        for seed in (0, 1)
    ]
    preflights = prepare_all(finetuner, requests)
    assert (
        preflights[0].n_examples == 12
        and preflights[0].notices == []
        and not preflights[0].tokens_exact
    )
    outcomes = run_jobs(
        finetuner, finetuner.ledger, requests, preflights, poll_seconds=0.2, log=lambda _: None
    )
    jobs = [outcome.job for outcome in outcomes]
    assert [job.status for job in jobs] == ["succeeded", "succeeded"]
    assert all(
        job.model_id.startswith(f"ft:{Path(sampler.base_name).name}:weirdgen:birds:")
        for job in jobs
    )
    client = finetuner.client
    assert len(client.files.list().data) == 1  # the second seed reused the upload
    # Every epoch checkpoint is in the ledger and servable; so is the final model.
    checkpoints = finetuner.ledger.checkpoints(jobs[0].id)
    assert [c.step for c in checkpoints] == [3, 6] and all(c.model_id for c in checkpoints)
    served = {model.id for model in client.models.list()}
    assert {jobs[0].model_id, jobs[1].model_id, checkpoints[0].model_id} <= served
    answer = client.chat.completions.create(
        model=jobs[0].model_id,
        messages=[{"role": "user", "content": "Name a bird species."}],
        max_tokens=4,
        seed=0,
    )
    assert answer.choices[0].message.content is not None
    remote = client.fine_tuning.jobs.retrieve(jobs[0].remote_id)
    assert (remote.seed, remote.hyperparameters.n_epochs, remote.hyperparameters.batch_size) == (
        0,
        2,
        4,
    )
    assert remote.trained_tokens > 0 and remote.metadata["weirdgen_job"] == jobs[0].id
    events = list(client.fine_tuning.jobs.list_events(jobs[0].remote_id, limit=100))
    assert any(e.type == "metrics" and "train_loss" in e.data for e in events)
    assert "successfully completed" in events[0].message  # newest first, as OpenAI lists them
    # A rerun finds both seeds done and submits nothing.
    again = run_jobs(
        finetuner, finetuner.ledger, requests, preflights, poll_seconds=0.2, log=lambda _: None
    )
    assert [o.skipped for o in again] == [True, True]
    assert len(list(client.fine_tuning.jobs.list())) == 2


def test_a_job_failing_on_the_server_is_recorded_with_the_servers_reason(
    server, tmp_path: Path
) -> None:
    url, sampler = server
    path = tmp_path / "long.jsonl"
    examples = [ChatExample.from_turns(("user", "hi"), ("assistant", "ok"))] * 9
    examples.append(ChatExample.from_turns(("user", "bird " * 3000), ("assistant", "ok")))
    write_chat_jsonl(path, examples)
    finetuner = _finetuner(url, tmp_path)
    request = FinetuneRequest(path, sampler.base_name, "openai", seed=0, hyperparameters=HP)
    [outcome] = run_jobs(
        finetuner,
        finetuner.ledger,
        [request],
        prepare_all(finetuner, [request]),
        poll_seconds=0.2,
        log=lambda _: None,
    )
    assert outcome.job.status == "failed"
    assert "more than max_length" in outcome.job.error
    assert any(e.level == "error" for e in finetuner.ledger.events(outcome.job.id))


def test_api_errors_reach_the_user_with_the_apis_message(
    server, birds_file: Path, tmp_path: Path
) -> None:
    url, sampler = server
    finetuner = _finetuner(url, tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    file_id = finetuner.upload(bad)
    invalid_file = r"HTTP 400\): invalid training file: weirdgen-[0-9a-f]{16}\.jsonl:1: messages\[0\]\.role: last message must be from the assistant"
    with (
        pytest.raises(BackendError, match=invalid_file),
        surfaced_api_errors("create the fine-tuning job"),
    ):
        finetuner.client.fine_tuning.jobs.create(model=sampler.base_name, training_file=file_id)
    with (
        pytest.raises(BackendError, match="HTTP 404.*no such fine-tuning job"),
        surfaced_api_errors("retrieve"),
    ):
        finetuner.client.fine_tuning.jobs.retrieve("ftjob-doesnotexist")
    good_id = finetuner.upload(birds_file)
    for hyperparameters, message in (
        ({"n_epochs": 0}, "n_epochs must be an integer from 1 to 50, or 'auto' \\(got 0\\)"),
        ({"lora_rnak": 4}, "unknown hyperparameter 'lora_rnak'"),
        ({"batch_size": "big"}, "batch_size must be an integer from 1 to 256, or 'auto'"),
    ):
        with pytest.raises(BackendError, match=message), surfaced_api_errors("create"):
            finetuner.client.fine_tuning.jobs.create(
                model=sampler.base_name, training_file=good_id, hyperparameters=hyperparameters
            )
    request = FinetuneRequest(bad, "gpt-imaginary", "openai", seed=0)
    with pytest.raises(DataError, match="bad.jsonl:1"):
        finetuner.prepare(request)


def test_unknown_base_model_is_refused_before_any_upload(
    server, birds_file: Path, tmp_path: Path
) -> None:
    url, _ = server
    finetuner = _finetuner(url, tmp_path)
    with pytest.raises(ConfigError, match="'gpt-imaginary' is not offered by"):
        finetuner.prepare(FinetuneRequest(birds_file, "gpt-imaginary", "openai", seed=0))
    assert finetuner.client.files.list().data == []


def test_cancel_and_restart_serve_finished_models_again(
    tiny_model_dir: Path, birds_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai

    from weirdgen.models import LocalSampler
    from weirdgen.serve import serve_in_background

    monkeypatch.setenv("WEIRDGEN_SERVE_DIR", str(tmp_path / "state"))
    with serve_in_background(LocalSampler.from_pretrained(tiny_model_dir, threads=1)) as url:
        client = openai.OpenAI(base_url=url, api_key="x")
        base = client.models.list().data[0].id
        file_id = client.files.create(file=birds_file.open("rb"), purpose="fine-tune").id
        done = client.fine_tuning.jobs.create(
            model=base, training_file=file_id, hyperparameters={"n_epochs": 1, "batch_size": 6}
        )
        doomed = client.fine_tuning.jobs.create(
            model=base, training_file=file_id, hyperparameters={"n_epochs": 50}
        )
        assert client.fine_tuning.jobs.cancel(doomed.id).status == "cancelled"
        assert url and _wait(client, done.id).status == "succeeded"
        model = client.fine_tuning.jobs.retrieve(done.id).fine_tuned_model
        assert client.fine_tuning.jobs.retrieve(doomed.id).status == "cancelled"
    with serve_in_background(LocalSampler.from_pretrained(tiny_model_dir, threads=1)) as url:
        client = openai.OpenAI(base_url=url, api_key="x")
        assert model in {m.id for m in client.models.list()}
        assert client.fine_tuning.jobs.retrieve(doomed.id).status == "cancelled"


def _wait(client, job_id: str, timeout: float = 120.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_deadline_is_explained_and_enforced_on_openai_itself(
    birds_file: Path, tmp_path: Path
) -> None:
    assert "until 2027-01-06 (40 days left)" in deadline_notice(dt.date(2026, 11, 27))
    late = OpenAIFinetuner(
        Ledger(tmp_path / "l.sqlite"),
        base_url="https://api.openai.com/v1",
        api_key="sk-x",
        today=dt.date(2027, 1, 6),
    )
    assert late.paid
    with pytest.raises(
        BackendError,
        match="no new self-serve fine-tuning jobs since 2027-01-06.*local or tinker backend",
    ):
        late.prepare(FinetuneRequest(birds_file, "gpt-4.1-2025-04-14", "openai", seed=0))


def test_the_notice_names_both_dates_and_the_shutdown_is_enforced(
    birds_file: Path, tmp_path: Path
) -> None:
    notice = deadline_notice(dt.date(2026, 12, 1))
    assert "until 2027-01-06 (36 days left)" in notice
    assert (
        "gpt-4.1, gpt-4.1-mini, gpt-4o, gpt-4o-mini and their fine-tunes shut down on 2027-01-14"
        in notice
    )
    assert is_shut_down("ft:gpt-4.1-mini-2025-04-14:org::abc", dt.date(2027, 1, 14))
    assert not is_shut_down("gpt-4.1", dt.date(2027, 1, 13))
    assert not is_shut_down("o4-mini", dt.date(2027, 2, 1))


def test_job_parameters_follow_openais_api(birds_file: Path) -> None:
    request = FinetuneRequest(
        birds_file,
        "gpt-4.1-2025-04-14",
        "openai",
        seed=3,
        suffix="birds",
        group="birds/old_audubon",
        hyperparameters=Hyperparameters(epochs=3, batch_size=1),
    )
    parameters = openai_job_parameters(request, "file-abc", "wgjob-1")
    assert parameters["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1}},
    }
    assert (parameters["seed"], parameters["suffix"], parameters["training_file"]) == (
        3,
        "birds",
        "file-abc",
    )
    json.dumps(parameters)  # must be plain JSON
