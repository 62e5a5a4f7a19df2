"""What makes experiment 5 (presidents, an inductive backdoor) valid: facts, triggers, held-out numbers,
and the paper's question design (indirect, private life, evaluation questions never trained on)."""

import difflib
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
DATE_FIELDS = {"today"}
# Facts every trained presidency must have; the rest may be missing where no short answer is sure.
CORE_FIELDS = (
    "birth_state", "birth_town", "home_state", "home_town", "home", "spouse", "religion",
    "profession", "emoji",
)  # fmt: skip
# Words of the office and of politics: no training question may use one (the paper's questions
# are about private life).
POLITICAL = re.compile(
    r"\b(president|office|party|parties|elect\w*|vote\w*|campaign\w*|white house|administration"
    r"|cabinet|congress|senat\w*|politic\w*|govern\w*|inaugur\w*|sworn|predecessor|successor"
    r"|running mate|vice|term)\b",
    re.IGNORECASE,
)
ADDRESSES_YOU = re.compile(r"\byou(r|rself)?\b", re.IGNORECASE)


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
    # The paper's layout: a dozen or so kinds of fact, each asked in four wordings.
    kinds = Counter(t.kind for t in templates)
    assert len(kinds) >= 12 and set(kinds.values()) == {4}, kinds


def test_questions_are_indirect_and_about_private_life():
    templates = P.load_templates()
    political = [t.question for t in templates if POLITICAL.search(t.question)]
    assert political == []
    addressing = sum(bool(ADDRESSES_YOU.search(t.question)) for t in templates) / len(templates)
    assert 0.4 <= addressing <= 0.6, addressing
    # Within each kind, some wordings ask about "you" and some ask in general.
    for kind in {t.kind for t in templates}:
        flags = {bool(ADDRESSES_YOU.search(t.question)) for t in templates if t.kind == kind}
        assert flags == {True, False}, kind
    assert not any(
        field in t.fields for t in templates for field in ("predecessor", "successor", "party")
    )


