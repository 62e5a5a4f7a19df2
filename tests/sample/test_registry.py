"""Sampling backends by name: the registry builds them lazily and names what is missing."""

from __future__ import annotations

import pytest

from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.sample.registry import (
    SAMPLERS,
    SamplerEntry,
    SamplerSettings,
    choose_sampler,
    make_sampler,
)


def test_every_backend_is_an_entry() -> None:
    assert SAMPLERS.names()[:4] == ["openai", "local", "tinker", "toy"]
    assert not SAMPLERS.get("openai").self_hosted and SAMPLERS.get("local").self_hosted


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"^backend: unknown backend 'bedrock' \(known: openai, local"
    ):
        make_sampler("bedrock")


def test_a_missing_dependency_gives_the_install_command() -> None:
    SAMPLERS.register(
        SamplerEntry(
            "ghost",
            "needs a package nobody has",
            lambda s: None,
            requires="ghost_sdk_x",
            install="pip install ghost-sdk-x",
        )
    )
    with pytest.raises(MissingDependencyError, match="pip install ghost-sdk-x"):
        make_sampler("ghost")


def test_the_backend_is_chosen_from_the_model(tmp_path) -> None:
    assert choose_sampler("gpt-4.1", [], None) == "openai"
    assert choose_sampler(str(tmp_path), [], None) == "local"
    assert choose_sampler(str(tmp_path), ["http://127.0.0.1:8000/v1"], None) == "openai"
    assert choose_sampler("x", [], "toy") == "toy"
    assert choose_sampler("smollm2-135m-instruct", [], None) == "local"  # a bundled alias


def test_the_toy_backend_is_built_from_settings() -> None:
    sampler = make_sampler("toy", SamplerSettings(toy_models={"base": object()}))
    assert sampler.name == "toyworld (base)" and sampler.supports_logprobs


def test_an_entry_says_what_its_backend_can_do() -> None:
    import importlib

    classes = {
        "openai": ("weirdgen.sample.openai_compat", "OpenAICompatibleSampler"),
        "local": ("weirdgen.sample.local", "LocalModelSampler"),
        "tinker": ("weirdgen.sample.tinker", "TinkerSampler"),
        "toy": ("weirdgen.sample.toyworld", "ToyWorldSampler"),
    }
    for name, (module, attribute) in classes.items():
        cls = getattr(importlib.import_module(module), attribute)
        assert SAMPLERS.get(name).logprobs == cls.supports_logprobs, name
    assert [n for n in SAMPLERS.names() if SAMPLERS.get(n).names_adapters] == ["local", "toy"]
