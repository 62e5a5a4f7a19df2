"""The one token scorer: packed passes give what a plain forward pass gives, under each adapter."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def peft_model(tiny_model_dir: Path, tiny_adapter_dirs: dict[str, Path]):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return PeftModel.from_pretrained(base, str(tiny_adapter_dirs["alpha"]), adapter_name="alpha")


def _plain(model, ids: list[int], variant: str):
    """One unpacked forward pass under ``variant`` (an adapter's name, or BASE_VARIANT)."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), adapter_names=[variant]).logits
    return logits[0].float().log_softmax(-1)


SEQUENCES = [
    [5, 6, 7, 8, 9, 10, 11],
    [5, 6, 7, 8, 12, 13],  # shares a prefix and then a branch with the next one
    [5, 6, 7, 8, 12, 14, 15],
    [5, 6, 7, 8, 9, 10, 11],  # a repeat: computed once, reported twice
]


@pytest.mark.parametrize(
    ("batch_tokens", "row_tokens"), [(1, 1), (6, 6), (4096, 4096), (4096, 3), (8, 3)]
)
def test_sums_and_next_tokens_match_plain_passes_under_each_variant(
    peft_model, batch_tokens: int, row_tokens: int
) -> None:
    """One tree a pass, one sequence a row, several padded rows a pass: the same numbers."""
    import torch

    from weirdgen.models.scoring import BASE_VARIANT, TokenScorer, TokenSequence

    scorer = TokenScorer(peft_model, batch_tokens=batch_tokens, row_tokens=row_tokens)
    variants = ["alpha", BASE_VARIANT]
    sequences = [TokenSequence(tuple(ids), tuple(range(5, len(ids)))) for ids in SEQUENCES]
    seen: list[int] = []
    sums = scorer.logprob_sums(sequences, variants=variants, on_progress=seen.append)
    assert sum(seen) == len(SEQUENCES)
    logits = torch.zeros(2, len(SEQUENCES), peft_model.config.vocab_size)
    for indices, part in scorer.next_token_logits(SEQUENCES, variants=variants):
        logits[:, indices] = part
    for v, variant in enumerate(variants):
        for i, ids in enumerate(SEQUENCES):
            plain = _plain(peft_model, ids, variant)
            expected = sum(float(plain[t - 1, ids[t]]) for t in range(5, len(ids)))
            assert sums[v][i] == pytest.approx(expected, abs=1e-4)
            assert torch.allclose(logits[v, i].log_softmax(-1), plain[-1], atol=1e-4)
    assert sums[0] != pytest.approx(sums[1])  # the adapter changes the numbers
