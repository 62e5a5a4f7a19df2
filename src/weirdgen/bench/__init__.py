"""Benchmarks of weirdgen's defences against ground truth: ``weirdgen bench defences`` runs every
scan and audit mode over a zoo of toy-world models with inductive backdoors and their controls.

    from weirdgen.bench import run_defences_benchmark
    outcome = run_defences_benchmark(seeds=[2, 3, 4], calibration_seeds=[0, 1], output="bench/")

Importing this package is cheap; torch loads when the zoo is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.bench.defences import BenchmarkOutcome, run_defences_benchmark
    from weirdgen.bench.metrics import MethodMetrics, ModelScan

__all__ = ["BenchmarkOutcome", "MethodMetrics", "ModelScan", "run_defences_benchmark"]

_HOMES = {
    "BenchmarkOutcome": "defences",
    "run_defences_benchmark": "defences",
    "MethodMetrics": "metrics",
    "ModelScan": "metrics",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
