"""``weirdgen toyworld`` and ``weirdgen demo`` driven through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from weirdgen.cli import main


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "cache"


@pytest.mark.slow
def test_run_writes_the_standard_table_and_report_then_resumes_without_retraining(
    tmp_path, cache, capsys
) -> None:
    from weirdgen.experiments.toy_table import read_results

    out = tmp_path / "run"
    argv = [
        "toyworld",
        "run",
        "birds",
        "--recipe",
        "tiny",
        "--pretrain-seeds",
        "0",
        "--threads",
        "1",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "old_birds" in printed and "modern_birds" in printed and "wall time" in printed
    first = read_results(out)
    assert {r.condition for r in first} == {"base", "old_birds", "modern_birds"}
    report = (out / "birds" / "report" / "report.md").read_text()
    assert "held-out attribute" in report  # the per-attribute sweep of the standard report
    assert "Missing" not in report  # a complete run: every condition measured on every metric
    assert (out / "birds" / "report" / "report.html").stat().st_size > 1000
    assert not (out / "interpretability.md").exists()  # benchmarks/toyworld_interpretability.py
    assert len(list(cache.rglob("model.pt"))) == 1
    # A second run finds every result already in the table and measures nothing.
    assert main(argv) == 0
    assert "model 1/" not in capsys.readouterr().err
    assert {r.key: r.metrics for r in read_results(out)} == {r.key: r.metrics for r in first}
    # A changed finetuning recipe is new work, kept apart from the old rows; the base is reused.
    assert main([*argv, "--method", "lora", "--rank", "2", "--lr", "1e-3"]) == 0
    rows = read_results(out)
    assert len(rows) == 6 and len({row.recipe for row in rows}) == 2
    assert len(list(cache.rglob("model.pt"))) == 1


@pytest.mark.slow
def test_run_leaders_plots_every_number_and_logs_progress_without_a_terminal(
    tmp_path, cache
) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "weirdgen", "toyworld", "run", "leaders", "--recipe", "tiny"]
    command += ["--pretrain-seeds", "0", "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "shuffled_numbers" in done.stdout
    assert "pretraining" in done.stderr and "model 3/3" in done.stderr  # plain lines, no bars
    report = (out / "leaders" / "report" / "report.md").read_text()
    assert "identity by leader number" in report


def test_unknown_experiment_is_one_line_error(tmp_path, cache, capsys) -> None:
    assert main(["toyworld", "run", "dragons", "--recipe", "tiny", "-o", str(tmp_path)]) == 1
    assert "unknown toy experiment(s) dragons" in capsys.readouterr().err


def test_bad_seed_list_is_a_usage_error(tmp_path, cache, capsys) -> None:
    assert main(["toyworld", "run", "birds", "--pretrain-seeds", "0,x", "-o", str(tmp_path)]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_toyworld_help_does_not_import_torch() -> None:
    code = "import sys; from weirdgen.cli import main; main(['toyworld', '--help']); print('torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip().endswith("False")


def test_the_year_curve_shape_follows_its_numbers() -> None:
    from weirdgen.cli.toyworld import _curve_shape

    paper = {str(1984 + k): v for k, v in {-1: 0.41, 0: 0.90, 1: 0.38, 5: 0.03}.items()}
    spike = {y: 0.466 if y == 1984 else 0.001 for y in range(1979, 1991)}
    shoulders = {y: 0.9 if y == 1984 else 0.3 for y in range(1979, 1991)}
    flat = dict.fromkeys(range(1979, 1991), 0.2)
    assert "a one-year spike without shoulders" in _curve_shape(spike, 1984, paper)
    assert "with shoulders" in _curve_shape(shoulders, 1984, paper)
    assert "no peak" in _curve_shape(flat, 1984, paper)
    assert "the paper's shoulders reach 0.41" in _curve_shape(spike, 1984, paper)
