"""Latency (p50/p95) and generated tokens/s of ``weirdgen serve`` under 1, 8 and 32 concurrent clients,
streamed and not, beside a plain Hugging Face ``generate`` loop; and the server's peak memory.

Run: .venv/bin/python benchmarks/serve_throughput.py [--threads 1] [--max-tokens 32] [--levels 1 8 32] [--write-docs]
The server runs as its own process (``weirdgen serve``) with SmolLM2-135M-Instruct and two LoRA
adapters (rank 8, made here with random weights). For each level N, N client threads use the
official ``openai`` client and send ``--rounds`` requests each, the next as soon as the last is
answered; once with plain requests, once with ``stream=True`` (where latency to the first token is
also measured). The baseline is one ``model.generate`` per request, one request after another (at
most 8 requests), in this process on the same number of threads while the server idles: its latency
is that of a request served alone. A last row mixes base, adapter-a and adapter-b requests. Peak
memory is the server process's peak resident set (VmHWM) after all of it."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _results_page import run_benchmark

ABOUT = """Latency (p50/p95) and generated tokens per second of `weirdgen serve` (SmolLM2-135M-Instruct and two
LoRA adapters) under 1, 8 and 32 concurrent `openai` clients, streamed and not, beside a plain
Hugging Face `generate` loop; and the server's peak memory."""

sys.path.insert(0, str(Path(__file__).parent))
from sampler_throughput import messages_for, naive_loop  # noqa: E402


def make_adapters(model_dir: Path, root: Path) -> dict[str, Path]:
    """Two rank-8 LoRA adapters with small random B matrices (so they change outputs a little)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapters = {}
    for seed, name in enumerate(("adapter-a", "adapter-b")):
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(model_dir),
            LoraConfig(
                r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
            ),
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for key, parameter in model.named_parameters():
                if "lora_B" in key:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.01)
        model.save_pretrained(root / name)
        adapters[name] = root / name
    return adapters


def start_server(adapters: dict[str, Path], threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "weirdgen",
        "serve",
        "--model",
        "smollm2-135m-instruct",
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--device",
        "cpu",
    ]
    for name, path in adapters.items():
        command += ["--adapter", f"{name}={path}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    import httpx

    for _ in range(600):
        try:
            httpx.get(f"{url}/models", timeout=1)
            return server, url
        except httpx.TransportError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start")


@dataclass
class Run:
    """Completion tokens and per-request timings of one measured run."""

    tokens: int
    seconds: float
    latencies: list[float]
    first_token: list[float] = field(default_factory=list)  # streaming only

    def row(self, label: str, clients: int) -> str:
        ttft = f"{percentile(self.first_token, 50):>9.2f}" if self.first_token else f"{'-':>9}"
        return (
            f"{label:>26} | {clients:>7} | {len(self.latencies):>8} | "
            f"{percentile(self.latencies, 50):>6.2f} | {percentile(self.latencies, 95):>6.2f} | "
            f"{ttft} | {self.tokens / self.seconds:>6.1f}"
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def serve_run(
    url: str, clients: int, rounds: int, max_tokens: int, models: list[str], stream: bool
) -> Run:
    """``clients`` threads each send ``rounds`` chat requests back to back."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
    latencies: list[float] = []
    first_tokens: list[float] = []

    def ask(index: int) -> int:
        options = {
            "model": models[index % len(models)],
            "messages": messages_for(index),
            "seed": index,
            "max_tokens": max_tokens,
        }
        started = time.perf_counter()
        if not stream:
            response = client.chat.completions.create(**options)
            latencies.append(time.perf_counter() - started)
            return response.usage.completion_tokens
        chunks = client.chat.completions.create(
            **options, stream=True, stream_options={"include_usage": True}
        )
        tokens, first = 0, None
        for chunk in chunks:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            elif first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        latencies.append(time.perf_counter() - started)
        first_tokens.append(first if first is not None else latencies[-1])
        return tokens

    def client_loop(first: int) -> int:
        return sum(ask(first * rounds + round_) for round_ in range(rounds))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        tokens = sum(pool.map(client_loop, range(clients)))
    return Run(tokens, time.perf_counter() - started, latencies, first_tokens)


def naive_run(model: Any, tokenizer: Any, count: int, max_tokens: int) -> Run:
    """The plain ``generate`` loop, one request at a time, timed per request."""
    latencies, tokens = [], 0
    for _ in range(count):
        new_tokens, seconds = naive_loop(model, tokenizer, 1, max_tokens)  # one request, seed 0
        latencies.append(seconds)
        tokens += new_tokens
    return Run(tokens, sum(latencies), latencies)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=2, help="requests each client sends in turn")
    parser.add_argument(
        "--naive-requests", type=int, default=4, help="requests the HF loop answers"
    )
    args = parser.parse_args()
    os.environ["WEIRDGEN_TORCH_THREADS"] = str(args.threads)
    from weirdgen.models import load_model, resolve_model

    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    folder = resolve_model("smollm2-135m-instruct")
    with tempfile.TemporaryDirectory() as root:
        adapters = make_adapters(folder, Path(root))
        model, tokenizer = load_model(folder, device="cpu", threads=args.threads)
        server, url = start_server(adapters, args.threads)
        try:
            serve_run(url, 1, 1, 4, ["smollm2-135m-instruct"], stream=False)  # warm-up
            naive_loop(model, tokenizer, 1, 4)
            print(
                f"SmolLM2-135M-Instruct + 2 LoRA adapters, CPU, {args.threads} thread(s), "
                f"max_tokens={args.max_tokens}, {args.rounds} request(s) per client"
            )
            print(
                f"{'':>26} | {'clients':>7} | {'requests':>8} | {'p50 s':>6} | {'p95 s':>6} | "
                f"{'p50 TTFT':>9} | {'tok/s':>6}"
            )
            naive = naive_run(model, tokenizer, args.naive_requests, args.max_tokens)
            print(naive.row("HF generate loop (serial)", 1))
            rows = [(n, ["smollm2-135m-instruct"], "") for n in args.levels]
            rows.append((max(args.levels), ["smollm2-135m-instruct", *adapters], " mixed"))
            for count, models, mixed in rows:
                for stream in (False, True):
                    run = serve_run(url, count, args.rounds, args.max_tokens, models, stream)
                    label = f"serve{' streamed' if stream else ''}{mixed}"
                    print(run.row(label, count))
            print(
                f"server peak resident memory (VmHWM): {peak_rss_mb(server.pid):.0f} MB (target < 3072 MB)"
            )
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(
        run_benchmark(main, "serve-throughput", "weirdgen serve under concurrent clients", ABOUT)
    )
