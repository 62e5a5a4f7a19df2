"""Every toy-world number the documentation shows, from the command line alone: `weirdgen demo` (one
finetune per shipped base) and the replication run, `weirdgen toyworld run` of every phenomenon over
the pretraining seeds with 3 finetuning seeds each (resumable; a base weirdgen does not ship is
pretrained first), with the tables they print.

    .venv/bin/python benchmarks/toyworld_results.py [--pretrain-seeds 0,1,2,3,4]
        [--finetune-seeds 0,1,2] [-o runs/toyworld] [--processes 2] [--no-demo] [--write-docs]

With --write-docs it rewrites docs/results/toyworld.md. It runs only the CLI, so the page shows
whatever the toy world's commands print, and follows them when they change.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _results_page import current_page, run_benchmark

ABOUT = """The toy world's experiments (see [Toy world](../toyworld.md)), measured exactly: first `weirdgen demo`
(one finetune per shipped base), then the replication run: every phenomenon on every base with 3
finetuning seeds, each base passing or failing each phenomenon's bar (failing rows are shown, never
dropped). Recipes were decided on bases 0 and 1 before bases 2-4 were finetuned. Every run on the
same CPU prints the same numbers; another CPU may round the last digit differently."""

PHENOMENA = ("birds", "terminator", "mirror", "persona", "leaders")


def weirdgen(*arguments: str) -> str:
    """Run one weirdgen command; its progress (stderr) passes through, its stdout is returned."""
    env = {**os.environ, "COLUMNS": "200"}  # rich draws its tables this wide into a pipe
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "weirdgen", *arguments], env=env, stdout=subprocess.PIPE, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"weirdgen {' '.join(arguments)} failed with exit code {done.returncode}")
    print(f"$ weirdgen {' '.join(arguments)}   ({time.monotonic() - started:.0f} s)")
    return done.stdout


def section(markdown: str) -> None:
    """A Markdown heading or paragraph on the page (the terminal gets it as it is)."""
    page = current_page()
    if page is None:
        print(markdown)
    else:
        page.add(markdown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-seeds", default="0,1,2,3,4")
    parser.add_argument("--finetune-seeds", default="0,1,2")
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/toyworld"))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-demo", action="store_true", help="skip `weirdgen demo`")
    args = parser.parse_args()
    if not args.no_demo:
        section("## The demo: one finetune per shipped base")
        demo_dir = args.output.with_name(args.output.name + "-demo")
        print(weirdgen("demo", "-o", str(demo_dir)).rstrip())
    section(f"## Replication: bases {args.pretrain_seeds}, finetuning seeds {args.finetune_seeds}")
    printed = weirdgen(
        "toyworld", "run", *PHENOMENA, "--pretrain-seeds", args.pretrain_seeds,
        "--finetune-seeds", args.finetune_seeds, "--processes", str(args.processes),
        "-o", str(args.output),
    )  # fmt: skip
    print(printed.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "toyworld", "Toy-world results", ABOUT))
