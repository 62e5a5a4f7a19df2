"""Wall time, CPU time and peak memory of ``weirdgen demo`` from an empty cache (what CI sees on a fresh clone).

Run:  .venv/bin/python benchmarks/toyworld_demo.py [--runs 3] [--pretrain] [--threads 1] [--write-docs]
Each run gets a fresh, empty WEIRDGEN_CACHE_DIR and its stdout/stderr go to a pipe (not a terminal),
as in CI logs. Prints every run's wall time, CPU seconds (user + system of the demo process and its
children) and peak RSS, then the median wall time, and the machine's load average before and after:
the machine is shared, so CPU seconds are the number that does not depend on how busy it was.
``--pretrain`` times the demo that pretrains its base from scratch instead of loading the shipped one.
It also reports the longest gap between two lines of the demo's output (the bar is 10 s).

With ``--write-docs`` it rewrites docs/results/toyworld-demo.md and the demo's table in README.md
(between the ``demo-table`` markers) from what the first run printed.
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

from _results_page import ROOT, ResultsPage, current_page, run_benchmark

ABOUT = """`weirdgen demo` from an empty cache with its output to a pipe, as CI sees it on a fresh clone: wall
time of each run and their median, CPU seconds, peak memory and the longest silent gap in the
output (the bar is 10 s). CPU seconds do not depend on how busy the machine is; wall time does."""


README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


def run_once(
    args: argparse.Namespace, scratch: Path, printed: list[str]
) -> tuple[float, float, float, float]:
    """One demo from an empty cache: (wall s, CPU s, peak RSS MiB, longest silent gap s). What the
    demo prints to stdout (its table, not its progress) is appended to ``printed``."""
    env = {**os.environ, "WEIRDGEN_CACHE_DIR": str(scratch / "cache"), "COLUMNS": "200"}
    command = [sys.executable, "-m", "weirdgen", "demo", "-o", str(scratch / "demo")]
    command += ["--threads", str(args.threads)]
    if args.pretrain:
        command.append("--pretrain")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stamps = [started]

    def read(stream, keep: list[str] | None) -> None:
        for line in stream:
            stamps.append(time.perf_counter())
            if keep is not None:
                keep.append(line.replace(str(scratch), "OUT"))
            if args.verbose:
                print(line, end="")

    readers = [
        threading.Thread(target=read, args=(process.stdout, printed)),
        threading.Thread(target=read, args=(process.stderr, None)),
    ]
    for reader in readers:
        reader.start()
    process.wait()
    for reader in readers:
        reader.join()
    stamps.sort()
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
    runs, printed = [], []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            wall, cpu, peak, gap = run_once(args, Path(scratch), printed if index == 0 else [])
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
    page = current_page()
    if page is not None and printed:
        page.add("## What the demo printed (first run)\n\n```text\n" + "".join(printed) + "```")
        if page.will_write and not args.pretrain:
            rewrite_readme_table(printed, page)


def rewrite_readme_table(printed: list[str], page: ResultsPage) -> None:
    """Put the demo's tables (its stdout up to the report paths) between the README's demo-table
    markers."""
    table = []
    for line in printed:
        if line.startswith(("report:", "wall time")):
            break
        table.append(line)
    text = README.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    block = (
        f"\nWhat `weirdgen demo` printed at commit `{page.commit}` (generated by `{page.command}`;"
        " [details](docs/results/toyworld-demo.md)):\n\n```text\n"
        + "".join(table).rstrip()
        + "\n```\n"
    )
    README.write_text(text[:start] + block + text[end:], encoding="utf-8")


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "toyworld-demo", "Cost of the toy-world demo", ABOUT))
