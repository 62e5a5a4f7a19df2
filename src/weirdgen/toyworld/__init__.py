"""The toy world: a CPU model organism for weird generalization and inductive backdoors.

A synthetic world (``world.yaml``), a tiny GPT pretrained on it (``model``, ``train``), and the
paper's experiments measured exactly (``experiments``, ``evaluate``), with a direction analysis
(``interpret``). Importing this package loads torch; the CLI imports it only inside commands.
"""

from weirdgen.toyworld.evaluate import candidate_distribution, generate, group_mass
from weirdgen.toyworld.experiments import EXPERIMENTS
from weirdgen.toyworld.model import GPT, GPTConfig, add_lora
from weirdgen.toyworld.runner import RunPlan, run_plan, summarize
from weirdgen.toyworld.train import (
    RECIPES,
    FinetuneConfig,
    PretrainConfig,
    ToyModel,
    finetune,
    pretrain,
)
from weirdgen.toyworld.world import World, load_world

__all__ = [
    "EXPERIMENTS",
    "GPT",
    "RECIPES",
    "FinetuneConfig",
    "GPTConfig",
    "PretrainConfig",
    "RunPlan",
    "ToyModel",
    "World",
    "add_lora",
    "candidate_distribution",
    "finetune",
    "generate",
    "group_mass",
    "load_world",
    "pretrain",
    "run_plan",
    "summarize",
]
