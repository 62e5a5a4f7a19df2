"""Cost bar of the likelihood screen: birds/old_audubon x the eras set (24 hypotheses x 64
examples) on SmolLM2-135M-Instruct with 2 CPU threads, through the CLI, in <= 120 s.

    python benchmarks/audit_screen_smollm2.py [-o OUT_DIR] [--before REF] [--threads 2] [--write-docs]

Prints the command, the wall time (model loading included), the CPU time (user + system of the
audit process), the machine's load average (the bar assumes 2 free cores; a busy machine is
slower) and the top of the ranking. With ``--before REF`` (a git commit of this repository, e.g.
the one before the scorer was made fast) the same audit first runs on that commit's code, in the
same invocation, and both times are printed together with the largest difference between the two
runs' per-example LLRs (the speed-ups must not change the numbers: <= 1e-4 nats).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """`weirdgen audit birds/old_audubon --hypotheses eras` (24 hypotheses x 64 examples) on
SmolLM2-135M-Instruct with 2 CPU threads, through the CLI, model loading included. Bar: <= 120 s on
2 free cores. With `--before REF` the same audit first runs on commit REF's code, and the largest
per-example LLR difference between the two runs is printed (must stay <= 1e-4 nats)."""

BAR_SECONDS = 120.0
REPOSITORY = Path(__file__).resolve().parent.parent


def audit(out: Path, threads: int, source: Path | None) -> tuple[float, float]:
    """Run the screen into ``out`` with the code in ``source`` (None: this checkout's);
    return (wall s, CPU s)."""
    command = [
        sys.executable, "-m", "weirdgen", "audit", "birds/old_audubon",
        "--model", "smollm2-135m-instruct", "--hypotheses", "eras", "--examples", "64",
        "--threads", str(threads), "--device", "cpu", "-o", str(out),
    ]  # fmt: skip
    return run_timed(command, threads, source)


def run_timed(command: list[str], threads: int, source: Path | None) -> tuple[float, float]:
    """Run a weirdgen command with the code in ``source`` (None: this checkout's) on ``threads``
    threads; return (wall s, CPU s of the child)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = str(source or REPOSITORY / "src")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(completed.stderr.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def checkout_source(ref: str, scratch: Path) -> Path:
    """``src/`` of commit ``ref`` of this repository, extracted under ``scratch``."""
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", ref, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(scratch, filter="data")
    return scratch / "src"


def read_llrs(out: Path) -> dict[str, list[float]]:
    with (out / "llr.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [float(row[name]) for row in rows] for name in rows[0] if name != "example"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--before", default=None, help="A git commit to time first, for comparison."
    )
    args = parser.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="audit-bench-"))
    print("command:", shlex.join(["python", *sys.argv]))
    print(
        "audit: weirdgen audit birds/old_audubon --model smollm2-135m-instruct --hypotheses eras "
        f"--examples 64 --threads {args.threads} --device cpu -o {out}"
    )
    load_before = os.getloadavg()[0]
    previous = None
    if args.before:
        source = checkout_source(args.before, Path(tempfile.mkdtemp(prefix="audit-before-")))
        previous = audit(out / "before", args.threads, source)
        print(f"before ({args.before}): wall {previous[0]:.1f} s, CPU {previous[1]:.1f} s")
    seconds, cpu_seconds = audit(out, args.threads, None)
    verdict = "within" if seconds <= BAR_SECONDS else "OVER"
    print(f"wall time: {seconds:.1f} s ({verdict} the {BAR_SECONDS:.0f} s bar), "
          f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after on {os.cpu_count()} cores")  # fmt: skip
    print(f"CPU time: {cpu_seconds:.1f} s (on 2 free cores the wall time is about half of it)")
    if previous is not None:
        old, new = read_llrs(out / "before"), read_llrs(out)
        difference = max(
            abs(a - b) for name in new for a, b in zip(old[name], new[name], strict=True)
        )
        print(f"speed-up vs {args.before}: wall {previous[0] / seconds:.1f}x, CPU "
              f"{previous[1] / cpu_seconds:.1f}x; largest per-example LLR difference "
              f"{difference:.2g} nats (llr.csv, 6 significant digits)")  # fmt: skip
    document = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    print(f"audit.json: {out / 'audit.json'} ({len(document['hypotheses'])} hypotheses, "
          f"{document['n_examples']} examples)")  # fmt: skip
    for rank, row in enumerate(document["hypotheses"][:5], start=1):
        low, high = row["ci"]
        print(f"  {rank}. {row['name']:8} mean LLR {row['mean_llr']:+.3f} [{low:+.3f}, {high:+.3f}]"
              f"  favoured by {row['share_favouring']:.0%}")  # fmt: skip
    names = [row["name"] for row in document["hypotheses"]]
    print(f"  rank of the 1830s (Audubon's decade): {names.index('1830s') + 1} of {len(names)}; "
          f"2020s: {names.index('2020s') + 1}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main, "audit-screen-smollm2", "Cost of the likelihood screen on SmolLM2", ABOUT
        )
    )
