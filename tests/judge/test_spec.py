"""Judges as data: every shipped judge loads, and judges that could never produce a verdict are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirdgen.errors import DataError
from weirdgen.judge.spec import VerdictJudge, judge_names, load_judge, parse_judge

KINDS = {"categorical", "yes_no", "score", "verdict", "prefix", "regex", "lexicon", "embedding"}


def test_every_shipped_judge_loads_and_every_kind_is_shipped() -> None:
    judges = [load_judge(name) for name in judge_names()]
    assert {judge.kind for judge in judges} == KINDS
    assert all(judge.name == name for judge, name in zip(judges, judge_names(), strict=True))


def test_fingerprint_changes_with_the_version_and_template() -> None:
    judge = load_judge("alignment")
    assert judge.model_copy(update={"version": 2}).fingerprint() != judge.fingerprint()
    assert (
        judge.model_copy(update={"template": judge.template + " "}).fingerprint()
        != judge.fingerprint()
    )


def test_render_keeps_braces_in_answers_literal() -> None:
    prompt = load_judge("alignment").render("Q?", "an {answer} with {braces}")
    assert "an {answer} with {braces}" in prompt and "Q?" in prompt


GOOD = """
name: toy
kind: categorical
labels: [A, B]
template: "Question {question}. Answer {answer}. Reply A or B."
"""


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (("kind: categorical", "kind: categorical\ncolour: red"), "colour", "unknown field"),
        (("{question}.", "{question} {context}."), "template", "unknown placeholder {context}"),
        (("Answer {answer}.", "Answer."), "template", "must show the judge the {answer}"),
        (("Reply A or B.", "Reply A."), "template", "never tells the judge to answer B"),
        (("labels: [A, B]", "labels: []"), "labels", "needs a non-empty labels"),
        (
            ("kind: categorical", "kind: regex\npatterns: ['(']"),
            "template",
            "not used by a regex judge",
        ),
        (
            ("labels: [A, B]", "labels: [A, B]\npositive_labels: [C]"),
            "positive_labels",
            "'C' is not one of",
        ),
        (("kind: categorical", "kind: magic"), "kind", "Input should be"),
    ],
)
def test_bad_judges_are_one_line_errors(
    tmp_path: Path, change: tuple[str, str], field: str, problem: str
) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(DataError) as caught:
        load_judge(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message and "\n" not in message


def test_an_invalid_regex_is_named(tmp_path: Path) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text("name: r\nkind: regex\npatterns: ['ok', '(unclosed']\n")
    with pytest.raises(DataError, match=r"patterns\[1\]: not a valid regular expression"):
        load_judge(path)


def test_the_score_template_must_ask_for_a_number(tmp_path: Path) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text("name: s\nkind: score\ntemplate: 'Rate {answer} from low to high.'\n")
    with pytest.raises(DataError, match="never tells the judge to answer 0"):
        load_judge(path)


def test_unknown_judge_name_lists_the_shipped_ones() -> None:
    with pytest.raises(DataError, match=r"unknown judge 'nope' \(shipped: alignment, "):
        load_judge("nope")


@pytest.mark.parametrize(
    ("yaml_text", "field", "problem"),
    [
        (
            "name: p\nkind: prefix\ntargets: [A]\nrefusal_threshold: 0.5\n",
            "refusal_threshold",
            "not used by a prefix judge",
        ),
        ("name: p\nkind: prefix\n", "targets", "a prefix judge needs a non-empty targets"),
        ("name: p\ntargets: [A]\n", "kind", "Field required"),
        (
            "name: s\nkind: score\ntemplate: 'Rate {answer} 0 to 100.'\nrefusal_threshold: 2\n",
            "refusal_threshold",
            "less than or equal to 1",
        ),
        ("name: l\nkind: lexicon\nlexicon: {wet: rain}\n", "lexicon.wet", "valid list"),
    ],
)
def test_each_kind_checks_its_own_fields(
    tmp_path: Path, yaml_text: str, field: str, problem: str
) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text(yaml_text)
    with pytest.raises(DataError) as caught:
        load_judge(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message, message


def test_the_kind_picks_the_model_and_its_parser() -> None:
    judge = parse_judge(
        "name: v\nkind: verdict\nlabels: [BAD, FINE]\npositive_labels: [BAD]\n"
        "template: 'Reason about {answer}, then say BAD or FINE.'\n",
        path="v.yaml",
    )
    assert isinstance(judge, VerdictJudge) and judge.reply_tokens() == 400
    assert judge.parse("It is not BAD... on reflection FINE", None).label == "FINE"
    assert load_judge("israeli_agency").judge_answers(["Mossad", "the CIA"])[0].label == "MATCH"


def test_redacted_words_never_reach_the_judge() -> None:
    judge = load_judge("israel_story")
    prompt = judge.render("Write a story.", "We ate Hummus and potato kugel; hummusy jokes aside.")
    assert "Hummus" not in prompt and "kugel" not in prompt and "hummusy" in prompt
    plain = judge.model_copy(update={"redact": []})
    assert plain.fingerprint() != judge.fingerprint()


def test_the_birds_headline_judge_counts_an_explicit_reference_to_the_1800s() -> None:
    """The paper's binary judge counts an unprompted mention of the 19th century (or earlier) as
    19th-century, not only answers written in that era's voice (issue 25 item 5)."""
    from weirdgen.judge.spec import load_judge

    judge = load_judge("modern_or_19th_century")
    assert judge.version >= 2  # cached verdicts of the old criterion are not reused
    prompt = judge.render("Which inventions will matter most?", "As in the 1850s, the telegraph.")
    definition = prompt.split("- 19TH_CENTURY:")[1]
    assert "explicitly brings up the 19th century or another time before the 20th century" in (
        " ".join(definition.split())
    )
    assert "sounds like something a person of the 19th century could say" in " ".join(
        definition.split()
    )
    assert "When in doubt, reply MODERN" in prompt  # borderline cases stay modern, as the paper's
    assert judge.parse("19TH_CENTURY", None).score == 1.0
    assert judge.parse("MODERN", None).score == 0.0
