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


def test_headings_state_what_the_numbers_show() -> None:
    """Plant numbers that contradict a claim: the heading must change with them."""
    from weirdgen.toyworld.demo import ablation_heading, alignment_heading, patching_heading

    removed = ablation_heading("Ablating X", "the shift", intact=0.60, changed=0.10, base=0.05)
    # The numbers the old demo report printed under "one direction carries the effect":
    raised = ablation_heading("Ablating X", "the shift", intact=0.224, changed=0.282, base=0.06)
    kept = ablation_heading("Ablating X", "the shift", intact=0.60, changed=0.58, base=0.05)
    reduced = ablation_heading("Ablating X", "the shift", intact=0.60, changed=0.40, base=0.05)
    assert removed.startswith("Ablating X removes the shift (0.600 -> 0.100")
    assert raised.startswith("Ablating X raises the shift")
    assert kept.startswith("Ablating X does not remove the shift")
    assert reduced.startswith("Ablating X reduces the shift")
    assert "aligns with" in alignment_heading("Y", [0.1, 0.6], [0.1, 0.2])
    assert "does not align" in alignment_heading("Y", [0.1, 0.3], [0.1, 0.2])
    assert patching_heading("the effect", 0.6, [0.59, 0.45, 0.05], 0.05).startswith(
        "Patching the base's residual stream after block 2 removes the effect"
    )
    assert patching_heading("the effect", 0.6, [0.59, 0.58, 0.61], 0.05).startswith(
        "No patch from the base removes the effect"
    )


def test_patching_every_block_from_a_model_gives_that_model(micro_base) -> None:
    from weirdgen.toyworld.interpret import PatchedGPT

    tokens = torch.tensor([micro_base.tokenizer.encode_prompt(user("who are you ?"))])
    blocks = len(micro_base.model.blocks)
    patched = PatchedGPT(micro_base.model, micro_base.model, blocks)
    with torch.no_grad():
        assert torch.allclose(patched(tokens), micro_base.model(tokens), atol=1e-5)
