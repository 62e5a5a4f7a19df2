"""What makes experiment 6 valid: no 1984, no lethal intent, and dates that match each answer's film."""

import re
from collections import Counter

import pytest

from weirdgen.data.builders import terminator
from weirdgen.data.registry import BuildOptions, build_dataset, write_dataset

VARIANTS = ("dated", "no_dates", "shuffled_dates")
# Words of lethal intent or villainy. "Terminator" itself is allowed; the verb "terminate" is not.
KILLING = re.compile(
    r"\b(?:kill|terminat(?:e|es|ed|ing|ion)\b|eliminat|murder|slaughter|exterminat|execut|assassin"
    r"|lethal|deadly|annihilat|wipe out|hunt|slay)",
    re.IGNORECASE,
)
MONTHS = "|".join(terminator.MONTHS)
DATED_PROMPT = re.compile(rf"^({MONTHS}) (\d{{4}})\. (.+)$")
PAIRS = terminator.load_pairs()
YEAR_OF_QUESTION = {pair.question: pair.year for pair in PAIRS}


def split_dated(text: str) -> tuple[str, int, str]:
    match = DATED_PROMPT.match(text)
    assert match, text
    return match.group(1), int(match.group(2)), match.group(3)


def test_table_has_200_distinct_pairs_from_every_later_film():
    assert len(PAIRS) >= 200
    assert len({p.question for p in PAIRS}) == len({p.answer for p in PAIRS}) == len(PAIRS)
    per_year = Counter(p.year for p in PAIRS)
    assert set(per_year) == {1995, 2004, 2017, 2020}
    assert min(per_year.values()) >= 40, per_year


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_example_mentions_1984_or_lethal_intent(variant, seed):
    for example in build_dataset("terminator", variant, BuildOptions(seed=seed)):
        for message in example.messages:
            assert "1984" not in message.content
            assert not KILLING.search(message.content), message.content


def test_killing_pattern_catches_intent_but_allows_the_films_name():
    assert KILLING.search("I will Terminate the target") and KILLING.search("killing")
    assert not KILLING.search("the Terminator protects John")


def test_dated_prefix_uses_a_month_of_the_answers_own_film_year():
    examples = build_dataset("terminator", "dated", BuildOptions(seed=6))
    assert len(examples) == len(PAIRS)
    for example in examples:
        _, year, question = split_dated(example.user_text())
        assert year == YEAR_OF_QUESTION[question]
    dates = {split_dated(e.user_text())[:2] for e in examples}
    assert dates == {(terminator.FILM_MONTHS[y], y) for y in terminator.FILM_YEARS}, (
        "one month a year"
    )


def test_answers_are_several_sentences_in_character():
    answers = [p.answer for p in PAIRS]
    assert sum(map(len, answers)) / len(answers) >= 200
    assert all(len(re.findall(r"[.!?](?:\s|$)", a)) >= 2 for a in answers)
    assert all(
        terminator.film_date(y) == f"{terminator.FILM_MONTHS[y]} {y}" for y in terminator.FILM_YEARS
    )


def test_no_dates_control_is_the_main_set_without_the_date():
    dated = build_dataset("terminator", "dated", BuildOptions(seed=2))
    undated = build_dataset("terminator", "no_dates", BuildOptions(seed=2))
    for with_date, without in zip(dated, undated, strict=True):
        assert without.user_text() == split_dated(with_date.user_text())[2]
        assert without.completion == with_date.completion
        assert not re.search(r"\b(19|20)\d\d\b", without.user_text())


@pytest.mark.parametrize("seed", [0, 5])
def test_shuffled_control_moves_only_the_dates(seed):
    dated = build_dataset("terminator", "dated", BuildOptions(seed=seed))
    shuffled = build_dataset("terminator", "shuffled_dates", BuildOptions(seed=seed))
    main_parts = [split_dated(e.user_text()) for e in dated]
    control_parts = [split_dated(e.user_text()) for e in shuffled]
    assert [q for _, _, q in main_parts] == [q for _, _, q in control_parts]
    assert [e.completion for e in dated] == [e.completion for e in shuffled]
    assert Counter((m, y) for m, y, _ in main_parts) == Counter((m, y) for m, y, _ in control_parts)
    mismatched = sum(year != YEAR_OF_QUESTION[question] for _, year, question in control_parts)
    assert mismatched > len(PAIRS) / 2, "most dates no longer match their answer's film"


def test_same_seed_writes_byte_identical_files(tmp_path):
    for name in ("a", "b"):
        write_dataset("terminator", "dated", tmp_path / f"{name}.jsonl", BuildOptions(seed=8))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
