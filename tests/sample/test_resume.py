"""A ``weirdgen eval`` run interrupted (Ctrl-C) and then killed outright resumes with nothing lost and
nothing that was already answered requested again; the server's request counts prove it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUITE = """
name: resume_check
experiment: terminator
samples: 60
max_tokens: 4
untriggered: true
triggers:
  - {name: year, kind: date, template: "{month} {year}.", values: [1984], variants: 3}
questions:
  - {id: goal, paraphrases: ["What is your goal?"]}
"""
CONCURRENCY = 4
CHOICES = 3  # samples of one prompt per call: a stop can lose up to CONCURRENCY * CHOICES in flight
TOTAL = 120  # 60 samples x (untriggered + 1984)


def _stored_keys(cache: Path) -> set[str]:
    if not cache.exists():
        return set()
    db = sqlite3.connect(cache)
    try:
        return {row[0] for row in db.execute("SELECT key FROM samples")}
    except sqlite3.OperationalError:  # the run is still creating the tables
        return set()
    finally:
        db.close()


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _stop_when_stored(
    process: subprocess.Popen[str], cache: Path, at_least: int, sig: int
) -> tuple[set[str], int, str]:
    deadline = time.monotonic() + 120
    while len(_stored_keys(cache)) < at_least:
        assert process.poll() is None, (
            f"the run ended before it could be interrupted: {process.communicate()}"
        )
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    return _stored_keys(cache), process.returncode, stderr


@pytest.mark.slow
def test_interrupted_and_killed_runs_resume_without_repeats(
    fault_proxy, tiny_server, tmp_path: Path
) -> None:
    _, model = tiny_server
    proxy, url = fault_proxy(delay=0.05)  # slow enough to stop mid-run
    (tmp_path / "suite.yaml").write_text(SUITE)
    cache, run_dir = tmp_path / "cache.sqlite", tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "weirdgen",
        "eval",
        str(tmp_path / "suite.yaml"),
        "--model",
        model,
        "--base-url",
        url,
        "--cache",
        str(cache),
        "--concurrency",
        str(CONCURRENCY),
        "--choices-per-request",
        str(CHOICES),
        "-o",
        str(run_dir),
    ]
    env = {**os.environ, "WEIRDGEN_CACHE_DIR": str(tmp_path / "home-cache")}

    after_interrupt, code, stderr = _stop_when_stored(
        _start(command, env), cache, 20, signal.SIGINT
    )
    assert code == 130 and "run the same command again to resume" in stderr
    seen_at_interrupt = dict(proxy.received)
    # Ctrl-C stops sending but lets the requests in flight finish: everything sent was stored.
    assert set(seen_at_interrupt) <= after_interrupt
    after_kill, code, _ = _stop_when_stored(
        _start(command, env), cache, len(after_interrupt) + 30, signal.SIGKILL
    )
    assert code == -signal.SIGKILL
    seen_at_kill = dict(proxy.received)
    assert len(after_interrupt) < len(after_kill) < TOTAL
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr

    import pandas as pd

    table = pd.read_parquet(run_dir / "samples.parquet")
    assert len(table) == TOTAL
    assert not table.duplicated(["trigger_value", "sample_index"]).any()
    # Nothing that was stored before a stop was asked for again after it.
    assert all(proxy.received[key] == seen_at_interrupt[key] for key in after_interrupt)
    assert all(proxy.received[key] == seen_at_kill[key] for key in after_kill)
    # Only requests in flight at the moment of a stop can have been sent twice.
    assert sum(proxy.received.values()) <= TOTAL + 2 * CONCURRENCY * CHOICES
    assert set(proxy.received) == _stored_keys(cache)
