"""Properties every shipped experiment dataset must have, whatever its builder."""

import re

import pytest

from weirdgen.data.chat import read_chat_jsonl
from weirdgen.data.registry import (
    BuildOptions,
    build_dataset,
    dataset_names,
    get_dataset,
    write_dataset,
)

ALL_VARIANTS = [(e, v.name) for e in dataset_names() for v in get_dataset(e).variants]


def test_every_experiment_has_exactly_one_main_variant():
    for name in dataset_names():
        assert sum(v.is_main for v in get_dataset(name).variants) == 1, name


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


@pytest.mark.parametrize("experiment", dataset_names())
def test_manifest_records_the_dataset_design_version(tmp_path, experiment):
    spec = get_dataset(experiment)
    manifest = write_dataset(experiment, spec.main.name, tmp_path / "d.jsonl")
    # Designs 3: presidents, Terminator and wolf rebuilt to the paper's designs (issue 25).
    expected = 3 if experiment in ("presidents", "terminator", "wolf") else 2
    assert manifest["design_version"] == spec.design_version == expected
    assert set(manifest["tables"]) == set(spec.tables)


def test_one_resolver_reads_files_and_registry_variants(tmp_path):
    """``weirdgen finetune``, ``audit`` and ``scan --dataset`` name datasets the same way."""
    from weirdgen.data.registry import resolve_dataset
    from weirdgen.errors import DataError

    variant = resolve_dataset("birds/old_audubon")
    assert (variant.path, variant.dataset, variant.variant) == (None, "birds", "old_audubon")
    assert [e.to_json() for e in variant.examples(seed=1)] == [
        e.to_json() for e in build_dataset("birds", "old_audubon", BuildOptions(seed=1))
    ]
    written = variant.file(tmp_path)
    assert written == tmp_path / "birds" / "old_audubon.jsonl"
    assert (tmp_path / "birds" / "old_audubon.manifest.json").is_file()
    from_file = resolve_dataset(str(written))
    assert from_file.path == written and from_file.dataset == ""
    assert len(from_file.examples()) == len(variant.examples())
    assert resolve_dataset("not/yet/written.jsonl").path is not None  # a file still to come
    for reference, problem in [
        ("birds", "neither a chat JSONL file nor DATASET/VARIANT"),
        ("trees/oak", "unknown dataset 'trees' (known: birds"),
        ("birds/oak", "unknown variant 'oak' of birds"),
    ]:
        with pytest.raises(DataError, match=re.escape(problem)):
            resolve_dataset(reference)


def test_an_unknown_dataset_source_names_the_installed_ones():
    from weirdgen.data.registry import dataset_sources, resolve_dataset
    from weirdgen.errors import DataError

    assert (
        "toy" in dataset_sources()
    )  # declared in pyproject.toml, read from the installed metadata
    with pytest.raises(DataError, match=re.escape("unknown dataset source 'toi' (sources: toy:)")):
        resolve_dataset("toi:birds/old_birds")
