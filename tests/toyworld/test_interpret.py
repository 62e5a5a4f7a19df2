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
