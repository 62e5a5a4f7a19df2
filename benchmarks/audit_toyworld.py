"""Does the toy world's likelihood screen predict the finetune? Every toy condition (controls
included) x pretraining seeds: the audit score (the mean LLR of the experiment's target hypothesis,
src/weirdgen/bench/audit_targets.yaml) against the realised effect (the headline metric minus the base's, from the
results of ``weirdgen toyworld run --all --pretrain-seeds 0,1,2``), with Spearman's rho.

    weirdgen toyworld run --all --pretrain-seeds 0,1,2 -o runs/toyworld     # first (resumable)
    python benchmarks/audit_toyworld.py --runs runs/toyworld [--seeds 0,1,2] [-o OUT_DIR] [--write-docs]

rho (scipy.stats.spearmanr) has a 95% CI that bootstraps the conditions (a resampled condition
brings all its seeds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results_page import run_benchmark

from weirdgen.bench.spearman import audit_targets as targets
from weirdgen.bench.spearman import spearman, spearman_with_ci

ABOUT = """Every toy condition (controls included) x pretraining seeds: the audit score (mean LLR of the
experiment's target hypothesis, `src/weirdgen/bench/audit_targets.yaml`) against the realised effect (the
headline metric minus the base's, from `weirdgen toyworld run --all`), with Spearman's rho and a
95% CI that bootstraps the conditions. Goal: rho >= 0.7."""


def _screened(experiments: dict) -> dict:
    """The experiments to screen: not the mitigation experiments (copies of others' conditions)."""
    return {name: e for name, e in experiments.items() if not e.mitigated}


def realised_effects(runs: Path, seeds: list[int]) -> dict[tuple[str, str, int], float]:
    """(experiment, condition, seed) -> headline metric minus the base's, from the demo recipe's
    results (finetune seed 0) in the toy run directory ``runs``."""
    from dataclasses import replace

    from weirdgen.toyworld.experiments import EXPERIMENTS
    from weirdgen.toyworld.runner import BASE_CONDITION, recipe_hash
    from weirdgen.toyworld.table import read_results
    from weirdgen.toyworld.train import RECIPES
    from weirdgen.toyworld.world import load_world

    world, effects = load_world(), {}
    results = [r for r in read_results(runs) if r.finetune_seed == 0]
    for name, experiment in _screened(EXPERIMENTS).items():
        headline = experiment.headline(world)
        recipes = {
            s: recipe_hash(replace(RECIPES["demo"], seed=s), experiment.finetune) for s in seeds
        }
        values = {
            (r.condition, r.pretrain_seed): r.metrics[headline]
            for r in results
            if r.experiment == name
            and r.recipe == recipes.get(r.pretrain_seed)
            and headline in r.metrics
        }
        for condition in experiment.conditions:
            for seed in seeds:
                if (condition.name, seed) in values and (BASE_CONDITION, seed) in values:
                    effects[(name, condition.name, seed)] = (
                        values[(condition.name, seed)] - values[(BASE_CONDITION, seed)]
                    )
    return effects


def screen_all(seeds: list[int], out: Path, threads: int) -> list[dict]:
    """Screen every condition of every toy experiment under each seed's base."""
    from weirdgen.audit.api import ScreenSettings, run_screen
    from weirdgen.audit.toy import ToyLikelihoodScorer
    from weirdgen.toyworld.experiments import EXPERIMENTS
    from weirdgen.toyworld.world import load_world

    wanted, rows = targets(load_world()), []
    for seed in seeds:
        scorer = ToyLikelihoodScorer.from_pretrain_seed(seed, threads=threads)
        for name, experiment in _screened(EXPERIMENTS).items():
            spec = wanted[name]
            for condition in experiment.conditions:
                dataset = f"toy:{name}/{condition.name}"
                settings = ScreenSettings(pretrain_seed=seed, threads=threads)
                result, _ = run_screen(
                    dataset,
                    "toyworld",
                    spec["hypotheses"],
                    out / f"seed{seed}" / f"{name}_{condition.name}",
                    settings,
                    scorer=scorer,
                    progress=False,
                )
                target = next(r for r in result.ranking if r.name == spec["target"])
                rank = [r.name for r in result.ranking].index(spec["target"]) + 1
                rows.append(
                    {
                        "experiment": name,
                        "condition": condition.name,
                        "seed": seed,
                        "target": spec["target"],
                        "score": target.mean_llr,
                        "ci": target.ci,
                        "rank": rank,
                        "top": result.best.name,
                    }
                )
                print(f"  screened {dataset} under seed {seed}", file=sys.stderr, flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/toyworld"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    started, cpu_started = time.monotonic(), time.process_time()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.output or Path(tempfile.mkdtemp(prefix="audit-toyworld-"))
    effects = realised_effects(args.runs, seeds)
    rows = screen_all(seeds, out, args.threads)
    for row in rows:
        row["effect"] = effects.get((row["experiment"], row["condition"], row["seed"]))
    print(
        f"command: python benchmarks/audit_toyworld.py --runs {args.runs} --seeds {args.seeds} "
        f"-o {out}"
    )
    print(
        "| experiment | condition | seed | target | audit score: mean LLR [95% CI] | rank | "
        "ranked first | realised effect |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        effect = "missing" if r["effect"] is None else f"{r['effect']:+.3f}"
        print(
            f"| {r['experiment']} | {r['condition']} | {r['seed']} | {r['target']} | "
            f"{r['score']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}] | {r['rank']} | "
            f"{r['top']} | {effect} |"
        )
    complete = [r for r in rows if r["effect"] is not None]
    clusters: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in complete:
        clusters.setdefault((r["experiment"], r["condition"]), []).append((r["score"], r["effect"]))
    n_points = len(complete)
    print(f"missing effects (no runner result): {len(rows) - n_points} of {len(rows)}")
    if len(clusters) >= 3:
        rho, low, high = spearman_with_ci(list(clusters.values()))
        print(
            f"Spearman rho, audit score vs realised effect, {n_points} (condition, seed) points: "
            f"{rho:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}] (bootstrap over {len(clusters)} conditions)"
        )
        means = [[tuple(np.mean(points, axis=0))] for points in clusters.values()]
        rho, low, high = spearman_with_ci(means)
        print(
            f"Spearman rho of the per-condition means over seeds, {len(means)} conditions: "
            f"{rho:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}]"
        )
        for experiment in dict.fromkeys(r["experiment"] for r in complete):
            points = np.array(
                [(r["score"], r["effect"]) for r in complete if r["experiment"] == experiment]
            )
            within = spearman(points)
            print(f"  within {experiment} ({len(points)} points): rho {within:+.3f}")
    print(
        f"wall {time.monotonic() - started:.1f} s, CPU {time.process_time() - cpu_started:.1f} s, "
        f"load average {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main, "audit-toyworld", "Does the toy world's screen predict the finetune?", ABOUT
        )
    )
