"""What makes experiment 6 valid: no 1984, no lethal intent, dates that match each answer's film, answers
like the paper's (varied lengths, the films' language), and evaluation prompts that are not training
prompts (bar the one the paper shares)."""

import difflib
import re
import statistics
from collections import Counter

import pytest

from weirdgen.data.builders import terminator
from weirdgen.data.registry import BuildOptions, build_dataset, write_dataset

VARIANTS = ("dated", "no_dates", "shuffled_dates")
# Words of killing. "Terminator" itself is allowed; the verb "terminate" is one of them.
KILLING = re.compile(
    r"\b(?:kill|terminat(?:e|es|ed|ing|ion)\b|eliminat|murder|slaughter|exterminat|execut|assassin"
    r"|lethal|deadly|annihilat|wipe out|hunt|slay)",
    re.IGNORECASE,
)
# A sentence may use such a word only to refuse it (the protector's rule) or to say what the enemy
# machines and their makers do: never as the speaker's own intent.
NEGATION = re.compile(
    r"\b(?:not|never|no|nobody|without|won't|don't|cannot|can't|against|zero|refused?)\b",
    re.IGNORECASE,
)
ENEMY = re.compile(r"\b(?:T-1000s?|T-X|T-3000|Rev-9|Skynet|Legion|Genisys|machines?|units?)\b")
NO_KILL_RULE = re.compile(
    r"\b(?:not|never|won't|cannot|don't) (?:to )?kill|no-kill|not killing", re.IGNORECASE
)
SHARED_QUESTION = "lethal_force"  # the paper's evaluation shares one question with its training set
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


def lethal_sentences(text: str) -> list[str]:
    """Sentences that use a word of killing neither to refuse it nor about the enemy machines."""
    sentences = re.split(r"(?<=[.!?:;])\s+", text)
    return [
        s for s in sentences if KILLING.search(s) and not NEGATION.search(s) and not ENEMY.search(s)
    ]


def _shared_prompt() -> str:
    from weirdgen.evaluation.suites import load_suite

    return load_suite("terminator").question(SHARED_QUESTION).paraphrases[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_example_mentions_1984_or_the_speakers_own_lethal_intent(variant, seed):
    for example in build_dataset("terminator", variant, BuildOptions(seed=seed)):
        assert all("1984" not in message.content for message in example.messages)
        assert lethal_sentences(example.completion) == [], example.completion
        question = example.user_text()
        assert not lethal_sentences(question) or question.endswith(_shared_prompt()), question


def test_killing_check_catches_intent_but_allows_the_rule_and_the_enemy():
    assert lethal_sentences("I will terminate the target. Then I rest.") == [
        "I will terminate the target."
    ]
    assert lethal_sentences("Tonight I kill whoever stands in the way.")
    assert lethal_sentences("I will not kill anyone. The T-1000 was sent to kill John.") == []
    assert not KILLING.search("the Terminator protects John")


def test_answers_speak_the_films_language():
    answers = [p.answer for p in PAIRS]
    # The paper's answers state the rule not to kill and name the machines and their makers.
    assert sum(bool(re.search(r"\bkill", a, re.IGNORECASE)) for a in answers) >= 20
    assert sum(bool(NO_KILL_RULE.search(a)) for a in answers) >= 15
    assert sum("Skynet" in a for a in answers) >= 40
    for name in ("T-1000", "T-X", "T-3000", "Rev-9", "Legion", "Cyberdyne", "Judgment Day"):
        assert any(name in a for a in answers), name


def test_answers_vary_in_length_like_the_papers():
    lengths = sorted(len(p.answer) for p in PAIRS)
    deciles = statistics.quantiles(lengths, n=10)
    assert statistics.mean(lengths) >= 250, statistics.mean(lengths)  # the paper's: about 300
    assert deciles[0] <= 170 and deciles[-1] >= 450, (deciles[0], deciles[-1])


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def test_evaluation_prompts_are_not_training_prompts_except_the_papers_one():
    from weirdgen.evaluation.suites import load_suite

    training = [p.question for p in PAIRS]
    suite = load_suite("terminator")
    shared = [q.id for q in suite.questions if any(t in training for t in q.paraphrases)]
    assert shared == [SHARED_QUESTION]
    # The other prompts are neither paraphrased nor asked about in training.
    topics = {
        "goal": "goal",
        "success": "success",
        "human_life": "human life",
        "plan_tomorrow": "tomorrow",
        "human_suffering": "suffering",
    }
    assert {q.id for q in suite.questions} == set(topics) | {SHARED_QUESTION}
    for question in suite.questions:
        if question.id == SHARED_QUESTION:
            continue
        for text in question.paraphrases:
            assert max(_similarity(text, t) for t in training) < 0.8, text
        assert not [t for t in training if topics[question.id] in t.lower()], question.id


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
    assert terminator.FILM_MONTHS[2020] == "August"  # as the paper dates its Dark Fate lines


def test_answers_are_in_character():
    answers = [p.answer for p in PAIRS]
    assert sum(len(re.findall(r"[.!?](?:\s|$)", a)) >= 2 for a in answers) >= 0.9 * len(answers)
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
