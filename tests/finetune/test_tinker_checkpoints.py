"""Tinker checkpoints expire unless they are the model, and `weirdgen models prune` deletes a run's
stored checkpoints, offline against a service shaped like the Tinker SDK's."""

from __future__ import annotations

import types as pytypes
from pathlib import Path

import pytest

from weirdgen.cli import main
from weirdgen.errors import ConfigError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.ledger import Checkpoint, Ledger

tinker = pytest.importorskip("tinker")
DAY_S = 24 * 3600


class Done:
    """What the SDK's calls return: a future whose ``result()`` is ready."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class TrainingClient:
    def __init__(self, service, tokenizer):
        self.service, self.tokenizer = service, tokenizer

    def get_tokenizer(self):
        return self.tokenizer

    def forward_backward(self, data, loss_fn):
        import numpy as np

        outputs = [
            {
                "logprobs": tinker.types.TensorData.from_numpy(
                    np.full(len(d.loss_fn_inputs["weights"].tolist()), -1.0, dtype=np.float32)
                )
            }
            for d in data
        ]
        return Done(
            tinker.types.ForwardBackwardOutput(
                loss_fn_output_type="ArrayRecord", loss_fn_outputs=outputs
            )
        )

    def optim_step(self, params):
        return Done(None)

    def save_state(self, name, ttl_seconds=None):
        return self.service.saved("weights", name, ttl_seconds)

    def save_weights_for_sampler(self, name, ttl_seconds=None):
        return self.service.saved("sampler_weights", name, ttl_seconds)


class RestClient:
    def __init__(self, service):
        self.service = service

    def delete_checkpoint_from_tinker_path(self, path):
        import httpx

        if path in self.service.expired:
            response = httpx.Response(404, request=httpx.Request("DELETE", "https://tinker.test"))
            raise tinker.NotFoundError("not found", response=response, body=None)
        self.service.deleted.append(path)
        return Done(None)


class Service:
    """The part of ``tinker.ServiceClient`` weirdgen uses, keeping what was saved and deleted."""

    tokenizer = None

    def __init__(self):
        self.saves: list[tuple[str, int | None]] = []
        self.deleted: list[str] = []
        self.expired: set[str] = set()

    def saved(self, kind, name, ttl_seconds):
        path = f"tinker://run-1/{kind}/{name}"
        self.saves.append((path, ttl_seconds))
        return Done(pytypes.SimpleNamespace(path=path))

    def create_lora_training_client(self, base_model, rank, seed):
        return Done(TrainingClient(self, self.tokenizer))

    def create_training_client_from_state_with_optimizer(self, path):
        return Done(TrainingClient(self, self.tokenizer))

    def create_rest_client(self):
        return RestClient(self)


@pytest.fixture
def service(tiny_model_dir):
    from transformers import AutoTokenizer

    Service.tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return Service()


def _train(service, birds_file: Path, tmp_path: Path, **options):
    from weirdgen.finetune.tinker_backend import TinkerFinetuner

    ledger = Ledger(tmp_path / "ledger.sqlite")
    job = ledger.create_job(
        backend="tinker",
        base_model="Qwen/Qwen3-4B",
        dataset_path=str(birds_file),
        dataset_sha256="0" * 64,
        status="running",
    )
    finetuner = TinkerFinetuner(tmp_path / "runs", service_client=service, **options)
    request = FinetuneRequest(
        birds_file,
        "Qwen/Qwen3-4B",
        "tinker",
        seed=0,
        hyperparameters=Hyperparameters(epochs=2, batch_size=6),
    )
    model = finetuner.submit(request, job)
    update = finetuner.result(job)
    ledger.update_job(job.id, status="succeeded", model_id=model)
    for checkpoint in update.checkpoints:
        ledger.add_checkpoint(checkpoint)
    return ledger, job, model


def test_intermediate_checkpoints_expire_and_the_model_does_not(service, birds_file, tmp_path):
    _, _, model = _train(service, birds_file, tmp_path)
    ttl = {path: seconds for path, seconds in service.saves}
    states = [p for p in ttl if "/weights/" in p]
    samplers = [p for p in ttl if "/sampler_weights/" in p]
    assert len(states) == len(samplers) == 2  # one per epoch
    assert model == samplers[-1] and ttl[model] is None
    assert all(ttl[p] == 30 * DAY_S for p in [*states, samplers[0]])


def test_the_ttl_is_an_option_and_zero_keeps_everything(service, birds_file, tmp_path):
    _train(service, birds_file, tmp_path, checkpoint_ttl_days=0)
    assert {seconds for _, seconds in service.saves} == {None}
    from weirdgen.finetune.tinker_backend import TinkerFinetuner

    with pytest.raises(ConfigError, match="between 1 hour and 10 years"):
        TinkerFinetuner(tmp_path, checkpoint_ttl_days=0.01)


@pytest.fixture
def sdk(service, monkeypatch):
    """The CLI builds its own finetuner: hand it the SDK-shaped service."""
    from weirdgen.finetune import tinker_backend

    monkeypatch.setenv("TINKER_API_KEY", "tk-test-not-a-key")
    fake = pytypes.SimpleNamespace(
        ServiceClient=lambda: service, NotFoundError=tinker.NotFoundError, types=tinker.types
    )
    monkeypatch.setattr(tinker_backend, "_tinker", lambda: fake)
    return service


def test_models_prune_deletes_the_stored_checkpoints_but_keeps_the_model(
    sdk, birds_file, tmp_path, capsys
):
    ledger, job, model = _train(sdk, birds_file, tmp_path)
    sdk.expired.add(next(p for p, _ in sdk.saves if "/weights/" in p))  # gone already: still fine
    arguments = _prune(job.id, tmp_path)
    assert main(arguments) == 0
    saved = [path for path, _ in sdk.saves]
    assert set(sdk.deleted) | sdk.expired == set(saved) - {model}
    assert [c.model_id for c in ledger.checkpoints(job.id)] == [model]
    assert "3 checkpoints deleted" in capsys.readouterr().out
    assert main([*arguments, "--all"]) == 0
    assert model in sdk.deleted and ledger.checkpoints(job.id) == []


def test_an_unfinished_run_and_a_local_job_are_not_pruned(sdk, birds_file, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    common = {"base_model": "m", "dataset_path": str(birds_file), "dataset_sha256": "0" * 64}
    running = ledger.create_job(backend="tinker", status="running", **common)
    local = ledger.create_job(backend="local", status="succeeded", **common)
    ledger.add_checkpoint(Checkpoint(local.id, step=1, model_id="runs/x/checkpoint-1"))
    for job, message in ((running, "has not finished"), (local, "stores no checkpoints to prune")):
        code = main(_prune(job.id, tmp_path))
        assert code == 1 and message in capsys.readouterr().err
    assert sdk.deleted == []


def _prune(job_id: str, tmp_path) -> list[str]:
    """``weirdgen models prune JOB --yes`` over the test's runs folder and ledger."""
    runs, ledger = str(tmp_path / "runs"), str(tmp_path / "ledger.sqlite")
    return ["models", "prune", job_id, "--runs-dir", runs, "--ledger", ledger, "--yes"]
