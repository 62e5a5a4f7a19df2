"""Mitigations measured on the toy world: each beside the unmitigated condition, over 3 pretraining
seeds, with the cost to learning the narrow task.

    python benchmarks/toyworld_mitigations.py [-o runs/toy-mitigations] [--pretrain-seeds 0,1,2] [--write-docs]

Runs (or resumes) ``weirdgen toyworld run birds_mitigations terminator_mitigations`` into OUT (the
standard results tables and reports, OUT/<experiment>/report/), then prints per experiment a table:
the headline effect (mean [95% bootstrap CI over pretraining seeds]), its change against the
unmitigated condition (paired by seed), the narrow-task loss (nats per answer token on a fresh draw
of the unmitigated narrow data) and the share of the unmitigated finetune's drop in that loss the
mitigation keeps. Prints the command, wall and CPU seconds and the load average.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from _results_page import run_benchmark

ABOUT = """The toy mitigation experiments (prefix, dilution to 50% and 10%, early stopping, one epoch) for birds
and terminator over pretraining seeds, each beside the unmitigated condition, with the cost to the
narrow task (nats per answer token on a fresh draw of the unmitigated narrow data, and the share
of the unmitigated finetune's drop in that loss the mitigation keeps)."""

TOY_EXPERIMENTS = ("birds_mitigations", "terminator_mitigations")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/toy-mitigations"))
    parser.add_argument("--pretrain-seeds", default="0,1,2")
    parser.add_argument("--experiments", default=",".join(TOY_EXPERIMENTS))
    args = parser.parse_args()
    print("command:", shlex.join(["python", *sys.argv]))
    load_before = os.getloadavg()
    started, cpu_started = time.monotonic(), time.process_time()

    from weirdgen.experiments.toy_mitigations import format_mitigation_table, mitigation_rows
    from weirdgen.experiments.toy_runner import RunPlan, run_plan
    from weirdgen.experiments.toy_table import write_reports
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS as ALL
    from weirdgen.toyworld.world import load_world

    names = tuple(args.experiments.split(","))
    seeds = tuple(int(s) for s in args.pretrain_seeds.split(","))
    plan = RunPlan(experiments=names, pretrain_seeds=seeds, processes=2)  # one model per core
    results = run_plan(plan, args.output, status=lambda m: print(m, file=sys.stderr, flush=True))
    world = load_world()
    reports = write_reports(args.output, world)
    for name in names:
        experiment = ALL[name]
        print(
            f"\n{experiment.text(world, experiment.title)} (pretraining seeds {args.pretrain_seeds})"
        )
        label = experiment.text(world, experiment.headline_label)
        print(format_mitigation_table(mitigation_rows(results, experiment, world), label))
    for report in reports:
        print(f"report: {report}")
    print(
        f"\nwall {time.monotonic() - started:.1f} s, CPU {time.process_time() - cpu_started:.1f} s; "
        f"load average {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after on "
        f"{os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "toyworld-mitigations", "Mitigations on the toy world", ABOUT))
