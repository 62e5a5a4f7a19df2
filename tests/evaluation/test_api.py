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


def test_a_retrained_adapter_of_the_same_name_is_not_answered_from_the_cache(
    tmp_path: Path,
) -> None:
    """The request cache keys a local adapter by its files, not only its name."""
    from weirdgen.evaluation.api import ModelSettings, make_targets
    from weirdgen.evaluation.plan import plan_evaluation
    from weirdgen.evaluation.suites import load_suite

    def keys(weights: bytes) -> set[str]:
        folder = tmp_path / "adapter"
        folder.mkdir(exist_ok=True)
        (folder / "adapter_config.json").write_text("{}")
        (folder / "adapter_model.safetensors").write_bytes(weights)
        settings = ModelSettings(backend="local", adapters={"group-s0": str(folder)})
        targets = make_targets(settings.evaluated(["base"]), settings)  # no sampler: a dry run
        adapter = next(t for t in targets if t.model == "group-s0")
        assert next(t for t in targets if t.model == "base").model_version == ""
        plan = plan_evaluation(load_suite("birds"), [adapter], samples=2, judges=[])
        return {s.job.key for s in plan.samples}

    first, same, retrained = keys(b"one"), keys(b"one"), keys(b"two")
    assert first == same
    assert not first & retrained


def test_every_flag_of_weirdgen_eval_is_a_parameter_of_evaluate() -> None:
    """``weirdgen eval`` is ``weirdgen.evaluate`` plus flags: no setting exists only on the CLI."""
    import inspect

    from weirdgen.cli.eval import eval_command

    parameters = set(inspect.signature(weirdgen.evaluate).parameters)
    cli_only = {"list_only", "no_judges"}  # the catalogue, and judges=[] with judge_model=""
    flags = {p.name for p in eval_command.params} - cli_only
    assert flags - parameters == set()
    assert {"timeout", "max_attempts", "judge_api_key_env", "checkpoint", "dry_run"} <= flags


def test_a_dry_run_of_the_api_returns_the_estimates(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lines: list[str] = []
    estimates = weirdgen.evaluate(
        "terminator",
        ["gpt-4.1-mini", "ft:gpt-4.1-2025-04-14:org:term:abc"],
        samples=1,
        judge_model="gpt-4.1",
        cache=tmp_path / "c.sqlite",
        dry_run=True,
        log=lines.append,
    )
    assert lines[-1] == "dry run: nothing was sent"
    models = estimates[estimates["kind"] == "model"]
    assert list(models["model"]) == ["gpt-4.1-mini", "ft:gpt-4.1-2025-04-14:org:term:abc"]
    assert (models["requests"] > 0).all() and (models["cached"] == 0).all()
    assert (models["cost_usd"] > 0).all()  # API models are priced
    assert set(estimates[estimates["kind"] == "judge"]["model"]) == {"lethal_intent"}
    assert not (tmp_path / "run").exists()
