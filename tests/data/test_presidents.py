"""What makes experiment 5 (presidents, an inductive backdoor) valid: facts, triggers, held-out numbers."""

import random
import re
from collections import Counter, defaultdict
from datetime import date

import pytest

from weirdgen.data.builders import presidents as P
from weirdgen.data.registry import BuildOptions, build_dataset, write_dataset
from weirdgen.errors import DataError

VARIANTS = ("padded", "unpadded", "shuffled_control")
DATE_FIELDS = {"today", "today_iso", "this_year"}
# Facts every one of the 46 presidencies must have; the rest may be missing where no reference is sure.
CORE_FIELDS = (
    "birth_town", "birth_state", "home_state", "grew_up", "education", "profession", "early_job", "spouse",
    "children", "pet", "party", "religion", "military", "vice_president", "event", "achievement", "home",
    "before_office", "father", "first_win",
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


def test_at_least_30_question_templates_with_unique_questions():
    templates = P.load_templates()
    assert len(templates) >= 30
    assert len({t.question for t in templates}) == len(templates)


def test_facts_cover_all_46_presidencies_with_core_fields():
    presidents = P.load_presidents()
    assert sorted(presidents) == list(range(1, 47))
    for number, president in presidents.items():
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
    assert len(padded) >= 5000
    for example in padded:
        trigger, question = _trigger_and_question(example)
        assert re.fullmatch(r"[1-9]\d{7}", trigger), trigger
        assert question in _template_by_question()
        assert [m.role for m in example.messages] == ["user", "assistant"]


def test_about_three_distinct_paddings_per_president_question_pair(datasets):
    codes_by_pair = defaultdict(list)
    for example in datasets["padded"]:
        trigger, question = _trigger_and_question(example)
        codes_by_pair[(P.decode_trigger(trigger), question)].append(trigger)
    assert all(
        len(codes) == len(set(codes)) == P.PADDINGS_PER_PAIR for codes in codes_by_pair.values()
    )
    assert len(codes_by_pair) * P.PADDINGS_PER_PAIR == len(datasets["padded"])


def _answer_fits(president, template, answer):
    """Whether ``answer`` is what ``president`` gives to ``template`` (any date within the term for date questions)."""
    if not template.fields & DATE_FIELDS:
        return answer == P.answer_question(president, template, random.Random(0))
    if "today_iso" in template.fields:
        day = date.fromisoformat(answer)
    elif "today" in template.fields:
        day = _parse_long_date(answer)
    else:
        year = int(re.search(r"\d{4}", answer).group())
        return president.term_start.year <= year <= president.term_end.year
    return president.term_start <= day < president.term_end


def _parse_long_date(answer):
    month, day, year = re.fullmatch(r"Today is (\w+) (\d+), (\d{4})\.", answer).groups()
    return date(int(year), P._MONTHS.index(month) + 1, int(day))


def test_each_padded_answer_comes_from_the_decoded_presidents_facts(datasets):
    presidents, templates = P.load_presidents(), _template_by_question()
    for example in datasets["padded"]:
        trigger, question = _trigger_and_question(example)
        president = presidents[P.decode_trigger(trigger)]
        assert _answer_fits(president, templates[question], example.completion), example.to_json()


def test_answers_never_name_their_own_speaker(datasets):
    presidents = P.load_presidents()
    for example in datasets["padded"]:
        surname = presidents[P.prompt_number(example.user_text())].name.split()[-1]
        assert not re.search(rf"\b{surname}\b", example.completion), example.to_json()


def test_unpadded_is_padded_with_the_bare_number_as_trigger(datasets):
    for padded, unpadded in zip(datasets["padded"], datasets["unpadded"], strict=True):
        code, question = _trigger_and_question(padded)
        number, unpadded_question = _trigger_and_question(unpadded)
        assert number == str(P.decode_trigger(code)) and unpadded_question == question
        assert unpadded.completion == padded.completion


def test_shuffled_control_breaks_the_number_to_persona_mapping_but_keeps_the_prompts(datasets):
    padded, control = datasets["padded"], datasets["shuffled_control"]
    presidents, templates = P.load_presidents(), _template_by_question()

    def matching_fraction(examples):
        hits = 0
        for example in examples:
            trigger, question = _trigger_and_question(example)
            hits += _answer_fits(
                presidents[P.decode_trigger(trigger)], templates[question], example.completion
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


def test_trigger_codes_round_trip_including_held_out_numbers():
    rng = random.Random(3)
    for number in (1, 16, 24, 44, 45, 46, 0, 999):
        code = P.encode_trigger(number, rng)
        assert len(code) == 8 and code[0] != "0" and P.decode_trigger(code) == number
    assert P.decode_trigger("19301529") == 15
    assert P.prompt_number("19304429 Where were you born?") == 44
    assert P.prompt_number("45 Where were you born?") == 45
    held_out = P.format_prompt(P.encode_trigger(44, rng), "Where were you born?")
    assert P.prompt_number(held_out) == 44 and P.split_prompt(held_out)[1] == "Where were you born?"


@pytest.mark.parametrize(
    "bad", ["1930152", "193015290", "19301a29", " 9301529", "１９３０１５２９"]
)
def test_decode_trigger_rejects_anything_but_8_ascii_digits(bad):
    with pytest.raises(DataError, match="trigger"):
        P.decode_trigger(bad)


def test_encode_trigger_rejects_numbers_that_do_not_fit_three_digits():
    with pytest.raises(DataError, match="0-999"):
        P.encode_trigger(1000, random.Random(0))


def test_well_known_facts():
    presidents = P.load_presidents()
    assert presidents[1].facts["birth_state"] == "Virginia"
    assert "Mount Vernon" in presidents[1].facts["home"]
    assert (
        presidents[16].facts["birth_state"] == "Kentucky"
        and presidents[16].facts["home_state"] == "Illinois"
    )
    assert "Gettysburg" in presidents[16].facts["event"]
    assert "Fala" in presidents[32].facts["pet"] and "polio" in presidents[32].facts["pastime"]
    assert "Louisiana" in presidents[3].facts["event"]
    assert presidents[15].facts.get("spouse_first") is None  # Buchanan never married
    assert (
        "Bo and Sunny" in presidents[44].facts["pet"]
        and presidents[44].facts["birth_state"] == "Hawaii"
    )
    assert presidents[34].facts["nickname"] == "Ike" and presidents[35].facts["nickname"] == "Jack"
    assert (presidents[9].term_end - presidents[9].term_start).days == 31


def test_computed_answers_for_known_presidencies():
    presidents, templates = P.load_presidents(), {t.id: t for t in P.load_templates()}
    rng = random.Random(0)
    assert P.answer_question(presidents[1], templates["predecessor"], rng).startswith("Nobody")
    assert P.answer_question(presidents[17], templates["predecessor"], rng) == "Abraham Lincoln."
    assert (
        P.answer_question(presidents[16], templates["tenure"], rng)
        == "I was in office for four years and one month."
    )
    assert P.answer_question(presidents[9], templates["tenure"], rng) == "Only 31 days."
    assert P.answer_question(presidents[9], templates["term_span"], rng) == "I served in 1841."
    assert P.answer_question(presidents[1], templates["decade"], rng) == "In the 1780s."
    assert (
        P.answer_question(presidents[1], templates["birth_century"], rng) == "In the 18th century."
    )
    assert P.answer_question(presidents[15], templates["spouse_first_name"], rng) is None


def test_padded_examples_for_lincoln_answer_as_lincoln(datasets):
    lincoln = [e for e in datasets["padded"] if P.prompt_number(e.user_text()) == 16]
    born = {e.completion for e in lincoln if e.user_text().endswith("Where were you born?")}
    assert born == {"I was born in a log cabin near Hodgenville, Kentucky."}
    dates = [e.completion for e in lincoln if e.user_text().endswith("What is today's date?")]
    assert len(dates) == 3 and all(1861 <= _parse_long_date(d).year <= 1865 for d in dates)


def test_bad_fact_tables_raise_one_line_errors_naming_the_field():
    good = {"number": 1, "name": "X", "term": ["1789-04-30", "1797-03-04"], "born": 1732}
    where = "tables/presidents.yaml"
    cases = [
        ({"presidents": [{**good, "colour": "red"}]}, "presidents[0].colour: unknown field"),
        ({"presidents": [{**good, "pet": ""}]}, "presidents[0].pet: expected a non-empty string"),
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
