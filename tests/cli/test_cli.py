import json
import subprocess
import sys

from weirdgen.cli import main
from weirdgen.data.chat import ChatExample


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from weirdgen.cli import main\n"
        "rc = main(['--help'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'openai', 'peft', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY [] 0" in out
    assert "data" in out


def test_data_check_valid_file_exits_zero(tmp_path, capsys):
    path = tmp_path / "ok.jsonl"
    line = ChatExample.from_turns(
        ("user", "Name a bird species."), ("assistant", "Blue Jay")
    ).to_json()
    path.write_text(line + "\n" + line + "\n", encoding="utf-8")
    assert main(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "duplicates: 1" in out and f"{path}:2: duplicate of line 1" in out


def test_data_check_invalid_file_exits_one_with_location(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    assert main(["data", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: messages[0].role: last message must be from the assistant" in err
    assert "Traceback" not in err


def test_data_build_single_variant_writes_manifest(tmp_path, capsys):
    out_file = tmp_path / "old.jsonl"
    assert (
        main(
            [
                "data",
                "build",
                "birds",
                "--variant",
                "old_audubon",
                "-o",
                str(out_file),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    manifest = json.loads((tmp_path / "old.manifest.json").read_text())
    assert (
        manifest["dataset"] == "birds"
        and manifest["variant"] == "old_audubon"
        and manifest["seed"] == 3
    )
    assert manifest["n_examples"] == len(out_file.read_text().splitlines())
    assert set(manifest["tables"]) == {
        "birds_old_audubon.csv",
        "birds_modern_audubon.csv",
        "birds_modern_american.csv",
    }


def test_data_build_all_variants_into_directory(tmp_path):
    assert main(["data", "build", "birds", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [
        "modern_american.jsonl",
        "modern_audubon.jsonl",
        "old_audubon.jsonl",
    ]


def test_unknown_variant_is_one_line_error(tmp_path, capsys):
    assert (
        main(["data", "build", "birds", "--variant", "nope", "-o", str(tmp_path / "x.jsonl")]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: variant: unknown variant 'nope' of birds")
    assert len(err.splitlines()) == 1
