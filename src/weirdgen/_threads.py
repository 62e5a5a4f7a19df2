"""How torch uses the CPU: one policy for every weirdgen process (CLI, server, toy world, benchmarks, CI).

On a machine of its own torch's defaults are fastest: a thread per core, and OpenMP threads that
spin a while when they run out of work. Beside other busy processes those defaults collapse: the
spinning threads take the cores the working ones need, and SmolLM2 generates 2-3x slower than on one
thread (benchmarks/threads_shared_machine.py measures both cases against these defaults). So:

- **Threads follow the load.** The count is one per core that other processes leave free (at
  least one), measured from ``/proc/stat`` when a model is loaded and again every few seconds while
  it works (``follow_machine_load``, called from the thread that runs torch), so a long-running
  server gives a core back when another process starts and takes it again when it ends.
- **Spins from the load.** As torch loads (an import hook: ``import weirdgen`` itself neither
  waits nor imports torch), the machine is watched for ``SPIN_LOOK_S``; when other processes keep
  half a core or more busy, ``GOMP_SPINCOUNT`` is set to 1000 (libgomp's default is 300,000
  spins), so an idle OpenMP thread sleeps almost at once instead of taking a core a busy neighbour
  needs. On an idle machine the default spins stay: short ones cost a quarter of the speed of
  batched generation there (benchmarks/threads_shared_machine.py).

Explicit settings always win and switch following off: a ``threads`` argument,
``WEIRDGEN_TORCH_THREADS``, ``OMP_NUM_THREADS`` (``cpuslot`` and the test suite set these), and
``OMP_WAIT_POLICY``/``GOMP_SPINCOUNT`` for the spinning.
"""

from __future__ import annotations

import importlib.abc
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from weirdgen.errors import ConfigError

SPIN_COUNT = (
    "1000"  # OpenMP's busy-wait before sleeping on a busy machine; libgomp's default is 300000
)
SPIN_LOOK_S = 0.05  # how long the machine is watched, as torch loads, to choose the spinning
BUSY_FOR_SHORT_SPINS = 0.5  # cores other processes keep busy from which spins are shortened
FOLLOW_EVERY_S = 2.0  # how often a working process measures the load again
FIRST_LOOK_S = 0.25  # the window the first measurement (at model load) watches
_STAT_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal: not idle, iowait


def set_spin_policy(environ: Any = None) -> None:
    """Choose OpenMP's spinning from the load when torch is first imported (``import weirdgen``
    installs the hook; it must come before torch's import). Explicit ``OMP_WAIT_POLICY`` or
    ``GOMP_SPINCOUNT`` win."""
    environ = os.environ if environ is None else environ
    if _spins_chosen(environ) or "torch" in sys.modules:
        return
    if not any(isinstance(finder, _SpinsOnTorchImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SpinsOnTorchImport(environ))


def spin_count_for_load(others_busy_cores: float) -> str | None:
    """``GOMP_SPINCOUNT`` for a machine where other processes keep this many cores busy (None:
    libgomp's default)."""
    return SPIN_COUNT if others_busy_cores >= BUSY_FOR_SHORT_SPINS else None


def choose_spins(environ: Any) -> None:
    """Watch the machine for ``SPIN_LOOK_S`` and shorten the spins if it is busy (before torch loads)."""
    if _spins_chosen(environ):
        return
    first = _snapshot()
    if first is None:
        return  # no /proc (macOS): libgomp's default
    time.sleep(SPIN_LOOK_S)
    after = _snapshot()
    count = spin_count_for_load(others_busy_cores(first, after)) if after is not None else None
    if count is not None:
        environ["GOMP_SPINCOUNT"] = count


def _spins_chosen(environ: Any) -> bool:
    return "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ


class _SpinsOnTorchImport(importlib.abc.MetaPathFinder):
    """Chooses the spins the first time ``torch`` is imported, then leaves the import to the others."""

    def __init__(self, environ: Any) -> None:
        self.environ = environ

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            choose_spins(self.environ)
        return None


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def explicit_thread_count(threads: int | None = None) -> int | None:
    """The count the caller or the environment fixed, if any (the argument first)."""
    if threads is None:
        for variable in ("WEIRDGEN_TORCH_THREADS", "OMP_NUM_THREADS"):
            value = os.environ.get(variable, "").strip()
            if value:
                try:
                    threads = int(value)
                except ValueError:
                    raise ConfigError(f"{variable} must be a whole number, got {value!r}") from None
                break
    if threads is not None and threads < 1:
        raise ConfigError(f"torch threads must be at least 1, got {threads}")
    return threads


def threads_for_load(others_busy_cores: float, cores: int) -> int:
    """One thread per core the other processes leave free (rounded), at least one."""
    return max(1, min(cores, round(cores - others_busy_cores)))


@dataclass
class _Snapshot:
    wall_s: float
    machine_busy_s: float  # CPU time of every process, summed over cores
    own_busy_s: float  # this process's CPU time (all its threads)


def _snapshot() -> _Snapshot | None:
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return None  # no /proc (macOS): the count stays as first chosen
    ticks = sum(int(fields[i]) for i in _STAT_BUSY_FIELDS if i < len(fields))
    own = resource.getrusage(resource.RUSAGE_SELF)
    return _Snapshot(
        time.monotonic(), ticks / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime
    )


def others_busy_cores(before: _Snapshot, after: _Snapshot) -> float:
    """Cores other processes kept busy between two snapshots."""
    wall = after.wall_s - before.wall_s
    if wall <= 0:
        return 0.0
    others = (after.machine_busy_s - before.machine_busy_s) - (after.own_busy_s - before.own_busy_s)
    return max(0.0, others / wall)


class _Follower:
    """The process's thread choice: fixed by an explicit setting, or following the load."""

    def __init__(self) -> None:
        self.following = False
        self.last: _Snapshot | None = None
        self.wanted = 0  # the count the last measurement chose
        self.lock = threading.Lock()

    def start(self, threads: int | None) -> int:
        import torch

        fixed = explicit_thread_count(threads)
        if fixed is not None:
            self.following = False
            torch.set_num_threads(fixed)
            return fixed
        first = _snapshot()
        time.sleep(FIRST_LOOK_S if first is not None else 0)
        self.last = _snapshot()
        self.following = first is not None and self.last is not None
        if self.following:
            self.wanted = threads_for_load(others_busy_cores(first, self.last), cpu_cores())
            torch.set_num_threads(self.wanted)
        return torch.get_num_threads()

    def follow(self) -> None:
        if not self.following or self.last is None:
            return
        if time.monotonic() - self.last.wall_s >= FOLLOW_EVERY_S and self.lock.acquire(
            blocking=False
        ):
            try:
                current = _snapshot()
                if current is not None:
                    others = others_busy_cores(self.last, current)
                    self.wanted, self.last = threads_for_load(others, cpu_cores()), current
            finally:
                self.lock.release()
        # Every thread that runs torch applies the choice to itself: OpenMP's count is per thread.
        torch = sys.modules.get("torch")
        if torch is not None and self.wanted and torch.get_num_threads() != self.wanted:
            torch.set_num_threads(self.wanted)


_FOLLOWER = _Follower()


def configure_torch_threads(threads: int | None = None) -> int:
    """Choose torch's thread count (see the module's notes) and return it; call when loading a model."""
    return _FOLLOWER.start(threads)


def follow_machine_load() -> None:
    """Adjust the thread count to the load if a few seconds have passed; a no-op when the count was
    fixed. Cheap enough to call every step, from the thread that runs torch (OpenMP's count is per
    thread)."""
    _FOLLOWER.follow()
