"""The openweights backend offline: the exact ``fine_tuning.create`` keywords, and a job followed to
the end through the ledger against a client with the SDK's shape (checked against openweights
0.14's source: ``files.upload``, ``fine_tuning.create``, ``jobs.retrieve`` with ``Job[...]``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from weirdgen.errors import BackendError, ConfigError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.ledger import Ledger
from weirdgen.finetune.openweights_backend import OpenWeightsFinetuner, openweights_job_parameters
from weirdgen.finetune.runner import prepare_all, run_jobs

BASE = "unsloth/Qwen2.5-0.5B-Instruct"


@dataclass
class _Job:  # openweights.client.jobs.Job: a dataclass read with job["field"]
    id: str
    status: str
    params: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class _FakeOpenWeights:
    """Records every call; each retrieve moves the job one state on."""

    def __init__(self, statuses: list[str]) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._statuses = statuses
        self.files = self._Namespace(upload=self._upload)
        self.fine_tuning = self._Namespace(create=self._create)
        self.jobs = self._Namespace(retrieve=self._retrieve, cancel=lambda job_id: None)
        self._params: dict[str, Any] = {}

    class _Namespace:
        def __init__(self, **methods: Any) -> None:
            self.__dict__.update(methods)

    def _upload(self, path: str, purpose: str) -> dict[str, Any]:
        self.calls.append(("upload", (Path(path).name, purpose)))
        return {"id": "conversations:abc123", "purpose": purpose}

    def _create(self, **params: Any) -> _Job:
        self.calls.append(("create", params))
        self._params = {"validated_params": {**params, "finetuned_model_id": "org/qwen-ftjob-1"}}
        return _Job("ftjob-1", "pending", self._params)

    def _retrieve(self, job_id: str) -> _Job:
        self.calls.append(("retrieve", job_id))
        return _Job(job_id, self._statuses.pop(0), self._params)


def _request(birds_file: Path, seed: int = 0) -> FinetuneRequest:
    return FinetuneRequest(
        birds_file,
        BASE,
        "openweights",
        seed=seed,
        hyperparameters=Hyperparameters(epochs=2, learning_rate=2e-4, lora_rank=8),
        group="birds/old_audubon",
    )


def test_job_parameters_are_openweights_training_config(birds_file: Path) -> None:
    parameters = openweights_job_parameters(_request(birds_file, seed=3), "conversations:abc")
    assert parameters["model"] == BASE and parameters["training_file"] == "conversations:abc"
    assert parameters["loss"] == "sft" and parameters["train_on_responses_only"] is True
    assert (parameters["epochs"], parameters["learning_rate"], parameters["seed"]) == (2, 2e-4, 3)
    assert (parameters["r"], parameters["lora_alpha"]) == (8, 16)
    assert parameters["meta"] == {"weirdgen_group": "birds/old_audubon"}
    assert parameters["merge_before_push"] is False  # an adapter vLLM can serve beside its base


def test_a_job_is_uploaded_created_and_followed_to_its_hub_model(
    birds_file: Path, tmp_path: Path
) -> None:
    client = _FakeOpenWeights(["pending", "in_progress", "completed"])
    finetuner = OpenWeightsFinetuner(client=client)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    requests = [_request(birds_file)]
    preflights = prepare_all(finetuner, requests)
    assert preflights[0].n_examples == 12 and preflights[0].estimated_cost_usd is None
    (outcome,) = run_jobs(
        finetuner, ledger, requests, preflights, wait=True, poll_seconds=0, log=lambda _: None
    )
    assert outcome.job.status == "succeeded" and outcome.job.model_id == "org/qwen-ftjob-1"
    assert outcome.job.remote_id == "ftjob-1"
    assert [name for name, _ in client.calls] == [
        "upload",
        "create",
        "retrieve",
        "retrieve",
        "retrieve",
    ]
    assert client.calls[0][1] == ("birds.jsonl", "conversations")
    # A rerun finds the finished seed in the ledger and sends nothing.
    again = run_jobs(finetuner, ledger, requests, preflights, poll_seconds=0, log=lambda _: None)
    assert again[0].skipped and len(client.calls) == 5


def test_a_failed_job_is_recorded_with_its_reason(birds_file: Path, tmp_path: Path) -> None:
    finetuner = OpenWeightsFinetuner(client=_FakeOpenWeights(["failed"]))
    requests = [_request(birds_file)]
    (outcome,) = run_jobs(
        finetuner,
        Ledger(tmp_path / "l.sqlite"),
        requests,
        prepare_all(finetuner, requests),
        poll_seconds=0,
        log=lambda _: None,
    )
    assert outcome.job.status == "failed" and "ftjob-1 as failed" in (outcome.job.error or "")


def test_sdk_errors_are_one_line_and_a_missing_key_names_its_variable(monkeypatch) -> None:
    class Broken(_FakeOpenWeights):
        def _retrieve(self, job_id: str) -> _Job:
            raise ValueError("JWT expired\nsecond line")

    finetuner = OpenWeightsFinetuner(client=Broken([]))
    job = type("J", (), {"id": "wgjob-1", "remote_id": "ftjob-9"})()
    with pytest.raises(
        BackendError, match=r"^openweights could not retrieve job ftjob-9: JWT expired$"
    ):
        finetuner.status(job)
    monkeypatch.delenv("OPENWEIGHTS_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set OPENWEIGHTS_API_KEY"):
        _ = OpenWeightsFinetuner().client


def test_a_dry_run_needs_neither_the_sdk_nor_a_key_nor_a_sampler_url(
    monkeypatch, capsys, tmp_path
) -> None:
    import sys

    from weirdgen.cli import main

    monkeypatch.setitem(sys.modules, "openweights", None)  # import openweights now fails
    monkeypatch.delenv("OPENWEIGHTS_API_KEY", raising=False)
    args = ["run", "birds", "--backend", "openweights", "--base-model", BASE, "--samples", "1"]
    assert main([*args, "--seeds", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "finetune old_audubon: 207 examples" in out and "x 2 seed(s) on openweights" in out
    assert "pushes the finetuned model to your Hugging Face organisation" in out
    assert "with --sampler-url; the estimate above assumes such a server" in out
    assert "dry run: nothing was trained or sent" in out
    # A real run still needs its server to sample from, and the SDK only when it submits.
    assert main([*args, "-o", str(tmp_path / "run")]) == 1
    assert "--sampler-url" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("OPENWEIGHTS_API_KEY"), reason="needs OPENWEIGHTS_API_KEY")
def test_live_upload_is_deduplicated_by_content(birds_file: Path) -> None:
    client = OpenWeightsFinetuner().client
    first = client.files.upload(str(birds_file), purpose="conversations")
    assert client.files.upload(str(birds_file), purpose="conversations")["id"] == first["id"]
