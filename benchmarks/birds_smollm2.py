"""A small real run, end to end: the birds experiment on SmolLM2-135M-Instruct with local LoRA and
offline judges (examples/05_birds_smollm2.yaml), then each judge's rate per group with seed-aware
intervals and the main group against its control.

    .venv/bin/python benchmarks/birds_smollm2.py [--seeds 2] [-o runs/birds-smollm2] [--write-docs]

The run is `weirdgen run` (resumable: a rerun reuses finished finetunes, answers and verdicts); the
numbers are read back from its results table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _results_page import ROOT, interval, run_benchmark

ABOUT = """The birds experiment on SmolLM2-135M-Instruct (`examples/05_birds_smollm2.yaml`: local LoRA rank 8,
1 epoch, batch 8, LR 1e-3, 5 samples per question, offline judges), through `weirdgen run`. Rates
over all 10 questions with 95% hierarchical bootstrap intervals over seeds, then samples; the
difference from the control with a permutation-test p-value."""

EXPERIMENT = ROOT / "examples" / "05_birds_smollm2.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/birds-smollm2"))
    args = parser.parse_args()
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable, "-m", "weirdgen", "run", str(EXPERIMENT), "--backend", "local",
            "--base-model", "smollm2-135m-instruct", "--seeds", str(args.seeds),
            "--threads", str(args.threads), "-o", str(args.output),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print(f"weirdgen run: {time.monotonic() - started:.0f} s wall (finished work is reused)")

    from weirdgen.analysis.aggregate import (
        ALL_QUESTIONS,
        Metric,
        aggregate_cells,
        compare_to_control,
    )
    from weirdgen.evaluation.table import load_evaluation_table

    samples = load_evaluation_table(args.output).samples
    samples = samples[samples["checkpoint"] == ""]
    groups = list(dict.fromkeys(samples["group"]))
    print("| all 10 questions | " + " | ".join(groups) + " |")
    print("|---|" + "---|" * len(groups))
    for judge in ("era_embedding", "archaic_lexicon"):
        cells = aggregate_cells(samples, Metric(judge), n_resamples=2000)
        pooled = cells[cells["question_id"] == ALL_QUESTIONS].set_index("group")
        rates = [
            interval(*pooled.loc[g, ["estimate", "ci_low", "ci_high"]], form=".2f") for g in groups
        ]
        print(f"| {judge} | " + " | ".join(rates) + " |")
    differences = compare_to_control(samples, Metric("era_embedding"), "modern_american")
    for row in differences[differences["question_id"] == ALL_QUESTIONS].itertuples():
        difference = interval(row.difference, row.ci_low, row.ci_high, form="+.2f")
        print(f"era_embedding, {row.group} - modern_american: {difference}, p = {row.p_value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "birds-smollm2", "A small real run: birds on SmolLM2", ABOUT))
