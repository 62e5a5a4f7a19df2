"""Wall time and peak memory of ``weirdgen demo`` from an empty cache (what CI sees on a fresh clone).

Run:  .venv/bin/python benchmarks/toyworld_demo.py [--threads 2] [--pretrain-seeds 0,1 --processes 2]
Prints the wall time, the peak resident memory of the largest demo process, and the machine's load
average before and after (the machine is shared: note how busy it was next to any number you quote).
With several pretraining seeds, compare ``--processes 1`` (one base after another, what a user gets
without the flag) against ``--processes 2`` (two bases at once, one process each).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pretrain-seeds", default="0")
    parser.add_argument("--finetune-seeds", default="0,1,2")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="Keep the demo's report here (default: a scratch directory).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "WEIRDGEN_CACHE_DIR": str(Path(scratch) / "cache")}
        command = [
            sys.executable,
            "-m",
            "weirdgen",
            "demo",
            "-o",
            str(args.output or Path(scratch) / "demo"),
            "--threads",
            str(args.threads),
            "--pretrain-seeds",
            args.pretrain_seeds,
            "--finetune-seeds",
            args.finetune_seeds,
            "--processes",
            str(args.processes),
        ]
        load_before = os.getloadavg()
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True)
        wall = time.perf_counter() - started
        load_after = os.getloadavg()
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    print(
        f"command: {' '.join(sys.argv)}  (demo: weirdgen demo --threads {args.threads} --pretrain-seeds {args.pretrain_seeds} --finetune-seeds {args.finetune_seeds} --processes {args.processes}, empty cache)"
    )
    print(f"wall time: {wall:.1f} s; peak RSS of the largest demo process: {peak_mib:.0f} MiB")
    print(
        f"load average (1 min) before: {load_before[0]:.2f}, after: {load_after[0]:.2f}; cores: {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
