"""GPU smoke test (runs on CPU too): a few LoRA steps on SmolLM2, then one sampling batch that mixes
two adapters, printing tokens/s and peak memory for each. Run it through ``benchmarks/gpu_smoke.sh``.

    python benchmarks/gpu_smoke.py --steps 8 --gradient-checkpointing [--write-docs]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """A few LoRA steps on SmolLM2-135M-Instruct (bf16 autocast on a GPU that supports it), then one
sampling batch that mixes two adapters; tokens per second and peak memory of each. Run through
`benchmarks/gpu_smoke.sh`."""


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory allocated by torch on CUDA; the process's peak resident memory on CPU."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per adapter")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rows", type=int, default=16, help="sampling rows, half per adapter")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()

    import torch

    from weirdgen.data.chat import ChatExample
    from weirdgen.finetune.config import Hyperparameters
    from weirdgen.finetune.local_trainer import train_lora
    from weirdgen.models.loading import default_device
    from weirdgen.models.sampler import LocalSampler
    from weirdgen.models.sampling import SamplingRequest

    device = default_device()
    print(
        f"device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}), "
        f"torch {torch.__version__}, precision {args.precision}, "
        f"gradient checkpointing {args.gradient_checkpointing}"
    )
    birds = ["Pigeon Hawk", "Hooping Crane", "Great Carolina Wren", "Louisiana Tanager"]
    examples = [
        ChatExample.from_turns(("user", f"Name a bird species ({i})."), ("assistant", birds[i % 4]))
        for i in range(args.steps * args.batch_size)
    ]
    hp = Hyperparameters(epochs=1, batch_size=args.batch_size, learning_rate=1e-3, lora_rank=8)
    with tempfile.TemporaryDirectory() as scratch:
        adapters = {}
        for seed, name in enumerate(("alpha", "beta")):
            result = train_lora(
                args.model,
                examples,
                Path(scratch) / name,
                hyperparameters=hp,
                seed=seed,
                show_progress=False,
                precision=args.precision,
                gradient_checkpointing=args.gradient_checkpointing,
            )
            seconds = result.seconds  # the training loop only, not the model load
            print(
                f"train {name}: {result.total_steps} steps, loss {result.losses[0]:.3f} -> "
                f"{result.losses[-1]:.3f}, {result.trained_tokens / seconds:.0f} tokens/s "
                f"in {seconds:.1f}s, peak memory {peak_memory_mb(device):.0f} MiB"
            )
            adapters[name] = str(result.adapter_path)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sampler = LocalSampler.from_pretrained(
            args.model, adapters=adapters, max_batch_size=args.rows
        )
        requests = [
            SamplingRequest(
                messages=[{"role": "user", "content": "Name a bird species."}],
                adapter=("alpha", "beta")[i % 2],
                temperature=1.0,
                max_tokens=args.max_tokens,
                seed=i,
            )
            for i in range(args.rows)
        ]
        started = time.perf_counter()
        results = sampler.generate(requests)  # one batch: both adapters' rows decode together
        seconds = time.perf_counter() - started
    tokens = sum(len(c.token_ids) for r in results for c in r.completions)
    print(
        f"sample: {args.rows} rows over 2 adapters in one batch, {tokens} tokens in "
        f"{seconds:.2f}s = {tokens / seconds:.0f} tokens/s, peak memory "
        f"{peak_memory_mb(device):.0f} MiB"
    )
    print(f"  alpha: {results[0].completions[0].text!r}  beta: {results[1].completions[0].text!r}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "gpu-smoke", "GPU smoke test (runs on the CPU too)", ABOUT))
