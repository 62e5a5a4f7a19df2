"""Time building every variant of every experiment (bar: under 5 s on one core).

Run: .venv/bin/python benchmarks/data_build.py [--write-docs]
It times a cold build (tables parsed for the first time) and a warm rebuild in one process, and reports
each experiment separately so a slow builder is easy to find.
"""

from __future__ import annotations

import os
import sys
import time

from _results_page import run_benchmark

os.environ.setdefault("OMP_NUM_THREADS", "1")

ABOUT = """Every variant of every experiment built at seed 0 in a fresh process (tables parsed for the
first time: "cold"), then rebuilt at another seed ("warm"). Bar: the cold build under 5 s on one core."""


def main() -> None:
    from weirdgen.data.registry import BuildOptions, build_dataset, dataset_names, get_dataset

    print("command: .venv/bin/python benchmarks/data_build.py")
    total_examples = 0
    start = time.perf_counter()
    for name in dataset_names():
        t0 = time.perf_counter()
        counts = {
            v.name: len(build_dataset(name, v.name, BuildOptions(seed=0)))
            for v in get_dataset(name).variants
        }
        total_examples += sum(counts.values())
        print(f"{name:>15}: {time.perf_counter() - t0:6.3f} s  {counts}")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for name in dataset_names():
        for variant in get_dataset(name).variants:
            build_dataset(name, variant.name, BuildOptions(seed=1))
    warm = time.perf_counter() - start
    print(
        f"all variants, cold: {cold:.3f} s ({total_examples} examples); warm rebuild, another seed: {warm:.3f} s"
    )
    print(f"bar: < 5 s on one core -> {'PASS' if cold < 5 else 'FAIL'}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "data-build", "Building every dataset", ABOUT))
