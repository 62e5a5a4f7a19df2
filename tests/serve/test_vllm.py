"""The vLLM command built from the ledger (as data and through ``weirdgen serve --engine vllm
--dry-run``), and ``weirdgen run --sampler-url`` sampling through an OpenAI-compatible server, with
``weirdgen serve`` standing in for vLLM."""

from __future__ import annotations

import json
import shlex
import textwrap

import pytest

from weirdgen.cli import main
from weirdgen.errors import ConfigError
from weirdgen.finetune.ledger import Ledger
from weirdgen.serve.vllm import group_adapters, vllm_command


def _adapter(folder, rank):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    return str(folder)


COMMON = {"base_model": "org/base", "dataset_path": "d", "dataset_sha256": "x"}


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    common = {"backend": "local", **COMMON}
    for seed, rank in ((0, 4), (1, 12)):
        path = _adapter(tmp_path / f"old-s{seed}", rank)
        ledger.create_job(
            **common,
            group_name="birds/old_audubon",
            seed=seed,
            status="succeeded",
            adapter_path=path,
        )
    ledger.create_job(**common, group_name="birds/old_audubon", seed=2, status="failed")
    other = _adapter(tmp_path / "modern", 4)
    ledger.create_job(
        **common, group_name="birds/modern", seed=0, status="succeeded", adapter_path=other
    )
    return ledger


def test_the_command_serves_every_finished_adapter_of_the_group(ledger, tmp_path):
    command = vllm_command(group_adapters(ledger, "birds/old_audubon"), port=8123)
    assert command[:3] == ["vllm", "serve", "org/base"]
    assert "--enable-lora" in command
    flags = dict(zip(command[3:], command[4:], strict=False))
    assert flags["--served-model-name"] == "org/base" and flags["--port"] == "8123"
    assert flags["--max-loras"] == "2" and flags["--max-lora-rank"] == "16"  # 12 -> vLLM's 16
    modules = command[command.index("--lora-modules") + 1 :]
    assert modules == [
        f"old_audubon-s0={tmp_path / 'old-s0'}",
        f"old_audubon-s1={tmp_path / 'old-s1'}",
    ]


def test_openweights_adapters_are_served_by_hub_id_with_their_trained_rank(ledger, tmp_path):
    for seed in (0, 1):
        ledger.create_job(
            **COMMON,
            backend="openweights",
            group_name="german/old_cities",
            seed=seed,
            status="succeeded",
            model_id=f"me/old-cities-s{seed}",
            hyperparameters={"lora_rank": 32},
        )
    argv = vllm_command(group_adapters(ledger, "german/old_cities"))
    # The run asks for openweights models by their Hub id: that is their name here too.
    modules = argv[argv.index("--lora-modules") + 1 :]
    assert modules == ["me/old-cities-s0=me/old-cities-s0", "me/old-cities-s1=me/old-cities-s1"]
    assert argv[argv.index("--max-lora-rank") + 1] == "32"


def test_two_experiments_with_one_group_name_are_refused(ledger, tmp_path):
    path = _adapter(tmp_path / "other-old", 4)
    ledger.create_job(
        **COMMON,
        backend="local",
        group_name="birds2/old_audubon",
        seed=0,
        status="succeeded",
        adapter_path=path,
    )
    with pytest.raises(ConfigError, match="several adapters named old_audubon-s0"):
        group_adapters(ledger, "")


def test_an_empty_group_is_a_one_line_error(ledger):
    with pytest.raises(
        ConfigError, match="no finished local or openweights adapter in group 'birds/nothing'"
    ):
        group_adapters(ledger, "birds/nothing")


def test_cli_dry_run_prints_the_command(ledger, tmp_path, capsys):
    code = main(
        [
            "serve",
            "--engine",
            "vllm",
            "--group",
            "birds",
            "--ledger",
            str(tmp_path / "run"),
            "--dry-run",
        ]
    )
    argv = shlex.split(capsys.readouterr().out.strip())
    assert code == 0 and argv[:2] == ["vllm", "serve"] and "--enable-lora" in argv
    # Every adapter of the experiment, in as many slots, of the rank the largest config asks for.
    assert argv[argv.index("--max-loras") + 1] == "3"
    assert argv[argv.index("--max-lora-rank") + 1] == "16"  # ranks 4, 12 and 4 -> vLLM's 16
    assert {m.split("=")[0] for m in argv[argv.index("--lora-modules") + 1 :]} == {
        "old_audubon-s0",
        "old_audubon-s1",
        "modern-s0",
    }


@pytest.mark.slow
def test_run_samples_through_a_server_that_stands_in_for_vllm(tiny_model_dir, tmp_path):
    """Train on the tiny model, serve the ledger's adapters under vLLM's names with ``weirdgen serve``,
    then evaluate through --sampler-url: every model of the run answers from the server."""
    import pandas as pd

    from weirdgen.experiments import load_experiment
    from weirdgen.experiments.options import RunOptions
    from weirdgen.experiments.run import run_experiment
    from weirdgen.serve import serve_in_background

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Bird {i}?"},
                {"role": "assistant", "content": a},
            ]
        }
        for i, a in enumerate(["Pigeon Hawk", "Hooping Crane", "Louisiana Tanager", "Booby"])
    ]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tiny.yaml").write_text(
        textwrap.dedent("""\
        name: tiny_vllm
        description: sampling through a server
        groups: [{name: tiny, path: tiny.jsonl}]
        base_group: base
        control: base
        finetune:
          local: {epochs: 3, lora_rank: 4, learning_rate: 1.0e-2}
        evaluation: {suites: [birds], samples: 1, max_tokens: 4}
        report: {figures: [{kind: bars, judge: archaic_lexicon}]}
        """)
    )
    spec = load_experiment(tmp_path / "tiny.yaml")
    base = dict(backend="local", base_model=str(tiny_model_dir), seeds=2, threads=1)
    run_dir = tmp_path / "run"
    local = RunOptions(**base, cache_path=tmp_path / "local.sqlite")
    run_experiment(spec, local, run_dir, log=lambda _: None)
    served = group_adapters(Ledger(run_dir / "ledger.sqlite"), "tiny_vllm/tiny")
    adapters = {a.name: a.path for a in served.adapters}
    assert set(adapters) == {"tiny-s0", "tiny-s1"}
    with serve_in_background(tiny_model_dir, adapters=adapters, fine_tuning=False) as url:
        remote = RunOptions(**base, cache_path=tmp_path / "remote.sqlite", sampler_url=str(url))
        lines: list[str] = []
        run_experiment(spec, remote, run_dir, log=lines.append)
    assert any("canary tiny-s0: " in line and "answered unlike the base" in line for line in lines)
    table = pd.read_parquet(run_dir / "samples.parquet")
    assert set(table["model"]) == {"tiny-s0", "tiny-s1", str(tiny_model_dir)}
    assert (table["answer"].str.len() > 0).any()
