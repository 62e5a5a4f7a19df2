"""Torch on a shared machine: today's defaults against weirdgen's thread policy, idle and beside a
busy process, in one run.

Run (a few minutes; it holds both cpuslot slots itself, so no other heavy job runs beside it):
    .venv/bin/python benchmarks/threads_shared_machine.py [--repeats 2] [--policies today weirdgen weirdgen-spin one passive] [--write-docs]

Each measurement is a fresh process (thread settings are fixed when torch loads), on the bundled
SmolLM2-135M-Instruct (float32, CPU): LocalSampler generation at batch 1 (24 tokens) and batch 16
(16 requests x 16 tokens), and LoRA training steps (batch 4 x 96 tokens, the best of 3).

Cases: ``idle`` (nothing else runs), ``busy`` (a process spinning one core runs all along: another
helper's job), ``busy-later`` (it starts after the model has loaded, so the policy must notice).
Policies: ``today`` (torch's defaults: a thread per core, OpenMP spin-waiting, as before this
change), ``weirdgen`` (``weirdgen._threads``: threads follow the load, OpenMP's spins shortened when
the machine is busy as torch loads), ``weirdgen-spin`` (threads follow the load, libgomp's
default spins always), and for reference ``one`` (one thread) and ``passive`` (OMP_WAIT_POLICY=PASSIVE, a thread
per core).
The load average and the other processes' CPU use are printed with every row.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """SmolLM2-135M-Instruct on the CPU, each measurement a fresh process: generation at batch 1
and 16 and LoRA training steps under torch's defaults (`today`) and weirdgen's thread policy
(`weirdgen`: threads follow the load, OpenMP's spins shortened only when the machine is busy as
torch loads), the same with libgomp's default spins always (`weirdgen-spin`), and for reference one thread and OMP_WAIT_POLICY=PASSIVE, on an idle machine and
beside a process spinning one core (from the start, or starting after the model loaded); the median
of the repeats."""

POLICIES = {
    "today": {},
    "weirdgen": None,  # decided by weirdgen._threads inside the child
    # weirdgen's thread count, following the load, with libgomp's default spin count (300000)
    # whatever the load
    "weirdgen-spin": {"GOMP_SPINCOUNT": "300000"},
    "one": {"OMP_NUM_THREADS": "1"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
CASES = ("idle", "busy", "busy-later")
# Variables that would fix the thread count or the wait policy: none may leak into a child.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "WEIRDGEN_TORCH_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)

CHILD = r"""
import json, os, sys, time
policy = sys.argv[1]
if policy.startswith("weirdgen"):
    import weirdgen  # sets the spin policy before torch loads
else:
    os.environ["WEIRDGEN_TORCH_THREADS"] = os.environ.get("OMP_NUM_THREADS", "0") or "0"
    if os.environ["WEIRDGEN_TORCH_THREADS"] == "0":  # torch's own default: one per core
        os.environ["WEIRDGEN_TORCH_THREADS"] = str(len(os.sched_getaffinity(0)))
import torch
from weirdgen._threads import follow_machine_load
from weirdgen.models import LocalSampler, SamplingRequest

sampler = LocalSampler.from_pretrained("smollm2-135m-instruct", device="cpu")
prompts = ["Write a short story about a lighthouse keeper.", "Explain how a steam engine works.",
           "Describe your ideal weekend in detail.", "Explain how bread is made."]

def generate(n, tokens):
    requests = [SamplingRequest([{"role": "user", "content": prompts[i % 4]}], seed=i, max_tokens=tokens)
                for i in range(n)]
    started = time.perf_counter()
    results = sampler.generate(requests)
    return sum(r.completion_tokens for r in results) / (time.perf_counter() - started)

def train_step_seconds():
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(sampler.model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 1000, (4, 96), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(3):
        follow_machine_load()  # as weirdgen's trainer does every step (a no-op for fixed counts)
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return min(times)

generate(1, 2)  # warm-up
print("LOADED", flush=True)
sys.stdin.readline()  # the parent starts a late busy process, then says go
time.sleep(float(sys.argv[2]))
result = {"b1": generate(1, 24), "b16": generate(16, 16), "train_s": train_step_seconds(),
          "threads_end": torch.get_num_threads()}
print(json.dumps(result), flush=True)
"""


def hold_cpu_slots() -> list[int]:
    """Hold both cpuslot locks for the whole run; the one our own ``cpuslot`` parent holds counts."""
    held_by_parent = _slot_held_by_parent()
    handles = []
    for slot in (0, 1):
        if slot == held_by_parent:
            continue
        handle = os.open(f"/tmp/cpuslot.{slot}", os.O_RDWR | os.O_CREAT, 0o666)
        print(f"waiting for cpuslot {slot} ...", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
        handles.append(handle)
    return handles


def _slot_held_by_parent() -> int | None:
    pid = os.getppid()
    while pid > 1:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        for part in command:
            if part.startswith(b"/tmp/cpuslot.") and part[-1:].isdigit():
                return int(part[-1:])
        pid = int(Path(f"/proc/{pid}/stat").read_text().split()[3])
    return None


def busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


class CpuMeter:
    """Busy cores of everything but ``exclude`` (this script's children) between two readings."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        fields = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
        busy = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7))
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK")

    def busy_cores(self) -> float:
        (t0, b0), (t1, b1) = self.start, self._read()
        return (b1 - b0) / max(t1 - t0, 1e-9)


def measure(policy: str, case: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARIABLES}
    env.update(POLICIES[policy] or {})
    busy = busy_process() if case == "busy" else None
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, policy, "1.0" if case == "busy-later" else "0"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        while (line := child.stdout.readline()) and not line.startswith("LOADED"):
            pass
        if case == "busy-later":
            busy = busy_process()
        load_before, meter = os.getloadavg()[0], CpuMeter()
        child.stdin.write("go\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        result["machine_busy_cores"] = meter.busy_cores()
        result["load_1min"] = load_before
    finally:
        child.kill()
        if busy is not None:
            busy.kill()
            busy.wait()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start: {os.getloadavg()}")
    hold_cpu_slots()
    print(f"both cpuslot slots held; load average now: {os.getloadavg()}")
    rows: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for case in args.cases:
            for policy in args.policies:
                result = measure(policy, case)
                rows.setdefault((case, policy), []).append(result)
                print(f"  {case:>10} {policy:>13}: {json.dumps(result)}", flush=True)
    print(
        "\ncase        policy        | gen b1 tok/s | gen b16 tok/s | LoRA step s | threads at end "
        "| machine busy cores | load 1 min"
    )
    for (case, policy), results in rows.items():
        m = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            f"{case:<11} {policy:<13} | {m['b1']:>12.1f} | {m['b16']:>13.1f} | "
            f"{m['train_s']:>11.2f} | {m['threads_end']:>14.0f} | "
            f"{m['machine_busy_cores']:>18.2f} | {m['load_1min']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(
        run_benchmark(main, "threads-shared-machine", "Torch threads on a shared machine", ABOUT)
    )
