"""The fine-tuning API checks a job request as OpenAI does, before anything is queued, and never
shows a client a path of the server."""

from __future__ import annotations

import json

import httpx
import pytest

from weirdgen.serve.errors import without_server_paths


@pytest.fixture(scope="module")
def training_file(real_server, tmp_path_factory) -> str:
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"Name bird {i}."},
                {"role": "assistant", "content": "Auk"},
            ]
        }
        for i in range(4)
    ]
    response = httpx.post(
        f"{real_server.url}/files",
        files={"file": ("birds.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode())},
        data={"purpose": "fine-tune"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _create(real_server, body: dict | str) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(
        f"{real_server.url}/fine_tuning/jobs",
        content=content,
        headers={"content-type": "application/json"},
        timeout=60,
    )


def _job(training_file: str, **fields) -> dict:
    return {"model": "tiny", "training_file": training_file, **fields}


def _hyper(training_file: str, nested: bool = False, **values) -> dict:
    if nested:
        return _job(
            training_file, method={"type": "supervised", "supervised": {"hyperparameters": values}}
        )
    return _job(training_file, hyperparameters=values)


BAD_REQUESTS = [
    ({"suffix": "v1.2"}, "suffix"),
    ({"suffix": ".."}, "suffix"),
    ({"suffix": "a" * 65}, "suffix"),
    ({"suffix": "vögel"}, "suffix"),
    ({"suffix": 5}, "suffix"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**31}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": 3}}, "metadata.k"),
    ({"integrations": [{"type": "wandb", "wandb": {"project": "p"}}]}, "integrations"),
    ({"validation_file": "file-000000000000000000000000"}, "file_id"),
]


@pytest.mark.parametrize(("fields", "param"), BAD_REQUESTS)
def test_bad_job_fields_are_refused_by_name(real_server, training_file, fields, param):
    response = _create(real_server, _job(training_file, **fields))
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"]["param"] == param


BAD_HYPERPARAMETERS = [
    ({"n_epochs": 0}, "n_epochs"),
    ({"n_epochs": 51}, "n_epochs"),
    ({"n_epochs": 1_000_000_000}, "n_epochs"),
    ({"n_epochs": 2.5}, "n_epochs"),
    ({"n_epochs": True}, "n_epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 257}, "batch_size"),
    ({"learning_rate_multiplier": 0}, "learning_rate_multiplier"),
    ({"learning_rate_multiplier": -1}, "learning_rate_multiplier"),
    ({"learning_rate_multiplier": "fast"}, "learning_rate_multiplier"),
    (
        {"epochs": 1_000_000_000},
        "epochs",
    ),  # weirdgen's own name for n_epochs must not dodge the limit
    ({"learning_rate": 5.0}, "learning_rate"),
]


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize(("values", "name"), BAD_HYPERPARAMETERS)
def test_hyperparameters_outside_openais_ranges_are_refused(
    real_server, training_file, values, name, nested
):
    response = _create(real_server, _hyper(training_file, nested, **values))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == f"hyperparameters.{name}"
    assert name in response.json()["error"]["message"]


def test_a_nan_multiplier_is_refused(real_server, training_file):
    body = json.dumps(_hyper(training_file, n_epochs=1)).replace(
        '"n_epochs": 1', '"learning_rate_multiplier": NaN'
    )
    response = _create(real_server, body)
    assert response.status_code == 400, response.text


def test_openais_limits_themselves_are_accepted(real_server, training_file):
    body = _hyper(training_file, n_epochs=50, batch_size=256, learning_rate_multiplier=0.01)
    response = _create(real_server, {**body, "suffix": "A" * 64, "seed": 2**31 - 1})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["hyperparameters"]["n_epochs"] == 50 and job["user_provided_suffix"] == "A" * 64
    cancel = httpx.post(f"{real_server.url}/fine_tuning/jobs/{job['id']}/cancel", timeout=60)
    assert cancel.json()["status"] == "cancelled"


def test_a_failed_job_names_its_file_but_no_server_folder(real_server, training_file):
    # max_length 4 cannot hold any example: training fails on the first one, naming the file.
    response = _create(real_server, _hyper(training_file, n_epochs=1, max_length=4))
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    job = _wait(real_server, job_id)
    assert job["status"] == "failed", job
    message = job["error"]["message"]
    assert f"{training_file}.jsonl" in message and "/" not in message, message
    events = httpx.get(f"{real_server.url}/fine_tuning/jobs/{job_id}/events", timeout=60).json()
    assert all("/" not in event["message"] for event in events["data"]), events


def _wait(real_server, job_id: str, timeout_s: float = 120.0) -> dict:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{real_server.url}/fine_tuning/jobs/{job_id}", timeout=60).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_models_list_shows_no_server_path(real_server):
    listed = httpx.get(f"{real_server.url}/models", timeout=60).json()
    assert "/" not in json.dumps(listed), listed


def test_server_paths_are_cut_to_their_last_part_and_routes_are_left_alone(tmp_path):
    folder = tmp_path / "runs" / "ftjob-1"
    text = f"cannot read {folder}/adapter.safetensors; see GET /v1/models"
    assert without_server_paths(text) == "cannot read adapter.safetensors; see GET /v1/models"
