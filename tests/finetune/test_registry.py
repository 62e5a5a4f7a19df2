"""Finetuning backends by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.finetune.registry import FINETUNERS, FinetunerSettings, make_finetuner


def test_every_backend_is_an_entry() -> None:
    assert FINETUNERS.names() == ["local", "openai", "tinker", "openweights", "toy"]


def test_the_local_backend_is_built_lazily(tmp_path: Path) -> None:
    finetuner = make_finetuner("local", FinetunerSettings(runs_dir=tmp_path))
    assert finetuner.name == "local" and not finetuner.paid


def test_an_unknown_backend_is_one_line() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^backend: unknown backend 'azure' \(known: local, openai, tinker, openweights, toy\)$",
    ):
        make_finetuner("azure")


def test_an_entry_says_how_its_models_are_sampled() -> None:
    from weirdgen.sample.registry import SAMPLERS

    for name in FINETUNERS.names():
        entry = FINETUNERS.get(name)
        # A backend without a sampler of its own says why a server must sample its models.
        assert (entry.sampler in SAMPLERS.names()) or bool(entry.needs_sampler_url), name
    assert FINETUNERS.get("openweights").needs_sampler_url
    assert FINETUNERS.get("tinker").refuses_sampler_url
    assert not FINETUNERS.get("openai").local_defaults and FINETUNERS.get("local").trains_here
