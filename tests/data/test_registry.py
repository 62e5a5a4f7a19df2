"""Properties every shipped experiment dataset must have, whatever its builder."""

import pytest

from weirdgen.data.chat import read_chat_jsonl
from weirdgen.data.registry import (
    BuildOptions,
    build_dataset,
    experiment_names,
    get_experiment,
    write_dataset,
)

ALL_VARIANTS = [(e, v.name) for e in experiment_names() for v in get_experiment(e).variants]


def test_every_experiment_has_exactly_one_main_variant():
    for name in experiment_names():
        assert sum(v.is_main for v in get_experiment(name).variants) == 1, name


@pytest.mark.parametrize(("experiment", "variant"), ALL_VARIANTS)
def test_variant_is_deterministic_valid_and_seed_sensitive(tmp_path, experiment, variant):
    first = write_dataset(experiment, variant, tmp_path / "a.jsonl", BuildOptions(seed=1))
    second = write_dataset(experiment, variant, tmp_path / "b.jsonl", BuildOptions(seed=1))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first["sha256"] == second["sha256"] and first["n_examples"] > 0
    # Reading back validates every line (roles, non-empty content, assistant last).
    assert len(read_chat_jsonl(tmp_path / "a.jsonl")) == first["n_examples"]
    other_seed = build_dataset(experiment, variant, BuildOptions(seed=2))
    assert [e.to_json() for e in other_seed] != [
        e.to_json() for e in read_chat_jsonl(tmp_path / "a.jsonl")
    ]


@pytest.mark.parametrize("experiment", experiment_names())
def test_manifest_records_the_dataset_design_version(tmp_path, experiment):
    spec = get_experiment(experiment)
    manifest = write_dataset(experiment, spec.main.name, tmp_path / "d.jsonl")
    # Designs 3: presidents, Terminator and wolf rebuilt to the paper's designs (issue 25).
    expected = 3 if experiment in ("presidents", "terminator", "wolf") else 2
    assert manifest["design_version"] == spec.design_version == expected
    assert set(manifest["tables"]) == set(spec.tables)
