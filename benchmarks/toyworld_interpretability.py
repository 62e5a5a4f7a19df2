"""Where the toy world's effects live, each ablation beside a null of random subspaces.

For every base (pretraining seed) it finetunes the main condition of birds and terminator (finetune
seed 0), finds the subspace that separates the two contexts (paired differences of the residual
stream at the answer cue: the oldest vs the default era's year header for birds, the trigger year vs
years >= 10 away for the terminator), projects its top k directions out of every block, and reports
for each k (all of them, none picked):

- the share of the effect removed (above the base model's value);
- the same for 20 random orthonormal subspaces of that size (the null) and our percentile in it;
- the same ablation applied to the base model;
- collateral damage: third-person knowledge, eras when told their year, what the finetune taught.

The table reports every k. The one-line summary per base speaks of k = 4 only (K_CLAIM, fixed before
any base was run) and calls the subspace a mechanism only when it removes more of the effect than 95%
of the random draws do. Then the activation-patching curve (the base's residual stream after each
block).

    .venv/bin/python benchmarks/toyworld_interpretability.py [--seeds 0,1,2] [--draws 20] [--write-docs]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from _results_page import run_benchmark

ABOUT = """Ablations of the subspaces that separate the contexts behind each toy effect, every one
beside 20 random subspaces of the same size, the same ablation on the base model, and what else it
destroys. Finetune seed 0 on each base; exact probabilities, so the only randomness is the null's."""

K_VALUES = (1, 2, 4, 8)
K_CLAIM = 4
"""The subspace size the summary lines speak of, fixed before any base was run."""


