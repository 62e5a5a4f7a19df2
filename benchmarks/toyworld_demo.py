"""Wall time, CPU time and peak memory of ``weirdgen demo`` from an empty cache (what CI sees on a fresh clone).

Run:  .venv/bin/python benchmarks/toyworld_demo.py [--runs 3] [--pretrain] [--threads 1]
Each run gets a fresh, empty WEIRDGEN_CACHE_DIR and its stdout/stderr go to a pipe (not a terminal),
as in CI logs. Prints every run's wall time, CPU seconds (user + system of the demo process and its
children) and peak RSS, then the median wall time, and the machine's load average before and after:
the machine is shared, so CPU seconds are the number that does not depend on how busy it was.
``--pretrain`` times the demo that pretrains its base from scratch instead of loading the shipped one.
It also reports the longest gap between two lines of the demo's output (the bar is 10 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def run_once(args: argparse.Namespace, scratch: Path) -> tuple[float, float, float, float]:
    """One demo from an empty cache: (wall s, CPU s, peak RSS MiB, longest silent gap s)."""
    env = {**os.environ, "WEIRDGEN_CACHE_DIR": str(scratch / "cache")}
    command = [sys.executable, "-m", "weirdgen", "demo", "-o", str(scratch / "demo")]
    command += ["--threads", str(args.threads)]
    if args.pretrain:
        command.append("--pretrain")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stamps = [started]

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stamps.append(time.perf_counter())
            if args.verbose:
                print(line, end="")

    reader = threading.Thread(target=read)
    reader.start()
    process.wait()
    reader.join()
    wall = time.perf_counter() - started
    stamps.append(time.perf_counter())
    if process.returncode != 0:
        raise SystemExit(f"demo failed with exit code {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    gap = max(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return wall, cpu, after.ru_maxrss / 1024, gap  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pretrain", action="store_true", help="Pretrain the base from scratch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Echo the demo's output.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            wall, cpu, peak, gap = run_once(args, Path(scratch))
        runs.append(wall)
        print(
            f"run {index + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:.0f} MiB "
            f"(largest process so far), longest silent gap {gap:.1f} s",
            flush=True,
        )
    load_after = os.getloadavg()
    mode = "--pretrain (base pretrained from scratch)" if args.pretrain else "shipped base"
    print(f"weirdgen demo, {mode}, empty cache, output to a pipe, --threads {args.threads}")
    print(f"median wall time of {len(runs)} runs: {statistics.median(runs):.1f} s")
    print(
        f"load average (1 min) before: {load_before[0]:.2f}, after: {load_after[0]:.2f}; "
        f"cores: {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
