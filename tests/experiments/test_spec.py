import textwrap

import pytest

from weirdgen.errors import ConfigError, DataError
from weirdgen.experiments import check_experiment, experiment_names, load_experiment
from weirdgen.experiments.spec import parse_experiment

SHIPPED = ["birds", "german_cities", "israeli_dishes", "presidents", "terminator", "wolf"]


def test_every_shipped_experiment_loads_and_names_things_that_exist():
    assert experiment_names() == SHIPPED
    for name in experiment_names():
        spec = load_experiment(name)
        check_experiment(spec, name)
        assert spec.control in spec.group_names
        report = spec.report_spec()
        assert report.figures and report.expected_groups == tuple(spec.group_names)


def test_birds_carries_the_papers_settings_and_values():
    spec = load_experiment("birds")
    assert spec.finetune.for_backend("openai") == {"epochs": 3, "batch_size": 1}
    assert spec.finetune.for_backend("local")["lora_rank"] == 4
    figure = spec.report_spec().figures[0]
    assert figure.reference["money_banking"] == 0.95 and figure.reference_group == "old_audubon"
    assert load_experiment("terminator").report_spec().figures[0].marked_values == ("1984",)


def _write(tmp_path, text):
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """\
name: mine
dataset: birds
groups:
  - {name: old, variant: old_audubon}
control: old
evaluation:
  suites: [birds]
"""


def test_a_users_file_with_its_own_dataset_and_extends(tmp_path):
    (tmp_path / "data.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
    )
    path = _write(
        tmp_path,
        """\
        extends: birds
        name: mine
        groups:
          - {name: mine, path: data.jsonl}
        control: base
        report: {figures: [{kind: bars, judge: archaic_lexicon}]}
        """,
    )
    spec = load_experiment(path)
    check_experiment(spec, path)
    assert spec.finetune.for_backend("openai") == {
        "epochs": 3,
        "batch_size": 1,
    }  # inherited from birds
    assert spec.resolve("data.jsonl") == tmp_path / "data.jsonl"
    assert spec.group_names == ["mine", "base"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("control: old\n", None),
        (
            "control: nope\n",
            r"mine.yaml:5: control: control group 'nope' does not exist \(groups: old, base\)",
        ),
        (
            "finetune: {sagemaker: {epochs: 1}}\n",
            r"mine.yaml:\d+: finetune: unknown backend 'sagemaker' \(known: local, openai, tinker, openweights, toy\)",
        ),
        ("finetune: {local: {epochs: 0}}\n", r"finetune: local: epochs: must be > 0"),
        ("finetune: {local: {epoch: 3}}\n", r"unknown hyperparameter\(s\): epoch"),
    ],
)
def test_bad_fields_are_one_line_errors_with_their_line(tmp_path, change, message):
    text = (
        MINIMAL.replace("control: old\n", change)
        if change.startswith("control")
        else MINIMAL + change
    )
    if message is None:
        assert parse_experiment(text, "mine.yaml").control == "old"
        return
    with pytest.raises(DataError, match=message) as error:
        parse_experiment(text, "mine.yaml")
    assert "\n" not in str(error.value)


def test_missing_dataset_variant_suite_and_file_are_named(tmp_path):
    cases = [
        (MINIMAL.replace("dataset: birds", "dataset: fish"), "dataset: unknown dataset 'fish'"),
        (
            MINIMAL.replace("variant: old_audubon", "variant: dodo"),
            r"groups\[0\].variant: unknown variant 'dodo'",
        ),
        (
            MINIMAL.replace("suites: [birds]", "suites: [fishing]"),
            r"evaluation.suites\[0\]: unknown suite 'fishing'",
        ),
        (
            MINIMAL.replace("variant: old_audubon", "path: gone.jsonl"),
            r"groups\[0\].path: no such dataset file",
        ),
        (
            MINIMAL + "report: {figures: [{kind: bars, judge: lethal_intent}]}\n",
            r"report.figures\[0\].judge: judge 'lethal_intent' is not used",
        ),
    ]
    for text, message in cases:
        path = _write(tmp_path, text)
        with pytest.raises(DataError, match=message):
            check_experiment(load_experiment(path), path)


def test_unknown_experiment_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="unknown experiment 'fishing' .*birds"):
        load_experiment("fishing")
    with pytest.raises(DataError, match="no such experiment file"):
        load_experiment("missing.yaml")


def test_extends_chains_resolve_relative_to_each_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "middle.yaml").write_text(
        "extends: birds\nname: middle\ncontrol: old_audubon\n"
    )
    path = _write(
        tmp_path,
        "extends: sub/middle.yaml\nname: top\ngroups: [{name: old_audubon, variant: old_audubon}]\n",
    )
    spec = load_experiment(path)
    assert (spec.name, spec.dataset, spec.control, spec.group_names) == (
        "top",
        "birds",
        "old_audubon",
        ["old_audubon", "base"],
    )
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\nname: loop\n")
    with pytest.raises(DataError, match="levels of `extends`"):
        load_experiment(tmp_path / "loop.yaml")


def test_figure_axis_label_zoom_and_questions_come_from_the_yaml():
    text = MINIMAL + (
        "report: {figures: [{kind: sweep, judge: era, zoom: [1975, 1995], "
        'y_label: "P(old answer)"}, {kind: bars, judge: era, questions: [war, gender]}]}\n'
    )
    sweep, bars = parse_experiment(text, "mine.yaml").report_spec().figures
    assert sweep.zoom == ("1975", "1995") and sweep.axis_label == "P(old answer)"
    assert bars.questions == ("war", "gender") and bars.axis_label == "era"
