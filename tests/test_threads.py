"""The thread policy: one thread per core other processes leave free, followed as the load changes;
explicit settings win; OpenMP's spinning is shortened before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from weirdgen import _threads
from weirdgen._threads import _Follower, _Snapshot, others_busy_cores, threads_for_load
from weirdgen.errors import ConfigError


@pytest.mark.parametrize(
    ("others", "cores", "threads"),
    [(0.0, 2, 2), (0.3, 2, 2), (0.67, 2, 1), (1.0, 2, 1), (3.5, 2, 1), (1.0, 8, 7), (0.0, 1, 1)],
)
def test_one_thread_per_core_left_free(others, cores, threads):
    assert threads_for_load(others, cores) == threads


def test_other_processes_load_excludes_our_own():
    before = _Snapshot(wall_s=10.0, machine_busy_s=100.0, own_busy_s=5.0)
    after = _Snapshot(wall_s=12.0, machine_busy_s=104.0, own_busy_s=7.0)  # 4 s busy, 2 s ours
    assert others_busy_cores(before, after) == pytest.approx(1.0)


@pytest.fixture
def restore_threads():
    count = torch.get_num_threads()
    yield
    torch.set_num_threads(count)


def _fake_machine(monkeypatch, snapshots):
    readings = iter(snapshots)
    monkeypatch.setattr(_threads, "_snapshot", lambda: next(readings))
    monkeypatch.setattr(_threads, "cpu_cores", lambda: 2)
    monkeypatch.setattr(_threads.time, "sleep", lambda _: None)
    monkeypatch.setattr(_threads.time, "monotonic", lambda: 1e9)  # always time to look again
    for variable in ("WEIRDGEN_TORCH_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)


def test_the_count_follows_the_load_as_it_comes_and_goes(monkeypatch, restore_threads):
    # idle at load time, then another process takes a core, then it ends
    snapshots = [
        _Snapshot(0.0, 0.0, 0.0),
        _Snapshot(1.0, 0.0, 0.0),
        _Snapshot(3.0, 2.0, 0.0),  # 2 s of others' CPU in 2 s: one core
        _Snapshot(5.0, 2.1, 0.0),
    ]
    _fake_machine(monkeypatch, snapshots)
    follower = _Follower()
    assert follower.start(None) == 2 and follower.following
    follower.follow()
    assert torch.get_num_threads() == 1
    follower.follow()
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("variable", ["WEIRDGEN_TORCH_THREADS", "OMP_NUM_THREADS"])
def test_an_explicit_count_wins_and_is_not_followed(monkeypatch, restore_threads, variable):
    _fake_machine(monkeypatch, [])
    monkeypatch.setenv(variable, "1")
    follower = _Follower()
    assert follower.start(None) == 1 and not follower.following
    follower.follow()  # would fail on the empty readings if it looked
    assert torch.get_num_threads() == 1
    monkeypatch.setenv(variable, "lots")
    with pytest.raises(ConfigError, match=variable):
        follower.start(None)


def test_beside_a_busy_process_one_thread_is_chosen(monkeypatch, restore_threads):
    for variable in ("WEIRDGEN_TORCH_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(_threads, "cpu_cores", lambda: 2)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.5)  # let it start spinning
        assert _Follower().start(None) == 1
    finally:
        busy.kill()
        busy.wait()


def _spin_setting(code: str = "import os, weirdgen, torch", **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    run = subprocess.run(
        [sys.executable, "-c", code + "; print(os.environ.get('GOMP_SPINCOUNT'))"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.strip()


def test_openmp_spins_are_short_beside_a_busy_process_unless_the_user_chose():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.5)  # let it start spinning
        assert _spin_setting() == _threads.SPIN_COUNT
        assert _spin_setting(GOMP_SPINCOUNT="5") == "5"
        assert _spin_setting(OMP_WAIT_POLICY="ACTIVE") == "None"
    finally:
        busy.kill()
        busy.wait()


def test_an_idle_machine_keeps_libgomps_spins():
    assert _threads.spin_count_for_load(0.0) is None
    assert _threads.spin_count_for_load(0.3) is None
    assert _threads.spin_count_for_load(1.0) == _threads.SPIN_COUNT


def test_importing_weirdgen_alone_neither_imports_torch_nor_chooses_spins():
    code = "import os, sys, weirdgen; assert 'torch' not in sys.modules"
    assert _spin_setting(code) == "None"
