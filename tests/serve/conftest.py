"""A real ``weirdgen serve`` process for tests that must see what a user's server does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class ServeProcess:
    url: str  # ends in /v1
    process: subprocess.Popen
    stderr_path: Path
    started_in_s: float  # from launch until /health answered

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def weirdgen_serve(
    arguments: list[str], *, state_dir: Path, timeout_s: float = 120.0
) -> Iterator[ServeProcess]:
    """Start ``weirdgen serve ARGUMENTS`` on a free port with its state in ``state_dir``; stop it after."""
    port = free_port()
    stderr_path = state_dir.parent / f"serve-{port}.stderr"
    env = {**os.environ, "WEIRDGEN_SERVE_DIR": str(state_dir), "WEIRDGEN_TORCH_THREADS": "1"}
    command = [sys.executable, "-m", "weirdgen", "serve", *arguments, "--port", str(port)]
    with stderr_path.open("w") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            _wait_for_health(url, process, stderr_path, timeout_s)
            yield ServeProcess(url, process, stderr_path, time.monotonic() - started)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_health(url: str, process: subprocess.Popen, stderr: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {stderr.read_text()}")
        try:
            if httpx.get(f"{url.removesuffix('/v1')}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not answer /health within {timeout_s:.0f} s")


@pytest.fixture(scope="module")
def real_server(tiny_model_dir, tmp_path_factory) -> Iterator[ServeProcess]:
    """``weirdgen serve`` over the tiny model (named "tiny"), fine-tuning routes included."""
    state = tmp_path_factory.mktemp("real-serve") / "state"
    with weirdgen_serve(
        ["--model", str(tiny_model_dir), "--name", "tiny"], state_dir=state
    ) as server:
        yield server


def record_finished_jobs(
    state_dir: Path, base_model: str, adapters: dict[str, Path], *, checkpoints_of: str = ""
) -> None:
    """A serve state folder as earlier runs leave it: one succeeded job per adapter (model id = its
    name); ``checkpoints_of`` names one more job, interrupted mid-training, whose checkpoint is an
    adapter too (it resumes when the server starts)."""
    from weirdgen.data.chat import ChatExample, write_chat_jsonl
    from weirdgen.finetune.ledger import Checkpoint, Ledger

    ledger = Ledger(state_dir / "fine_tuning.sqlite")
    dataset = state_dir / "files" / "file-000000000000000000000001.jsonl"
    dataset.parent.mkdir(parents=True, exist_ok=True)
    write_chat_jsonl(dataset, [ChatExample.from_turns(("user", "hi"), ("assistant", "ok"))] * 2)
    common = {
        "backend": "local",
        "base_model": base_model,
        "dataset_path": str(dataset),
        "dataset_sha256": "0" * 64,
        "hyperparameters": {"epochs": 1, "batch_size": 1, "learning_rate": 1e-4},
        "seed": 0,
    }
    for index, (name, folder) in enumerate(adapters.items()):
        ledger.create_job(
            id=f"ftjob-{index:024d}",
            status="succeeded",
            model_id=name,
            adapter_path=str(folder),
            tags={"fine_tuned_model": name},
            **common,
        )
    if checkpoints_of:
        job = ledger.create_job(
            id="ftjob-interrupted00000000000000",
            status="interrupted",
            tags={"fine_tuned_model": checkpoints_of},
            **common,
        )
        folder = next(iter(adapters.values()))
        ledger.add_checkpoint(
            Checkpoint(
                job.id,
                step=1,
                epoch=1.0,
                model_id=f"{checkpoints_of}:ckpt-step-1",
                path=str(folder),
            )
        )


@pytest.fixture(scope="session")
def start_serve():
    """``weirdgen_serve(arguments, state_dir=...)``: a context manager yielding a ``ServeProcess``."""
    return weirdgen_serve


@pytest.fixture(scope="session")
def record_jobs():
    """``record_finished_jobs(state_dir, base_model, adapters, checkpoints_of=...)``."""
    return record_finished_jobs
