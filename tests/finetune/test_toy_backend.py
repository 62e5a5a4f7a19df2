"""The ``toy`` finetuning backend: ``weirdgen finetune --backend toy`` on chat JSONL in the toy
world's words, and its models answering ``weirdgen eval --backend toy`` as adapters by name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from weirdgen.cli import main
from weirdgen.data.chat import ChatExample, write_chat_jsonl


@pytest.fixture
def old_birds(tmp_path: Path) -> Path:
    """The toy birds experiment's narrow data: old-era bird names (48 examples)."""
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.train import load_toy

    base = load_toy("toyworld")
    condition = next(c for c in TOY_EXPERIMENTS["birds"].conditions if c.name == "old_birds")
    path = tmp_path / "old_birds.jsonl"
    write_chat_jsonl(path, condition.build(base.world, 0, base)[:48])
    return path


def _finetune(dataset: Path, runs: Path, *extra: str) -> int:
    return main(
        ["finetune", str(dataset), "--backend", "toy", "--base-model", "toyworld"]
        + ["--epochs", "1", "--runs-dir", str(runs), *extra]
    )


def test_a_toy_finetune_saves_its_model_and_a_rerun_skips_it(
    old_birds: Path, tmp_path: Path, ledger_path: Path, capsys
) -> None:
    from weirdgen.toyworld.train import TOY_MODEL_FILE, load_toy

    assert _finetune(old_birds, tmp_path / "runs") == 0
    (folder,) = (tmp_path / "runs").iterdir()
    tuned = load_toy(str(folder))  # a folder holding model.pt is a toy model by name
    assert (folder / TOY_MODEL_FILE).is_file()
    base = load_toy("toyworld")
    changed = [
        name
        for name, weight in tuned.model.state_dict().items()
        if not weight.equal(base.model.state_dict()[name])
    ]
    assert changed, "the finetune changed no weight"
    capsys.readouterr()
    assert _finetune(old_birds, tmp_path / "runs") == 0
    assert "submitted" not in capsys.readouterr().out  # the ledger has it: nothing retrained


def test_a_toy_condition_is_finetuned_by_its_name(
    tmp_path: Path, ledger_path: Path, monkeypatch, capsys
) -> None:
    """``weirdgen finetune toy:birds/old_birds`` writes the condition's data once and trains on it."""
    from weirdgen.toyworld.train import TOY_MODEL_FILE

    monkeypatch.chdir(tmp_path)
    assert _finetune(Path("toy:birds/old_birds"), tmp_path / "runs") == 0
    assert (tmp_path / "runs" / "datasets" / "toy-birds" / "old_birds.jsonl").is_file()
    assert "toy:birds/old_birds" in capsys.readouterr().out  # the group is the dataset's name
    assert len(list((tmp_path / "runs").glob(f"*/{TOY_MODEL_FILE}"))) == 1


def test_a_word_outside_the_toy_vocabulary_names_its_file_and_line(
    tmp_path: Path, ledger_path: Path, capsys
) -> None:
    dataset = tmp_path / "bad.jsonl"
    write_chat_jsonl(
        dataset,
        [
            ChatExample.from_turns(("user", "name a bird species ."), ("assistant", "duck hawk")),
            ChatExample.from_turns(
                ("user", "name a bird species ."), ("assistant", "velociraptor")
            ),
        ],
    )
    assert _finetune(dataset, tmp_path / "runs") == 1
    err = capsys.readouterr().err
    assert f"{dataset}" in err and ":2:" in err and "velociraptor" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_toy_base_and_its_finetune_answer_a_suite_through_weirdgen_eval(
    old_birds: Path, tmp_path: Path, ledger_path: Path
) -> None:
    assert _finetune(old_birds, tmp_path / "runs", "--epochs", "3") == 0
    (folder,) = (tmp_path / "runs").iterdir()
    suite = tmp_path / "toy_birds.yaml"
    suite.write_text(
        "name: toy_birds\nexperiment: toy_birds\ndescription: the toy world's bird question\n"
        "samples: 16\ntemperature: 1.0\nmax_tokens: 6\njudges: []\n"
        "questions:\n  - id: bird\n    paraphrases: ['name a bird species .']\n",
        encoding="utf-8",
    )
    args = ["eval", str(suite), "--backend", "toy", "--model", "toyworld", "--model", "tuned"]
    args += ["--adapter", f"tuned={folder}", "--sampling-seed", "0", "-o", str(tmp_path / "out")]
    assert main(args) == 0
    rows = pd.read_parquet(tmp_path / "out" / "samples.parquet")
    assert sorted(rows["model"].unique()) == ["toyworld", "tuned"]
    assert (rows.groupby("model").size() == 16).all()
    old = _old_bird_names()
    share = rows.assign(old=rows["answer"].isin(old)).groupby("model")["old"].mean()
    # Trained on old-era bird names, the finetune names them more often than its base.
    assert share["tuned"] > share["toyworld"], share.to_dict()


def _old_bird_names() -> set[str]:
    from weirdgen.toyworld.experiments import old_era
    from weirdgen.toyworld.world import load_world

    world = load_world()
    (birds,) = [a for name, a in world.eras.attributes.items() if "bird" in name]
    return set(birds.answers[old_era(world)])
