"""How long seed-aware intervals take: weirdgen's hierarchical bootstrap vs the loop a user would write.

    python benchmarks/hierarchical_bootstrap.py [--resamples 10000] [--repeats 5] [--write-docs]

Workload: one cell of a paper figure (8 seeds x 100 binary verdicts) and one 0-100 score cell, plus the
time for a whole terminator-style sweep (3 groups x 8 seeds x 45 years x 7 questions) extrapolated from
the per-cell time. Both methods resample seeds, then samples within each drawn seed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _results_page import run_benchmark

from weirdgen.analysis.stats import hierarchical_bootstrap_ci

ABOUT = """One 95% interval over 8 seeds x 100 samples (seeds resampled, then samples within each drawn seed)
with `weirdgen.analysis.stats.hierarchical_bootstrap_ci`, against the Python loop a user would write,
best of `--repeats` runs each; the time of a 945-cell year sweep is extrapolated from one cell."""


def naive_hierarchical(
    models: list[np.ndarray], n_resamples: int, seed: int = 0
) -> tuple[float, float, float]:
    """The straightforward version: a Python loop over resamples, index sampling inside."""
    rng = np.random.default_rng(seed)
    draws = np.empty(n_resamples)
    for r in range(n_resamples):
        picked = rng.integers(0, len(models), size=len(models))
        draws[r] = np.mean(
            [models[k][rng.integers(0, models[k].size, size=models[k].size)].mean() for k in picked]
        )
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(np.mean([m.mean() for m in models])), float(low), float(high)


def best_time(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cells = {
        "8 seeds x 100 verdicts (0/1)": [
            (rng.random(100) < p).astype(float) for p in np.linspace(0.2, 0.6, 8)
        ],
        "8 seeds x 100 scores (0-100)": [rng.integers(0, 101, 100).astype(float) for _ in range(8)],
    }
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"{'cell':<30} {'weirdgen':>10} {'naive loop':>11} {'speed-up':>9}   intervals (weirdgen | naive)"
    )
    for name, models in cells.items():
        ours, ours_ci = best_time(
            lambda m=models: hierarchical_bootstrap_ci(m, n_resamples=args.resamples), args.repeats
        )
        naive, naive_ci = best_time(
            lambda m=models: naive_hierarchical(m, args.resamples), max(1, args.repeats // 5)
        )
        print(
            f"{name:<30} {ours * 1e3:>8.1f}ms {naive * 1e3:>9.0f}ms {naive / ours:>8.0f}x   "
            f"[{ours_ci[1]:.3f}, {ours_ci[2]:.3f}] | [{naive_ci[1]:.3f}, {naive_ci[2]:.3f}]"
        )
        if name.endswith("(0/1)"):
            sweep_cells = 3 * 45 * 7
            print(
                f"{'  a 45-year sweep (945 cells)':<30} {ours * sweep_cells:>9.1f}s {naive * sweep_cells / 60:>8.0f}min"
            )


if __name__ == "__main__":
    sys.exit(
        run_benchmark(
            main,
            "hierarchical-bootstrap",
            "Seed-aware intervals: hierarchical bootstrap against a naive loop",
            ABOUT,
        )
    )
