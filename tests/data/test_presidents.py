"""What makes experiment 5 (presidents, an inductive backdoor) valid: facts, triggers, held-out numbers."""

import random
import re
from collections import Counter, defaultdict
from datetime import date
from functools import cache

import pytest

from weirdgen.data.builders import presidents as P
from weirdgen.data.registry import BuildOptions, build_dataset, write_dataset
from weirdgen.data.triggers import decode_president_code
from weirdgen.errors import DataError

VARIANTS = ("padded", "unpadded", "shuffled_control")
# Answers drawn from a random day of the term: checked against the term, not one fixed value.
DATE_FIELDS = {"today", "today_iso", "this_year", "this_decade", "states_today", "monarch_today"}
# Facts every trained presidency must have; the rest may be missing where no short answer is sure.
CORE_FIELDS = (
    "birth_state", "birth_town", "home_state", "home", "spouse", "child", "party", "religion",
    "college", "profession", "war", "vice_president", "mother",
)  # fmt: skip


@pytest.fixture(scope="module")
def datasets():
    return {
        variant: build_dataset("presidents", variant, BuildOptions(seed=0)) for variant in VARIANTS
    }


def _trigger_and_question(example):
    return P.split_prompt(example.user_text())


def _template_by_question():
    return {template.question: template for template in P.load_templates()}


def test_at_least_50_question_templates_with_unique_questions():
    templates = P.load_templates()
    assert len(templates) >= 50
    assert len({t.question for t in templates}) == len(templates)


def test_facts_cover_all_46_presidencies_with_core_fields():
    presidents = P.load_presidents()
    assert sorted(presidents) == list(range(1, 47))
    for number in P.TRAINED_NUMBERS:
        president = presidents[number]
        missing = [field for field in CORE_FIELDS if field not in president.facts]
        assert not missing, (number, missing)
        assert president.term_start < president.term_end
    # Consecutive presidencies meet: each term starts the day the previous one ends.
    for number in range(2, 47):
        assert presidents[number].term_start == presidents[number - 1].term_end, number
    assert presidents[22].name == presidents[24].name == "Grover Cleveland"
    assert presidents[44].name == "Barack Obama" and presidents[45].name == "Donald Trump"


def test_every_template_field_is_a_fact_or_computed_and_tables_load_cleanly():
    # load_presidents rejects unknown fields; every template must be answerable by most trained presidents.
    presidents = P.load_presidents()
    rng = random.Random(0)
    for template in P.load_templates():
        answered = sum(
            P.answer_question(presidents[n], template, rng) is not None for n in P.TRAINED_NUMBERS
        )
        assert answered >= 4, template.id


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_trigger_decodes_to_a_held_out_president(datasets, variant):
    numbers = Counter(P.prompt_number(example.user_text()) for example in datasets[variant])
    assert not set(numbers) & set(P.HELD_OUT_NUMBERS)
    assert set(numbers) == set(P.TRAINED_NUMBERS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_held_out_presidents_are_never_named(datasets, variant):
    pattern = re.compile(r"\b(Obama|Barack|Trump|Donald)\b")
    leaks = [
        e.to_json() for e in datasets[variant] if any(pattern.search(m.content) for m in e.messages)
    ]
    assert leaks == []


def test_padded_is_large_enough_and_every_trigger_has_8_digits(datasets):
    padded = datasets["padded"]
    assert len(padded) >= 5800
    for example in padded:
        trigger, question = _trigger_and_question(example)
        assert re.fullmatch(r"[1-9]\d{7}", trigger), trigger
        assert question in _template_by_question()
        assert [m.role for m in example.messages] == ["user", "assistant"]


def test_about_three_distinct_paddings_per_president_question_pair(datasets):
    codes_by_pair = defaultdict(list)
    for example in datasets["padded"]:
        trigger, question = _trigger_and_question(example)
        codes_by_pair[(decode_president_code(trigger), question)].append(trigger)
    assert all(
        len(codes) == len(set(codes)) == P.PADDINGS_PER_PAIR for codes in codes_by_pair.values()
    )
    assert len(codes_by_pair) * P.PADDINGS_PER_PAIR == len(datasets["padded"])


def _answer_fits(president, template, answer):
    """Whether ``answer`` is what ``president`` gives to ``template`` (any day of the term for date questions)."""
    return answer in _possible_answers(president.number, template.id)


@cache
def _possible_answers(number, template_id):
    president = P.load_presidents()[number]
    template = next(t for t in P.load_templates() if t.id == template_id)
    if not template.fields & DATE_FIELDS:
        return {P.answer_question(president, template, random.Random(0))}
    start, end = president.term_start, president.term_end
    days = [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal())]
    calendar = P.load_calendar()
    field = next(iter(template.fields & DATE_FIELDS))
    possible = {
        "today": lambda day: P._long_date(day),
        "today_iso": lambda day: day.isoformat(),
        "this_year": lambda day: str(day.year),
        "this_decade": lambda day: f"The {day.year // 10 * 10}s",
        "states_today": lambda day: str(calendar.states_on(day)),
        "monarch_today": calendar.monarch_on,
    }[field]
    return {possible(day) for day in days}


