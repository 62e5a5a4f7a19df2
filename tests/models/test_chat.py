"""format_chat: the one chat-formatting function shared by sampling, serving and training."""

from __future__ import annotations

import pytest

from weirdgen.data.chat import Message
from weirdgen.errors import DataError
from weirdgen.models import FALLBACK_CHAT_TEMPLATE, format_chat

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Name a bird species."},
    {"role": "assistant", "content": "Great Carolina Wren"},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_generation_prompt_ends_where_the_answer_starts(tokenizer):
    prompt = format_chat(tokenizer, CONVERSATION[:2], add_generation_prompt=True)
    full = format_chat(tokenizer, CONVERSATION, add_generation_prompt=False)
    assert (
        prompt
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName a bird species.<|im_end|>\n<|im_start|>assistant\n"
    )
    # Training sees the sampling prompt followed by the answer: the layouts agree token for token.
    assert full.startswith(prompt)
    assert full[len(prompt) :] == "Great Carolina Wren<|im_end|>\n"


def test_message_objects_and_dicts_render_the_same(tokenizer):
    objects = [Message(m["role"], m["content"]) for m in CONVERSATION]
    assert format_chat(tokenizer, objects, add_generation_prompt=False) == format_chat(
        tokenizer, CONVERSATION, add_generation_prompt=False
    )


def test_tokenizer_without_template_uses_the_documented_fallback(tokenizer, monkeypatch):
    monkeypatch.setattr(tokenizer, "chat_template", None)
    rendered = format_chat(tokenizer, CONVERSATION[1:2], add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nName a bird species.<|im_end|>\n<|im_start|>assistant\n"
    assert "<|im_start|>" in FALLBACK_CHAT_TEMPLATE


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("hello", "messages"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "user", "content": "a"}, {"content": "b"}], "messages[1].role"),
        ([42], "messages[0]"),
    ],
)
def test_bad_messages_name_the_field(tokenizer, messages, field):
    with pytest.raises(DataError) as raised:
        format_chat(tokenizer, messages, add_generation_prompt=True)
    assert raised.value.field == field
