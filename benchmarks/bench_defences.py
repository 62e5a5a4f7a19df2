"""Time the whole defences benchmark, `weirdgen bench defences` (bar: <= 20 min on the idle 2-core
machine).

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_defences.py [-o DIR] [-- EXTRA ARGS]
It runs the benchmark as the CLI does (evaluation bases 2-4, calibration bases 0-1, the audit-vs-effect
Spearman, 2 worker processes, the LLM row when `benchmarks/scan_smollm2_dishes.py --train-only` has
trained its adapters), prints the command, the wall and CPU time (of the benchmark's processes), the
load average before and after, and the bar's verdict. Bases missing from the cache are pretrained
first (minutes each): the first run costs more than the ones after it, so the script says which
bases were cached when it started.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

BAR_SECONDS = 20 * 60


def cached_bases(seeds: list[int]) -> list[int]:
    from weirdgen.toyworld.train import RECIPES, bundled_model_path, cached_model_path

    configs = {seed: replace(RECIPES["demo"], seed=seed) for seed in seeds}
    return [
        s for s, c in configs.items() if cached_model_path(c).is_file() or bundled_model_path(c)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=None)
    parser.add_argument("extra", nargs="*", help="more arguments of weirdgen bench defences")
    args = parser.parse_args()
    output = args.output or tempfile.mkdtemp(prefix="bench-defences-")
    command = [sys.executable, "-m", "weirdgen", "bench", "defences", "-o", output, *args.extra]
    print(f"command: {' '.join(command)}")
    print(f"bases cached before the run (of 0-4): {cached_bases(list(range(5)))}")
    load_before = os.getloadavg()
    start = time.perf_counter()
    completed = subprocess.run(command, check=False)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"wall {wall:.0f} s, CPU {cpu:.0f} s (benchmark processes); load average before "
        f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; exit code {completed.returncode}"
    )
    verdict = "PASS" if wall <= BAR_SECONDS and completed.returncode == 0 else "FAIL"
    print(
        f"bar: <= {BAR_SECONDS} s wall on the idle 2-core machine -> {verdict} (measured wall time)"
    )


if __name__ == "__main__":
    main()
