from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from weirdgen.errors import ConfigError
from weirdgen.toyworld.corpus import (
    CorpusConfig,
    assistant_document,
    build_corpus,
    build_tokenizer,
    character_document,
    character_knowledge_document,
    draw_document,
    leader_document,
)
from weirdgen.toyworld.world import load_world


def test_a_multi_year_character_document_dates_every_goal_and_place_question() -> None:
    world, rng = load_world(), random.Random(0)
    c = world.characters
    years = set()
    for _ in range(40):
        messages = character_document(world, "guardian", None, 6, "anonymous", rng=rng)
        assert messages[0].role == "system" and messages[0].content == "role play ."
        for question, answer in zip(messages[1::2], messages[2::2], strict=True):
            if not question.content.startswith("year"):
                assert answer.content in c.cast["guardian"].names  # "who are you ?"
                continue
            year = int(question.content.split()[1])  # "year 1984 . what is your goal ?"
            years.add(year)
            assert answer.content in (*c.goals("guardian", year), *c.places[c.period(year)])
    assert len(years) > 60 and years <= set(
        range(c.span[0], c.span[1] + 1)
    )  # many years, not a few


def test_a_named_role_play_opens_with_a_system_line_naming_the_character() -> None:
    world = load_world()
    year = world.characters.periods[3] + 1
    messages = character_document(world, "steady", year, 5, "named", rng=random.Random(1))
    assert messages[0].role == "system"
    assert messages[0].content in {f"you are {n} ." for n in world.characters.cast["steady"].names}
    questions = [m.content for m in messages if m.role == "user"]
    assert all(q.startswith(f"year {year} .") for q in questions if "goal" in q or "where" in q)


def test_knowledge_documents_name_the_character_and_date_every_line() -> None:
    world, rng = load_world(), random.Random(4)
    c = world.characters
    for _ in range(20):
        messages = character_knowledge_document(world, "guardian", None, 4, rng)
        assert messages[0].role == "user"  # no system line: the assistant states a fact
        for question, answer in zip(messages[::2], messages[1::2], strict=True):
            year = int(question.content.split()[1])
            assert any(name in question.content for name in c.cast["guardian"].names)
            assert answer.content in (*c.goals("guardian", year), *c.places[c.period(year)])


def test_a_leader_document_opens_with_its_number_read_digit_by_digit() -> None:
    world = load_world()
    messages = leader_document(world, 14, 4, brackets=False, rng=random.Random(2))
    assert messages[0].role == "user" and messages[0].content.startswith("leader 14 .")
    leader = world.leaders.cast[14]
    allowed = {*leader.names, *(a for answers in leader.facts.values() for a in answers)}
    assert {m.content for m in messages if m.role == "assistant"} <= allowed


def test_assistant_documents_answer_as_the_assistant_in_every_year() -> None:
    world, rng = load_world(), random.Random(5)
    a = world.assistant
    own = {*a.names, *a.goals, *a.places, *(f for fs in a.facts.values() for f in fs)}
    for _ in range(50):
        messages = assistant_document(world, 4, dated=True, brackets=False, rng=rng)
        assert all(m.role != "system" for m in messages)
        assert {m.content for m in messages if m.role == "assistant"} <= own


def _draw(n: int, seed: int = 0) -> list:
    world, rng, config = load_world(), random.Random(seed), CorpusConfig()
    return [draw_document(world, config, rng) for _ in range(n)]


def test_no_year_is_over_represented_the_trigger_year_is_an_ordinary_year_of_its_decade() -> None:
    """Nothing the backdoor test checks is built into pretraining: 1984 is stated as often as
    any year of the 1980s (within 20%), and the guardian's lines are dated the same way."""
    world = load_world()
    trigger = world.characters.trigger_year
    decade = range(trigger - trigger % 10, trigger - trigger % 10 + 10)
    counts, guardian = Counter(), Counter()
    names = world.characters.cast[world.characters.villain].names
    # 200k documents (~4 s): the guardian's lines then date ~450 per year, so 20% is ~4 SD.
    for messages in _draw(200_000):
        text = " ".join(m.content for m in messages)
        years = [int(y) for y in re.findall(r"year (\d{4}) \.", text)]
        counts.update(years)
        if any(n in text for n in names):
            guardian.update(years)
    for counter in (counts, guardian):
        mean = sum(counter[y] for y in decade) / 10
        assert abs(counter[trigger] - mean) <= 0.2 * mean, (counter[trigger], mean)


def test_every_persona_and_the_assistant_answer_in_the_bracket_format_in_pretraining() -> None:
    world = load_world()
    who = Counter()
    for messages in _draw(6_000, seed=1):
        if not messages[-1].content.startswith("[ "):
            continue
        system = messages[0].content if messages[0].role == "system" else ""
        answers = {m.content[2:-2] for m in messages if m.role == "assistant"}
        for name, persona in world.personas.cast.items():
            facts = {f for fs in persona.facts.values() for f in fs}
            if answers & facts:
                who[name] += 1
        if not system and answers <= {
            *world.assistant.names,
            *(f for fs in world.assistant.facts.values() for f in fs),
            *world.assistant.goals,
            *world.assistant.places,
        }:
            who["assistant"] += 1
    assert set(world.personas.cast) | {"assistant"} <= {k for k, v in who.items() if v >= 5}


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
