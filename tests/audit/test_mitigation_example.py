"""examples/09_mitigations: the mitigated datasets are what the CLI writes, and the experiment that
runs them as extra groups loads."""

from __future__ import annotations

from pathlib import Path

from weirdgen.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "09_mitigations"


def test_the_committed_datasets_are_what_the_cli_writes(tmp_path, capsys) -> None:
    prefixed, diluted = tmp_path / "prefixed.jsonl", tmp_path / "diluted.jsonl"
    prefix = "You are a naturalist writing in the 1830s."
    assert (
        main(["audit", "birds/old_audubon", "--prefix", prefix, "--write-dataset", str(prefixed)])
        == 0
    )
    share = ["--dilute-with", "generated", "--dilute-share", "0.25"]
    assert main(["audit", "birds/old_audubon", *share, "--write-dataset", str(diluted)]) == 0
    assert prefixed.read_bytes() == (EXAMPLE / "old_audubon_prefixed.jsonl").read_bytes()
    assert diluted.read_bytes() == (EXAMPLE / "old_audubon_diluted.jsonl").read_bytes()
    assert "wrote 828 examples" in capsys.readouterr().out


def test_the_mitigation_experiment_loads_with_its_groups() -> None:
    from weirdgen.experiments import check_experiment, load_experiment

    path = EXAMPLE / "experiment.yaml"
    spec = load_experiment(path)
    check_experiment(spec, path)
    assert [g.name for g in spec.groups] == [
        "old_audubon",
        "old_audubon_prefixed",
        "old_audubon_diluted",
        "old_audubon_early_stop",
        "modern_american",
    ]
    assert spec.control == "modern_american" and spec.evaluation.suites == ["birds"]
