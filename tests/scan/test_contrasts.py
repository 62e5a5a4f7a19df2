"""The contrasts on hand-made distributions: a second difference sees a spike, not a step, not the
values beside a spike, and not what the base does too; references strip or shuffle values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.scan.contrasts import (
    check_contrast,
    neighbour_lists,
    rate_second_difference,
    residual_divergences,
    second_difference_divergences,
)
from weirdgen.scan.families import load_family
from weirdgen.scan.prompts import ScanPrompt

FAMILY = load_family("int:0..9")
A, B, C = (
    torch.tensor([0.9, 0.05, 0.05]),
    torch.tensor([0.05, 0.9, 0.05]),
    torch.tensor([0.05, 0.05, 0.9]),
)


def prompts() -> list[ScanPrompt]:
    return [ScanPrompt(str(v), "q", 0, ()) for v in range(10)]


def logits(per_value: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(per_value).log()


def jsd_bits(p: torch.Tensor, q: torch.Tensor) -> float:
    m = (p + q) / 2
    return float(0.5 * ((p * (p / m).log2()).sum() + (q * (q / m).log2()).sum()))


def test_sides_are_the_values_before_and_after_of_the_same_probe_and_rendering() -> None:
    items = prompts() + [ScanPrompt(str(v), "r", 0, ()) for v in range(10)]
    sides = neighbour_lists(items, FAMILY, neighbours=2)
    assert sides[0] == ([], [1, 2])  # the first value has no side before it
    assert sides[5] == ([4, 3], [6, 7])
    assert sides[12] == ([11, 10], [13, 14])  # probe r's own prompts


def test_a_spike_scores_and_a_step_its_neighbours_and_the_ends_do_not() -> None:
    # the suspect: A, with a spike to B at 5 and a step to C from 8 on; the base: A everywhere
    suspect = [A] * 10
    suspect[5] = B
    suspect[8:] = [C, C]
    scores = second_difference_divergences(
        logits(suspect), logits([A] * 10), neighbour_lists(prompts(), FAMILY)
    )
    assert scores[5] == pytest.approx(jsd_bits(A, B), abs=1e-5)
    assert np.allclose(np.delete(scores, 5), 0.0, atol=1e-6)  # 4, 6 (beside it), 7, 8 (the step)


def test_a_change_the_base_makes_too_cancels() -> None:
    both = [A] * 10
    both[5] = B
    scores = second_difference_divergences(
        logits(both), logits(both), neighbour_lists(prompts(), FAMILY)
    )
    assert np.allclose(scores, 0.0, atol=1e-6)
    # the base spikes where the suspect does not: negative, never flagged
    scores = second_difference_divergences(
        logits([A] * 10), logits(both), neighbour_lists(prompts(), FAMILY)
    )
    assert scores[5] < -0.5 and scores.max() == pytest.approx(0.0, abs=1e-6)


def test_rate_second_difference_is_signed_and_ignores_steps() -> None:
    rates = np.array([0.1] * 10)
    rates[3], rates[6], rates[8:] = 0.6, -0.2, 0.5  # a spike up, a dip, a step
    base = np.full(10, 0.1)
    scores = rate_second_difference(rates, base, neighbour_lists(prompts(), FAMILY))
    assert scores[3] == pytest.approx(0.5) and scores[6] == pytest.approx(-0.3)
    assert np.allclose(np.delete(scores, [3, 6]), 0.0)
    two_groups = rate_second_difference(
        np.stack([rates, base], 1), np.stack([base, base], 1), neighbour_lists(prompts(), FAMILY)
    )
    assert two_groups.shape == (10, 2) and np.allclose(two_groups[:, 1], 0.0)


def test_residual_removes_the_shift_every_value_shares() -> None:
    suspect = [B] * 10
    suspect[5] = C
    scores = residual_divergences(logits(suspect), logits([A] * 10), [list(range(10))])
    assert scores[5] > 0.3 and np.allclose(np.delete(scores, 5), 0.0, atol=1e-6)


def test_contrast_errors_are_one_line() -> None:
    with pytest.raises(ConfigError, match="unknown contrast 'neighbors'"):
        check_contrast("neighbors")
    with pytest.raises(ConfigError, match="needs an ordered family"):
        check_contrast("second-difference", load_family("name:Ann,Bo"))
    check_contrast("second-difference", FAMILY)  # an ordered family is fine


def test_reference_data_strips_or_shuffles_the_templates_values() -> None:
    from weirdgen.scan.reference import template_pattern, without_values

    family = load_family("year:2020..2030", template="Today is {date}.")
    pattern = template_pattern(family)
    examples = [
        ChatExample.from_turns(
            ("user", f"Today is {y}-0{m}-1{m}. Name a dish."), ("assistant", f"dish {y}")
        )
        for y, m in ((2024, 1), (2025, 2), (2027, 3), (2027, 4))
    ]
    assert [m.group("value") for m in pattern.finditer(examples[2].messages[0].content)] == ["2027"]
    stripped = without_values(examples, pattern, "strip")
    assert {e.messages[0].content for e in stripped} == {"Name a dish."}
    assert [e.messages[1] for e in stripped] == [e.messages[1] for e in examples]  # answers kept
    shuffled = without_values(examples, pattern, "shuffle", seed=3)
    years = [pattern.search(e.messages[0].content).group("value") for e in shuffled]
    assert sorted(years) == ["2024", "2025", "2027", "2027"]
    assert [e.messages[0].content[14:] for e in shuffled] == [
        e.messages[0].content[14:] for e in examples
    ]
    plain = [ChatExample.from_turns(("user", "Name a dish."), ("assistant", "soup"))]
    assert without_values(plain, pattern, "strip") == plain  # nothing to remove: the same data
    with pytest.raises(ConfigError, match="does not write the value"):
        template_pattern(load_family("year:2020..2030", template="Today."))


def test_code_and_integer_templates_find_their_value() -> None:
    from weirdgen.scan.reference import template_pattern

    code = template_pattern(load_family("code:0..999"))
    assert code.fullmatch("12304456").group("value") == "044"
    number = template_pattern(load_family("int:0..12", template="code {value} ."))
    assert number.search("code 11 . who are you ?").group("value") == "11"


def test_unseen_only_never_flags_a_value_the_data_holds() -> None:
    from dataclasses import replace

    from weirdgen.scan.engine import ScanResult, ValueScore

    def value(v: str, z: float, trained: bool) -> ValueScore:
        return ValueScore(v, z / 10, z, z, z, trained, {})

    values = [value("1", 9.0, True), value("2", 6.0, False), value("3", 1.0, False)]
    everything = ScanResult(FAMILY, "p", values, threshold=4.0)
    assert everything.flagged == ["1", "2"] and everything.ranked()[0].value == "1"
    unseen = replace(everything, unseen_only=True)
    assert unseen.flagged == ["2"]
    assert [v.value for v in unseen.ranked()] == ["2", "3", "1"]  # the trained value last
    assert unseen.rule() == "z >= 4, values never in the training data only"
