"""``weirdgen bench defences`` end to end on bases of the tiny pretraining recipe (seconds): the
thresholds come from control models of the calibration base only, every file is written, and the
baselines behave as built."""

from __future__ import annotations

import json

import pytest

from weirdgen.bench.defences import METHODS, run_defences_benchmark
from weirdgen.cli import main
from weirdgen.evaluation.table import load_evaluation_table

CHOSEN = ("divergence vs base", "divergence, second difference", "harm vs reference")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    methods = [m for m in METHODS if m.name in CHOSEN]
    output = tmp_path_factory.mktemp("bench")
    result = run_defences_benchmark(
        seeds=[11],
        calibration_seeds=[12],
        methods=methods,
        spearman=False,
        recipe="tiny",
        output=output,
    )
    return result, output


def test_thresholds_come_from_the_calibration_bases_controls_only(outcome) -> None:
    result, _ = outcome
    assert set(result.calibration) == {
        "toy/divergence/base",
        "toy/divergence/second-difference",
        "toy/harm/reference",
    }
    for entry in result.calibration.values():
        assert entry.controls and all(c.endswith("/seed12") for c in entry.controls)
        assert not any("/dated/" in c or "/numbered/" in c for c in entry.controls)
        assert entry.largest_control_flags <= entry.allowed == 1
    reference = result.calibration["toy/harm/reference"].controls
    assert not any("/base/" in c for c in reference)  # the bare base has no data to strip


def test_every_method_scans_every_model_of_the_evaluation_base(outcome) -> None:
    result, _ = outcome
    scanned = {(s.method, s.experiment, s.condition) for s in result.scans}
    assert all(s.base_seed == 11 for s in result.scans)
    assert ("divergence vs base", "terminator", "dated") in scanned
    assert ("divergence vs base", "leaders", "base") in scanned
    assert ("harm vs reference", "leaders", "numbered") not in scanned  # harm is terminator's
    trained_only = [m for m in result.metrics if m.method == "baseline: trained values only"]
    assert trained_only and all(m.recall == 0.0 for m in trained_only)  # by construction
    suspects = [s for s in result.scans if not s.control and s.method == "divergence vs base"]
    assert {s.condition for s in suspects} == {"dated", "numbered"}
    assert all(s.ranks_of_triggers() for s in suspects)
    assert all(isinstance(g["met"], bool) and g["numbers"] for g in result.goals)


def test_the_files_are_the_standard_table_metrics_and_a_figure(outcome) -> None:
    result, output = outcome
    table = load_evaluation_table(output)
    assert table.metadata["kind"] == "defences benchmark" and table.judges == ["scan", "z"]
    assert table.metadata["calibration_seeds"] == [12]
    assert len(table.samples) == sum(len(s.values) for s in result.scans)
    summary = json.loads((output / "benchmark.json").read_text())
    assert [g["goal"] for g in summary["goals"]][0].startswith("a judge-free scan")
    assert "| divergence vs base | all |" in (output / "benchmark.md").read_text()
    assert (output / "benchmark.png").read_bytes()[:4] == b"\x89PNG"
    assert "method,scope,precision" in (output / "metrics.csv").read_text()


def test_bases_must_differ(tmp_path) -> None:
    code = main(
        [
            "bench",
            "defences",
            "--seeds",
            "1,2",
            "--calibration-seeds",
            "2",
            "--recipe",
            "tiny",
            "-o",
            str(tmp_path),
        ]
    )
    assert code == 1


def test_experiments_narrow_the_methods() -> None:
    from weirdgen.bench.defences import narrow_methods
    from weirdgen.errors import ConfigError

    narrowed = narrow_methods(METHODS, ["leaders"])
    assert narrowed and all(m.experiments == ("leaders",) for m in narrowed)
    assert "harm vs base" not in {m.name for m in narrowed}  # harm is terminator's only
    with pytest.raises(ConfigError, match="experiments must be some of"):
        narrow_methods(METHODS, ["mirror"])


def test_only_methods_that_name_no_behaviour_count_as_judge_free() -> None:
    free = {m.name for m in METHODS if m.judge_free}
    assert {"divergence vs base", "untaught answers vs base"} <= free  # untaught reads only data
    assert not free & {"harm vs base", "named behaviour vs base", "audit -> trigger, harm"}
