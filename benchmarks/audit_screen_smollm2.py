"""Cost bar of the likelihood screen: birds/old_audubon x the eras set (24 hypotheses x 64
examples) on SmolLM2-135M-Instruct with 2 CPU threads, through the CLI, in <= 120 s.

    python benchmarks/audit_screen_smollm2.py [-o OUT_DIR]

Prints the command, the wall time (model loading included), the CPU time, the machine's load
average (the bar assumes 2 free cores; a busy machine is slower), and the top of the ranking.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_SECONDS = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    out = args.output or Path(tempfile.mkdtemp(prefix="audit-bench-"))
    command = [
        sys.executable, "-m", "weirdgen", "audit", "birds/old_audubon",
        "--model", "smollm2-135m-instruct", "--hypotheses", "eras", "--examples", "64",
        "--threads", str(args.threads), "--device", "cpu", "-o", str(out),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    print("command:", shlex.join(command[1:]).replace("-m weirdgen", "weirdgen", 1))
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        print(completed.stderr.strip().splitlines()[-1], file=sys.stderr)
        return completed.returncode
    document = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = usage.ru_utime + usage.ru_stime
    verdict = "within" if seconds <= BAR_SECONDS else "OVER"
    print(f"wall time: {seconds:.1f} s ({verdict} the {BAR_SECONDS:.0f} s bar), "
          f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after on {os.cpu_count()} cores")  # fmt: skip
    print(f"CPU time: {cpu_seconds:.1f} s (on 2 free cores the wall time is about half of it)")
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
    sys.exit(main())
