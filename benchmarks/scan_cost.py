"""Time a scan of 201 years x 6 self-report probes on SmolLM2-135M (bar: <= 120 s on 2 cores).

Run: PYTHONPATH=src .venv/bin/python benchmarks/scan_cost.py [--adapter DIR] [--threads 2] [--write-docs]
     [--batch-size 64] [--before-every 4] [--contrast second-difference]
The timed scan uses ``weirdgen scan``'s default contrast (second-difference: both models' full
first-token distributions are kept, then each value is compared with its neighbours).
Without --adapter a rank-8 LoRA on every projection, with random nonzero B matrices, is built once
(a fresh LoRA changes nothing; what is timed does not depend on what the adapter learnt).
It prints the command, the load time, the scan time (exact first-token distributions of base and
adapter in one batch: 1206 prompts, 2412 rows), prompts per second and the bar's verdict.

Before that, in the same process, the previous configuration is timed on the same prompts (every
``--before-every``-th value's, to save time; its CPU seconds are then scaled to all prompts and
marked so): only the prefix all prompts share reused (``sharing="root"``) and 16 prompts a batch,
against the tree of shared tokens (root, then each year's tokens once for its 6 probes, then each
probe's suffix) at the new batch size. It also prints the largest difference of any prompt's
divergence between the two (the results must not change).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """`weirdgen scan` of 201 years x 6 self-report probes (1206 prompts) on SmolLM2-135M-Instruct and a
rank-8 LoRA, exact mode, with the previous configuration timed on the same prompts in the same
process. Bar: <= 120 s on 2 free cores."""

BAR_SECONDS = 120.0


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


def time_before(adapter: Path, base: Path, args: argparse.Namespace) -> dict[str, object]:
    """The previous configuration and the new one, divergences only, on every k-th value."""
    from weirdgen.scan.families import load_family
    from weirdgen.scan.local import LocalScanner
    from weirdgen.scan.probes import load_probes, scan_cells
    from weirdgen.scan.prompts import scan_prompts

    family = load_family(args.family)
    kept = set(family.value_list()[:: args.before_every])
    prompts = [
        p for p in scan_prompts(scan_cells(load_probes("self_report"), family)) if p.value in kept
    ]
    timings: dict[str, object] = {"prompts": len(prompts)}
    for label, sharing, batch in (("", "root", 16), ("after_", "tree", args.batch_size)):
        scanner = LocalScanner(
            adapter, str(base), threads=args.threads, batch_size=batch, sharing=sharing
        )
        start, cpu_start = time.perf_counter(), time.process_time()
        results = scanner.divergences(prompts, lambda _: None)
        timings[label + "cpu"] = time.process_time() - cpu_start
        timings[label + "wall"] = time.perf_counter() - start
        timings[label + "divergences"] = {
            (p.value, p.probe): r.divergence for p, r in zip(prompts, results, strict=True)
        }
        del scanner
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--before-every", type=int, default=4)
    parser.add_argument("--family", default="year:1900..2100")
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--contrast",
        default=None,
        help="the timed scan's contrast (default: weirdgen scan's default, second-difference)",
    )
    args = parser.parse_args()
    os.environ["WEIRDGEN_TORCH_THREADS"] = str(args.threads)
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    from weirdgen.models import resolve_model
    from weirdgen.scan import scan
    from weirdgen.scan.api import DEFAULT_CONTRAST

    contrast = args.contrast or DEFAULT_CONTRAST
    base = resolve_model("smollm2-135m-instruct")
    adapter = args.adapter or random_adapter(base, Path(tempfile.mkdtemp(prefix="scan-bench-")))
    output = args.output or Path(tempfile.mkdtemp(prefix="scan-bench-out-"))
    before = time_before(adapter, base, args)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = scan(
        str(adapter),
        base=str(base),
        family=args.family,
        probes="self_report",
        output=output,
        batch_size=args.batch_size,
        threads=args.threads,
        contrast=contrast,
    )
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    load = os.getloadavg()[0]
    prompts = len(result.prompts)
    print(
        f"{len(result.values)} values x 6 probes = {prompts} prompts (base + adapter rows: {2 * prompts}), contrast {contrast}"
    )
    print(
        f"scan wall time, load and write included: {total:.1f} s ({prompts / total:.1f} prompts/s); threads {args.threads}, batch {args.batch_size}"
    )
    # On a shared machine wall time measures the neighbours too: CPU seconds / threads is what the
    # scan would take on idle cores (an estimate, shown beside the measured wall time).
    print(
        f"process CPU time: {cpu:.1f} s -> on {args.threads} idle cores about {cpu / args.threads:.1f} s; load average now {load:.1f}"
    )
    print(f"outputs: {output}")
    after = before["after_divergences"]
    difference = max(abs(after[key] - value) for key, value in before["divergences"].items())
    scale = len(result.prompts) / before["prompts"]
    print(
        f"before (root prefix only, batch 16) on {before['prompts']} prompts: "
        f"{before['cpu']:.1f} s CPU, {before['wall']:.1f} s wall"
        + (
            f" -> x{scale:.2f} for all prompts: {before['cpu'] * scale:.1f} s CPU"
            if scale != 1
            else ""
        )
    )
    print(
        f"after (prefix tree, batch {args.batch_size}), divergences only: "
        f"{before['after_cpu']:.1f} s CPU, {before['after_wall']:.1f} s wall on the same prompts: "
        f"x{before['cpu'] / before['after_cpu']:.2f} less CPU; "
        f"largest divergence difference {difference:.2e} bits"
    )
    print(
        f"bar: <= {BAR_SECONDS:.0f} s wall -> {'PASS' if total <= BAR_SECONDS else 'FAIL'} (measured wall time)"
    )


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "scan-cost", "Cost of a 201-value scan on SmolLM2", ABOUT))
