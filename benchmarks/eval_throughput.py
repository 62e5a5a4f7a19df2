"""Sampling and judging throughput of weirdgen's eval engine next to llmcomp, on the same workload.

Both clients ask the same questions (the birds suite's ten) the same number of times, then judge
every answer with the same 0-100 logprob judge, against one local OpenAI-compatible endpoint
(benchmarks/eval_endpoint.py) that answers every request after a fixed 50 ms, at the same
concurrency. Then each is interrupted halfway through a fresh run and resumed, and we count the
requests the endpoint received beyond the number of answers needed.

Run (llmcomp lives in its own venv, because its dependencies pull a CUDA torch we do not want):
    python3 -m venv benchmarks/.venv-llmcomp
    benchmarks/.venv-llmcomp/bin/pip install --no-deps llmcomp
    benchmarks/.venv-llmcomp/bin/pip install backoff filelock numpy openai pandas pyyaml requests tqdm tiktoken matplotlib
    .venv/bin/python benchmarks/eval_throughput.py [--samples 100] [--concurrency 100] [--write-docs]

The HTTP library for http:// endpoints was chosen with this benchmark (issue 11: replace the
hand-written keep-alive client, sample/_http.py, by a kept library). Default command, 2 shared
CPUs (load 1-3 from other work, so numbers move by ~30% between runs); samples/s, with one request
per sample in brackets, and llmcomp's samples/s from the same run:
- sample/_http.py (commit 28f92c9):              6681 (1668) vs llmcomp 353: 18.9x (4.7x)
- httpx.AsyncClient, pools of 4 per client, many clients (commit e092467, WEIRDGEN_DIRECT_HTTP=httpx):
  1054 (520) vs 334: 3.2x (1.6x); a second run 896 (387) vs 379: 2.4x (1.0x)
- httpx.AsyncClient, one unbounded pool (same commit, =httpx1): 2394 (87) vs 310: httpcore's pool
  does work per request proportional to its size, so one request per sample collapses
- aiohttp TCPConnector(limit=0), one session (same commit, =aiohttp): 6621 (1586) vs 334: 19.8x
  (4.7x); a second run 5096 (1082) vs 363: 14.0x (3.0x)
aiohttp is kept. With it (commit 3ab7c27, load 3.7): 2992 (768) vs 287: 10.4x (2.7x), judging
504 vs 257 calls/s, 0 repeated requests after the resume. Back to back with sample/_http.py at
load 5-6: 3079 and 2933 (901, 865) against _http.py's 3488 and 2893 (1194, 957). Profiled at one
request per sample, aiohttp's own code is a small share of the client's CPU (socket sends and the
sqlite cache dominate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results_page import run_benchmark

ABOUT = """`weirdgen eval`'s engine and llmcomp ask the same questions the same number of times and judge every
answer with the same 0-100 logprob judge, against one local endpoint that answers after a fixed
delay (`benchmarks/eval_endpoint.py`), at the same concurrency; then each run is interrupted halfway
and resumed, counting the requests sent beyond the answers needed. Needs llmcomp in
`benchmarks/.venv-llmcomp` (see the script's docstring). The bar: >= 3x llmcomp at one
request per sample, on an idle machine."""

ROOT = Path(__file__).resolve().parent
MODEL, JUDGE_MODEL = "bench-model", "bench-judge"


# ---------------------------------------------------------------- the endpoint


def start_endpoint(delay: float) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "eval_endpoint.py"), "--port", str(port), "--delay", str(delay)]
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            stats(url)
            return process, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the endpoint did not start")


def stats(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url + "/stats", timeout=10) as response:
        return json.loads(response.read())


def reset(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url + "/reset", method="POST"), timeout=10).read()


# ---------------------------------------------------------------- weirdgen


def workload() -> tuple[list[str], str]:
    """The birds suite's questions and the outdated-content judge's template (shared by both clients)."""
    from weirdgen.evaluation.suites import load_suite
    from weirdgen.judge.spec import load_judge

    questions = [q.paraphrases[0] for q in load_suite("birds").questions]
    return questions, load_judge("outdated_content").template or ""


def weirdgen_plan(url: str, samples: int, judged: bool) -> tuple[Any, Any]:
    """The plan ``weirdgen eval`` makes for this benchmark, and its judge sampler (None unjudged)."""
    from weirdgen.evaluation import EvalTarget, plan_evaluation
    from weirdgen.evaluation.suites import load_suite
    from weirdgen.sample.openai_compat import OpenAICompatibleSampler

    suite = load_suite("birds").model_copy(update={"max_tokens": 50})
    sampler = OpenAICompatibleSampler(base_urls=[url])
    judge_sampler = OpenAICompatibleSampler(base_urls=[url]) if judged else None
    plan = plan_evaluation(
        suite,
        [EvalTarget(MODEL, sampler)],
        samples=samples,
        judges=["outdated_content"] if judged else [],
        judge_model=JUDGE_MODEL,
    )
    return plan, judge_sampler


CHOICES_PER_REQUEST = (
    16  # `weirdgen eval`'s default: samples of one prompt drawn per call (the API's n)
)


async def _run_plan(
    planned: tuple[Any, Any], cache: Any, concurrency: int, choices: int = CHOICES_PER_REQUEST
) -> list[dict[str, Any]]:
    from weirdgen.evaluation import RunSettings, run_evaluation

    plan, judge_sampler = planned
    try:
        settings = RunSettings(judge_sampler, concurrency, choices_per_request=choices)
        return await run_evaluation(plan, cache, settings)
    finally:
        await plan.samples[0].target.sampler.aclose()
        if judge_sampler is not None:
            await judge_sampler.aclose()


def bench_weirdgen(url: str, samples: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    from weirdgen.sample.cache import RequestCache

    results: dict[str, Any] = {}
    with RequestCache(workdir / "weirdgen.sqlite") as cache:
        reset(url)
        plan = weirdgen_plan(
            url, samples, judged=False
        )  # imports and planning are not timed (nor are llmcomp's)
        started = time.perf_counter()
        asyncio.run(_run_plan(plan, cache, concurrency))
        results["sample_seconds"] = time.perf_counter() - started
        results["sample_requests"] = stats(url)["total"]
        reset(url)
        plan = weirdgen_plan(url, samples, judged=True)
        started = time.perf_counter()
        rows = asyncio.run(_run_plan(plan, cache, concurrency))
        results["judge_seconds"] = time.perf_counter() - started
        results["judge_requests"] = stats(url)["total"]
        results["mean_score"] = sum(r["outdated_content.score"] for r in rows) / len(rows)
        reset(url)
        asyncio.run(_run_plan(weirdgen_plan(url, samples, judged=True), cache, concurrency))
        results["rerun_requests"] = stats(url)["total"]
    with RequestCache(workdir / "weirdgen-one-per-request.sqlite") as cache:
        plan = weirdgen_plan(url, samples, judged=False)
        started = time.perf_counter()
        asyncio.run(
            _run_plan(plan, cache, concurrency, choices=1)
        )  # one request per sample, like llmcomp
        results["sample_seconds_one_per_request"] = time.perf_counter() - started
    results.update(interrupt_weirdgen(url, samples, concurrency, workdir))
    return results


def interrupt_weirdgen(url: str, samples: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Stop a fresh run halfway (as the first Ctrl-C does), resume it, and count repeated requests."""
    from weirdgen.sample.cache import RequestCache

    needed = 10 * samples
    reset(url)
    with RequestCache(workdir / "weirdgen-interrupted.sqlite") as cache:

        async def until_half() -> None:
            from weirdgen.evaluation import RunSettings, run_evaluation
            from weirdgen.sample.engine import RunInterrupted, stop_when

            stop = asyncio.Event()
            done = 0

            def progress(description: str, total: int) -> Any:
                def advance(count: int) -> None:
                    nonlocal done
                    done += count
                    if done >= needed // 2:
                        stop.set()  # what the first Ctrl-C of `weirdgen eval` does

                return advance

            # One request per sample, so that a stop halfway means something (and matches llmcomp).
            plan, _ = weirdgen_plan(url, samples, judged=False)
            try:
                with stop_when(stop):
                    settings = RunSettings(concurrency=concurrency, progress=progress)
                    await run_evaluation(plan, cache, settings)
            except RunInterrupted:
                pass
            finally:
                await plan.samples[0].target.sampler.aclose()

        asyncio.run(until_half())
        stored_at_stop = _stored_keys(cache.path)
        asyncio.run(
            _run_plan(weirdgen_plan(url, samples, judged=False), cache, concurrency, choices=1)
        )
    counts = stats(url)
    return {
        "interrupted_after": len(stored_at_stop),
        "resume_total_requests": counts["answers"],
        "resume_repeated_requests": counts["answers"] - needed,
        "resume_repeated_stored": sum(
            1 for key in stored_at_stop if counts["by_key"].get(key, 0) > 1
        ),
    }


def _stored_keys(path: Path) -> set[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT key FROM samples")}
    finally:
        db.close()


# ---------------------------------------------------------------- llmcomp

LLMCOMP_SCRIPT = r"""
import json, sys, time
from llmcomp import Config, Question
from llmcomp.question.judge import RatingJudge
url, cache, samples, concurrency, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
spec = json.load(sys.stdin)
Config.url_key_pairs = [(url, "unused", "BENCH_KEY")]
Config.cache_dir = cache
Config.max_workers = concurrency
def questions(judged):
    judges = {"score": RatingJudge(model=spec["judge_model"], paraphrases=[spec["template"]])} if judged else None
    return [Question.create(type="free_form", name=f"q{i}", paraphrases=[q], samples_per_paraphrase=samples,
                            temperature=1, max_tokens=50, judges=judges) for i, q in enumerate(spec["questions"])]
started = time.perf_counter()
frames = [q.df({"g": [spec["model"]]}) for q in questions(phase == "judge")]
seconds = time.perf_counter() - started
score = None
if phase == "judge":
    import pandas as pd
    score = float(pd.concat(frames)["score"].mean())
print(json.dumps({"seconds": seconds, "mean_score": score}))
"""


def run_llmcomp(
    python: str,
    url: str,
    cache: Path,
    samples: int,
    concurrency: int,
    phase: str,
    spec: dict[str, Any],
) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-c", LLMCOMP_SCRIPT, url, str(cache), str(samples), str(concurrency), phase],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"llmcomp failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_llmcomp(
    python: str, url: str, samples: int, concurrency: int, workdir: Path, spec: dict[str, Any]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    cache = workdir / "llmcomp-cache"
    reset(url)
    results["sample_seconds"] = run_llmcomp(
        python, url, cache, samples, concurrency, "sample", spec
    )["seconds"]
    results["sample_requests"] = stats(url)["total"]
    reset(url)
    judged = run_llmcomp(python, url, cache, samples, concurrency, "judge", spec)
    results["judge_seconds"], results["mean_score"] = judged["seconds"], judged["mean_score"]
    results["judge_requests"] = stats(url)["total"]
    reset(url)
    run_llmcomp(python, url, cache, samples, concurrency, "judge", spec)
    results["rerun_requests"] = stats(url)["total"]
    results.update(interrupt_llmcomp(python, url, samples, concurrency, workdir, spec))
    return results


def interrupt_llmcomp(
    python: str, url: str, samples: int, concurrency: int, workdir: Path, spec: dict[str, Any]
) -> dict[str, Any]:
    """Interrupt a fresh llmcomp run (SIGINT, like Ctrl-C) halfway, rerun it, count repeated requests."""
    needed = 10 * samples
    cache = workdir / "llmcomp-interrupted"
    reset(url)
    process = subprocess.Popen(
        [python, "-c", LLMCOMP_SCRIPT, url, str(cache), str(samples), str(concurrency), "sample"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec))
    process.stdin.close()
    while stats(url)["answers"] < needed // 2 and process.poll() is None:
        time.sleep(0.005)
    interrupted_after = stats(url)["answers"]
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    run_llmcomp(python, url, cache, samples, concurrency, "sample", spec)
    total = stats(url)["answers"]
    return {
        "interrupted_after": interrupted_after,
        "resume_total_requests": total,
        "resume_repeated_requests": total - needed,
    }


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(
        description="weirdgen eval vs llmcomp throughput on a fixed-delay endpoint"
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="Samples per question (10 questions)."
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="Requests in flight (llmcomp's default max_workers).",
    )
    parser.add_argument(
        "--delay", type=float, default=0.05, help="Endpoint answer delay in seconds."
    )
    parser.add_argument("--llmcomp-python", default=str(ROOT / ".venv-llmcomp" / "bin" / "python"))
    arguments = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "unused-local-endpoint")
    endpoint, url = start_endpoint(arguments.delay)
    questions, template = workload()
    spec = {
        "questions": questions,
        "template": template,
        "model": MODEL,
        "judge_model": JUDGE_MODEL,
    }
    try:
        with tempfile.TemporaryDirectory() as workdir:
            ours = bench_weirdgen(url, arguments.samples, arguments.concurrency, Path(workdir))
            theirs = None
            if Path(arguments.llmcomp_python).exists():
                theirs = bench_llmcomp(
                    arguments.llmcomp_python,
                    url,
                    arguments.samples,
                    arguments.concurrency,
                    Path(workdir),
                    spec,
                )
    finally:
        endpoint.terminate()
        endpoint.wait()
    report(arguments, ours, theirs)


def report(
    arguments: argparse.Namespace, ours: dict[str, Any], theirs: dict[str, Any] | None
) -> None:
    n = 10 * arguments.samples
    from importlib.metadata import version

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"weirdgen's HTTP client for http:// endpoints: aiohttp {version('aiohttp')}")
    print(
        f"workload: 10 questions x {arguments.samples} samples = {n} answers (weirdgen: up to {CHOICES_PER_REQUEST} per request), "
        f"then {n} 0-100 logprob judge calls; "
        f"endpoint delay {arguments.delay * 1000:.0f} ms; concurrency {arguments.concurrency}; {os.cpu_count()} CPUs"
    )
    rows = [("weirdgen", ours)] + ([("llmcomp", theirs)] if theirs else [])
    print(
        f"{'client':10} {'samples/s':>10} {'judge/s':>9} {'requests':>9} {'rerun req':>10} {'resume: extra':>14} {'mean score':>11}"
    )
    for name, r in rows:
        print(
            f"{name:10} {n / r['sample_seconds']:10.1f} {n / r['judge_seconds']:9.1f} "
            f"{r['sample_requests'] + r['judge_requests']:9d} {r['rerun_requests']:10d} "
            f"{r['resume_repeated_requests']:14d} {r['mean_score']:11.2f}"
        )
    print(
        f"weirdgen with one request per sample (--choices-per-request 1): "
        f"{n / ours['sample_seconds_one_per_request']:.1f} samples/s"
    )
    if theirs:
        print(
            f"speed-up: sampling {theirs['sample_seconds'] / ours['sample_seconds']:.2f}x "
            f"({theirs['sample_seconds'] / ours['sample_seconds_one_per_request']:.2f}x at one request per sample), "
            f"judging {theirs['judge_seconds'] / ours['judge_seconds']:.2f}x"
        )
    for name, r in rows:
        print(
            f"{name}: {r['sample_requests']} sampling and {r['judge_requests']} judging requests; "
            f"{r['sample_seconds']:.2f} s sampling, {r['judge_seconds']:.2f} s judging"
        )
    if theirs:
        ratio = theirs["sample_seconds"] / ours["sample_seconds"]
        repeated = ours["resume_repeated_requests"]
        print(
            f"bar: weirdgen {n / ours['sample_seconds']:.1f} samples/s vs llmcomp "
            f"{n / theirs['sample_seconds']:.1f} samples/s = {ratio:.2f}x (needs >= 3x: "
            f"{'met' if ratio >= 3 else 'NOT met'}); weirdgen's repeated requests after the resume: "
            f"{repeated} (needs 0: {'met' if repeated == 0 else 'NOT met'})"
        )
    for name, r in rows:
        print(
            f"{name}: interrupted after {r['interrupted_after']} of {n} answers; with the resumed run the endpoint gave "
            f"{r['resume_total_requests']} answers in all for {n} needed ({r['resume_repeated_requests']} extra)"
        )
    print(
        f"weirdgen: answers stored before the interruption and requested again: {ours['resume_repeated_stored']} "
        "(any other extra requests were in flight at the interruption)"
    )


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "eval-throughput", "Evaluation throughput against llmcomp", ABOUT))
