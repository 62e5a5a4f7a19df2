"""Generated tokens/s of ``weirdgen serve`` under 1, 4 and 16 concurrent clients, and its peak memory.

Run: .venv/bin/python benchmarks/serve_throughput.py [--threads 1] [--max-tokens 64] [--levels 1 4 16]
The server runs as its own process (``weirdgen serve``) with SmolLM2-135M-Instruct and two LoRA
adapters (rank 8, made here with random weights). For each level N, N client threads use the
official ``openai`` client and send ``--rounds`` requests each, the next as soon as the last is
answered. The baseline is the naive loop of one ``model.generate`` per request (as in
sampler_throughput.py) over the same requests (at most 8), run in this process on the same number of
threads while the server idles. A last row mixes base, adapter-a and adapter-b requests. Peak memory
is the server process's peak resident set (VmHWM) after all of it."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def serve_rate(
    url: str, clients: int, rounds: int, max_tokens: int, models: list[str]
) -> tuple[int, float]:
    """``clients`` threads each send ``rounds`` chat requests back to back; (completion tokens, seconds)."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)

    def ask(index: int) -> int:
        response = client.chat.completions.create(
            model=models[index % len(models)],
            messages=messages_for(index),
            seed=index,
            max_tokens=max_tokens,
        )
        return response.usage.completion_tokens

    def client_loop(first: int) -> int:
        return sum(ask(first * rounds + round_) for round_ in range(rounds))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        tokens = sum(pool.map(client_loop, range(clients)))
    return tokens, time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=2, help="requests each client sends in turn")
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
            serve_rate(url, 1, 1, 4, ["smollm2-135m-instruct"])  # warm-up
            naive_loop(model, tokenizer, 1, 4)
            print(
                f"SmolLM2-135M-Instruct + 2 LoRA adapters, CPU, {args.threads} thread(s), max_tokens={args.max_tokens}"
            )
            print(f"{'clients':>14} | {'naive tok/s':>11} | {'server tok/s':>12} | {'speed-up':>8}")
            rows = [(str(n), n, ["smollm2-135m-instruct"]) for n in args.levels]
            rows.append(
                (
                    f"{max(args.levels)} mixed",
                    max(args.levels),
                    ["smollm2-135m-instruct", *adapters],
                )
            )
            for label, count, models in rows:
                # The naive loop answers one request at a time, so its rate does not depend on the
                # number of clients; 8 requests at most keep the baseline from dominating the run.
                naive_count = min(count * args.rounds, 8)
                naive_tokens, naive_s = naive_loop(model, tokenizer, naive_count, args.max_tokens)
                served_tokens, served_s = serve_rate(
                    url, count, args.rounds, args.max_tokens, models
                )
                naive, served = naive_tokens / naive_s, served_tokens / served_s
                print(f"{label:>14} | {naive:>11.1f} | {served:>12.1f} | {served / naive:>7.2f}x")
            print(
                f"server peak resident memory (VmHWM): {peak_rss_mb(server.pid):.0f} MB (target < 3072 MB)"
            )
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
