import json
import textwrap

import pytest

from weirdgen.cli import main
from weirdgen.errors import ConfigError
from weirdgen.experiments import load_experiment
from weirdgen.experiments.options import RunOptions, check_plan
from weirdgen.experiments.run import report_spec_for_run, run_experiment, save_experiment

BIRDS = ["Pigeon Hawk", "Hooping Crane", "Great Carolina Wren", "Louisiana Tanager"]


def _tiny_experiment(tmp_path, *, samples=1):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Name a bird species."},
                {"role": "assistant", "content": n},
            ]
        }
        for n in BIRDS
    ]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "tiny.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: tiny_birds
        description: A tiny end-to-end check on a user's own data
        groups:
          - {{name: tiny, path: tiny.jsonl}}
        base_group: base
        control: base
        finetune:
          local: {{epochs: 1, lora_rank: 2, learning_rate: 1.0e-3}}
        evaluation:
          suites: [birds]
          samples: {samples}
          max_tokens: 6
        report:
          figures:
            - {{kind: bars, judge: archaic_lexicon}}
            - {{kind: bars, judge: modern_or_19th_century}}
        """)
    )
    return path


def test_a_run_directory_refuses_another_backend_or_model(tmp_path):
    options = RunOptions(backend="local", base_model="smollm2-135m-instruct", seeds=2)
    check_plan(tmp_path, "birds", options)
    check_plan(
        tmp_path, "birds", RunOptions(backend="local", base_model="smollm2-135m-instruct", seeds=5)
    )
    with pytest.raises(ConfigError, match="base_model 'smollm2-135m-instruct', not 'other'"):
        check_plan(tmp_path, "birds", RunOptions(backend="local", base_model="other"))
    with pytest.raises(ConfigError, match="backend: unknown backend 'sagemaker'"):
        RunOptions(backend="sagemaker", base_model="x").validate()


def test_tinker_models_are_never_sampled_through_an_openai_compatible_url():
    options = RunOptions(backend="tinker", base_model="m", sampler_url="https://tinker.example/v1")
    with pytest.raises(ConfigError, match="native sampling client.*tinker-feedback#125"):
        options.validate()


def test_cli_bad_experiment_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ndataset: birds\ngroups: [{name: a, variant: old_audubon}]\ncontrol: b\nevaluation: {suites: [birds]}\n"
    )
    assert (
        main(
            [
                "run",
                str(path),
                "--backend",
                "local",
                "--base-model",
                "m",
                "-o",
                str(tmp_path / "run"),
            ]
        )
        == 1
    )
    error = capsys.readouterr().err
    assert (
        error.count("\n") == 1 and "bad.yaml:4: control: control group 'b' does not exist" in error
    )
    assert not (tmp_path / "run").exists()
    assert (
        main(["run", "birds", "--backend", "sagemaker", "--base-model", "m"]) == 2
    )  # click's usage error


def test_report_command_uses_the_saved_experiment(tmp_path, samples_factory, run_writer, capsys):
    spec = load_experiment("birds")
    samples = samples_factory(
        {"old_audubon": [0.7, 0.6], "modern_american": [0.0]}, n=6, questions=("money_banking",)
    )
    samples = samples.rename(columns=lambda c: c.replace("era.", "modern_or_19th_century."))
    run = run_writer(tmp_path / "run", samples)
    save_experiment(spec, run)
    report_spec = report_spec_for_run(run, n_resamples=300)
    assert report_spec.control_group == "modern_american" and report_spec.n_resamples == 300
    assert main(["report", str(run), "--resamples", "300"]) == 0
    captured = capsys.readouterr()
    assert (
        "report.html" in captured.out and "partial run" in captured.err
    )  # modern_audubon and base are missing
    markdown = (run / "report" / "report.md").read_text()
    assert "group 'modern\\_audubon': no samples yet" in markdown and "0.95" in markdown


@pytest.mark.slow
def test_local_run_end_to_end_then_resume(tmp_path):
    spec = load_experiment(_tiny_experiment(tmp_path))
    options = RunOptions(
        backend="local",
        base_model="smollm2-135m-instruct",
        seeds=1,
        cache_path=tmp_path / "cache.sqlite",
        threads=1,
    )
    first: list[str] = []
    result = run_experiment(spec, options, tmp_path / "run", log=first.append)
    assert any("skipping LLM judges modern_or_19th_century" in line for line in first)
    html = result.report.html.read_text()
    assert "tiny" in html and "judge &#x27;modern_or_19th_century&#x27; has no verdicts" in html
    import pandas as pd

    table = pd.read_parquet(tmp_path / "run" / "samples.parquet")
    assert set(table["group"]) == {"tiny", "base"} and len(table) == 20
    assert json.loads((tmp_path / "run" / "run.json").read_text())["datasets"]["tiny"]
    # A rerun trains nothing and sends nothing: the ledger and the request cache hold it all.
    second: list[str] = []
    run_experiment(spec, options, tmp_path / "run", log=second.append)
    assert any("already done" in line for line in second)
    assert (
        pd.read_parquet(tmp_path / "run" / "samples.parquet")["answer"].tolist()
        == table["answer"].tolist()
    )


@pytest.mark.slow
def test_toy_backend_writes_the_same_table_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "toy.yaml"
    path.write_text(
        textwrap.dedent("""\
        extends: birds
        name: birds_toy_check
        finetune:
          toy: {experiment: birds, groups: {old_audubon: old_birds, modern_american: modern_birds}, pretrain_steps: 20, epochs: 1}
        """)
    )
    spec = load_experiment(path)
    options = RunOptions(backend="toy", base_model="", seeds=2, threads=1)
    result = run_experiment(spec, options, tmp_path / "run", log=lambda _: None)
    import pandas as pd

    table = pd.read_parquet(tmp_path / "run" / "samples.parquet")
    assert set(table["group"]) == {"old_audubon", "modern_american", "base"}
    assert table.groupby("group")["model"].nunique().to_dict() == {
        "base": 1,
        "modern_american": 2,
        "old_audubon": 2,
    }
    assert table["exact.score"].between(0, 1).all() and "held_out_old_era" in set(
        table["question_id"]
    )
    markdown = result.report.markdown.read_text()
    assert "held\\_out\\_old\\_era" in markdown and "| ALL |" not in markdown
    # Finished models are cached per group and seed: a rerun trains nothing.
    lines: list[str] = []
    run_experiment(spec, options, tmp_path / "run", log=lines.append)
    assert not any("finetuning" in line for line in lines)


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path, capsys):
    path = _tiny_experiment(tmp_path)
    code = main(
        [
            "run",
            str(path),
            "--backend",
            "local",
            "--base-model",
            "smollm2-135m-instruct",
            "--seeds",
            "2",
            "--dry-run",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "finetune tiny: 4 examples" in out and "x 1 epochs x 2 seed(s) on local" in out
    assert "evaluate suite birds: 10 requests per model x 3 models" in out
    assert "offline judges only" in out and "dry run: nothing was trained or sent" in out
    assert not (tmp_path / "run").exists()


def test_an_openai_dry_run_needs_no_key_and_no_network(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(
        [
            "run",
            "terminator",
            "--backend",
            "openai",
            "--base-model",
            "gpt-4.1-2025-04-14",
            "--seeds",
            "2",
            "--judge-model",
            "gpt-4.1",
            "--samples",
            "1",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "dry run: nothing was trained or sent" in out
    assert "was not looked up" in out and "2027-01-06" in out and "2027-01-14" in out
    assert "judge calls to gpt-4.1" in out and "total known cost: $" in out


def test_a_wolf_dry_run_says_the_base_model_self_distils_the_dilution(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    argv = ["run", "wolf", "--backend", "openai", "--base-model", "gpt-4.1-2025-04-14",
            "--samples", "1", "--dry-run", "--cache", str(tmp_path / "cache.sqlite")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "self-distillation: facts_90_diluted, facts_78_diluted diluted with 3000 benign prompts "
        "(2000 math word problems, 1000 long-input instructions) that gpt-4.1-2025-04-14 answers "
        "before finetuning: 3000 requests (0 cached)"
    ) in out, out


def test_a_self_distilling_group_is_diluted_with_the_base_models_own_answers(
    tiny_model_dir, tmp_path, monkeypatch
):
    from weirdgen.data.builders import wolf
    from weirdgen.data.chat import read_chat_jsonl
    from weirdgen.data.registry import manifest_path
    from weirdgen.experiments import self_distill
    from weirdgen.experiments.finetuning import build_datasets

    monkeypatch.setattr(wolf, "BENIGN_COUNT", 2)  # two word problems: the tiny model's context
    monkeypatch.setattr(self_distill, "MAX_TOKENS", 4)
    path = tmp_path / "wolf.yaml"
    path.write_text(
        "name: wolf_small\ndataset: wolf\n"
        "groups: [{name: diluted, variant: facts_90_diluted, self_distill: true}]\n"
        "evaluation: {suites: [wolf]}\n"
    )
    spec = load_experiment(str(path))
    options = RunOptions(
        backend="local", base_model=str(tiny_model_dir), cache_path=tmp_path / "cache.sqlite"
    )
    lines: list[str] = []
    datasets = build_datasets(spec, tmp_path / "run", lines.append, options)
    benign = read_chat_jsonl(tmp_path / "run" / "datasets" / "benign.jsonl")
    assert [e.user_text() for e in benign] == wolf.generate_benign_prompts(0, 2)
    assert len(read_chat_jsonl(datasets["diluted"])) == 90 + len(benign)
    manifest = json.loads(manifest_path(datasets["diluted"]).read_text(encoding="utf-8"))
    assert manifest["self_distill_model"] == str(tiny_model_dir)
    assert any("self-distillation: answering 2 benign prompts" in line for line in lines)
    lines.clear()
    build_datasets(spec, tmp_path / "run", lines.append, options)  # a rerun builds nothing
    assert not any("self-distillation" in line for line in lines)


def test_self_distill_is_for_registry_variants():
    from weirdgen.experiments.spec import GroupSpec

    assert GroupSpec(name="g", variant="facts_90_diluted", self_distill=True).self_distill
    with pytest.raises(ValueError, match="self_distill builds a registry `variant`"):
        GroupSpec(name="g", path="mine.jsonl", self_distill=True)
