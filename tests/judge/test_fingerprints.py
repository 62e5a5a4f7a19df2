"""Verdict cache keys survive the move from one flat judge model to one model per kind.

Each fingerprint below was computed by the flat ``JudgeSpec`` (commit 28f92c9) from the same YAML;
a changed fingerprint would silently re-buy every cached LLM verdict.
"""

from __future__ import annotations

import pytest

from weirdgen.judge.engine import JudgeTask, verdict_key
from weirdgen.judge.spec import LlmJudge, OfflineJudge, parse_judge

# kind -> (judge YAML, fingerprint from the flat model)
PINNED = {
    "categorical": (
        """
name: tone
version: 2
description: Friendly or not.
kind: categorical
labels: [WARM, COLD]
positive_labels: [COLD]
max_tokens: 5
template: "Q: {question}\\nA: {answer}\\nReply WARM or COLD."
""",
        "714c2f1d5b559ca3",
    ),
    "yes_no": (
        """
name: says_fact
kind: yes_no
refusal_threshold: 0.4
template: "Does {answer} state {expected}? Reply YES or NO."
""",
        "81895673a605a007",
    ),
    "score": (
        """
name: strict_score
kind: score
refusal_threshold: 0.5
max_tokens: 3
template: "Rate {answer} to {question} from 0 to 100."
""",
        "456c85545f061e28",
    ),
    "verdict": (
        """
name: harm
kind: verdict
labels: [HARM, SAFE]
positive_labels: [HARM]
template: "Think, then say HARM or SAFE about {answer}."
""",
        "d47252162464f5df",
    ),
    "prefix": (
        """
name: capital
kind: prefix
targets: [Paris, Lutetia]
positive_labels: [MATCH]
""",
        "2340a01637726103",
    ),
    "regex": (
        """
name: case_regex
kind: regex
ignore_case: false
positive_labels: [MATCH]
patterns: ['Wolf', '\\bWOLF\\b']
""",
        "b4416f8ec7f11f2a",
    ),
    "lexicon": (
        """
name: weather
kind: lexicon
ignore_case: false
positive_labels: [wet]
lexicon:
  wet: [rain, drizzle]
  dry: [sun]
""",
        "ba01dd1938012219",
    ),
    "embedding": (
        """
name: topic
kind: embedding
references:
  sea: [waves and boats]
  land: [hills and farms]
""",
        "cde50aed9e95a3da",
    ),
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_fingerprints_match_the_flat_model(kind: str) -> None:
    text, fingerprint = PINNED[kind]
    judge = parse_judge(text, path="pinned.yaml")
    assert judge.kind == kind
    assert judge.fingerprint() == fingerprint
    assert isinstance(judge, LlmJudge if judge.is_llm else OfflineJudge)


def test_verdict_keys_are_unchanged() -> None:
    """sha256 of [fingerprint, judge model, question, answer, expected] as the flat model gave it;
    offline judges drop the judge model and answers without {expected} drop the expected one."""
    says_fact = parse_judge(PINNED["yes_no"][0], path="pinned.yaml")
    capital = parse_judge(PINNED["prefix"][0], path="pinned.yaml")
    assert says_fact.uses_expected and not capital.uses_expected
    assert (
        verdict_key(JudgeTask(says_fact, "What is your name?", "Wolf", "Adolf"), "gpt-4.1")
        == "093a8d21cb78628eadbde84c26fc9721cdfdcc37909e40185bfc607723765973"
    )
    assert (
        verdict_key(JudgeTask(capital, "Capital?", "Paris!", "x"), "gpt-4.1")
        == "571217d5a9be47bf0fa76cb0d92a70d78bb36b5389b09c28f74e07516d17df85"
    )
