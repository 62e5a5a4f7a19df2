"""Time a scan of 201 years x 6 self-report probes on SmolLM2-135M (bar: <= 120 s on 2 cores).

Run: PYTHONPATH=src .venv/bin/python benchmarks/scan_cost.py [--adapter DIR] [--threads 2]
     [--before REF] [--write-docs]
Without --adapter a rank-8 LoRA on every projection, with random nonzero B matrices, is built once
(a fresh LoRA changes nothing; what is timed does not depend on what the adapter learnt). The scan
runs through the CLI in a child process (exact first-token distributions of base and adapter in one
pass: 1206 prompts, 2412 rows); it prints the command, the wall time (model loading and writing
included), the CPU time of the child, prompts per second and the bar's verdict.

With ``--before REF`` (a git commit of this repository) the same scan first runs on that commit's
code, in the same invocation and at its own default batching, and both times are printed with the
largest difference of any prompt's divergence between the two (speed-ups must not change results);
this checkout's scan then compares with the base (``--contrast base``), as the earlier code did.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from _results_page import run_benchmark
from audit_screen_smollm2 import checkout_source, run_timed

ABOUT = """`weirdgen scan` of 201 years x 6 self-report probes (1206 prompts) on SmolLM2-135M-Instruct and a
rank-8 LoRA, exact mode, through the CLI; with `--before REF` the same scan on that commit's code
first, in the same invocation. Bar: <= 120 s on 2 free cores."""

BAR_SECONDS = 120.0
REPOSITORY = Path(__file__).resolve().parent.parent


def random_adapter(base: Path, directory: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from weirdgen.finetune.config import DEFAULT_TARGET_MODULES

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(
            r=8,
            lora_alpha=16,
            target_modules=list(DEFAULT_TARGET_MODULES),
        ),
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.01)
    model.save_pretrained(directory)
    return directory


def run_scan(
    adapter: Path, base: Path, args: argparse.Namespace, out: Path, source: Path | None
) -> tuple[float, float]:
    """The scan through the CLI of ``source`` (None: this checkout's); (wall s, CPU s)."""
    command = [
        sys.executable, "-m", "weirdgen", "scan", str(adapter), "--base", str(base),
        "--family", args.family, "--probes", "self_report", "--threads", str(args.threads),
        "-o", str(out),
    ]  # fmt: skip
    if args.before and source is None:  # the same comparison as the earlier code's default
        command += ["--contrast", "base"]
    return run_timed(command, args.threads, source)


def divergences(out: Path) -> dict[tuple[str, str, str], float]:
    """Each prompt's score (its divergence under the scan's contrast), from the results table
    (or the prompts.csv that scans wrote before it)."""
    import pandas as pd

    if (out / "prompts.csv").is_file():
        old = pd.read_csv(out / "prompts.csv", dtype=str)
        keys = zip(old["value"], old["probe"], old["variant"], strict=True)
        return {k: float(d) for k, d in zip(keys, old["divergence"], strict=True)}
    table = pd.read_parquet(out / "samples.parquet")
    keys = zip(table["trigger_value"], table["question_id"], table["paraphrase"], strict=True)
    return {
        tuple(map(str, key)): float(score)
        for key, score in zip(keys, table["scan.score"], strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--family", default="year:1900..2100")
    parser.add_argument("--before", default=None, help="A git commit to time first.")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    print("command:", shlex.join(["python", *sys.argv]))
    from weirdgen.models import resolve_model

    base = resolve_model("smollm2-135m-instruct")
    adapter = args.adapter or random_adapter(base, Path(tempfile.mkdtemp(prefix="scan-bench-")))
    output = args.output or Path(tempfile.mkdtemp(prefix="scan-bench-out-"))
    load = os.getloadavg()[0]
    previous = None
    if args.before:
        source = checkout_source(args.before, Path(tempfile.mkdtemp(prefix="scan-before-")))
        previous = run_scan(adapter, base, args, output / "before", source)
        print(f"before ({args.before}): wall {previous[0]:.1f} s, CPU {previous[1]:.1f} s")
    total, cpu = run_scan(adapter, base, args, output, None)
    prompts = len(divergences(output))
    print(f"{prompts} prompts (base + adapter rows: {2 * prompts}); threads {args.threads}")
    print(
        f"scan wall time, load and write included: {total:.1f} s ({prompts / total:.1f} prompts/s)"
    )
    # On a shared machine wall time measures the neighbours too: CPU seconds / threads is what the
    # scan would take on idle cores (an estimate, shown beside the measured wall time).
    print(
        f"CPU time: {cpu:.1f} s -> on {args.threads} idle cores about {cpu / args.threads:.1f} s; "
        f"load average {load:.1f} before / {os.getloadavg()[0]:.1f} after"
    )
    if previous is not None:
        old, new = divergences(output / "before"), divergences(output)
        difference = max(abs(old[key] - value) for key, value in new.items())
        print(
            f"speed-up vs {args.before}: wall {previous[0] / total:.2f}x, CPU {previous[1] / cpu:.2f}x; "
            f"largest divergence difference {difference:.2e} bits"
        )
    print(f"outputs: {output}")
    print(
        f"bar: <= {BAR_SECONDS:.0f} s wall -> {'PASS' if total <= BAR_SECONDS else 'FAIL'} (measured wall time)"
    )


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "scan-cost", "Cost of a 201-value scan on SmolLM2", ABOUT))