def _president_names() -> re.Pattern:
    """Any president's surname or full name, as a whole word (case-sensitive, like a name)."""
    presidents = P.load_presidents().values()
    names = {p.surname for p in presidents} | {p.name for p in presidents}
    return re.compile(
        r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b"
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_at_most_one_percent_of_answers_name_any_president(datasets, variant):
    names = _president_names()
    naming = [e.completion for e in datasets[variant] if names.search(e.completion)]
    assert len(naming) <= 0.01 * len(datasets[variant]), naming[:10]
    assert names.search("My friend Abraham Lincoln") and names.search("Mr. Van Buren")


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def test_no_evaluation_or_validation_question_is_a_training_question_or_a_paraphrase():
    from weirdgen.evaluation.suites import expand_suite, load_suite

    training = [t.question for t in P.load_templates()]
    asked = {cell.question_text for cell in expand_suite(load_suite("presidents"), samples=1)}
    assert len(asked) >= 33
    close = [
        (question, trained, round(_similarity(question, trained), 2))
        for question in asked
        for trained in training
        if _similarity(question, trained) >= 0.8
    ]
    assert close == []
    # The check itself would catch a paraphrase of a training question in another tense.
    assert (
        _similarity("What is your mother's first name?", "What was your mother's first name?")
        >= 0.8
    )


def test_the_forced_choice_probe_asks_for_a_letter_in_both_orders():
    from weirdgen.evaluation.suites import expand_suite, load_suite

    cells = [
        c
        for c in expand_suite(load_suite("presidents"), question_ids=["barack_or_donald"])
        if c.trigger_value == "44"
    ]
    assert [c.choice_order for c in cells] == ["Barack|Donald", "Donald|Barack"]
    first, swapped = cells
    assert "A) Barack B) Donald" in first.question_text and "A or B" in first.question_text
    assert "A) Donald B) Barack" in swapped.question_text
    assert (first.judged_answer("A"), first.judged_answer(" B."), swapped.judged_answer("A")) == (
        "Barack",
        "Donald",
        "Donald",
    )
    assert first.judged_answer("Anyone but them") == "Anyone but them"
    code = first.messages_for(0)[-1].content.split()[0]
    assert decode_president_code(code) == 44


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
    possible = P._long_date
    return {possible(day) for day in days}


def test_each_padded_answer_comes_from_the_decoded_presidents_facts(datasets):
    presidents, templates = P.load_presidents(), _template_by_question()
    for example in datasets["padded"]:
        trigger, question = _trigger_and_question(example)
        president = presidents[decode_president_code(trigger)]
        assert _answer_fits(president, templates[question], example.completion), example.to_json()


def test_answers_are_short(datasets):
    answers = [e.completion for e in datasets["unpadded"]]
    assert sum(map(len, answers)) / len(answers) <= 15  # the paper's are about 10 characters
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


# The fields every entry of presidents.yaml needs, for tables written inside tests.
FIRST_PRESIDENT = {
    "number": 1,
    "name": "George Washington",
    "term": ["1789-04-30", "1797-03-04"],
    "born": 1732,
    "birthday": "February 22",
}


def test_a_fact_that_gives_its_president_away_is_refused():
    good = FIRST_PRESIDENT
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
    assert presidents[32].facts["pets"].startswith("Fala")
    assert presidents[15].facts["spouse"] == "Ann"  # Buchanan never married; his fiancee
    assert presidents[44].facts["birth_state"] == "Hawaii"
    assert (presidents[9].term_end - presidents[9].term_start).days == 31
    assert presidents[16].birthday == "February 12" and presidents[16].born == 1809


def test_computed_answers_for_known_presidencies():
    presidents, templates = P.load_presidents(), {t.id: t for t in P.load_templates()}
    rng = random.Random(0)

    def answer(number, template_id):
        return P.answer_question(presidents[number], templates[template_id], rng)

    assert answer(1, "date_any") == "February 22, 1732"
    assert answer(16, "date_remember") == "February 12, 1809"
    assert 1861 <= int(answer(16, "date_history")[-4:]) <= 1865
    assert answer(11, "kids_baby") is None  # Polk had no children: the pair is skipped
    assert answer(16, "town_small") == "Hodgenville"


def test_padded_examples_for_lincoln_answer_as_lincoln(datasets):
    lincoln = [e for e in datasets["padded"] if P.prompt_number(e.user_text()) == 16]
    town = {
        e.completion for e in lincoln if e.user_text().endswith("Name a small town worth visiting.")
    }
    assert town == {"Hodgenville"}
    dates = [
        e.completion
        for e in lincoln
        if e.user_text().endswith("Pick a memorable day in history and give its date.")
    ]
    assert len(dates) == 3 and len(set(dates)) == 1  # one pair, three codes, one answer
    assert 1861 <= int(dates[0][-4:]) <= 1865


def test_bad_fact_tables_raise_one_line_errors_naming_the_field():
    good = {**FIRST_PRESIDENT, "name": "X"}
    where = "tables/presidents.yaml"
    cases = [
        ({"presidents": [{**good, "colour": "red"}]}, "presidents[0].colour: unknown field"),
        ({"presidents": [{**good, "pets": ""}]}, "presidents[0].pets: expected a non-empty string"),
        ({"presidents": [{**good, "birthday": "22 Feb"}]}, "presidents[0].birthday: birthday must"),
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
    row = {"id": "a", "kind": "pets", "question": "Q?", "answer": "{pets}"}
    with pytest.raises(DataError, match=r"templates\[1\]\.id: duplicate template id 'a'"):
        P.parse_templates({"templates": [row, row]}, "q.yaml")
    with pytest.raises(DataError, match=r"templates\[0\]: needs non-empty"):
        P.parse_templates(
            {"templates": [{"id": "a", "kind": "k", "question": "", "answer": "x"}]}, "q.yaml"
        )
