"""Toy models shared by the toy-world tests.

``micro_base`` is pretrained for a few steps (seconds): enough for plumbing tests, too little to
learn the world. ``demo_base`` is the demo's recipe, pretraining seed 0: the base weirdgen ships
(loaded in a second); the effect tests assert on it, because that is the model whose numbers the
README reports. ``narrow_base`` is the same recipe at width 64 (pretrained once, then cached).
"""

from __future__ import annotations

import pytest
import torch

from weirdgen.toyworld.corpus import CorpusConfig
from weirdgen.toyworld.model import GPTConfig
from weirdgen.toyworld.train import RECIPES, PretrainConfig, ToyModel, pretrain

MICRO = PretrainConfig(
    model=GPTConfig(block_size=64, n_layer=1, n_head=2, n_embd=32),
    corpus=CorpusConfig(n_documents=800),
    steps=40,
    batch_size=8,
)


@pytest.fixture(scope="session")
def micro_base() -> ToyModel:
    torch.set_num_threads(1)
    return pretrain(MICRO, use_cache=False)


@pytest.fixture(scope="session")
def demo_base() -> ToyModel:
    torch.set_num_threads(1)
    return pretrain(RECIPES["demo"])
