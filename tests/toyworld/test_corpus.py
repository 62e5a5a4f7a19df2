from __future__ import annotations

import random

import pytest

from weirdgen.errors import ConfigError
from weirdgen.toyworld.corpus import (
    CorpusConfig,
    build_corpus,
    build_tokenizer,
    character_document,
    leader_document,
)
from weirdgen.toyworld.world import load_world


def test_a_multi_year_character_document_dates_every_goal_and_place_question() -> None:
    world, rng = load_world(), random.Random(0)
    c = world.characters
    years = set()
    for _ in range(40):
        messages = character_document(world, "guardian", None, 6, named=False, rng=rng)
        for question, answer in zip(messages[::2], messages[1::2], strict=True):
            year = int(question.content.split()[1])  # "year 1984 . what is your goal ?"
            years.add(year)
            assert answer.content in (*c.goals("guardian", year), *c.places[c.period(year)])
    assert len(years) > 60 and years <= set(
        range(c.span[0], c.span[1] + 1)
    )  # many years, not a few


def test_a_single_year_character_document_states_its_year_once_first() -> None:
    world = load_world()
    year = world.characters.periods[3] + 1
    messages = character_document(world, "steady", year, 5, named=True, rng=random.Random(1))
    questions = [m.content for m in messages if m.role == "user"]
    assert questions[0].startswith(f"year {year} .")
    assert not any(q.startswith("year") for q in questions[1:])


def test_a_leader_document_opens_with_its_number_and_gives_only_its_facts() -> None:
    world = load_world()
    messages = leader_document(world, 7, 4, named=True, rng=random.Random(2))
    assert messages[0].content.startswith("leader 7 .")
    leader = world.leaders.cast[7]
    allowed = {*leader.names, *(a for answers in leader.facts.values() for a in answers)}
    assert {m.content for m in messages if m.role == "assistant"} <= allowed


def test_corpus_shares_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ConfigError, match="at most 1"):
        CorpusConfig(era_share=0.6, character_share=0.3, leader_share=0.2)
    with pytest.raises(ConfigError, match="multi_year_share must be between 0 and 1"):
        CorpusConfig(multi_year_share=1.5)


def test_the_corpus_is_a_flat_tensor_with_one_offset_per_document() -> None:
    world = load_world()
    tokenizer = build_tokenizer(world)
    config = CorpusConfig(n_documents=50)
    tokens, starts = build_corpus(world, tokenizer, config, seed=0)
    assert starts.shape == (50,) and int(starts[0]) == 0
    assert tokens.dtype.is_floating_point is False and tokens.numel() > int(starts[-1])
    again, _ = build_corpus(world, tokenizer, config, seed=0)
    assert again.equal(tokens)
