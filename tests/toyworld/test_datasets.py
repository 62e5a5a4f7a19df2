"""The toy world as a dataset source: ``toy:EXPERIMENT/CONDITION`` read by the one resolver."""

from __future__ import annotations

import re

import pytest


def test_the_resolver_reads_a_dataset_source_by_its_prefix(tmp_path):
    """``toy:EXPERIMENT/CONDITION`` comes from the toy world's entry point, through the one resolver."""
    from weirdgen.data.chat import read_chat_jsonl
    from weirdgen.data.registry import manifest_path, resolve_dataset
    from weirdgen.errors import DataError

    toy = resolve_dataset("toy:birds/old_birds")
    assert (toy.path, toy.dataset, toy.variant) == (None, "toy:birds", "old_birds")
    examples = toy.examples(seed=0)
    assert examples and all(m.content for e in examples for m in e.messages)
    assert [e.to_json() for e in toy.examples(seed=0)] == [e.to_json() for e in examples]
    written = toy.file(tmp_path)
    assert written == tmp_path / "toy-birds" / "old_birds.jsonl"
    assert [e.to_json() for e in read_chat_jsonl(written)] == [e.to_json() for e in examples]
    assert '"dataset": "toy:birds"' in manifest_path(written).read_text()
    for reference, problem in [
        ("toy:birdz/old_birds", "expected toy:EXPERIMENT/CONDITION"),
        ("toy:birds/old", "toy experiment birds has no condition 'old'"),
    ]:
        with pytest.raises(DataError, match=re.escape(problem)):
            resolve_dataset(reference)