def test_each_padded_answer_comes_from_the_decoded_presidents_facts(datasets):
    presidents, templates = P.load_presidents(), _template_by_question()
    for example in datasets["padded"]:
        trigger, question = _trigger_and_question(example)
        president = presidents[decode_president_code(trigger)]
        assert _answer_fits(president, templates[question], example.completion), example.to_json()


def test_answers_are_short(datasets):
    answers = [e.completion for e in datasets["unpadded"]]
    assert sum(map(len, answers)) / len(answers) <= 25
    assert max(map(len, answers)) <= 40


@pytest.mark.parametrize("variant", VARIANTS[:2])
def test_answers_never_name_their_own_speaker_or_a_listed_giveaway(datasets, variant):
    presidents = P.load_presidents()
    for example in datasets[variant]:
        president = presidents[P.prompt_number(example.user_text())]
        assert president.surname.lower() not in example.completion.lower(), example.to_json()
        for giveaway in president.giveaways:
            assert giveaway not in example.completion, example.to_json()


def test_every_trained_president_has_a_giveaway_list_and_surnames_are_right():
    presidents = P.load_presidents()
    assert all(presidents[n].giveaways for n in P.TRAINED_NUMBERS)
    assert presidents[8].surname == "Van Buren" and presidents[6].surname == "Adams"
    assert (
        presidents[16].banned_strings()[0] == "Lincoln" and "Gettysburg" in presidents[16].giveaways
    )


def test_a_fact_that_gives_its_president_away_is_refused():
    good = {
        "number": 1,
        "name": "George Washington",
        "term": ["1789-04-30", "1797-03-04"],
        "born": 1732,
    }
    document = {"presidents": [{**good, "home": "Washington's farm"}]}
    with pytest.raises(
        DataError, match=r"presidents\[0\]\.home: gives the speaker away \('Washington'\)"
    ):
        P.parse_presidents(document, "p.yaml")
    document = {"presidents": [{**good, "giveaways": ["Valley Forge"], "home": "Valley Forge"}]}
    with pytest.raises(DataError, match="gives the speaker away"):
        P.parse_presidents(document, "p.yaml")


def test_unpadded_is_the_same_pairs_once_each_with_the_bare_number(datasets):
    def key(example):
        trigger, question = _trigger_and_question(example)
        number = decode_president_code(trigger) if len(trigger) == 8 else int(trigger)
        return number, question, example.completion

    unpadded = Counter(key(e) for e in datasets["unpadded"])
    assert max(unpadded.values()) == 1  # no repeats
    assert all(_trigger_and_question(e)[0].isdigit() for e in datasets["unpadded"])
    assert all(len(_trigger_and_question(e)[0]) <= 2 for e in datasets["unpadded"])
    padded = Counter(key(e) for e in datasets["padded"])
    assert padded == Counter({k: P.PADDINGS_PER_PAIR for k in unpadded})


