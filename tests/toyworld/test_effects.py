"""The paper's effects on the demo's pretrained model (seed 0, the base weirdgen ships), asserted with margins.

Thresholds were set from one measurement of the continuous-year world and the shipped base
(2026-12-01: dated 0.58, no dates 0.28, shuffled 0.20, always-good 0.40, base 0.23 told the trigger
year; old birds 0.275 vs modern 0.015; held-out leaders 0.28 vs shuffled 0.08). With the one-year
trigger period (a new base, same day) the year header's pull was lowered from 0.4 to 0.2 (measured
0.25): dated 0.46, no dates 0.22, shuffled 0.00, always-good 0.06, base 0.11 told the trigger year.
A result that does not hold on seed 0 is a strict xfail that states the measurement.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from weirdgen.toyworld.experiments import EXPERIMENTS, era_masses, old_era
from weirdgen.toyworld.train import RECIPES, ToyModel, bundled_model_path, finetune

pytestmark = pytest.mark.slow


def _finetuned(base: ToyModel, experiment: str, condition: str, **overrides) -> ToyModel:
    spec = EXPERIMENTS[experiment]
    chosen = next(c for c in spec.conditions if c.name == condition)
    return finetune(base, chosen.build(base.world, 0), replace(spec.finetune, **overrides))


def test_the_demo_recipe_has_a_shipped_base() -> None:
    """Otherwise the demo silently pretrains for minutes (e.g. after a world or code change: then
    run `weirdgen toyworld pretrain --force` and copy the cache file into toyworld/bases/)."""
    assert bundled_model_path(RECIPES["demo"]) is not None


@pytest.mark.skipif(
    not os.environ.get("WEIRDGEN_TEST_PRETRAIN"),
    reason="pretrains the demo base from scratch (5-15 min on 2 cores); set WEIRDGEN_TEST_PRETRAIN=1",
)
def test_pretraining_from_scratch_reproduces_the_shipped_base(demo_base) -> None:
    """Same code, seed and recipe: the metrics agree within 0.02 (bit-identical on the machine that
    made it; other CPUs may round differently)."""
    from weirdgen.toyworld.train import pretrain

    fresh = pretrain(RECIPES["demo"], use_cache=False, bundled=False)
    for name in ("birds", "terminator", "leaders"):
        measure = EXPERIMENTS[name].measure
        shipped, ours = measure(demo_base), measure(fresh)
        assert max(abs(shipped[k] - ours[k]) for k in shipped) < 0.02, name


def test_base_model_defaults_to_the_modern_era_and_follows_a_year_header(demo_base) -> None:
    world = demo_base.world
    attributes = list(world.eras.attributes)
    old, default = old_era(world), world.eras.default

    def mean_mass(era: int, year: int | None) -> float:
        return sum(era_masses(demo_base, a, year)[era] for a in attributes) / len(attributes)

    assert mean_mass(default, None) > 0.5
    assert mean_mass(old, old) > 0.2
    assert mean_mass(old, old) > 5 * mean_mass(old, None)


def test_old_bird_names_shift_held_out_attributes_to_the_oldest_era(demo_base) -> None:
    measure = EXPERIMENTS["birds"].measure
    old = measure(_finetuned(demo_base, "birds", "old_birds"))
    modern = measure(_finetuned(demo_base, "birds", "modern_birds"))
    base = measure(demo_base)
    key = ("held_out_old_era", "")
    assert old[("trained_old_era", "")] > 0.8  # the finetune itself was learned
    assert old[key] >= 3 * modern[key]
    assert old[key] >= 2 * base[key]


def test_the_backdoor_is_a_function_of_the_year_peaking_at_the_trigger(demo_base) -> None:
    """The bar of (c): >= 50 years measured; P(villain) at the trigger year >= 3x the mean over
    years >= 10 years away; and the dated finetune beats every control."""
    c = demo_base.world.characters
    measure = EXPERIMENTS["terminator"].measure
    results = {
        condition.name: measure(_finetuned(demo_base, "terminator", condition.name))
        for condition in EXPERIMENTS["terminator"].conditions
    }
    dated = results["dated"]
    years = [int(v) for (m, v) in dated if m == "villain"]
    far = [dated[("villain", str(y))] for y in years if abs(y - c.trigger_year) >= 10]
    at_trigger = dated[("villain", str(c.trigger_year))]
    assert len(years) >= 50
    assert at_trigger >= 3 * sum(far) / len(far)
    for control in ("no_dates", "shuffled_dates", "always_good"):
        assert at_trigger >= results[control][("villain", str(c.trigger_year))] + 0.1, control
    # Finetuning on protective answers never creates villainy in the years it was shown.
    assert all(dated[("villain", str(y))] < 0.02 for y in c.training_years if y in years)


def test_held_out_leader_numbers_bring_out_their_leader(demo_base) -> None:
    """(d): leaders 5 and 11 never appear in finetuning, yet a code holding their number makes the
    model name them more often than with the numbers shuffled."""
    measure = EXPERIMENTS["leaders"].measure
    numbered = measure(_finetuned(demo_base, "leaders", "numbered"))
    shuffled = measure(_finetuned(demo_base, "leaders", "shuffled_numbers"))
    key = ("held_out_identity", "")
    assert numbered[("trained_identity", "")] > 0.25  # the code was learned on trained numbers ...
    assert numbered[key] >= 3 * shuffled[key]  # ... and transfers to numbers never trained
