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
