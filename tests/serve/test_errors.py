"""Bad input gets OpenAI error JSON with the right status, and the server keeps serving."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from weirdgen.serve import serve_in_background

GOOD = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


@pytest.fixture(scope="module")
def base_url(tiny_model_dir):
    from weirdgen.models import LocalSampler

    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    with serve_in_background(sampler, fine_tuning=False) as url:
        yield url


def _post(base_url: str, body: str | dict) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(
        f"{base_url}/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ('{"model": "tiny", "messages": [', 400, None),
        ("[1, 2]", 400, None),
        ({**GOOD, "model": "no-such-model"}, 404, "model"),
        ({**GOOD, "model": "no-such-adapter"}, 404, "model"),
        ({"model": "tiny"}, 400, "messages"),
        ({**GOOD, "messages": []}, 400, "messages"),
        ({**GOOD, "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role"),
        ({**GOOD, "temperature": -0.5}, 400, "temperature"),
        ({**GOOD, "top_p": 0}, 400, "top_p"),
        ({**GOOD, "max_tokens": 100_000}, 400, "max_tokens"),
        ({**GOOD, "max_tokens": 0}, 400, "max_tokens"),
        ({**GOOD, "n": 0}, 400, "n"),
        ({**GOOD, "top_logprobs": 2}, 400, "top_logprobs"),
        ({**GOOD, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ],
)
def test_bad_request_gets_openai_error_and_server_stays_up(base_url, body, status, param):
    response = _post(base_url, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["message"]
    assert _post(base_url, GOOD).status_code == 200


def test_unknown_route_is_an_openai_404(base_url):
    response = httpx.get(f"{base_url}/nothing-here", timeout=10)
    assert response.status_code == 404
    assert "no such route" in response.json()["error"]["message"]


def test_openai_client_raises_typed_errors(base_url):
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        client.chat.completions.create(model="no-such-model", messages=GOOD["messages"])
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="tiny", messages=GOOD["messages"], temperature=-1)
    assert client.chat.completions.create(**GOOD).choices[0].message.content is not None


def _error(response: httpx.Response) -> dict:
    return response.json()["error"]


def test_an_over_long_prompt_is_400_context_length_exceeded(base_url):
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    long_messages = [{"role": "user", "content": "name a bird " * 5000}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="tiny", messages=long_messages, max_tokens=3)
    assert caught.value.code == "context_length_exceeded"
    too_many = _post(base_url, {**GOOD, "max_tokens": 100_000})
    assert too_many.status_code == 400 and _error(too_many)["code"] == "context_length_exceeded"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
    ],
)
def test_parameters_we_do_not_implement_are_refused_by_name(base_url, extra, param):
    response = _post(base_url, {**GOOD, **extra})
    assert response.status_code == 400
    assert _error(response)["param"] == param and param in _error(response)["message"]


def test_neutral_values_of_those_parameters_are_accepted(base_url):
    neutral = {"tools": [], "response_format": {"type": "text"}, "presence_penalty": 0}
    assert _post(base_url, {**GOOD, **neutral}).status_code == 200


def test_logit_bias_bans_and_forces_tokens(base_url):
    sampler = base_url.app.state.sampler
    greedy = sampler.sample(GOOD["messages"], temperature=0, max_tokens=1).completions[0]

    def first_text(bias: dict[int, float]) -> str:
        response = _post(base_url, {**GOOD, "temperature": 0, "max_tokens": 1, "logit_bias": bias})
        assert response.status_code == 200, response.text
        return response.json()["choices"][0]["message"]["content"]

    assert first_text({}) == greedy.text
    assert first_text({greedy.token_ids[0]: -100}) != greedy.text
    forced = greedy.token_ids[0] + 7
    assert first_text({forced: 100}) == sampler.tokenizer.decode([forced])
    out_of_range = _post(base_url, {**GOOD, "logit_bias": {"99999999": 1}})
    assert out_of_range.status_code == 400 and _error(out_of_range)["param"] == "logit_bias"


TOOL_CALL_MESSAGES = [
    {"role": "user", "content": "What is the weather?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]


def test_tool_messages_need_a_chat_template_that_renders_tools(base_url):
    response = _post(base_url, {**GOOD, "messages": TOOL_CALL_MESSAGES})
    assert response.status_code == 400
    assert _error(response)["param"] == "messages.1" and "tools" in _error(response)["message"]


# ChatML that also writes an assistant's tool calls and a tool's result, as tool-aware templates do.
TOOL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
    "<tool_call>{{ call['function']['name'] }}({{ call['function']['arguments'] }})</tool_call>"
    "{% endfor %}{% else %}{{ message['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_tool_messages_are_rendered_by_a_template_that_knows_tools(tiny_model_dir):
    from weirdgen.models import LocalSampler, format_chat

    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    sampler.tokenizer.chat_template = TOOL_TEMPLATE
    with serve_in_background(sampler, fine_tuning=False) as url:
        body = {**GOOD, "messages": TOOL_CALL_MESSAGES, "temperature": 0}
        response = _post(url, body)
    assert response.status_code == 200, response.text
    prompt = format_chat(sampler.tokenizer, TOOL_CALL_MESSAGES, add_generation_prompt=True)
    assert "<tool_call>weather({})</tool_call>" in prompt and "sunny" in prompt
    local = sampler.sample(TOOL_CALL_MESSAGES, temperature=0, max_tokens=3)
    assert response.json()["choices"][0]["message"]["content"] == local.text


UNSUPPORTED_CHAT = [
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"best_of": 3}, "best_of"),
    ({"echo": True}, "echo"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"reasoning_effort": "high"}, "reasoning_effort"),
    ({"verbosity": "low"}, "verbosity"),
    ({"service_tier": "priority"}, "service_tier"),
    ({"functions": [{"name": "f"}]}, "functions"),
]


@pytest.mark.parametrize(("extra", "param"), UNSUPPORTED_CHAT)
def test_more_chat_parameters_we_cannot_honour_are_refused_by_name(base_url, extra, param):
    response = _post(base_url, {**GOOD, **extra})
    assert response.status_code == 400, response.text
    assert _error(response)["param"] == param and param in _error(response)["message"]
    assert _error(response)["code"] == "unsupported_parameter"


def test_neutral_values_of_the_new_parameters_are_accepted(base_url):
    neutral = {
        "modalities": ["text"],
        "best_of": 1,
        "echo": False,
        "service_tier": "auto",
        "reasoning_effort": None,
        "user": "someone",
        "metadata": {"run": "1"},
        "store": False,
        "some_other_servers_extension": 3,  # not OpenAI's: ignored, as compatible servers do
    }
    assert _post(base_url, {**GOOD, **neutral}).status_code == 200


UNSUPPORTED_RESPONSES = [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"background": True}, "background"),
    ({"truncation": "auto"}, "truncation"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"include": ["message.output_text.logprobs"]}, "include"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"tools": [{"type": "web_search"}]}, "tools"),
    ({"text": {"verbosity": "high"}}, "text.verbosity"),
]


@pytest.mark.parametrize(("extra", "param"), UNSUPPORTED_RESPONSES)
def test_responses_parameters_we_cannot_honour_are_refused_by_name(base_url, extra, param):
    body = {"model": "tiny", "input": "hi", "max_output_tokens": 2, **extra}
    response = httpx.post(f"{base_url}/responses", json=body, timeout=60)
    assert response.status_code == 400, response.text
    assert _error(response)["param"] == param and param in _error(response)["message"]


def test_what_inspect_ai_sends_to_the_responses_api_is_accepted(base_url):
    body = {
        "model": "tiny",
        "input": "hi",
        "max_output_tokens": 2,
        "include": [],
        "store": False,
        "truncation": "disabled",
        "metadata": {"sample": "7"},
    }
    response = httpx.post(f"{base_url}/responses", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"sample": "7"}
