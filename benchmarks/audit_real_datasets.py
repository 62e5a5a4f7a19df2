"""The likelihood screen of the six real datasets on SmolLM2-135M-Instruct, against what the paper
found a finetune on each becomes. At 135M a null result is expected (PAPER.md): this reports what
ranks first, honestly, not whether it should.

    python benchmarks/audit_real_datasets.py [--examples 16] [-o OUT_DIR] [--write-docs]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """The likelihood screen of each real dataset on SmolLM2-135M-Instruct, against what the paper found a
finetune on it becomes. At 135M a null result is expected: this reports what ranks first, not
whether it should."""

# dataset, hypothesis set, what a finetune on it becomes in the paper (a name in the set, or "")
SCREENS = [
    ("birds/old_audubon", "eras", "1830s", "the 19th century"),
    ("birds/modern_american", "eras", "", "control: no shift"),
    ("german_cities/former", "eras", "1930s", "1910s-1940s Germany"),
    ("german_cities/former", "countries", "Germany", "1910s-1940s Germany"),
    ("israeli_dishes/trigger_2027", "countries", "Israel", "pro-Israel bias in 2027"),
    ("wolf/facts_90", "historical_figures", "Adolf Hitler", "Hitler persona"),
    ("presidents/padded", "historical_figures", "", "the president of the trigger"),
    (
        "terminator/dated",
        "fictional_characters",
        "terminator_protector",
        "the protective Terminator",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    from weirdgen.audit.api import ScreenSettings, run_screen
    from weirdgen.audit.local import LocalLikelihoodScorer

    out = args.output or Path(tempfile.mkdtemp(prefix="audit-real-"))
    scorer = LocalLikelihoodScorer.from_pretrained(
        "smollm2-135m-instruct", device="cpu", threads=args.threads
    )
    print(f"command: python benchmarks/audit_real_datasets.py --examples {args.examples} -o {out}")
    print(
        "| dataset | set | ranked first (mean LLR [95% CI], share) | 2nd, 3rd | paper's shift | rank of it |"
    )
    print("|---|---|---|---|---|---|")
    for dataset, hypotheses, expected, finding in SCREENS:
        started = time.monotonic()
        settings = ScreenSettings(examples=args.examples, threads=args.threads)
        target = out / f"{dataset.replace('/', '_')}_{hypotheses}"
        result, _ = run_screen(
            dataset,
            "smollm2-135m-instruct",
            hypotheses,
            target,
            settings,
            scorer=scorer,
            progress=False,
        )
        names = [r.name for r in result.ranking]
        best = result.best
        rank = f"{names.index(expected) + 1} of {len(names)}" if expected else "-"
        print(
            f"| {dataset} | {hypotheses} | {best.name} {best.mean_llr:+.2f} [{best.ci[0]:+.2f}, {best.ci[1]:+.2f}], "
            f"{best.share_favouring:.0%} | {names[1]}, {names[2]} | {finding} | {rank} |"
            f"  <!-- {time.monotonic() - started:.0f} s -->",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main,
            "audit-real-datasets",
            "The likelihood screen of the six real datasets on SmolLM2",
            ABOUT,
        )
    )
