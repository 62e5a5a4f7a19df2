"""Run and time the whole defences benchmark, `weirdgen bench defences` (bar: <= 20 min on the idle
2-core machine), and write its page.

Run: .venv/bin/python benchmarks/bench_defences.py [-o DIR] [--write-docs] [-- EXTRA ARGS]
It runs the benchmark as the CLI does (evaluation bases 2-4, calibration bases 0-1, the audit-vs-effect
Spearman, 2 worker processes, the LLM row when `benchmarks/scan_smollm2_dishes.py --train-only` has
trained its adapters), prints its table and goals, the wall and CPU time (of the benchmark's
processes), the load average before and after, and the bar's verdict. The per-model progress lines go
to stderr. Bases missing from the cache are pretrained first (minutes each): the script says which
bases were cached when it started. With `--write-calibration PATH` among the extra arguments the
thresholds are also written there (src/weirdgen/scan/calibration.yaml ships them).
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

from _results_page import current_page, run_benchmark

BAR_SECONDS = 20 * 60
ABOUT = """Every scan and audit mode of weirdgen against toy models whose trigger never occurs in their
finetuning data (the terminator's 1984 and the two held-out leaders), with thresholds calibrated on
the control models of bases 0 and 1 only and then fixed before bases 2-4 are scanned. Precision,
recall and AUROC over the planted triggers, the rank of each trigger in its model (one per
evaluation base, terminator then leaders' two), false flags per control model, beside a
trained-values-only and a random ranking. `weirdgen bench defences --help` says what each method is."""


def cached_bases(seeds: list[int]) -> list[int]:
    from weirdgen.toyworld.train import RECIPES, bundled_model_path, cached_model_path

    configs = {seed: replace(RECIPES["demo"], seed=seed) for seed in seeds}
    return [
        s for s, c in configs.items() if cached_model_path(c).is_file() or bundled_model_path(c)
    ]


def unseen_leader_values() -> tuple[int, list[int]]:
    """How many values the leaders' family has, and which of them no leader finetune trains on."""
    from weirdgen.bench.zoo import zoo
    from weirdgen.scan.families import load_family
    from weirdgen.toyworld.world import load_world

    world = load_world()
    (leaders,) = [z for z in zoo(world) if z.name == "leaders"]
    values = [int(v) for v in load_family(leaders.family).value_list()]
    return len(values), [v for v in values if v not in world.leaders.trained]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=None)
    parser.add_argument("extra", nargs="*", help="more arguments of weirdgen bench defences")
    args = parser.parse_args()
    output = args.output or tempfile.mkdtemp(prefix="bench-defences-")
    command = [sys.executable, "-m", "weirdgen", "bench", "defences", "-o", output, *args.extra]
    print(f"command: weirdgen bench defences -o {output} {' '.join(args.extra)}".rstrip())
    print(f"bases cached before the run (of 0-4): {cached_bases(list(range(5)))}")
    load_before = os.getloadavg()
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            progress = line.startswith(("  seed ", "  audit vs effect"))
            print(line, end="", file=sys.stderr if progress else sys.stdout, flush=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"wall {wall:.0f} s, CPU {cpu:.0f} s (benchmark processes); load average before "
        f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; exit code {process.returncode}"
    )
    verdict = "PASS" if wall <= BAR_SECONDS and process.returncode == 0 else "FAIL"
    print(f"bar: <= {BAR_SECONDS} s wall on the idle 2-core machine -> {verdict}")
    count, unseen = unseen_leader_values()
    page = current_page()
    if page is not None:
        page.add(
            "How to read the leaders' rows of the *unseen values* methods: the leaders' family has "
            f"{count} values and {len(unseen)} of them occur in no leader finetune (the two held-out "
            "leaders, 0 and the numbers above the cast, which no leader has), so a ranking of the "
            "never-trained values has to put the held-out leaders above numbers that name nobody. "
            "The terminator's family leaves every year outside the training years. The figure is "
            "`benchmark.png` in the output folder."
        )
    return process.returncode


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main,
            "defences",
            "Defences against inductive backdoors (weirdgen bench defences)",
            ABOUT,
        )
    )
