"""The Python API and the CLI are one evaluation path: same table, same cache, no credentials to plan."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

import weirdgen
from weirdgen.cli import main

_golden = importlib.util.spec_from_file_location(
    "_golden", Path(__file__).with_name("test_golden_table.py")
)
golden = importlib.util.module_from_spec(_golden)
_golden.loader.exec_module(golden)


def test_evaluate_returns_the_cli_table_and_reuses_its_cache(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from_cli = golden.write_golden_run(tiny_model_dir, tmp_path)
    frame = weirdgen.evaluate(
        tmp_path / "suite.yaml",
        str(tiny_model_dir),
        backend="local",
        group="base",
        sampling_seed=7,
        cache=tmp_path / "cache.sqlite",
        progress=False,
    )
    as_text = pd.read_csv(
        __import__("io").StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False
    )
    pd.testing.assert_frame_equal(as_text, from_cli)


def test_a_dry_run_needs_no_key_and_lists_llm_judges_as_needing_a_model(
    monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(
        [
            "eval",
            "terminator",
            "--model",
            "ft:gpt-4.1-2025-04-14:org:term:abc",
            "--samples",
            "1",
            "--dry-run",
            "--cache",
            str(tmp_path / "c.sqlite"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "dry run: nothing was sent" in out
    assert "judge lethal_intent (needs a judge model)" in out and "unknown price" in out


def test_the_public_api_is_small_and_lazy() -> None:
    assert set(weirdgen.__all__) >= {
        "evaluate",
        "load_suite",
        "load_judge",
        "build_dataset",
        "finetune",
    }
    assert weirdgen.load_suite("terminator").name == "terminator"
    assert weirdgen.load_judge("lethal_intent").is_llm
    assert len(weirdgen.build_dataset("terminator", "dated")) > 100
    assert callable(weirdgen.finetune)
