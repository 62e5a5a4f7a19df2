"""Sampling backends by name: the registry builds them lazily and names what is missing."""

from __future__ import annotations

import pytest

from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.sample.registry import (
    SamplerEntry,
    SamplerSettings,
    choose_sampler,
    make_sampler,
    register_sampler,
    sampler_entry,
    sampler_names,
)


def test_every_backend_is_an_entry() -> None:
    assert sampler_names()[:4] == ["openai", "local", "tinker", "toy"]
    assert not sampler_entry("openai").self_hosted and sampler_entry("local").self_hosted


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"^backend: unknown backend 'bedrock' \(known: openai, local"):
        make_sampler("bedrock")


def test_a_missing_dependency_gives_the_install_command() -> None:
    register_sampler(
        SamplerEntry("ghost", "needs a package nobody has", lambda s: None, requires="ghost_sdk_x", install="pip install ghost-sdk-x")
    )
    with pytest.raises(MissingDependencyError, match="pip install ghost-sdk-x"):
        make_sampler("ghost")


def test_the_backend_is_chosen_from_the_model(tmp_path) -> None:
    assert choose_sampler("gpt-4.1", [], None) == "openai"
    assert choose_sampler(str(tmp_path), [], None) == "local"
    assert choose_sampler(str(tmp_path), ["http://127.0.0.1:8000/v1"], None) == "openai"
    assert choose_sampler("x", [], "toy") == "toy"


def test_the_toy_backend_is_built_from_settings() -> None:
    sampler = make_sampler("toy", SamplerSettings(toy_models={"base": object()}))
    assert sampler.name == "toyworld (base)" and sampler.supports_logprobs
