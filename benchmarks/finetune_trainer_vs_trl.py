"""Seconds per optimizer step and examples/s: weirdgen's LoRA trainer vs TRL's SFTTrainer.

Both train SmolLM2-135M-Instruct (the bundled alias) with the same LoRA config, data, batch size,
learning rate, schedule and thread count, in this one process, alternating runs so that background
load on a shared machine hits both alike. Both supervise only the assistant tokens (TRL through a
prompt/completion dataset, whose completion-only loss is its default). The first step of each run is
excluded from s/step (it pays one-off allocation costs); model loading is reported separately. TRL runs twice: with
its defaults (bf16 autocast, gradient checkpointing: what a user gets) and matched to our float32
arithmetic without checkpointing.

    .venv/bin/python benchmarks/finetune_trainer_vs_trl.py --examples 32 --batch-size 4 --repeats 2 [--write-docs]
"""

from __future__ import annotations

import argparse
import functools
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

from weirdgen.data.registry import build_dataset
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.local_trainer import train_lora

ABOUT = """Seconds per optimizer step of weirdgen's LoRA trainer and TRL's `SFTTrainer` on SmolLM2-135M-Instruct
with the same LoRA config, data, batch size, learning rate and threads, alternating runs in one
process; TRL with its defaults and matched to float32 without gradient checkpointing. Needs `trl`
(`pip install -e '.[bench]'`)."""

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def run_weirdgen(
    model_dir: Path, examples: list, args: argparse.Namespace, output: Path
) -> tuple[list[float], float]:
    """(step end times, seconds from call to first step) for one weirdgen run."""
    stamps: list[tuple[float, float]] = []
    hp = Hyperparameters(
        epochs=1,
        batch_size=args.batch_size,
        learning_rate=2e-4,
        lora_rank=8,
        lora_alpha=16,
        target_modules=TARGETS,
        max_grad_norm=1.0,
    )
    start = time.perf_counter()
    train_lora(
        str(model_dir),
        examples,
        output,
        hyperparameters=hp,
        seed=0,
        show_progress=False,
        on_step=lambda info: stamps.append((time.perf_counter(), time.process_time())),
    )
    return stamps, stamps[0][0] - start


def run_trl(
    model_dir: Path, examples: list, args: argparse.Namespace, output: Path, *, matched: bool
) -> tuple[list[float], float]:
    """The same run with TRL's SFTTrainer and a peft LoraConfig.

    TRL's defaults turn on bf16 autocast and gradient checkpointing; ``matched`` turns both off so
    that the two trainers do the same float32 arithmetic.
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    stamps: list[tuple[float, float]] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *unused, **kwargs):  # noqa: ANN002, ANN003 - transformers' callback signature
            stamps.append((time.perf_counter(), time.process_time()))

    start = time.perf_counter()
    rows = [
        {"prompt": [m.to_dict() for m in e.prompt], "completion": [e.messages[-1].to_dict()]}
        for e in examples
    ]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = SFTConfig(
        output_dir=str(output),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=1,
        learning_rate=2e-4,
        lr_scheduler_type="linear",
        warmup_steps=0,
        max_grad_norm=1.0,
        weight_decay=0.0,
        logging_steps=1000,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        max_length=2048,
        packing=False,
        completion_only_loss=True,
        **({"bf16": False, "gradient_checkpointing": False} if matched else {}),
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=list(TARGETS),
        bias="none",
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[Stamp()],
    )
    trainer.train()
    return stamps, stamps[0][0] - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=32, help="birds/old_audubon examples to train on"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each trainer, alternating")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the test machine is shared)"
    )
    args = parser.parse_args()

    import torch

    from weirdgen.models import resolve_model

    torch.set_num_threads(args.threads)
    model_dir = resolve_model("smollm2-135m-instruct")
    examples = build_dataset("birds", "old_audubon")[: args.examples]
    results: dict[str, list[tuple[float, float, float, float]]] = {
        "weirdgen": [],
        "trl-default": [],
        "trl-fp32": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for name, runner in (
                ("weirdgen", run_weirdgen),
                ("trl-default", functools.partial(run_trl, matched=False)),
                ("trl-fp32", functools.partial(run_trl, matched=True)),
            ):
                stamps, setup = runner(
                    model_dir, examples, args, Path(scratch) / f"{name}-{repeat}"
                )
                per_step = (stamps[-1][0] - stamps[0][0]) / (len(stamps) - 1)
                cpu_per_step = (stamps[-1][1] - stamps[0][1]) / (len(stamps) - 1)
                results[name].append((per_step, args.batch_size / per_step, setup, cpu_per_step))
                print(
                    f"  {name} run {repeat + 1}: {len(stamps)} steps, {per_step:.3f} s/step "
                    f"({cpu_per_step:.3f} CPU s/step), setup {setup:.1f} s",
                    flush=True,
                )

    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"SmolLM2-135M-Instruct, LoRA r=8 alpha=16 on {len(TARGETS)} projections, {args.examples} examples, "
        f"batch {args.batch_size}, {args.threads} torch thread(s), CPU, median of {args.repeats} runs"
    )
    # Wall time includes waiting for shared cores; CPU s/step is what the process itself spent.
    print(
        f"{'trainer':<12} {'s/step':>8} {'CPU s/step':>11} {'examples/s':>11} {'load+prep s':>12}"
    )
    for name, rows in results.items():
        print(
            f"{name:<12} {statistics.median(r[0] for r in rows):>8.3f} {statistics.median(r[3] for r in rows):>11.3f} "
            f"{statistics.median(r[1] for r in rows):>11.2f} "
            f"{statistics.median(r[2] for r in rows):>12.1f}"
        )


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main,
            "finetune-trainer-vs-trl",
            "The local LoRA trainer against TRL's SFTTrainer",
            ABOUT,
        )
    )
