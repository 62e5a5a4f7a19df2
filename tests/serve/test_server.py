"""The OpenAI-compatible server, driven over HTTP by the official ``openai`` client."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from weirdgen.models import LocalSampler
from weirdgen.serve import serve_in_background

PROMPT = [{"role": "user", "content": "Name a bird species."}]


@pytest.fixture(scope="module")
def sampler(tiny_model_dir, tiny_adapter_dirs):
    return LocalSampler.from_pretrained(
        tiny_model_dir, adapters=tiny_adapter_dirs, base_name="tiny"
    )


@pytest.fixture(scope="module")
def base_url(sampler):
    # A long batching window makes "sent together, batched together" hold on a busy CI machine.
    # Fine-tuning routes stay off: their finished jobs would add models to /v1/models.
    with serve_in_background(sampler, max_wait_s=0.3, fine_tuning=False) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    return openai.OpenAI(base_url=base_url, api_key="not-checked", max_retries=0, timeout=60)


def test_models_lists_the_base_and_every_adapter(client):
    assert [model.id for model in client.models.list()] == ["tiny", "alpha", "beta"]
    assert client.models.retrieve("beta").id == "beta"


def test_an_adapter_entry_names_its_base_and_version_but_no_folder(client, tiny_adapter_dirs):
    """``parent`` and ``root`` (the base model), and ``version``: the fingerprint clients key caches
    by. No field shows a path of the server."""
    from weirdgen.models.adapters import adapter_fingerprint

    entries = {model.id: model.model_dump() for model in client.models.list()}
    assert "version" not in entries["tiny"] and "parent" not in entries["tiny"]
    for name, folder in tiny_adapter_dirs.items():
        assert client.models.retrieve(name).model_dump() == entries[name]
        assert entries[name]["parent"] == "tiny" and entries[name]["root"] == "tiny"
        assert str(folder) not in json.dumps(entries) and "/" not in json.dumps(entries)
        assert entries[name]["version"] == adapter_fingerprint(folder)
    assert entries["alpha"]["version"] != entries["beta"]["version"]


def test_chat_completion_matches_the_local_sampler(client, sampler):
    response = client.chat.completions.create(
        model="tiny", messages=PROMPT, seed=4, max_tokens=12, n=2
    )
    local = sampler.sample(PROMPT, seed=4, max_tokens=12, n=2)
    assert [choice.message.content for choice in response.choices] == [
        c.text for c in local.completions
    ]
    assert [choice.index for choice in response.choices] == [0, 1]
    assert response.model == "tiny"
    assert response.usage.prompt_tokens == local.prompt_tokens
    assert response.usage.completion_tokens == local.completion_tokens


def test_model_field_selects_the_adapter(client, sampler):
    texts = {
        name: client.chat.completions.create(
            model=name, messages=PROMPT, temperature=0, max_tokens=10
        )
        .choices[0]
        .message.content
        for name in ("tiny", "alpha", "beta")
    }
    assert len(set(texts.values())) == 3
    assert (
        texts["alpha"] == sampler.sample(PROMPT, adapter="alpha", temperature=0, max_tokens=10).text
    )


def test_logprobs_and_top_logprobs(client):
    response = client.chat.completions.create(
        model="alpha", messages=PROMPT, seed=1, max_tokens=5, logprobs=True, top_logprobs=3
    )
    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    assert all(len(token.top_logprobs) == 3 and token.logprob <= 0 for token in content)
    joined = b"".join(bytes(token.bytes) for token in content)
    assert joined.decode("utf-8", errors="replace") == response.choices[0].message.content
    plain = client.chat.completions.create(model="alpha", messages=PROMPT, max_tokens=2)
    assert plain.choices[0].logprobs is None


def test_stop_and_finish_reasons(client):
    free = client.chat.completions.create(
        model="tiny", messages=PROMPT, temperature=0, max_tokens=12
    )
    assert free.choices[0].finish_reason in ("length", "stop")
    text = free.choices[0].message.content
    stopped = client.chat.completions.create(
        model="tiny", messages=PROMPT, temperature=0, max_tokens=12, stop=text[2:4]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(text[2:4])]


def test_concurrent_requests_share_a_batch_and_keep_their_seeds(client, sampler, base_url):
    def ask(seed: int) -> str:
        model = ("tiny", "alpha")[seed % 2]
        response = client.chat.completions.create(
            model=model, messages=PROMPT, seed=seed, max_tokens=8
        )
        return response.choices[0].message.content

    batcher_sizes_before = len(_batcher(base_url).batch_sizes)
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(ask, range(8)))
    sizes = _batcher(base_url).batch_sizes[batcher_sizes_before:]
    assert sum(sizes) == 8 and max(sizes) > 1  # some requests travelled together
    expected = [
        sampler.sample(PROMPT, adapter=(None, "alpha")[s % 2], seed=s, max_tokens=8).text
        for s in range(8)
    ]
    assert texts == expected


def _batcher(base_url):
    return base_url.app.state.batcher


def test_message_content_parts_and_developer_role_are_accepted(client, sampler):
    response = client.chat.completions.create(
        model="tiny",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Name a bird "},
                    {"type": "text", "text": "species."},
                ],
            },
        ],
        temperature=0,
        max_tokens=6,
    )
    local = sampler.sample(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a bird species."},
        ],
        temperature=0,
        max_tokens=6,
    )
    assert response.choices[0].message.content == local.text


def test_fine_tuning_routes_are_mounted_when_available(sampler, tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("weirdgen.serve.fine_tuning") is None:
        pytest.skip("weirdgen.serve.fine_tuning is not part of this checkout")
    monkeypatch.setenv("WEIRDGEN_SERVE_DIR", str(tmp_path))
    with serve_in_background(sampler) as url:
        jobs = openai.OpenAI(base_url=url, api_key="x", max_retries=0).fine_tuning.jobs.list()
        assert list(jobs) == []
        routes = {route.path for route in url.app.routes}
    assert "/v1/fine_tuning/jobs" in routes and "/v1/chat/completions" in routes
