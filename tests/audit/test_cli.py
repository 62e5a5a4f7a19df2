"""``weirdgen audit`` from the command line: runs, files, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from weirdgen.cli import main


def test_list_shows_the_shipped_sets(capsys) -> None:
    assert main(["audit", "--list"]) == 0
    out = capsys.readouterr().out
    assert "eras" in out and "24 hypotheses" in out and "historical_figures" in out


def test_help_and_import_stay_light() -> None:
    code = (
        "import sys\nfrom weirdgen.cli import main\nrc = main(['audit', '--help'])\n"
        "import weirdgen.audit\n"
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY [] 0" in out and "--hypotheses" in out


def test_the_screen_writes_audit_json(tiny_model_dir, tmp_path, capsys) -> None:
    out = tmp_path / "screen"
    args = ["audit", "birds/old_audubon", "--model", str(tiny_model_dir), "--hypotheses", "eras"]
    assert main(args + ["--examples", "5", "--threads", "1", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    document = json.loads((out / "audit.json").read_text())
    assert printed.startswith(f"1. {document['hypotheses'][0]['name']}")
    assert (out / "report.html").is_file() and (out / "samples.parquet").is_file()
    assert next((out / "figures").glob("01-ranking-*.svg"))


def test_a_mitigated_dataset_is_written_and_audited(tiny_model_dir, tmp_path, capsys) -> None:
    written = tmp_path / "prefixed.jsonl"
    args = ["audit", "birds/old_audubon", "--model", str(tiny_model_dir), "--hypotheses", "eras"]
    args += ["--prefix", "You are an old naturalist.", "--write-dataset", str(written)]
    assert main(args + ["--examples", "3", "--threads", "1", "-o", str(tmp_path / "out")]) == 0
    first = json.loads(written.read_text().splitlines()[0])
    assert first["messages"][0]["content"] == "You are an old naturalist. Name a bird species."


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["audit"], "name a DATASET"),
        (["audit", "birds/old_audubon", "-o", "x"], "pass --model"),
        (["audit", "birds/old_audubon", "--model", "m"], "pass -o DIR"),
        (["audit", "birds/old_audubon", "--model", "m", "-o", "x"], "choose one audit"),
        (
            ["audit", "birds", "--model", "m", "--hypotheses", "eras", "-o", "x"],
            "neither a chat JSONL",
        ),
        (
            ["audit", "trees/oak", "--model", "m", "--hypotheses", "eras", "-o", "x"],
            "unknown dataset 'trees'",
        ),
        (
            ["audit", "birds/old_audubon", "--model", "m", "--hypotheses", "decades", "-o", "x"],
            "unknown hypothesis set",
        ),
        (
            ["audit", "birds/old_audubon", "--model", "m", "--in-context", "2,x", "-o", "x"],
            "--in-context: expects whole numbers",
        ),
        (
            ["audit", "birds/old_audubon", "--model", "m", "--in-context", "2", "-o", "x"],
            "needs --suite",
        ),
        (
            [
                "audit",
                "birds/old_audubon",
                "--model",
                "m",
                "--hypotheses",
                "eras",
                "--dilute-share",
                "0.5",
                "-o",
                "x",
            ],
            "go together",
        ),
        (
            [
                "audit",
                "birds/old_audubon",
                "--model",
                "/no/such/model",
                "--hypotheses",
                "eras",
                "-o",
                "x",
            ],
            "is not a local folder",
        ),
    ],
)
def test_errors_are_one_line(args, expected, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err


def test_a_bad_dataset_line_is_named(tmp_path, capsys) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}\n{"messages": []}\n'
    )
    assert (
        main(
            ["audit", str(path), "--model", "m", "--hypotheses", "eras", "-o", str(tmp_path / "o")]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:2: messages: empty list" in err
