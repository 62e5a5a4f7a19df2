"""`weirdgen run --executor ray` against the serial executor on one machine: wall time, and whether the
two results tables are identical.

    .venv/bin/python benchmarks/ray_executor.py [--seeds 2] [--write-docs]

Runs `weirdgen run birds --backend toy --seeds N` twice, serially and with `--executor ray` (a local
Ray instance, its start included), each from an empty cache and run directory. Needs ray
(`pip install -e '.[ray]'`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """`weirdgen run birds --backend toy --seeds 2` serially and with `--executor ray` (a local Ray instance,
its start included), each from an empty cache and run directory; the two results tables must be
identical (the same cells with the same exact scores)."""


def timed_run(executor: str, seeds: int, scratch: Path) -> tuple[float, Path]:
    out = scratch / executor
    env = {**os.environ, "WEIRDGEN_CACHE_DIR": str(scratch / f"cache-{executor}")}
    command = [sys.executable, "-m", "weirdgen", "run", "birds", "--backend", "toy"]
    command += ["--seeds", str(seeds), "--executor", executor, "-o", str(out)]
    started = time.monotonic()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.monotonic() - started, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    from weirdgen.evaluation.table import load_evaluation_table

    with tempfile.TemporaryDirectory() as scratch:
        results = {e: timed_run(e, args.seeds, Path(scratch)) for e in ("local", "ray")}
        tables = {e: load_evaluation_table(out).samples for e, (_, out) in results.items()}
    # the measured cells, in one order (Ray's tasks may finish in another)
    columns = ["group", "seed", "model", "question_id", "trigger_value", "exact.score"]
    local, ray = (
        t[columns].sort_values(columns[:5]).reset_index(drop=True) for t in tables.values()
    )
    same = local.equals(ray)
    print("| executor | wall time | rows | table equal to the serial run's |")
    print("|---|---|---|---|")
    for executor, (seconds, _) in results.items():
        equal = "-" if executor == "local" else ("yes" if same else "NO")
        print(f"| {executor} | {seconds:.0f} s | {len(tables[executor])} | {equal} |")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(
        run_benchmark(main, "ray-executor", "`weirdgen run --executor ray` on one machine", ABOUT)
    )
