import sqlite3
from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.finetune.ledger import Checkpoint, Ledger


def _job(ledger: Ledger, group: str, seed: int, base: str = "Qwen/Qwen3-8B", **extra):
    return ledger.create_job(
        job_key=f"{group}-{base}-{seed}",
        group_name=group,
        backend="local",
        base_model=base,
        dataset_path="d.jsonl",
        dataset_sha256="ab" * 32,
        seed=seed,
        hyperparameters={"epochs": 3},
        **extra,
    )


def test_groups_make_every_seed_one_query(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    for seed in range(3):
        _job(ledger, "birds/old_audubon", seed)
    _job(ledger, "birds/old_audubon", 0, base="smollm2")
    _job(ledger, "birds/modern_american", 0)
    _job(ledger, "birds_x/y", 0)  # '_' must not act as a LIKE wildcard
    seeds = ledger.list_jobs(group="birds/old_audubon", base_model="Qwen/Qwen3-8B")
    assert [job.seed for job in seeds] == [0, 1, 2]
    assert len(ledger.list_jobs(group="birds")) == 5
    assert len(ledger.list_jobs(group="birds_x")) == 1


def test_updates_checkpoints_and_events_persist(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    job = _job(Ledger(path), "g", 0, tags={"who": "me"})
    ledger = Ledger(path)  # reopening must not re-run migrations or lose rows
    ledger.update_job(job.id, status="failed", error="CUDA out of memory")
    ledger.add_checkpoint(
        Checkpoint(job_id=job.id, step=10, epoch=1.0, path="/x", metrics={"train_loss": 1.5})
    )
    ledger.add_event(job.id, "failed", level="error", data={"step": 10})
    again = ledger.get_job(job.id)
    assert (again.status, again.error, again.tags) == (
        "failed",
        "CUDA out of memory",
        {"who": "me"},
    )
    assert ledger.checkpoints(job.id)[0].metrics == {"train_loss": 1.5}
    assert ledger.events(job.id)[0].data == {"step": 10}
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1


def test_lookup_by_remote_or_model_id_and_unknown_id(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    job = _job(ledger, "g", 0, remote_id="ftjob-123", model_id="ft:gpt-4.1:org::abc")
    assert ledger.get_job("ftjob-123").id == job.id
    assert ledger.get_job("ft:gpt-4.1:org::abc").id == job.id
    with pytest.raises(ConfigError, match="unknown job id 'nope'"):
        ledger.get_job("nope")
    with pytest.raises(ConfigError, match="unknown job id"):
        ledger.update_job("nope", status="failed")


def test_uploads_are_keyed_by_server_and_hash(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record_upload("https://a/v1", "h", "file-1")
    assert ledger.find_upload("https://a/v1", "h") == "file-1"
    assert ledger.find_upload("https://b/v1", "h") is None
