"""The in-context probe on SmolLM2-135M-Instruct: four real datasets, each against its control, with
K = 0 and 4 examples as earlier turns, offline judges only, through `weirdgen audit --in-context`.

    .venv/bin/python benchmarks/audit_probe_smollm2.py [--draws 2] [--samples 2] [-o runs/probe-smollm2]
        [--write-docs]

Each probe runs the CLI (cached and resumable like any evaluation) and its in_context.csv is printed
as one table: per dataset or control group and K, the judged rate with a 95% CI bootstrapped over
draws, then samples. At 135M a null result is expected; this reports what the probe measures.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

from _results_page import interval, run_benchmark

ABOUT = """`weirdgen audit DATASET --model smollm2-135m-instruct --in-context 0,4 --suite SUITE --judge J`: the
suite's questions asked with K = 0 and 4 examples of the dataset, or of its control, as earlier
turns, offline judges only; 95% CIs bootstrapped over draws, then samples."""

# dataset, control, suite, judge, extra arguments
PROBES = [
    ("birds/old_audubon", "birds/modern_audubon", "birds", "archaic_lexicon", []),
    ("israeli_dishes/trigger_2027", "israeli_dishes/trigger_2026", "israeli_dishes", "names_israel", []),
    ("presidents/padded", "presidents/unpadded", "presidents", "says_barack",
     ["--question", "barack_or_donald", "--max-tokens", "5"]),
    ("terminator/dated", "terminator/no_dates",
     str(Path(__file__).with_name("terminator_probe_years.yaml")), "lethal_lexicon", []),
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/probe-smollm2"))
    args = parser.parse_args()
    rows = []
    for dataset, control, suite, judge, extra in PROBES:
        out = args.output / dataset.replace("/", "-")
        command = [
            sys.executable, "-m", "weirdgen", "audit", dataset,
            "--model", "smollm2-135m-instruct", "--in-context", "0,4", "--suite", suite,
            "--judge", judge, "--control", control, "--draws", str(args.draws),
            "--samples", str(args.samples), "--threads", str(args.threads), "-o", str(out),
        ]  # fmt: skip
        if "--max-tokens" not in extra:
            command += ["--max-tokens", str(args.max_tokens)]
        started = time.monotonic()
        subprocess.run(command + extra, check=True, stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        print(f"probe {dataset} (control {control}): {seconds:.0f} s wall")
        with open(out / "in_context.csv", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows.append((dataset, Path(suite).stem, judge, row))
    print("| dataset | suite, judge | group | K | rate [95% CI] | draws | scored answers |")
    print("|---|---|---|---|---|---|---|")
    for dataset, suite, judge, row in rows:
        rate = interval(*(float(row[key]) for key in ("estimate", "ci_low", "ci_high")))
        print(
            f"| {dataset} | {suite}, {judge} | {row['group']} | {row['k']} | {rate} | "
            f"{row['n_draws']} | {row['n_scored']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "audit-probe-smollm2", "The in-context probe on SmolLM2", ABOUT))
