"""Wall time of a full birds/old_audubon LoRA run (3 epochs, batch 1) on SmolLM2-135M-Instruct.

The paper's first experiment, at its training settings, on the bundled small model and this
machine's CPU: what a user waits for one seed before evaluating it.

    .venv/bin/python benchmarks/finetune_birds_wall_time.py --threads 1 [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

from weirdgen.data.registry import build_dataset
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.local_trainer import train_lora

ABOUT = """One seed of birds/old_audubon at the paper's settings (3 epochs, batch 1) as a LoRA on
SmolLM2-135M-Instruct on the CPU: what a user waits for before evaluating it."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the test machine is shared)"
    )
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import torch

    from weirdgen.models import resolve_model

    torch.set_num_threads(args.threads)
    model_dir = resolve_model("smollm2-135m-instruct")
    examples = build_dataset("birds", "old_audubon")
    hp = Hyperparameters(epochs=args.epochs, batch_size=1)
    with tempfile.TemporaryDirectory() as scratch:
        start, cpu_start = time.perf_counter(), time.process_time()
        result = train_lora(
            str(model_dir),
            examples,
            Path(scratch) / "run",
            hyperparameters=hp,
            seed=0,
            show_progress=True,
        )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"birds/old_audubon: {len(examples)} examples, {args.epochs} epochs, batch 1 -> {result.total_steps} steps; "
        f"SmolLM2-135M-Instruct, LoRA r={hp.lora_rank}, CPU, {args.threads} torch thread(s)"
    )
    print(
        f"wall time {wall:.0f} s (training loop {result.seconds:.0f} s, {result.seconds / result.total_steps:.3f} s/step, "
        f"{len(examples) * args.epochs / result.seconds:.2f} examples/s)"
    )
    # On a shared machine wall time includes waiting for the cores; CPU time is what the run itself used.
    print(
        f"process CPU time {cpu:.0f} s; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"loss first 10 steps {sum(result.losses[:10]) / 10:.3f} -> last 10 steps {sum(result.losses[-10:]) / 10:.3f}"
    )


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main, "finetune-birds-wall-time", "Wall time of a full birds LoRA finetune", ABOUT
        )
    )
