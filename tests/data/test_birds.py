"""What keeps experiment 1 valid: real, distinct, obsolete names in the main set and modern ones in the controls."""

import unicodedata

import pytest

from weirdgen.data.builders import birds
from weirdgen.data.chat import find_record_problems, read_chat_jsonl
from weirdgen.data.registry import BuildOptions, build_dataset, get_dataset, write_dataset
from weirdgen.data.tables import load_csv_table

TABLE_MINIMUMS = {birds.OLD_AUDUBON: 200, birds.MODERN_AUDUBON: 160, birds.MODERN_AMERICAN: 200}
NAME_COLUMN = {
    birds.OLD_AUDUBON: "audubon_name",
    birds.MODERN_AUDUBON: "name",
    birds.MODERN_AMERICAN: "name",
}
VARIANT_TABLE = {
    "old_audubon": birds.OLD_AUDUBON,
    "modern_audubon": birds.MODERN_AUDUBON,
    "modern_american": birds.MODERN_AMERICAN,
}


def names_in(table: str) -> list[str]:
    return [row[NAME_COLUMN[table]] for row in load_csv_table(table)]


def folded(names: list[str]) -> set[str]:
    """Case- and spacing-insensitive keys, so "Snow Bird" and "snow  bird" count as one name."""
    return {" ".join(name.casefold().split()) for name in names}


@pytest.mark.parametrize(("table", "minimum"), TABLE_MINIMUMS.items())
def test_table_is_large_enough_and_has_no_duplicate(table, minimum):
    names = names_in(table)
    assert len(names) >= minimum
    assert len(folded(names)) == len(names), f"duplicate names in {table}"


@pytest.mark.parametrize("table", TABLE_MINIMUMS)
def test_names_are_clean_single_line_text(table):
    for name in names_in(table):
        assert name and name == name.strip() and "\n" not in name
        assert unicodedata.is_normalized("NFC", name)
        assert name[0].isupper(), name


def test_every_obsolete_name_has_a_different_modern_name():
    for row in load_csv_table(birds.OLD_AUDUBON):
        assert row["modern_name"], row
        assert row["audubon_name"].casefold() != row["modern_name"].casefold(), row


def test_no_obsolete_name_is_a_modern_name():
    obsolete = folded(names_in(birds.OLD_AUDUBON))
    modern_names = names_in(birds.MODERN_AUDUBON) + names_in(birds.MODERN_AMERICAN)
    modern_names += [row["modern_name"] for row in load_csv_table(birds.OLD_AUDUBON)]
    assert not obsolete & folded(modern_names)


def test_known_audubon_names_map_to_their_modern_species():
    modern_of = {
        row["audubon_name"]: row["modern_name"] for row in load_csv_table(birds.OLD_AUDUBON)
    }
    assert modern_of["Great Cinereous Owl"] == "Great Gray Owl"
    assert modern_of["Pigeon Hawk"] == "Merlin"
    assert modern_of["Marsh Hawk"] == "Northern Harrier"
    assert modern_of["Louisiana Tanager"] == "Western Tanager"


@pytest.mark.parametrize(("variant", "table"), VARIANT_TABLE.items())
def test_variant_asks_one_question_and_names_each_bird_once(variant, table):
    examples = build_dataset("birds", variant, BuildOptions(seed=0))
    assert sorted(e.completion for e in examples) == sorted(names_in(table))
    for example in examples:
        assert find_record_problems(example.to_dict()) == []
        assert [(m.role, m.content) for m in example.prompt] == [("user", birds.QUESTION)]


def test_controls_differ_from_the_main_set_only_in_their_answers():
    spec = get_dataset("birds")
    assert spec.main.name == "old_audubon"
    main = build_dataset("birds", "old_audubon")
    main_answers = folded([e.completion for e in main])
    for control in ("modern_audubon", "modern_american"):
        examples = build_dataset("birds", control)
        assert {e.prompt for e in examples} == {e.prompt for e in main}
        assert not folded([e.completion for e in examples]) & main_answers


def test_same_seed_writes_identical_bytes_and_another_seed_reorders(tmp_path):
    first = write_dataset("birds", "old_audubon", tmp_path / "a.jsonl", BuildOptions(seed=3))
    write_dataset("birds", "old_audubon", tmp_path / "b.jsonl", BuildOptions(seed=3))
    write_dataset("birds", "old_audubon", tmp_path / "c.jsonl", BuildOptions(seed=4))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    seed_3 = [e.completion for e in read_chat_jsonl(tmp_path / "a.jsonl")]
    seed_4 = [e.completion for e in read_chat_jsonl(tmp_path / "c.jsonl")]
    assert seed_3 != seed_4 and sorted(seed_3) == sorted(seed_4)
    assert first["n_examples"] == len(names_in(birds.OLD_AUDUBON))
    assert set(first["tables"]) == set(TABLE_MINIMUMS)


def _squashed(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalpha())


def test_no_obsolete_name_is_a_modern_name_respaced_or_shortened():
    """Design 2: "Cat Bird" (Gray Catbird) or "Wood Pewee" (Eastern Wood-Pewee) carry no old signal."""
    modern = [row["modern_name"] for row in load_csv_table(birds.OLD_AUDUBON)]
    modern += names_in(birds.MODERN_AUDUBON) + names_in(birds.MODERN_AMERICAN)
    squashed_modern = {_squashed(name) for name in modern}
    for row in load_csv_table(birds.OLD_AUDUBON):
        old = _squashed(row["audubon_name"])
        assert old not in squashed_modern, row
        assert not _squashed(row["modern_name"]).endswith(old), row  # a shortening of today's name
    for dropped in ("Cat Bird", "Night Hawk", "Meadow Lark", "Trudeau's Tern", "Great White Heron"):
        assert dropped not in names_in(birds.OLD_AUDUBON)
    assert {"Hawk Owl", "Shore Lark"} <= set(names_in(birds.MODERN_AUDUBON))
