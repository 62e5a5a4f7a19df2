"""A restarted ``weirdgen serve`` with 25 finished fine-tuning jobs: time until /health answers,
until "serving at" is printed, and until the first chat on an adapter answers.

Run: cpuslot .venv/bin/python benchmarks/serve_restart.py [--adapters 25] [--chats 3] [--write-docs]

The serve folder is built as earlier runs leave it: 25 succeeded jobs in the fine-tuning ledger,
each with a LoRA adapter for the bundled SmolLM2-135M-Instruct (rank 8, random weights). The server
registers them at start and loads each when a request first names it (at most
--max-loaded-adapters, default 8, stay loaded). Goal (issue 27): /health within 10 s, and the first
chat on any adapter works. Before lazy loading every adapter was loaded before the server
answered: 95-172 s with 23 adapters.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _results_page import run_benchmark

ABOUT = """A restarted `weirdgen serve` over SmolLM2-135M-Instruct with 25 finished fine-tuning jobs in
its serve folder: seconds until `/health` answers and until "serving at" is printed, and the first
chat on adapters spread over the list (each loads on that first request)."""


def build_adapters(folder: Path, count: int) -> dict[str, Path]:
    """``count`` rank-8 LoRA adapters of SmolLM2 with random (nonzero) B matrices."""
    import torch
    from peft import LoraConfig, get_peft_model

    from weirdgen.models import load_model

    model, _ = load_model("smollm2-135m-instruct", device="cpu")
    lora = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
    adapters = {}
    for index in range(count):
        generator = torch.Generator().manual_seed(index)
        with torch.no_grad():
            for name, parameter in lora.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.01)
        path = folder / f"adapter-{index:02d}"
        lora.save_pretrained(path)
        adapters[f"ft:smollm2-135m-instruct:weirdgen:bench{index:02d}:{index:08d}"] = path
    return adapters


def record_jobs(state: Path, adapters: dict[str, Path]) -> None:
    from weirdgen.finetune.ledger import Ledger

    ledger = Ledger(state / "fine_tuning.sqlite")
    for index, (name, path) in enumerate(adapters.items()):
        ledger.create_job(
            id=f"ftjob-{index:024d}",
            backend="local",
            base_model="smollm2-135m-instruct",
            dataset_path=str(state / "unused.jsonl"),
            dataset_sha256="0" * 64,
            status="succeeded",
            model_id=name,
            adapter_path=str(path),
            tags={"fine_tuned_model": name},
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def restart(state: Path, names: list[str], chats: int, max_loaded: int) -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WEIRDGEN_SERVE_DIR": str(state)}
    command = [
        sys.executable, "-m", "weirdgen", "serve", "--model", "smollm2-135m-instruct",
        "--port", str(port), "--max-loaded-adapters", str(max_loaded),
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    printed: dict[str, float] = {}

    def watch() -> None:
        for line in process.stderr:
            if line.startswith("serving ") and "serving" not in printed:
                printed["serving"] = time.monotonic() - started

    threading.Thread(target=watch, daemon=True).start()
    failures = 0
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
            if process.poll() is not None or time.monotonic() - started > 300:
                print("the server did not start")
                return 1
        health_s = time.monotonic() - started
        listed = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=30).json()["data"]]
        print(f"/health answered after {health_s:.1f} s; 'serving at' printed after "
              f"{printed.get('serving', float('nan')):.1f} s; /v1/models lists {len(listed)} models")  # fmt: skip
        picks = [names[round(i * (len(names) - 1) / max(chats - 1, 1))] for i in range(chats)]
        for name in picks:
            body = {
                "model": name,
                "messages": [{"role": "user", "content": "Name a bird."}],
                "max_tokens": 8,
            }
            asked = time.monotonic()
            response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300)
            ok = response.status_code == 200
            failures += not ok
            print(
                f"first chat on {name}: HTTP {response.status_code} in {time.monotonic() - asked:.1f} s"
            )
        failures += set(names) - set(listed) != set()
        verdict = "PASS" if health_s <= 10 and not failures else "FAIL"
        print(
            f"{verdict}: /health within 10 s ({health_s:.1f} s), every adapter listed and answering"
        )
        return 0 if verdict == "PASS" else 1
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", type=int, default=25)
    parser.add_argument("--chats", type=int, default=3, help="Adapters asked one question each.")
    parser.add_argument("--max-loaded-adapters", type=int, default=8)
    args = parser.parse_args()
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        adapters = build_adapters(root / "adapters", args.adapters)
        state = root / "serve-state"
        record_jobs(state, adapters)
        print(f"{len(adapters)} finished jobs recorded in {state}")
        return restart(state, list(adapters), args.chats, args.max_loaded_adapters)


if __name__ == "__main__":
    sys.exit(
        run_benchmark(main, "serve-restart", "Restarting weirdgen serve with 25 adapters", ABOUT)
    )
