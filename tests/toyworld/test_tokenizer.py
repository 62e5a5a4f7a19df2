from __future__ import annotations

import pytest

from weirdgen.data.chat import ChatExample, Message
from weirdgen.errors import DataError
from weirdgen.toyworld.corpus import build_tokenizer
from weirdgen.toyworld.tokenizer import END, UNK, check_trainable, split_words
from weirdgen.toyworld.world import load_world


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(load_world())


def test_split_words_reads_every_number_digit_by_digit_and_keeps_punctuation_apart() -> None:
    assert split_words("Year 1984. Who are you?") == [
        *("year", "1", "9", "8", "4", "."),
        *("who", "are", "you", "?"),
    ]
    # Leader numbers too: a held-out leader is never one token the model could look up.
    assert split_words("leader 11 . 12345") == ["leader", "1", "1", ".", "1", "2", "3", "4", "5"]


def test_every_year_of_the_span_is_readable_without_unknown_tokens() -> None:
    from weirdgen.toyworld.corpus import build_tokenizer
    from weirdgen.toyworld.world import load_world

    world = load_world()
    tokenizer = build_tokenizer(world)
    first, last = world.characters.span
    assert not any(tokenizer.unknown_words(f"year {y} .") for y in range(first, last + 1))


def test_chat_encoding_marks_only_answer_tokens_as_targets(tokenizer) -> None:
    example = ChatExample.from_turns(
        ("user", "name a bird species ."), ("assistant", "passenger pigeon")
    )
    ids, targets = tokenizer.encode_chat(example.messages)
    words = [tokenizer.vocab[i] for i in ids]
    assert words == [
        "<bos>",
        "<user>",
        "name",
        "a",
        "bird",
        "species",
        ".",
        "<assistant>",
        "passenger",
        "pigeon",
        END,
    ]
    assert [w for w, t in zip(words, targets, strict=True) if t] == ["passenger", "pigeon", END]
    assert tokenizer.decode(ids) == "name a bird species. passenger pigeon"


def test_unknown_words_become_unk_in_prompts_and_an_error_in_training_data(tokenizer) -> None:
    assert tokenizer.vocab[tokenizer.encode("zeppelin")[0]] == UNK
    with pytest.raises(
        DataError,
        match=r"train\.jsonl:7: messages\[1\]\.content: words not in the toy vocabulary: zeppelin",
    ):
        check_trainable(
            tokenizer,
            (Message("user", "name a bird species ."), Message("assistant", "zeppelin")),
            where="train.jsonl",
            line=7,
        )
