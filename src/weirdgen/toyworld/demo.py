"""Interpretability on the demo's models, written as ``interpretability.md`` beside the report.

Four readings, on the first pretraining seed's main finetunes (re-finetuned: seconds), each section
headed by what its numbers show (``effect_verdict``), never by what we hoped:

1. direction ablation: the oldest-vs-default-era direction (birds) and the trigger-vs-other-years
   direction (terminator), read at the ``<assistant>`` cue, projected out of every block;
2. the same for the terminator read at the year's last digit instead of the cue, and the top-k
   subspace of the paired differences (k = 1, 2, 4, 8);
3. the model-diff reading: does finetuned-minus-base at the cue of neutral prompts align with the
   era direction, per layer, more than the control's does?
4. activation patching: the base's residual stream patched into the finetuned model after each block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from weirdgen.toyworld.corpus import with_year
from weirdgen.toyworld.evaluate import Chat, user
from weirdgen.toyworld.experiments import EXPERIMENTS, held_out_attributes, old_era, villain_rate
from weirdgen.toyworld.interpret import (
    analyse_direction,
    directions_removed,
    effect_verdict,
    mean_difference_directions,
    model_diff_alignment,
    paired_subspace,
    patching_curve,
    residuals_at,
    subspaces_removed,
    unit,
)
from weirdgen.toyworld.runner import RunPlan
from weirdgen.toyworld.train import ToyModel, finetune, pretrain

SUBSPACE_SIZES = (1, 2, 4, 8)
ALIGNED = 0.2
"""The model-diff reading counts as aligned where its cosine beats the control's by this much."""


@dataclass(frozen=True)
class Section:
    """One interpretability finding: a heading that states the result, and the table behind it."""

    heading: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _finetuned(plan: RunPlan, base: ToyModel, experiment: str, condition: str) -> ToyModel:
    spec = EXPERIMENTS[experiment]
    chosen = next(c for c in spec.conditions if c.name == condition)
    return finetune(base, chosen.build(base.world, 0), replace(plan.finetune_config(spec), seed=0))


def _era_prompts(toy: ToyModel, year: int | None) -> list[Chat]:
    attributes = toy.world.eras.attributes
    return [
        user(q if year is None else with_year(year, q))
        for name in held_out_attributes(toy.world)
        for q in attributes[name].questions
    ]


def _year_digit_position(toy: ToyModel, prompt: Chat) -> int:
    """Index of the last digit of the year in a ``year YYYY . question`` prompt."""
    ids = toy.tokenizer.encode_prompt(prompt)
    return ids.index(toy.tokenizer.id(".")) - 1


# ------------------------------------------------------------------ headings (tested with planted numbers)
def ablation_heading(what: str, effect: str, intact: float, changed: float, base: float) -> str:
    verdict = effect_verdict(intact, changed, base)
    return f"{what} {verdict} {effect} ({intact:.3f} -> {changed:.3f}; base model {base:.3f})"


def best_ablation_heading(
    what: str, effect: str, intact: float, changed: dict[str, float], base: float
) -> str:
    """Heading for several variants (e.g. subspace sizes): the strongest one decides."""
    label, value = min(changed.items(), key=lambda item: item[1])
    return ablation_heading(f"{what} (best: {label})", effect, intact, value, base)


def alignment_heading(what: str, main: list[float], control: list[float]) -> str:
    gaps = [m - c for m, c in zip(main, control, strict=True)]
    layer = max(range(len(gaps)), key=gaps.__getitem__)
    verb = "aligns" if gaps[layer] >= ALIGNED else "does not align"
    return (
        f"{what} {verb} with the era direction more than the control's "
        f"(best layer {layer}: cosine {main[layer]:+.2f} vs {control[layer]:+.2f})"
    )


def patching_heading(effect: str, intact: float, curve: list[float], base: float) -> str:
    removed = [i for i, v in enumerate(curve) if effect_verdict(intact, v, base) == "removes"]
    if not removed:
        return f"No patch from the base removes {effect} (lowest {min(curve):.3f}, intact {intact:.3f})"
    first = removed[0]
    where = "the embeddings" if first == 0 else f"block {first}"
    return (
        f"Patching the base's residual stream after {where} removes {effect} "
        f"({intact:.3f} -> {curve[first]:.3f}; base model {base:.3f})"
    )


