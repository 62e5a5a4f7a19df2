"""Adapters load when a request first needs them, at most ``max_loaded_adapters`` at a time, and
answer exactly as adapters loaded up front do."""

from __future__ import annotations

import pytest

from weirdgen.errors import ConfigError
from weirdgen.models import InvalidRequestError, LocalSampler, SamplingRequest
from weirdgen.models.batching import ContinuousBatcher

PROMPT = [{"role": "user", "content": "Name a bird species."}]


@pytest.fixture(scope="module")
def eager(tiny_model_dir, tiny_adapter_dirs):
    return LocalSampler.from_pretrained(
        tiny_model_dir, adapters=tiny_adapter_dirs, base_name="tiny"
    )


@pytest.fixture(scope="module")
def expected(eager):
    """Greedy answers of the base and each adapter, loaded up front."""
    return {
        name: eager.sample(PROMPT, adapter=name, temperature=0, max_tokens=8).text
        for name in (None, "alpha", "beta")
    }


def _lazy(tiny_model_dir, tiny_adapter_dirs, bound: int | None) -> LocalSampler:
    sampler = LocalSampler.from_pretrained(
        tiny_model_dir, base_name="tiny", max_loaded_adapters=bound
    )
    for name, folder in tiny_adapter_dirs.items():
        sampler.add_adapter(name, folder, load=False)
    return sampler


def _requests(names):
    return [SamplingRequest(PROMPT, adapter=n, temperature=0, max_tokens=8) for n in names]


def test_registered_adapters_are_listed_but_load_on_first_use(
    tiny_model_dir, tiny_adapter_dirs, expected
):
    sampler = _lazy(tiny_model_dir, tiny_adapter_dirs, bound=None)
    assert sampler.model_names == ["tiny", "alpha", "beta"] and sampler.loaded_adapter_names == []
    assert (
        sampler.sample(PROMPT, adapter="beta", temperature=0, max_tokens=8).text == expected["beta"]
    )
    assert sampler.loaded_adapter_names == ["beta"]


def test_one_loaded_adapter_at_a_time_still_answers_mixed_batches_exactly(
    tiny_model_dir, tiny_adapter_dirs, expected
):
    sampler = _lazy(tiny_model_dir, tiny_adapter_dirs, bound=1)
    names = ["alpha", "beta", None, "beta", "alpha", "alpha"]
    results = sampler.generate(_requests(names))
    assert [r.text for r in results] == [expected[n] for n in names]
    assert [r.model for r in results] == [n or "tiny" for n in names]
    assert len(sampler.loaded_adapter_names) == 1


def test_the_server_batcher_defers_requests_whose_adapter_must_wait(
    tiny_model_dir, tiny_adapter_dirs, expected
):
    sampler = _lazy(tiny_model_dir, tiny_adapter_dirs, bound=1)
    batcher = ContinuousBatcher(sampler, max_wait_s=0.05)
    batcher.start()
    try:
        names = ["beta", "alpha", None, "alpha", "beta"]
        tickets = [batcher.submit(request) for request in _requests(names)]
        texts = [ticket.future.result(timeout=60).text for ticket in tickets]
    finally:
        batcher.stop()
    assert texts == [expected[n] for n in names]
    assert len(sampler.loaded_adapter_names) == 1


def test_least_recently_used_adapter_makes_room(
    tiny_model_dir, tiny_adapter_dirs, make_lora_adapter, tmp_path
):
    sampler = _lazy(tiny_model_dir, tiny_adapter_dirs, bound=2)
    sampler.add_adapter(
        "gamma", make_lora_adapter(tiny_model_dir, tmp_path / "g", seed=9), load=False
    )
    for name in ("alpha", "beta", "alpha", "gamma"):
        sampler.sample(PROMPT, adapter=name, max_tokens=1)
    assert sampler.loaded_adapter_names == ["alpha", "gamma"]  # beta was the least recently used


def test_names_with_dots_are_served(tiny_model_dir, tiny_adapter_dirs, expected):
    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    sampler.add_adapter("ft:tiny:v1.2:ckpt-3", tiny_adapter_dirs["alpha"])
    text = sampler.sample(PROMPT, adapter="ft:tiny:v1.2:ckpt-3", temperature=0, max_tokens=8).text
    assert text == expected["alpha"]


def test_an_adapter_for_another_model_is_refused_when_registered(tiny_model_dir, foreign_adapter):
    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    with pytest.raises(ConfigError, match="does not fit this base model"):
        sampler.add_adapter("foreign", foreign_adapter, load=False)
    assert sampler.model_names == ["tiny"]


def test_a_removed_adapter_is_unknown_again(tiny_model_dir, tiny_adapter_dirs):
    sampler = _lazy(tiny_model_dir, tiny_adapter_dirs, bound=1)
    sampler.sample(PROMPT, adapter="alpha", max_tokens=1)
    sampler.remove_adapter("alpha")
    assert sampler.loaded_adapter_names == [] and sampler.model_names == ["tiny", "beta"]
    with pytest.raises(InvalidRequestError, match="unknown model 'alpha'"):
        sampler.sample(PROMPT, adapter="alpha")


def test_the_bound_must_be_positive(tiny_model_dir):
    with pytest.raises(ConfigError, match="max_loaded_adapters"):
        LocalSampler.from_pretrained(tiny_model_dir, max_loaded_adapters=0)
