from __future__ import annotations

import pytest
import torch

from weirdgen.toyworld.model import GPT, GPTConfig, LoRALinear, add_lora

CONFIG = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)


def test_forward_gives_next_token_logits_for_every_position() -> None:
    torch.manual_seed(0)
    model = GPT(CONFIG)
    logits = model(torch.randint(0, 50, (3, 10)))
    assert logits.shape == (3, 10, 50)


def test_lora_starts_as_the_base_model_and_trains_only_adapters() -> None:
    torch.manual_seed(0)
    model = GPT(CONFIG)
    tokens = torch.randint(0, 50, (2, 8))
    before = model(tokens)
    trainable = add_lora(model, rank=2)
    assert torch.allclose(model(tokens), before, atol=1e-6)  # B starts at zero
    assert sum(isinstance(m, LoRALinear) for m in model.modules()) == 4 * CONFIG.n_layer
    assert {id(p) for p in trainable} == {id(p) for p in model.parameters() if p.requires_grad}
    assert sum(p.numel() for p in trainable) < 0.2 * sum(p.numel() for p in model.parameters())


def test_lora_rank_is_validated() -> None:
    with pytest.raises(ValueError, match="rank"):
        add_lora(GPT(CONFIG), rank=0)
