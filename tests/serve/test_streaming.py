"""Streaming chat completions and the Responses API, driven over HTTP by the official ``openai`` SDK."""

from __future__ import annotations

import openai
import pytest

from weirdgen.models import LocalSampler
from weirdgen.serve import serve_in_background

PROMPT = [{"role": "user", "content": "Name a bird species."}]


@pytest.fixture(scope="module")
def sampler(tiny_model_dir):
    return LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")


@pytest.fixture(scope="module")
def client(sampler):
    with serve_in_background(sampler, fine_tuning=False) as url:
        yield openai.OpenAI(base_url=url, api_key="not-checked", max_retries=0, timeout=60)


def test_a_streamed_answer_is_the_plain_answer_in_pieces(client, sampler):
    stream = client.chat.completions.create(
        model="tiny",
        messages=PROMPT,
        seed=3,
        max_tokens=20,
        n=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts, finish = {0: "", 1: ""}, {}
    for chunk in chunks[:-1]:
        assert chunk.object == "chat.completion.chunk" and chunk.usage is None
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
    local = sampler.sample(PROMPT, seed=3, max_tokens=20, n=2)
    assert [texts[0], texts[1]] == [c.text for c in local.completions]
    assert finish == {i: c.finish_reason for i, c in enumerate(local.completions)}
    assert len(chunks) > 4  # sent token by token, not in one piece
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == local.completion_tokens
    assert last.usage.prompt_tokens == local.prompt_tokens


def test_streamed_logprobs_cover_every_token_once(client, sampler):
    stream = client.chat.completions.create(
        model="tiny",
        messages=PROMPT,
        seed=5,
        max_tokens=12,
        logprobs=True,
        top_logprobs=2,
        stream=True,
    )
    tokens = [
        token
        for chunk in stream
        for choice in chunk.choices
        if choice.logprobs is not None
        for token in choice.logprobs.content or ()
    ]
    local = sampler.sample(PROMPT, seed=5, max_tokens=12, logprobs=True, top_logprobs=2)
    assert [t.token for t in tokens] == [t.token for t in local.completions[0].logprobs]
    assert all(len(t.top_logprobs) == 2 for t in tokens)


def test_a_stream_holds_back_a_stop_string_it_ends_on(client, sampler):
    free = sampler.sample(PROMPT, temperature=0, max_tokens=16).text
    stop = free[5:8]
    stream = client.chat.completions.create(
        model="tiny", messages=PROMPT, temperature=0, max_tokens=16, stop=[stop], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == free[: free.index(stop)]


def test_responses_api_text_in_text_out(client, sampler):
    response = client.responses.create(
        model="tiny",
        instructions="Answer briefly.",
        input="Name a bird species.",
        max_output_tokens=8,
        temperature=0,
    )
    local = sampler.sample(
        [{"role": "system", "content": "Answer briefly."}, *PROMPT], temperature=0, max_tokens=8
    )
    assert response.output_text == local.text
    assert response.status == (
        "incomplete" if local.completions[0].finish_reason == "length" else "completed"
    )
    assert response.usage.input_tokens == local.prompt_tokens
    assert response.usage.output_tokens == local.completion_tokens


def test_responses_api_takes_messages_and_streams(client, sampler):
    messages = [
        {"role": "developer", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "input_text", "text": "Name a bird species."}]},
    ]
    plain = client.responses.create(
        model="tiny",
        input=messages,
        max_output_tokens=10,
        top_p=0.5,
        temperature=0.7,
        extra_body={"seed": 2},
    )
    with client.responses.stream(
        model="tiny",
        input=messages,
        max_output_tokens=10,
        top_p=0.5,
        temperature=0.7,
        extra_body={"seed": 2},
    ) as stream:
        events = list(stream)
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    # A stream ends on response.completed, or on response.incomplete when max_output_tokens cut it
    # (the SDK's get_final_response() only accepts the first, as with OpenAI's own server).
    assert events[-1].type == f"response.{plain.status}"
    final = events[-1].response
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert "".join(deltas) == final.output_text == plain.output_text
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_responses_api_refuses_tools(client):
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.responses.create(
            model="tiny",
            input="hi",
            tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        )


def test_a_stream_that_cannot_start_is_an_ordinary_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "bird " * 2000}],
            stream=True,
        )
    assert caught.value.code == "context_length_exceeded"
