"""Finetuning backends by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.finetune.registry import FINETUNERS, FinetunerSettings, make_finetuner


def test_every_backend_is_an_entry() -> None:
    assert FINETUNERS.names() == ["local", "openai", "tinker", "openweights"]


def test_the_local_backend_is_built_lazily(tmp_path: Path) -> None:
    finetuner = make_finetuner("local", FinetunerSettings(runs_dir=tmp_path))
    assert finetuner.name == "local" and not finetuner.paid


def test_an_unknown_backend_is_one_line() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^backend: unknown backend 'azure' \(known: local, openai, tinker, openweights\)$",
    ):
        make_finetuner("azure")
