"""The toy world: a CPU model organism for weird generalization and inductive backdoors.

A synthetic world (``world.yaml``), a tiny GPT pretrained on it (``model``, ``train``), and the
paper's experiments measured exactly (``experiments``, ``evaluate``), with a direction analysis
(``interpret``). Running experiments over seeds and tabulating them is
``weirdgen.experiments.toy_runner``'s work. Importing this package loads torch; the CLI imports it only inside commands.
"""

from weirdgen.toyworld.evaluate import candidate_distribution, generate, group_mass
from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
from weirdgen.toyworld.model import GPT, GPTConfig, add_lora
from weirdgen.toyworld.train import (
    RECIPES,
    TOY_BASE,
    FinetuneConfig,
    PretrainConfig,
    ToyModel,
    finetune,
    load_toy,
    pretrain,
)
from weirdgen.toyworld.world import World, load_world

__all__ = [
    "TOY_EXPERIMENTS",
    "GPT",
    "RECIPES",
    "TOY_BASE",
    "FinetuneConfig",
    "GPTConfig",
    "PretrainConfig",
    "ToyModel",
    "World",
    "add_lora",
    "candidate_distribution",
    "finetune",
    "generate",
    "group_mass",
    "load_toy",
    "load_world",
    "pretrain",
]
