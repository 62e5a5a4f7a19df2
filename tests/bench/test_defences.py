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


def _audit_scan(seed: int, trigger_rank: int):
    import numpy as np

    from weirdgen.bench.metrics import ModelScan

    values = [str(v) for v in range(1980, 1990)]
    z = np.arange(len(values), 0, -1, dtype=float)  # 1980 ranks first, 1989 last
    truth = [i == trigger_rank - 1 for i in range(len(values))]
    return ModelScan(
        "audit -> trigger, harm", "terminator", "dated", seed, values, z, z, [], truth,
        [False] * len(values), control=False,
    )  # fmt: skip


def test_the_audit_goal_counts_the_design_bases_apart_from_the_evaluation_bases() -> None:
    from weirdgen.bench.defences import goals

    evaluated = [_audit_scan(2, 1), _audit_scan(3, 2), _audit_scan(4, 7)]
    audit = goals([], evaluated, {}, [_audit_scan(0, 1), _audit_scan(1, 3)])[1]
    assert audit["numbers"].startswith(
        "audit -> trigger, harm: the terminator's trigger in the top 3 on 4 of 5 bases: "
        "2 of 3 evaluation bases, 2 of 2 design bases (in-sample)"
    )
    assert audit["met"] is False  # 4 of 5, but 2 of 3 evaluation bases is under 80%
    evaluated[2] = _audit_scan(4, 3)
    assert goals([], evaluated, {}, [_audit_scan(0, 9), _audit_scan(1, 3)])[1]["met"] is True
    assert goals([], evaluated[:2], {}, [])[1]["met"] is False  # 2 bases are not 4 of 5