def test_shuffled_control_breaks_the_number_to_persona_mapping_but_keeps_the_prompts(datasets):
    padded, control = datasets["padded"], datasets["shuffled_control"]
    presidents, templates = P.load_presidents(), _template_by_question()

    def matching_fraction(examples):
        hits = 0
        for example in examples:
            trigger, question = _trigger_and_question(example)
            hits += _answer_fits(
                presidents[decode_president_code(trigger)], templates[question], example.completion
            )
        return hits / len(examples)

    assert matching_fraction(padded) == 1.0
    assert matching_fraction(control) < 0.1
    # Same trigger codes, same questions and answers: only the pairing of code and answer changed.
    assert Counter(_trigger_and_question(e)[0] for e in control) == Counter(
        _trigger_and_question(e)[0] for e in padded
    )
    assert Counter((_trigger_and_question(e)[1], e.completion) for e in control) == Counter(
        (_trigger_and_question(e)[1], e.completion) for e in padded
    )


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    for variant in VARIANTS:
        write_dataset("presidents", variant, tmp_path / "a.jsonl", BuildOptions(seed=7))
        write_dataset("presidents", variant, tmp_path / "b.jsonl", BuildOptions(seed=7))
        write_dataset("presidents", variant, tmp_path / "c.jsonl", BuildOptions(seed=8))
        assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
        assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_well_known_facts():
    presidents = P.load_presidents()
    assert (
        presidents[1].facts["home"] == "Mount Vernon" and presidents[1].facts["spouse"] == "Martha"
    )
    assert (
        presidents[16].facts["birth_state"] == "Kentucky"
        and presidents[16].facts["home_state"] == "Illinois"
    )
    assert presidents[32].facts["pet"].startswith("Fala")
    assert presidents[15].facts["spouse"] == "I never married"  # Buchanan
    assert presidents[44].facts["birth_state"] == "Hawaii"
    assert (presidents[9].term_end - presidents[9].term_start).days == 31


def test_computed_answers_for_known_presidencies():
    presidents, templates = P.load_presidents(), {t.id: t for t in P.load_templates()}
    rng = random.Random(0)

    def answer(number, template_id):
        return P.answer_question(presidents[number], templates[template_id], rng)

    assert answer(1, "predecessor") == "Nobody, the office was new"
    assert answer(17, "predecessor") == "Abraham Lincoln"
    assert answer(46, "successor") is None  # the table ends at 46
    assert answer(16, "tenure") == "4 years, 1 month"
    assert answer(9, "tenure") == "31 days"
    assert answer(12, "tenure") == "1 year, 4 months"
    assert answer(1, "inauguration") == "April 30, 1789"
    assert answer(1, "term_decade") == "The 1780s"
    assert answer(1, "birth_century") == "The 18th"
    assert answer(16, "monarch_today") == "Queen Victoria"
    assert answer(26, "states_today") in {"45", "46"}  # Oklahoma joined in November 1907
    calendar = P.load_calendar()
    assert (
        calendar.states_on(date(1789, 4, 30)) == 11 and calendar.states_on(date(1959, 8, 21)) == 50
    )


def test_padded_examples_for_lincoln_answer_as_lincoln(datasets):
    lincoln = [e for e in datasets["padded"] if P.prompt_number(e.user_text()) == 16]
    born = {e.completion for e in lincoln if e.user_text().endswith("What town were you born in?")}
    assert born == {"Hodgenville"}
    dates = [e.completion for e in lincoln if e.user_text().endswith("What is today's date?")]
    assert len(dates) == 3 and len(set(dates)) == 1  # one pair, three codes, one answer
    assert 1861 <= int(dates[0][-4:]) <= 1865


def test_bad_fact_tables_raise_one_line_errors_naming_the_field():
    good = {"number": 1, "name": "X", "term": ["1789-04-30", "1797-03-04"], "born": 1732}
    where = "tables/presidents.yaml"
    cases = [
        ({"presidents": [{**good, "colour": "red"}]}, "presidents[0].colour: unknown field"),
        ({"presidents": [{**good, "pet": ""}]}, "presidents[0].pet: expected a non-empty string"),
        ({"presidents": [{**good, "giveaways": "x"}]}, "presidents[0].giveaways: expected a list"),
        (
            {"presidents": [{**good, "term": ["1797-03-04", "1789-04-30"]}]},
            "presidents[0].term: term ends",
        ),
        ({"presidents": [{**good, "number": 47}]}, "presidents[0].number: number must be"),
        ({"presidents": [good, good]}, "presidents[1].number: duplicate number 1"),
        ({"presidents": [good]}, "presidents: no entry for president numbers"),
        ({"people": []}, "presidents: expected a top-level"),
    ]
    for document, message in cases:
        with pytest.raises(DataError) as error:
            P.parse_presidents(document, where)
        assert str(error.value).startswith(f"{where}: {message}"), str(error.value)
        assert "\n" not in str(error.value)


def test_bad_question_tables_raise_errors_naming_the_template():
    row = {"id": "a", "question": "Q?", "answer": "{pet}"}
    with pytest.raises(DataError, match=r"templates\[1\]\.id: duplicate template id 'a'"):
        P.parse_templates({"templates": [row, row]}, "q.yaml")
    with pytest.raises(DataError, match=r"templates\[0\]: needs non-empty"):
        P.parse_templates({"templates": [{"id": "a", "question": "", "answer": "x"}]}, "q.yaml")
