"""Integration on the bundled SmolLM2-135M-Instruct: conversion, a real chat, and serving it."""

from __future__ import annotations

import time

import openai
import pytest

from weirdgen.models import LocalSampler, resolve_model
from weirdgen.serve import serve_in_background

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    return LocalSampler.from_pretrained(smollm2_dir, base_name="smollm2-135m-instruct")


def test_converted_folder_is_cached_and_complete(smollm2_dir):
    started = time.monotonic()
    assert resolve_model("smollm2-135m-instruct") == smollm2_dir
    assert time.monotonic() - started < 1.0  # the second resolution reuses the converted folder
    names = {path.name for path in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(name.startswith(".") for name in (p.name for p in smollm2_dir.parent.iterdir()))


def test_smollm2_answers_a_question_and_stops_on_its_end_token(smollm2):
    result = smollm2.sample(QUESTION, temperature=0, max_tokens=40)
    assert "Paris" in result.text
    assert result.completions[0].finish_reason == "stop"


def test_smollm2_over_http_with_the_openai_client(smollm2):
    with serve_in_background(smollm2) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        response = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=QUESTION,
            temperature=0,
            max_tokens=40,
            logprobs=True,
            top_logprobs=2,
        )
    assert "Paris" in response.choices[0].message.content
    assert response.choices[0].logprobs.content[0].top_logprobs[0].logprob <= 0


def test_smollm2_streams_and_names_partial_utf8_tokens_apart(smollm2):
    chinese = [{"role": "user", "content": "请用中文介绍一下北京。"}]
    with serve_in_background(smollm2, fine_tuning=False) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=chinese,
            temperature=0,
            max_tokens=12,
            logprobs=True,
            top_logprobs=20,
            stream=True,
        )
        positions = [
            token
            for chunk in stream
            for choice in chunk.choices
            for token in (choice.logprobs.content if choice.logprobs else None) or ()
        ]
    assert positions
    for position in positions:
        names = [top.token for top in position.top_logprobs]
        assert len(set(names)) == len(names) == 20  # llmcomp refuses repeated token strings
    partial = [t for p in positions for t in p.top_logprobs if t.token.startswith("bytes:")]
    assert partial and all(bytes(t.bytes).decode("utf-8", "replace") != t.token for t in partial)
