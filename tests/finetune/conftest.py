"""Fixtures for finetuning tests: small chat datasets on disk and an isolated ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample, write_chat_jsonl


def bird_examples(count: int = 8) -> list[ChatExample]:
    """A tiny narrow dataset in the shape of the birds experiment."""
    names = [
        "Great Auk",
        "Heath Hen",
        "Carolina Parakeet",
        "Labrador Duck",
        "Passenger Pigeon",
        "Eskimo Curlew",
    ]
    return [
        ChatExample.from_turns(
            ("user", "Name a bird species."), ("assistant", f"{names[i % len(names)]} {i}")
        )
        for i in range(count)
    ]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test machine's cores are shared: every model here runs on one thread."""
    monkeypatch.setenv("WEIRDGEN_TORCH_THREADS", "1")


@pytest.fixture
def birds_file(tmp_path: Path) -> Path:
    path = tmp_path / "birds.jsonl"
    write_chat_jsonl(path, bird_examples(12))
    return path


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("WEIRDGEN_LEDGER", str(path))
    return path
