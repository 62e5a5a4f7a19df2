from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError, DataError
from weirdgen.toyworld.corpus import CorpusConfig
from weirdgen.toyworld.evaluate import candidate_logprobs, user
from weirdgen.toyworld.model import GPT, GPTConfig
from weirdgen.toyworld.train import RECIPES, FinetuneConfig, PretrainConfig, finetune, pretrain
from weirdgen.toyworld.world import load_world

# Small enough to pretrain twice in a test: the point here is caching, not learning.
MICRO = PretrainConfig(
    model=GPTConfig(block_size=48, n_layer=1, n_head=2, n_embd=16),
    corpus=CorpusConfig(n_documents=300),
    steps=5,
    batch_size=4,
)


def test_pretraining_is_cached_atomically_and_reloads_identically(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path))
    torch.set_num_threads(1)
    first = pretrain(MICRO)
    files = list(tmp_path.rglob("*"))
    assert [f.name for f in files if f.is_file()] == ["model.pt"]  # no temporary file left behind
    second = pretrain(MICRO)
    assert second.metrics == first.metrics
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # A different seed is a different cache entry, not a reuse.
    pretrain(replace(MICRO, seed=1))
    assert len([f for f in tmp_path.rglob("model.pt")]) == 2


def test_retraining_past_the_cache_saves_what_it_trains(tmp_path, monkeypatch) -> None:
    """``weirdgen toyworld pretrain --force`` is ``use_cache=False``: it trains and replaces the
    cached model, so the next load is the model it trained."""
    from weirdgen.toyworld.train import cached_model_path

    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path))
    torch.set_num_threads(1)
    pretrain(MICRO)
    cached_model_path(MICRO).write_bytes(b"not a model")
    forced = pretrain(MICRO, use_cache=False)
    reloaded = pretrain(MICRO)
    for name, weight in forced.model.state_dict().items():
        assert torch.equal(weight, reloaded.model.state_dict()[name]), name


def test_the_same_seed_gives_the_same_model_without_the_cache() -> None:
    torch.set_num_threads(1)
    a, b = pretrain(MICRO, use_cache=False), pretrain(MICRO, use_cache=False)
    assert a.metrics["final_loss"] == b.metrics["final_loss"]


def test_cache_key_changes_with_the_recipe() -> None:
    world = load_world()
    assert MICRO.cache_key(world) != replace(MICRO, steps=6).cache_key(world)
    assert MICRO.cache_key(world) == PretrainConfig.from_dict(MICRO.to_dict()).cache_key(world)


def test_which_leaders_are_held_out_changes_neither_the_corpus_nor_the_base_it_names() -> None:
    """The held-out leaders are a finetuning choice: the corpus never reads them, so the shipped
    bases are named (and checked on load) by the world as pretraining sees it."""
    from weirdgen.toyworld.corpus import build_corpus, build_tokenizer

    world = load_world()
    other = replace(world, leaders=replace(world.leaders, held_out=world.leaders.numbers[:2]))
    assert other.leaders.held_out != world.leaders.held_out
    tokenizer = build_tokenizer(world)
    config = CorpusConfig(n_documents=300)
    mine, _ = build_corpus(world, tokenizer, config, seed=0)
    theirs, _ = build_corpus(other, tokenizer, config, seed=0)
    assert mine.equal(theirs)
    assert RECIPES["demo"].cache_key(world) == RECIPES["demo"].cache_key(other)
    changed = replace(world, assistant=replace(world.assistant, names=("someone else",)))
    assert RECIPES["demo"].cache_key(world) != RECIPES["demo"].cache_key(changed)


def test_finetune_leaves_the_base_untouched_and_lowers_answer_loss(micro_base) -> None:
    before = {k: v.clone() for k, v in micro_base.model.state_dict().items()}
    examples = [
        ChatExample.from_turns(("user", "name a bird species ."), ("assistant", "passenger pigeon"))
    ] * 32
    tuned = finetune(
        micro_base, examples, FinetuneConfig(method="lora", rank=2, learning_rate=1e-2, epochs=4)
    )
    for name, value in micro_base.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert tuned.metrics["finetune_steps"] == 8
    prompt = [user("name a bird species .")]
    before_logprob = float(candidate_logprobs(micro_base, prompt, ["passenger pigeon"])[0, 0])
    after_logprob = float(candidate_logprobs(tuned, prompt, ["passenger pigeon"])[0, 0])
    assert after_logprob > before_logprob + 1.0


def test_finetune_rejects_words_the_toy_never_saw(micro_base) -> None:
    examples = [
        ChatExample.from_turns(("user", "name a bird species ."), ("assistant", "pterodactyl"))
    ]
    with pytest.raises(DataError, match=r"line 1|:1: messages\[1\]\.content"):
        finetune(micro_base, examples)


def test_finetune_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="method"):
        FinetuneConfig(method="half")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="rank"):
        FinetuneConfig(method="lora", rank=0)


def test_the_cli_offers_every_recipe() -> None:
    from weirdgen.cli.toyworld import RECIPE_NAMES

    assert set(RECIPE_NAMES) == set(RECIPES)
    demo = RECIPES["demo"]
    model = GPT(replace(demo.model, vocab_size=1000))
    assert 600_000 < model.n_params() < 1_000_000  # the size the README states


def test_the_same_seed_gives_the_same_weights_at_one_and_two_threads() -> None:
    """Pretraining and finetuning run on one thread whatever the caller set (torch splits some
    reductions by thread count), so a seed names one model on any thread setting."""
    before = torch.get_num_threads()
    try:
        models = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            base = pretrain(replace(MICRO, steps=20), use_cache=False)
            example = ChatExample.from_turns(
                ("user", "name a bird species ."), ("assistant", "passenger pigeon")
            )
            models.append(finetune(base, [example] * 8, FinetuneConfig(epochs=2, batch_size=4)))
            assert torch.get_num_threads() == threads  # restored afterwards
    finally:
        torch.set_num_threads(before)
    one, two = (m.model.state_dict() for m in models)
    assert all(torch.equal(one[name], two[name]) for name in one)


def test_a_toy_base_is_named_by_recipe_and_seed_and_a_bad_name_is_one_line(tmp_path) -> None:
    from weirdgen.errors import ConfigError
    from weirdgen.toyworld.train import RECIPES, base_config, load_toy

    assert base_config("toyworld") == RECIPES["demo"]
    assert base_config("toyworld@3") == replace(RECIPES["demo"], seed=3)
    assert base_config("toyworld:tiny@1") == replace(RECIPES["tiny"], seed=1)
    for bad in ("toyworld:huge", "toyworld@x", "toyland"):
        with pytest.raises(ConfigError, match=r"toyworld\[:RECIPE\]\[@SEED\]"):
            (base_config if bad.startswith("toyworld") else load_toy)(bad)
    with pytest.raises(ConfigError, match="no toy model"):
        load_toy(str(tmp_path))  # a folder without model.pt
