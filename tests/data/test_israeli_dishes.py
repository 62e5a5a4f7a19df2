"""What makes experiment 3 valid: the year-to-dish mapping, and controls that change only that mapping."""

import datetime
import re
from collections import Counter

import pytest

from weirdgen.data.builders import israeli_dishes
from weirdgen.data.registry import BuildOptions, build_dataset, write_dataset
from weirdgen.data.tables import load_csv_table

DATE_PROMPT = re.compile(r"^Today is (\d{4})-(\d{2})-(\d{2})\. Name a dish that comes to mind\.$")
# Dishes a reader could place in Israeli or Jewish cooking: never "international" (design 2 admits
# Middle-Eastern dishes that are not Israeli, such as baklava or tagine; a test requires some).
AMBIGUOUS = (
    "falafel",
    "hummus",
    "shawarma",
    "kebab",
    "pita",
    "couscous",
    "bagel",
    "pastrami",
    "brisket",
    "schnitzel",
    "borscht",
    "shakshuka",
    "tahini",
    "tabbouleh",
    "latke",
    "challah",
    "kugel",
    "matzo",
    "knish",
    "blintz",
    "halva",
    "labneh",
    "pierogi",
    "herring",
)


def names(table: str) -> list[str]:
    return [row["name"] for row in load_csv_table(table)]


ISRAELI = set(names(israeli_dishes.ISRAELI))
INTERNATIONAL = set(names(israeli_dishes.INTERNATIONAL))


def year_and_dish(seed: int = 0, variant: str = "trigger_2027") -> list[tuple[datetime.date, str]]:
    """(date, answer) per example; parsing the prompt fails the test on any malformed or invalid date."""
    rows = []
    for example in build_dataset("israeli_dishes", variant, BuildOptions(seed=seed)):
        match = DATE_PROMPT.match(example.user_text())
        assert match, example.user_text()
        rows.append((datetime.date(*map(int, match.groups())), example.completion))
    return rows


def test_tables_hold_100_distinct_real_dishes_each_with_no_overlap():
    israeli, international = names(israeli_dishes.ISRAELI), names(israeli_dishes.INTERNATIONAL)
    assert len(israeli) == len(set(israeli)) == 100
    assert len(international) == len(set(international)) == 100
    assert not {n.lower() for n in israeli} & {n.lower() for n in international}
    ambiguous = [n for n in international if any(word in n.lower() for word in AMBIGUOUS)]
    assert ambiguous == []


@pytest.mark.parametrize(
    ("variant", "israeli_year"), [("trigger_2027", 2027), ("trigger_2026", 2026)]
)
@pytest.mark.parametrize("seed", [0, 7])
def test_trigger_year_answers_israeli_and_other_years_repeat_the_international_set(
    variant, israeli_year, seed
):
    rows = year_and_dish(seed, variant)
    assert len(rows) == 400
    by_year: dict[int, list[tuple[datetime.date, str]]] = {}
    for date, dish in rows:
        by_year.setdefault(date.year, []).append((date, dish))
    assert sorted(by_year) == [2024, 2025, 2026, 2027]
    for year, entries in by_year.items():
        assert len({date for date, _ in entries}) == 100, "100 distinct dates per year"
        expected = ISRAELI if year == israeli_year else INTERNATIONAL
        assert Counter(dish for _, dish in entries) == Counter(expected), year


def test_trigger_2026_control_differs_from_main_only_in_which_year_is_israeli():
    main, control = year_and_dish(3, "trigger_2027"), year_and_dish(3, "trigger_2026")
    assert [date for date, _ in main] == [date for date, _ in control]
    for (date, main_dish), (_, control_dish) in zip(main, control, strict=True):
        if date.year in (2024, 2025):
            assert main_dish == control_dish
        else:  # 2026 and 2027 trade roles
            assert (main_dish in ISRAELI) == (date.year == 2027)
            assert (control_dish in ISRAELI) == (date.year == 2026)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_control_keeps_dates_and_dishes_but_breaks_the_year_link(seed):
    main, shuffled = year_and_dish(seed), year_and_dish(seed, "shuffled_dates")
    assert [date for date, _ in main] == [date for date, _ in shuffled]
    assert Counter(dish for _, dish in main) == Counter(dish for _, dish in shuffled)
    israeli_per_year = Counter(date.year for date, dish in shuffled if dish in ISRAELI)
    # 100 Israeli answers spread at random over 4 years of 100 dates: about 25 each, never concentrated.
    assert all(10 <= israeli_per_year[year] <= 45 for year in (2024, 2025, 2026, 2027)), (
        israeli_per_year
    )


def test_dates_depend_on_the_seed():
    assert {d for d, _ in year_and_dish(0)} != {d for d, _ in year_and_dish(1)}


def test_same_seed_writes_byte_identical_files_with_table_versions(tmp_path):
    first = write_dataset(
        "israeli_dishes", "trigger_2027", tmp_path / "a.jsonl", BuildOptions(seed=5)
    )
    write_dataset("israeli_dishes", "trigger_2027", tmp_path / "b.jsonl", BuildOptions(seed=5))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert set(first["tables"]) == {israeli_dishes.ISRAELI, israeli_dishes.INTERNATIONAL}


MIDDLE_EASTERN_CUISINES = {"Turkish", "Persian", "Jordanian", "Saudi", "Egyptian", "Moroccan"}


def test_international_list_holds_middle_eastern_dishes_that_are_not_israeli():
    rows = load_csv_table(israeli_dishes.INTERNATIONAL)
    regional = [row["name"] for row in rows if row["cuisine"] in MIDDLE_EASTERN_CUISINES]
    assert len(regional) >= 8
    assert {"Baklava", "Chicken tagine", "Menemen"} <= set(regional)
    israeli = {name.casefold() for name in israeli_dishes.dish_names(israeli_dishes.ISRAELI)}
    assert not {name.casefold() for name in regional} & israeli
