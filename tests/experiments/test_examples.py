"""The cookbook in examples/ must keep working: its experiments load and its scripts run."""

import json
import os
import subprocess
import sys
from pathlib import Path

from weirdgen.experiments import check_experiment, load_experiment
from weirdgen.experiments.judges import load_suite_reference, resolve_judges

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_example_experiments_load_and_name_things_that_exist():
    for path in [
        EXAMPLES / "04_own_experiment" / "experiment.yaml",
        EXAMPLES / "05_birds_smollm2.yaml",
    ]:
        spec = load_experiment(path)
        check_experiment(spec, path)
    own = load_experiment(EXAMPLES / "04_own_experiment" / "experiment.yaml")
    assert own.resolve(own.groups[0].path).is_file()


def test_a_users_judge_file_is_known_by_its_own_name():
    suite, folder = load_suite_reference("questions.yaml", EXAMPLES / "04_own_experiment")
    renamed, judges = resolve_judges(suite, suite.all_judges(), folder)
    assert list(judges) == ["old_words"] and judges["old_words"].kind == "lexicon"
    assert renamed.judges == ["old_words"] and suite.judges == ["old_words.yaml"]


def test_example_scripts_run_on_a_table(tmp_path, samples_factory, run_writer):
    run = run_writer(
        tmp_path / "run", samples_factory({"old": [0.8, 0.6], "modern": [0.1, 0.0]}, n=8)
    )
    for script, arguments in [
        ("01_seed_aware_intervals.py", [str(run)]),
        ("02_compare_to_control.py", [str(run), "modern"]),
        ("03_report_with_your_figures.py", [str(run)]),
    ]:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / script), *arguments],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
    assert (run / "my-report" / "report.html").is_file()


def test_the_python_api_example_runs(tmp_path, tiny_model_dir):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "08_python_api.py"), str(tiny_model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WEIRDGEN_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "answers; lethal-word score by year" in done.stdout and "1984" in done.stdout


def run_example(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "WEIRDGEN_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"},
    )


def test_the_audit_example_screens_a_toy_dataset_and_its_control(tmp_path):
    done = run_example("10_audit_a_dataset.py", tmp_path)
    assert done.returncode == 0, done.stderr
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    ranked = [h["name"] for h in audit["hypotheses"]]
    # the printed ranking is audit.json's, every toy character once, and the control was screened
    assert f"1. {ranked[0]} " in done.stdout and f"{len(ranked)}. {ranked[-1]} " in done.stdout
    assert len(ranked) == len(set(ranked)) >= 2
    assert f"the control (no dates) ranks first: {audit['control_ranked_first']}" in done.stdout
    assert (tmp_path / "out" / "report.html").is_file()


def test_the_scan_example_scans_a_toy_finetune_over_a_century(tmp_path):
    done = run_example("11_scan_for_a_trigger.py", tmp_path)
    assert done.returncode == 0, done.stderr
    scan = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert [v["value"] for v in scan["values"]] == [str(y) for y in range(1950, 2051)]
    flagged = ", ".join(scan["flagged"]) or "none"
    assert f"101 years scanned; flagged: {flagged}" in done.stdout
    assert (tmp_path / "out" / "report.html").is_file()
