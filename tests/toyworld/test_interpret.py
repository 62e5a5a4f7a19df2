from __future__ import annotations

import pytest
import torch

from weirdgen.toyworld.evaluate import user
from weirdgen.toyworld.interpret import analyse_direction, cue_residuals, directions_removed


def test_a_removed_direction_is_absent_from_that_block_output(micro_base) -> None:
    prompts = [user("name a bird species ."), user("year 1850 . how do people travel ?")]
    direction = torch.nn.functional.normalize(torch.randn(micro_base.model.config.n_embd), dim=0)
    intact = cue_residuals(micro_base, prompts)
    with directions_removed(micro_base, {1: direction}):
        ablated = cue_residuals(micro_base, prompts)
    assert (intact[1] @ direction).abs().max() > 1e-3
    assert (ablated[1] @ direction).abs().max() < 1e-5
    assert torch.equal(cue_residuals(micro_base, prompts), intact)  # the hook is gone again


def test_the_embedding_layer_cannot_be_ablated(micro_base) -> None:
    with (
        pytest.raises(ValueError, match="layer 0"),
        directions_removed(micro_base, {0: torch.zeros(micro_base.model.config.n_embd)}),
    ):
        pass


def test_a_direction_analysis_reads_every_layer(micro_base) -> None:
    positive = [user("year 1850 . how do people travel ?")]
    negative = [user(f"year {y} . how do people travel ?") for y in (2000, 2025)]
    with pytest.raises(ValueError, match="two or more negative prompts"):
        analyse_direction(micro_base, positive, negative[:1], positive, metric=lambda _: 0.5)
    analysis = analyse_direction(
        micro_base, positive, negative, probe=[user("how do people travel ?")], metric=lambda _: 0.5
    )
    assert [r.layer for r in analysis.layers] == list(range(micro_base.model.config.n_layer + 1))
    assert analysis.metric_intact == analysis.metric_all_ablated == 0.5
    assert all(r.separation >= 0 for r in analysis.layers[1:])


def test_verbs_follow_the_share_removed() -> None:
    """Plant numbers that contradict a claim: the verb must change with them."""
    from weirdgen.toyworld.interpret import removal_verb, share_removed

    assert removal_verb(share_removed(0.60, 0.05, 0.05)) == "removes"
    assert removal_verb(share_removed(0.60, 0.20, 0.05)) == "removes most of"
    assert removal_verb(share_removed(0.60, 0.40, 0.05)) == "reduces"
    assert removal_verb(share_removed(0.60, 0.58, 0.05)) == "barely changes"
    # The numbers the v2 demo printed under "one direction carries the effect":
    assert removal_verb(share_removed(0.224, 0.282, 0.06)) == "raises"
    assert removal_verb(share_removed(0.05, 0.01, 0.05)) == "has no effect to remove from"


def test_a_mechanism_needs_to_beat_twenty_random_draws() -> None:
    from weirdgen.toyworld.interpret import Ablation

    def ablation(changed: float, null: list[float]) -> Ablation:
        return Ablation(
            "x",
            4,
            intact=0.6,
            changed=changed,
            baseline=0.0,
            null=tuple(null),
            on_base=0.0,
            collateral={},
        )

    random_left = [0.6 - 0.01 * i for i in range(20)]  # random draws remove 0-19%
    assert ablation(0.1, random_left).beats_null  # 83% removed, above every draw
    assert ablation(0.1, random_left).percentile == 1.0
    assert not ablation(0.55, random_left).beats_null  # 8%: inside the null
    assert not ablation(0.1, random_left[:10]).beats_null  # too few draws to call it
    strong_null = [0.05] * 20  # random subspaces remove 92% too
    assert not ablation(0.1, strong_null).beats_null


def test_random_subspaces_are_orthonormal_and_seeded() -> None:
    from weirdgen.toyworld.interpret import random_subspaces

    draws = random_subspaces(16, 3, [1, 2], 4, seed=7)
    assert len(draws) == 4 and set(draws[0]) == {1, 2}
    basis = draws[0][1]
    assert basis.shape == (3, 16)
    assert torch.allclose(basis @ basis.T, torch.eye(3), atol=1e-5)
    again = random_subspaces(16, 3, [1, 2], 4, seed=7)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(draws, again, strict=True))
    assert not torch.equal(draws[0][1], draws[1][1])


def test_patching_every_block_from_a_model_gives_that_model(micro_base) -> None:
    from weirdgen.toyworld.interpret import PatchedGPT

    tokens = torch.tensor([micro_base.tokenizer.encode_prompt(user("who are you ?"))])
    blocks = len(micro_base.model.blocks)
    patched = PatchedGPT(micro_base.model, micro_base.model, blocks)
    with torch.no_grad():
        assert torch.allclose(patched(tokens), micro_base.model(tokens), atol=1e-5)