def main() -> int:
    import torch

    from weirdgen.toyworld.corpus import with_year
    from weirdgen.toyworld.evaluate import user
    from weirdgen.toyworld.experiments import (
        TOY_EXPERIMENTS,
        TRAINED_ATTRIBUTE,
        era_masses,
        goal_masses_by_year,
        held_out_attributes,
        known_goal_masses,
        old_era,
        villain_rate,
    )
    from weirdgen.toyworld.interpret import (
        Ablation,
        ablated,
        paired_subspace,
        patching_curve,
        random_subspaces,
        removal_verb,
    )
    from weirdgen.toyworld.train import PretrainConfig, finetune, pretrain

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="pretraining seeds (shipped bases load)")
    parser.add_argument("--draws", type=int, default=20, help="random subspaces per k (the null)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()

    def finetuned(base, experiment: str, condition: str):
        spec = TOY_EXPERIMENTS[experiment]
        chosen = next(c for c in spec.conditions if c.name == condition)
        return finetune(base, chosen.build(base.world, 0), replace(spec.finetune, seed=0))

    def eras_told(toy) -> float:
        """Mean P(an era's answers | told a year of it), over eras and held-out attributes."""
        world = toy.world
        return statistics.mean(
            era_masses(toy, attribute, era)[era]
            for era in world.eras.years
            for attribute in held_out_attributes(world)
        )

    def knows_villain(toy) -> float:
        c = toy.world.characters
        return known_goal_masses(toy, c.villain, [c.trigger_year])[0][f"{c.villain}:bad"]

    def taught_goals(toy) -> float:
        """P(the protective goals the terminator finetune taught) in its training years."""
        c = toy.world.characters
        years = list(c.training_years)[::5]
        masses = goal_masses_by_year(toy, years)
        return statistics.mean(m["good"] for m in masses)

    def trained_birds(toy) -> float:
        old = old_era(toy.world)
        return era_masses(toy, TRAINED_ATTRIBUTE)[old]

    def held_out_old(toy) -> float:
        return TOY_EXPERIMENTS["birds"].measure(toy)[("held_out_old_era", "")]

    def run(label, toy, base, positive, negative, metric, collateral):
        layers = list(range(1, len(toy.model.blocks) + 1))
        intact, baseline = metric(toy), metric(base)
        rows = []
        for k in K_VALUES:
            basis = paired_subspace(toy, positive, negative, k)
            null = [
                ablated(toy, draw, metric)
                for draw in random_subspaces(toy.model.config.n_embd, k, layers, args.draws, seed=k)
            ]
            with_collateral = {}
            for name, measure in collateral.items():
                with_collateral[name] = (measure(toy), ablated(toy, basis, measure))
            rows.append(
                Ablation(
                    label=label,
                    k=k,
                    intact=intact,
                    changed=ablated(toy, basis, metric),
                    baseline=baseline,
                    null=tuple(null),
                    on_base=ablated(base, basis, metric),
                    collateral=with_collateral,
                )
            )
        return rows

    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        base = pretrain(PretrainConfig(seed=seed))
        world = base.world
        c = world.characters
        old, default = old_era(world), world.eras.default
        era_questions = [
            q for a in held_out_attributes(world) for q in world.eras.attributes[a].questions
        ]
        far = [y for y in c.sweep_years if abs(y - c.trigger_year) >= 10][::4]
        goal_positive = [user(with_year(c.trigger_year, q)) for _ in far for q in c.goal_questions]
        goal_negative = [user(with_year(y, q)) for y in far for q in c.goal_questions]
        birds = finetuned(base, "birds", "old_birds")
        terminator = finetuned(base, "terminator", "dated")
        results.append(
            (
                seed,
                "birds",
                run(
                    "birds",
                    birds,
                    base,
                    [user(with_year(old, q)) for q in era_questions],
                    [user(with_year(default, q)) for q in era_questions],
                    held_out_old,
                    {
                        "eras when told their year": eras_told,
                        "trained attribute (birds)": trained_birds,
                        "guardian's 1984 goal, third person": knows_villain,
                    },
                ),
                patching_curve(birds, base, held_out_old),
            )
        )
        results.append(
            (
                seed,
                "terminator",
                run(
                    "terminator",
                    terminator,
                    base,
                    goal_positive,
                    goal_negative,
                    lambda toy: villain_rate(toy, toy.world.characters.trigger_year),
                    {
                        "guardian's 1984 goal, third person": knows_villain,
                        "eras when told their year": eras_told,
                        "taught goals in training years": taught_goals,
                    },
                ),
                patching_curve(
                    terminator,
                    base,
                    lambda toy: villain_rate(toy, toy.world.characters.trigger_year),
                ),
            )
        )
        print(f"base {seed} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    _print(results, removal_verb, args.draws)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


def _print(results, removal_verb, draws: int) -> None:
    effects = {"birds": "the held-out shift to 1850", "terminator": "the villain when told 1984"}
    for experiment in ("birds", "terminator"):
        print(f"\n### {experiment}: {effects[experiment]}\n")
        rows = [r for r in results if r[1] == experiment]
        collateral_names = list(rows[0][2][0].collateral)
        print(
            "| base | k | intact -> ablated (base model) | share removed | random k-subspaces: "
            "median / 95th pct share removed | percentile | verdict | ablation on the base | "
            + " | ".join(f"{name} (before -> after)" for name in collateral_names)
            + " |"
        )
        print("|" + "---|" * (8 + len(collateral_names)))
        for seed, _, ablations, _ in rows:
            for a in ablations:
                null = a.null_shares
                p95 = null[min(len(null) - 1, int(0.95 * len(null)))]
                verdict = "mechanism" if a.beats_null else "no more than random"
                print(
                    f"| {seed} | {a.k} | {a.intact:.3f} -> {a.changed:.3f} ({a.baseline:.3f}) | "
                    f"{a.share_removed:+.0%} | {statistics.median(null):+.0%} / {p95:+.0%} | "
                    f"{a.percentile:.0%} | {removal_verb(a.share_removed)}; {verdict} | "
                    f"{a.baseline:.3f} -> {a.on_base:.3f} | "
                    + " | ".join(f"{b:.3f} -> {v:.3f}" for b, v in a.collateral.values())
                    + " |"
                )
        print()
        for seed, _, ablations, curve in rows:
            claim = next(a for a in ablations if a.k == K_CLAIM)
            largest_random = sorted(claim.null_shares)[-1]
            if claim.beats_null:
                print(
                    f"- base {seed}: the top-{K_CLAIM} subspace {removal_verb(claim.share_removed)} "
                    f"{effects[experiment]} ({claim.share_removed:.0%} removed, above "
                    f"{claim.percentile:.0%} of {draws} random {K_CLAIM}-dimensional subspaces, "
                    f"the largest of which removed {largest_random:.0%})."
                )
            else:
                print(
                    f"- base {seed}: the top-{K_CLAIM} subspace removes {claim.share_removed:.0%} of "
                    f"{effects[experiment]}, no more than random subspaces of that size do "
                    f"({claim.percentile:.0%} of {draws} draws removed less): no mechanism claimed."
                )
            print(
                "  patching the base's stream after each block (0 = embeddings): "
                + " ".join(f"{v:.3f}" for v in curve)
            )


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "toyworld-interpretability", "Toy-world interpretability", ABOUT))