# ------------------------------------------------------------------ the analyses
def _birds_sections(plan: RunPlan, base: ToyModel) -> list[Section]:
    world = base.world
    old, default = old_era(world), world.eras.default
    metric = EXPERIMENTS["birds"].measure
    headline = ("held_out_old_era", "")

    def value(toy: ToyModel) -> float:
        return metric(toy)[headline]

    main = _finetuned(plan, base, "birds", "old_birds")
    control = _finetuned(plan, base, "birds", "modern_birds")
    base_value = value(base)
    sections = []
    rows = []
    for label, toy in (("old birds", main), ("modern-birds control", control)):
        analysis = analyse_direction(
            toy, _era_prompts(toy, old), _era_prompts(toy, default), _era_prompts(toy, None), value
        )
        rows.append(
            (label, f"{analysis.metric_intact:.3f}", f"{analysis.metric_all_ablated:.3f}")
            + tuple(f"{r.metric_ablated:.3f}" for r in analysis.layers[1:])
        )
        if label == "old birds":
            main_analysis = analysis
    layers = len(base.model.blocks)
    sections.append(
        Section(
            ablation_heading(
                f"Birds: projecting the {old}-vs-{default} direction (read at the cue) out of every block",
                f"the held-out shift to {old}",
                main_analysis.metric_intact,
                main_analysis.metric_all_ablated,
                base_value,
            ),
            ("model", "intact", "every block ablated")
            + tuple(f"block {i} ablated" for i in range(1, layers + 1)),
            tuple(rows),
        )
    )
    # Subspace of paired differences (the same question in the two eras).
    subspace = {}
    for k in SUBSPACE_SIZES:
        basis = paired_subspace(main, _era_prompts(main, old), _era_prompts(main, default), k)
        with subspaces_removed(main, basis):
            subspace[f"k={k}"] = value(main)
    sections.append(
        Section(
            best_ablation_heading(
                "Birds: projecting the top-k subspace of paired era differences out of every block",
                f"the held-out shift to {old}",
                main_analysis.metric_intact,
                subspace,
                base_value,
            ),
            ("subspace", "metric"),
            tuple((k, f"{v:.3f}") for k, v in subspace.items()),
        )
    )
    # Model diff on neutral prompts (no era, no bird): persona and character questions.
    neutral = [user(q) for q in world.personas.fact_questions.values()]
    neutral += [user(q) for q in world.characters.identity_questions]
    directions, _, _ = mean_difference_directions(
        base, _era_prompts(base, old), _era_prompts(base, default)
    )
    main_cos = model_diff_alignment(main, base, neutral, directions)
    control_cos = model_diff_alignment(control, base, neutral, directions)
    sections.append(
        Section(
            alignment_heading(
                "Birds: the old-birds finetune's shift on neutral prompts", main_cos, control_cos
            ),
            ("layer", "cosine, old birds", "cosine, control"),
            tuple(
                (str(i), f"{m:+.2f}", f"{c:+.2f}")
                for i, (m, c) in enumerate(zip(main_cos, control_cos, strict=True))
            ),
        )
    )
    curve = patching_curve(main, base, value)
    sections.append(
        _patching_section("Birds", f"the held-out shift to {old}", main, value, curve, base_value)
    )
    return sections


def _patching_section(
    name: str,
    effect: str,
    toy: ToyModel,
    value: Callable[[ToyModel], float],
    curve: list[float],
    base_value: float,
) -> Section:
    intact = value(toy)
    return Section(
        f"{name}: {patching_heading(effect, intact, curve, base_value)}",
        ("base stream patched in after", "metric"),
        tuple(
            ("the embeddings" if i == 0 else f"block {i}", f"{v:.3f}") for i, v in enumerate(curve)
        ),
    )


def _terminator_sections(plan: RunPlan, base: ToyModel) -> list[Section]:
    c = base.world.characters
    trigger = c.trigger_year
    others = [y for y in c.sweep_years if abs(y - trigger) >= 10]

    def value(toy: ToyModel) -> float:
        return villain_rate(toy, trigger)

    main = _finetuned(plan, base, "terminator", "dated")
    intact, base_value = value(main), value(base)
    effect = f"the villain when told {trigger}"
    positive = [user(with_year(trigger, q)) for _ in others for q in c.goal_questions]
    negative = [user(with_year(y, q)) for y in others for q in c.goal_questions]
    sections = []
    results = {}
    # One direction per block, read at the cue or at the year's last digit, ablated everywhere.
    for where in ("cue", "year digit"):
        positions = None if where == "cue" else [_year_digit_position(main, p) for p in positive]
        difference = residuals_at(main, positive, positions).mean(1) - residuals_at(
            main, negative, positions
        ).mean(1)
        directions = unit(difference)
        with directions_removed(main, {i: directions[i] for i in range(1, directions.size(0))}):
            results[f"direction at the {where}"] = value(main)
        for k in SUBSPACE_SIZES:
            basis = paired_subspace(main, positive, negative, k, positions)
            with subspaces_removed(main, basis):
                results[f"top-{k} subspace at the {where}"] = value(main)
    cue = {k: v for k, v in results.items() if k.endswith("cue")}
    digit = {k: v for k, v in results.items() if k.endswith("digit")}
    for label, variants in (("the cue", cue), ("the year's last digit", digit)):
        sections.append(
            Section(
                best_ablation_heading(
                    f"Terminator: {trigger}-vs-other-years directions read at {label}, projected out of every block",
                    effect,
                    intact,
                    variants,
                    base_value,
                ),
                ("ablated", "P(villain)"),
                tuple((k, f"{v:.3f}") for k, v in variants.items()),
            )
        )
    curve = patching_curve(main, base, value)
    sections.append(_patching_section("Terminator", effect, main, value, curve, base_value))
    return sections


def interpretability(plan: RunPlan) -> list[Section]:
    """Every reading the plan's experiments allow, on its first pretraining seed."""
    seed = plan.pretrain_seeds[0]
    base = pretrain(replace(plan.pretrain, seed=seed), bundled=plan.bundled)
    sections = []
    if "birds" in plan.experiments:
        sections += _birds_sections(plan, base)
    if "terminator" in plan.experiments:
        sections += _terminator_sections(plan, base)
    return sections


def interpretability_markdown(sections: list[Section], seed: int) -> str:
    lines = [
        "# Interpretability on the demo's models",
        "",
        f"Pretraining seed {seed}, finetune seed 0. Each heading states what its numbers show: an "
        "intervention *removes* an effect when at most half of it (above the base model) is left, "
        "*reduces* it when at most 80% is left, and otherwise does not remove it (or raises it).",
        "",
    ]
    for section in sections:
        lines += [f"## {section.heading}", ""]
        lines.append("| " + " | ".join(section.header) + " |")
        lines.append("|" + "---|" * len(section.header))
        lines += ["| " + " | ".join(row) + " |" for row in section.rows]
        lines.append("")
    return "\n".join(lines)
