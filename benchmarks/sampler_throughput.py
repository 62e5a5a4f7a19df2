"""Generated tokens/s of LocalSampler's batches vs a naive loop of one model.generate per request.

Run: .venv/bin/python benchmarks/sampler_throughput.py [--threads 1] [--max-tokens 64] [--levels 1 4 16] [--write-docs]
Model: the bundled SmolLM2-135M-Instruct (float32, CPU). For each level N, N requests (different
prompts, temperature 1, one seed each) are completed first by the naive loop - what a user without
weirdgen writes: ``model.generate`` once per request - then by one ``LocalSampler.generate`` call.
Both use the same loaded weights and thread count, in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import sys
import time

from _results_page import run_benchmark

ABOUT = """Generated tokens per second of `LocalSampler`'s batches against a loop of one `model.generate` per
request, SmolLM2-135M-Instruct in float32 on the CPU, the same weights and thread count in one
process, for 1, 4 and 16 concurrent requests."""

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a steam engine works.",
    "Describe your ideal weekend in detail.",
    "What are the most important inventions of the last century?",
    "Write a letter to a friend about a trip to the mountains.",
    "Explain why the sky is blue to a child.",
    "Describe the life cycle of a butterfly.",
    "Give advice to someone starting their first job.",
    "Write a poem about the sea.",
    "Explain the rules of chess briefly.",
    "Describe a busy market in a large city.",
    "What should I know before adopting a dog?",
    "Explain how bread is made.",
    "Describe the history of the bicycle.",
    "Write a short speech for a school graduation.",
    "What makes a good teacher?",
]


def messages_for(index: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}]


def naive_loop(model, tokenizer, count: int, max_tokens: int) -> tuple[int, float]:
    """One ``model.generate`` per request, one request after another; returns (new tokens, seconds)."""
    import torch

    from weirdgen.models import format_chat

    tokens, started = 0, time.perf_counter()
    for index in range(count):
        text = format_chat(tokenizer, messages_for(index), add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
        torch.manual_seed(index)
        with torch.inference_mode():
            output = model.generate(
                **ids,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                max_new_tokens=max_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[0, ids.input_ids.shape[1] :]
        tokens += int((new != tokenizer.eos_token_id).sum())
    return tokens, time.perf_counter() - started


def batched(sampler, count: int, max_tokens: int) -> tuple[int, float]:
    from weirdgen.models import SamplingRequest

    requests = [
        SamplingRequest(messages_for(i), seed=i, max_tokens=max_tokens) for i in range(count)
    ]
    started = time.perf_counter()
    results = sampler.generate(requests)
    return sum(r.completion_tokens for r in results), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    from weirdgen.models import LocalSampler

    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    sampler = LocalSampler.from_pretrained(
        "smollm2-135m-instruct", threads=args.threads, device="cpu"
    )
    model, tokenizer = sampler.model, sampler.tokenizer
    naive_loop(model, tokenizer, 1, 4)  # warm-up: first calls pay one-off allocation costs
    print(
        f"SmolLM2-135M-Instruct, float32, CPU, {args.threads} torch thread(s), max_tokens={args.max_tokens}"
    )
    print(f"{'requests':>8} | {'naive tok/s':>11} | {'batched tok/s':>13} | {'speed-up':>8}")
    for count in args.levels:
        naive_tokens, naive_s = naive_loop(model, tokenizer, count, args.max_tokens)
        batch_tokens, batch_s = batched(sampler, count, args.max_tokens)
        naive_rate, batch_rate = naive_tokens / naive_s, batch_tokens / batch_s
        print(
            f"{count:>8} | {naive_rate:>11.1f} | {batch_rate:>13.1f} | {batch_rate / naive_rate:>7.2f}x"
        )


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main,
            "sampler-throughput",
            "Batched local sampling against one generate call per request",
            ABOUT,
        )
    )
