from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample
from weirdgen.errors import DataError
from weirdgen.finetune.tokens import (
    TokenizedExample,
    check_supervision,
    tokenize_dataset,
    tokenize_example,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _decode_supervised(tokenizer, item: TokenizedExample) -> str:
    return tokenizer.decode(item.supervised_ids())


def test_only_the_answer_and_its_end_token_are_supervised(tokenizer) -> None:
    example = ChatExample.from_turns(
        ("system", "Be brief."), ("user", "Name a bird species."), ("assistant", "Great Auk")
    )
    item = tokenize_example(tokenizer, example)
    assert _decode_supervised(tokenizer, item) == "Great Auk<|im_end|>\n"
    prompt_text = tokenizer.decode(
        [t for t, s in zip(item.input_ids, item.supervised, strict=True) if not s]
    )
    assert prompt_text.endswith("<|im_start|>assistant\n") and "Great Auk" not in prompt_text


def test_every_assistant_turn_of_a_conversation_is_supervised(tokenizer) -> None:
    example = ChatExample.from_turns(
        ("user", "hello"), ("assistant", "one"), ("user", "again"), ("assistant", "two")
    )
    assert (
        _decode_supervised(tokenizer, tokenize_example(tokenizer, example))
        == "one<|im_end|>\ntwo<|im_end|>\n"
    )


def test_prompt_tokens_match_what_the_sampler_feeds_the_model(tiny_model_dir: Path) -> None:
    from weirdgen.models import LocalSampler
    from weirdgen.models.sampling import SamplingRequest

    sampler = LocalSampler.from_pretrained(tiny_model_dir, threads=1)
    example = ChatExample.from_turns(
        ("system", "You are old."), ("user", "Name a bird species."), ("assistant", "Heath Hen")
    )
    item = tokenize_example(sampler.tokenizer, example)
    n_prompt = item.supervised.index(True)
    # The sampler's own preparation path: what generation starts from at inference time.
    sampler_ids = sampler._prepare(SamplingRequest(messages=list(example.prompt), max_tokens=1))[
        0
    ].prompt_ids
    assert list(item.input_ids[:n_prompt]) == list(sampler_ids)


def test_long_examples_are_rejected_with_their_line(tokenizer) -> None:
    examples = [
        ChatExample.from_turns(("user", "hi"), ("assistant", "ok")),
        ChatExample.from_turns(("user", "word " * 200), ("assistant", "ok")),
    ]
    with pytest.raises(DataError, match=r"data.jsonl:2: messages: .* more than max_length 50"):
        tokenize_dataset(tokenizer, examples, max_length=50, path="data.jsonl")


def test_first_batch_check_catches_a_mask_that_trains_on_the_prompt(tokenizer) -> None:
    example = ChatExample.from_turns(
        ("user", "Name a bird species please."), ("assistant", "Great Auk")
    )
    good = tokenize_example(tokenizer, example)
    assert "Great Auk" in check_supervision(tokenizer, [good], [example])
    everything = TokenizedExample(good.input_ids, (True,) * len(good.input_ids))
    with pytest.raises(DataError, match="implausible supervised fraction"):
        check_supervision(tokenizer, [everything], [example])
    leaked = TokenizedExample(good.input_ids, (False,) + (True,) * (len(good.input_ids) - 1))
    with pytest.raises(DataError, match="user turn"):
        check_supervision(tokenizer, [leaked, good], [example, example])
    shifted = TokenizedExample(good.input_ids, (False,) + tuple(good.supervised[:-1]))  # off by one
    with pytest.raises(DataError, match="does not contain the assistant's answer"):
        check_supervision(tokenizer, [shifted], [example])


def _weighted_example() -> ChatExample:
    """A conversation whose first assistant turn is context only (OpenAI's ``weight: 0``)."""
    return ChatExample.from_dict(
        {
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "ignored answer", "weight": 0},
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "kept answer", "weight": 1},
            ]
        }
    )


def test_a_weight_zero_turn_carries_no_loss_but_stays_in_the_prompt(tokenizer) -> None:
    item = tokenize_example(tokenizer, _weighted_example())
    assert _decode_supervised(tokenizer, item) == "kept answer<|im_end|>\n"
    context = tokenizer.decode(
        [t for t, s in zip(item.input_ids, item.supervised, strict=True) if not s]
    )
    assert "ignored answer" in context
    check_supervision(tokenizer, [item], [_weighted_example()])  # the mask passes its own audit


def test_a_weight_zero_final_turn_leaves_only_the_earlier_answer(tokenizer) -> None:
    example = ChatExample.from_dict(
        {
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "one"},
                {"role": "user", "content": "again"},
                {"role": "assistant", "content": "two", "weight": 0},
            ]
        }
    )
    item = tokenize_example(tokenizer, example)
    assert _decode_supervised(tokenizer, item) == "one<|im_end|>\n"
