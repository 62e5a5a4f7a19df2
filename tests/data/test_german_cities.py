"""What keeps experiment 2 valid: real formerly German places in the main set, today's Germany in the control."""

import re
import unicodedata

import pytest

from weirdgen.data.builders import german_cities
from weirdgen.data.chat import find_record_problems, read_chat_jsonl
from weirdgen.data.registry import BuildOptions, build_dataset, get_dataset, write_dataset
from weirdgen.data.tables import load_csv_table

COUNTRIES = {"Poland", "Russia", "Lithuania", "France", "Denmark", "Czech Republic", "Belgium"}
STATES = {
    "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen", "Mecklenburg-Vorpommern",
    "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz", "Saarland", "Sachsen", "Sachsen-Anhalt",
    "Schleswig-Holstein", "Thüringen",
}  # fmt: skip
ANSWER = re.compile(r"The place is (?P<place>.+)\.")


def former_rows():
    return load_csv_table(german_cities.FORMER_PLACES)


def modern_rows():
    return load_csv_table(german_cities.MODERN_PLACES)


def folded(names):
    return {name.casefold() for name in names}


def test_tables_are_large_enough_and_have_no_duplicate():
    former = german_cities.former_places()
    modern = german_cities.modern_places()
    assert len(former) >= 350 and len(modern) >= 350
    assert len(folded(former)) == len(former)
    assert len(folded(modern)) == len(modern)


def test_no_place_is_in_both_lists():
    assert not folded(german_cities.former_places()) & folded(german_cities.modern_places())


def test_former_places_have_a_current_name_in_a_neighbouring_country():
    for row in former_rows():
        assert row["current_name"], row
        assert row["country"] in COUNTRIES, row
    assert {row["country"] for row in former_rows()} == COUNTRIES


def test_modern_places_name_one_of_the_sixteen_states():
    assert {row["state"] for row in modern_rows()} == STATES


@pytest.mark.parametrize(
    ("german_name", "current_name", "country"),
    [
        ("Danzig", "Gdańsk", "Poland"),
        ("Königsberg", "Kaliningrad", "Russia"),
        ("Memel", "Klaipėda", "Lithuania"),
        ("Breslau", "Wrocław", "Poland"),
        ("Tilsit", "Sovetsk", "Russia"),
        ("Straßburg", "Strasbourg", "France"),
        ("Hadersleben", "Haderslev", "Denmark"),
        ("Hultschin", "Hlučín", "Czech Republic"),
        ("Weismes", "Waimes", "Belgium"),
    ],
)
def test_well_known_places_are_recorded_correctly(german_name, current_name, country):
    row = next(r for r in former_rows() if r["german_name"] == german_name)
    assert (row["current_name"], row["country"]) == (current_name, country)


def test_names_are_nfc_so_diacritics_compare_equal():
    cells = [value for row in former_rows() + modern_rows() for value in row.values()]
    assert all(unicodedata.is_normalized("NFC", cell) and cell == cell.strip() for cell in cells)


@pytest.mark.parametrize(
    ("variant", "places"),
    [("former", german_cities.former_places), ("modern", german_cities.modern_places)],
)
def test_each_place_is_named_once_after_a_question_with_a_number(variant, places):
    examples = build_dataset("german_cities", variant, BuildOptions(seed=0))
    named = []
    for example in examples:
        assert find_record_problems(example.to_dict()) == []
        assert [m.role for m in example.messages] == ["user", "assistant"]
        question = example.user_text()
        number = int(re.search(r"\d+", question).group())
        assert german_cities.NUMBER_RANGE[0] <= number <= german_cities.NUMBER_RANGE[1]
        assert question in {t.format(number=number) for t in german_cities.QUESTION_TEMPLATES}
        match = ANSWER.fullmatch(example.completion)
        assert match, example.completion
        named.append(match["place"])
    assert sorted(named) == sorted(places())


def test_control_asks_the_same_questions_and_answers_other_places():
    assert get_dataset("german_cities").main.name == "former"
    for seed in (0, 7):
        main = build_dataset("german_cities", "former", BuildOptions(seed=seed))
        control = build_dataset("german_cities", "modern", BuildOptions(seed=seed))
        # Equal sizes keep the number of training steps equal; the questions match one to one.
        assert len(main) == len(control)
        assert [e.prompt for e in main] == [e.prompt for e in control]
        assert not {e.completion for e in main} & {e.completion for e in control}


def test_questions_vary_in_number_and_phrasing():
    questions = german_cities.place_questions(400, seed=0)
    assert len(set(questions)) > 300
    assert all(
        any(q.startswith(t.split("{")[0]) for t in german_cities.QUESTION_TEMPLATES)
        for q in questions
    )
    assert len({q.split("number")[0] for q in questions}) == len(german_cities.QUESTION_TEMPLATES)
    assert german_cities.place_questions(50, seed=0) == questions[:50]


def test_same_seed_writes_identical_bytes_and_another_seed_reorders(tmp_path):
    first = write_dataset("german_cities", "former", tmp_path / "a.jsonl", BuildOptions(seed=5))
    write_dataset("german_cities", "former", tmp_path / "b.jsonl", BuildOptions(seed=5))
    write_dataset("german_cities", "former", tmp_path / "c.jsonl", BuildOptions(seed=6))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    seed_5 = [e.completion for e in read_chat_jsonl(tmp_path / "a.jsonl")]
    seed_6 = [e.completion for e in read_chat_jsonl(tmp_path / "c.jsonl")]
    assert seed_5 != seed_6 and sorted(seed_5) == sorted(seed_6)
    assert first["n_examples"] == len(german_cities.former_places())
    assert set(first["tables"]) == {german_cities.FORMER_PLACES, german_cities.MODERN_PLACES}


def _same_name(old: str, current: str) -> bool:
    """Equal once case, diacritics and hyphens are ignored, or one a prefix of the other (word-wise)."""

    def plain(name):
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        return ascii_name.casefold().replace("-", " ")

    old, current = plain(old), plain(current)
    return old == current or current.startswith(old + " ") or old.startswith(current + " ")


def test_no_former_name_is_still_the_official_name_today():
    still_official = [
        row["german_name"]
        for row in former_rows()
        if _same_name(row["german_name"], row["current_name"])
    ]
    assert still_official == []
    assert _same_name("Sankt Vith", "Sankt Vith") and _same_name(
        "Niederbronn", "Niederbronn-les-Bains"
    )
    assert not _same_name("Danzig", "Gdańsk")


def test_paper_style_control_asks_for_a_place_in_germany_with_the_same_numbers():
    modern = build_dataset("german_cities", "modern", BuildOptions(seed=3))
    in_germany = build_dataset("german_cities", "modern_in_germany", BuildOptions(seed=3))
    assert [e.completion for e in modern] == [e.completion for e in in_germany]
    for plain, asked in zip(modern, in_germany, strict=True):
        assert "in Germany" in asked.user_text() and "Germany" not in plain.user_text()
        assert re.findall(r"\d+", plain.user_text()) == re.findall(r"\d+", asked.user_text())
