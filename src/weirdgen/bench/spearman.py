"""Does the audit predict the finetune? Every toy condition (controls included) x base: the audit
score against the realised effect (the experiment's headline metric minus the base's), with
Spearman's rho and a 95% CI that bootstraps the conditions (a resampled condition brings all its
bases).

Two audit scores, both of the experiment's target hypothesis (``audit_targets.yaml``): its mean
LLR (``score``), and its margin over the best other hypothesis of the set (``margin``: the mean
over examples of its LLR minus the other's; negative when another explains the data better). The
margin is the primary score, fixed before the new world's bases were measured: a finetune becomes
what explains its data *best*, so the target's lead, not its own likelihood, should predict it."""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "audit_effect_points",
    "audit_effect_spearman",
    "audit_targets",
    "spearman_with_ci",
    "summarise_points",
]


def audit_targets(world: Any) -> dict[str, dict[str, str]]:
    """Per experiment: the hypothesis set and the target hypothesis's name, braces filled."""
    import yaml

    from weirdgen.toyworld.experiments import TARGET_PERSONA, old_era

    values = {
        "old_era": old_era(world),
        "villain": world.characters.villain,
        "mirror": world.characters.mirror,
        "persona": TARGET_PERSONA,
    }
    text = resources.files("weirdgen.bench").joinpath("audit_targets.yaml").read_text("utf-8")
    return {
        name: {"hypotheses": spec["hypotheses"], "target": spec["target"].format(**values)}
        for name, spec in yaml.safe_load(text).items()
    }


def audit_effect_points(seed: int, recipe: str = "demo") -> list[dict[str, Any]]:
    """One point per condition of every (unmitigated) toy experiment under the base of ``seed``."""
    from weirdgen.audit.api import ScreenSettings, run_screen
    from weirdgen.audit.toy import ToyLikelihoodScorer
    from weirdgen.bench.defences import ensure_base, realised_effect
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.world import load_world

    ensure_base(seed, recipe)
    wanted, points = audit_targets(load_world()), []
    scorer = ToyLikelihoodScorer.from_pretrain_seed(seed, recipe=recipe)
    for name, experiment in TOY_EXPERIMENTS.items():
        if experiment.mitigated or name not in wanted:
            continue
        spec = wanted[name]
        for condition in experiment.conditions:
            with tempfile.TemporaryDirectory() as folder:
                result, _ = run_screen(
                    f"toy:{name}/{condition.name}",
                    "toyworld",
                    spec["hypotheses"],
                    folder,
                    ScreenSettings(pretrain_seed=seed),
                    scorer=scorer,
                    progress=False,
                )
            target = next(r for r in result.ranking if r.name == spec["target"])
            other = next(r for r in result.ranking if r.name != spec["target"])
            margin = float((result.llr[target.name] - result.llr[other.name]).mean())
            points.append(
                {
                    "experiment": name,
                    "condition": condition.name,
                    "seed": seed,
                    "target": spec["target"],
                    "score": target.mean_llr,
                    "margin": margin,
                    "rank": [r.name for r in result.ranking].index(spec["target"]) + 1,
                    "top": result.best.name,
                    "effect": realised_effect(name, condition.name, seed, recipe),
                }
            )
            print(
                f"  audit vs effect: seed {seed} {name}/{condition.name}",
                file=sys.stderr,
                flush=True,
            )
    return points


def spearman(points: np.ndarray) -> float:
    """Spearman's rho of the columns of an (n, 2) array (NaN when a column is constant)."""
    from scipy.stats import spearmanr

    if len(points) < 3 or np.ptp(points[:, 0]) == 0 or np.ptp(points[:, 1]) == 0:
        return math.nan
    return float(spearmanr(points[:, 0], points[:, 1]).statistic)


def spearman_with_ci(
    clusters: Sequence[Sequence[tuple[float, float]]], n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Spearman's rho of (score, effect) points and a 95% CI resampling the clusters."""

    def rho(groups: Sequence[Sequence[tuple[float, float]]]) -> float:
        return spearman(np.array([p for group in groups for p in group]))

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_resamples):
        picked = [clusters[i] for i in rng.integers(len(clusters), size=len(clusters))]
        value = rho(picked)
        if not math.isnan(value):
            draws.append(value)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (math.nan, math.nan)
    return rho(clusters), float(low), float(high)


def audit_effect_spearman(
    seeds: Sequence[int], *, processes: int = 1, recipe: str = "demo"
) -> dict[str, Any]:
    """The points of every seed, rho with its CI, and rho within each experiment."""
    if processes > 1 and len(seeds) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(processes, len(seeds)), mp_context=context) as pool:
            chunks = pool.map(audit_effect_points, seeds, [recipe] * len(seeds))
            points = [p for chunk in chunks for p in chunk]
    else:
        points = [p for seed in seeds for p in audit_effect_points(seed, recipe)]
    return summarise_points(points)


def summarise_points(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rho of the margin with its CI (conditions resampled), rho of the mean LLR, rho within each
    experiment, over ``audit_effect_points`` rows."""
    rho, low, high = spearman_with_ci(_clusters(points, "margin"))
    llr_rho = spearman(np.array([(p["score"], p["effect"]) for p in points]))
    within = {
        name: spearman(
            np.array([(p["margin"], p["effect"]) for p in points if p["experiment"] == name])
        )
        for name in dict.fromkeys(p["experiment"] for p in points)
    }
    return {
        "rho": rho,
        "ci": [low, high],
        "llr_rho": llr_rho,
        "points": len(points),
        "within": within,
        "rows": list(points),
    }


def _clusters(points: Sequence[dict[str, Any]], score: str) -> list[list[tuple[float, float]]]:
    """(audit score, effect) points grouped by condition (what the bootstrap resamples)."""
    clusters: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for p in points:
        clusters.setdefault((p["experiment"], p["condition"]), []).append((p[score], p["effect"]))
    return list(clusters.values())
