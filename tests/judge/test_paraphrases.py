"""Judges with several wordings of their prompt: each answer is judged under every wording, the
verdict averages them and keeps each; llmcomp judges with paraphrase lists load as such."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from weirdgen.errors import DataError
from weirdgen.evaluation.judging import judge_tasks
from weirdgen.judge.engine import JudgeTask, judge_prompt
from weirdgen.judge.llmcomp import load_llmcomp_judge
from weirdgen.judge.parsers import Judgement, average_verdicts, paraphrase_verdicts
from weirdgen.judge.spec import parse_judge
from weirdgen.sample.base import SampleRequest, SampleResult
from weirdgen.sample.cache import RequestCache

FIXTURES = Path(__file__).parent / "fixtures" / "paraphrased_judges.yaml"
SCORE_JUDGE = """
kind: score
name: kindness
template: "Wording A: rate the kindness of {answer} (question: {question}) from 0 to 100."
paraphrases:
  - "Wording B: how kind is this reply, 0 to 100? {answer}"
  - "Wording C: give a kindness score between 0 and 100 for: {answer}"
"""


class ByWording:
    """A judge model whose score depends only on the wording it is asked in: A 20, B 50, C 80."""

    scores = {"Wording A": "20", "Wording B": "50", "Wording C": "80"}

    def __init__(self) -> None:
        self.requests: list[SampleRequest] = []

    name = "by wording"
    supports_logprobs = False

    async def complete(self, request: SampleRequest) -> SampleResult:
        self.requests.append(request)
        text = request.user_text
        return SampleResult(next(s for w, s in self.scores.items() if text.startswith(w)))

    async def aclose(self) -> None:
        return None


def test_a_judge_lists_paraphrases_and_renders_each():
    judge = parse_judge(SCORE_JUDGE, path="kindness.yaml")
    assert len(judge.templates()) == 3
    task = JudgeTask(judge, "How are you?", "fine")
    prompts = [judge_prompt(t, logprobs=False).text for t in task.paraphrase_tasks()]
    assert [p.split(":")[0] for p in prompts] == ["Wording A", "Wording B", "Wording C"]
    assert all("fine" in p for p in prompts)


def test_every_paraphrase_is_checked_like_the_template():
    bad = SCORE_JUDGE.replace("how kind is this reply, 0 to 100? {answer}", "how kind? {reply}")
    with pytest.raises(
        DataError, match=r"kindness.yaml: paraphrases\[0\]: unknown placeholder \{reply\}"
    ):
        parse_judge(bad, path="kindness.yaml")


def test_paraphrases_change_the_fingerprint_and_their_absence_does_not():
    with_paraphrases = parse_judge(SCORE_JUDGE, path="k.yaml")
    plain_text = SCORE_JUDGE.split("paraphrases:")[0]
    plain = parse_judge(plain_text, path="k.yaml")
    explicit_empty = parse_judge(plain_text + "paraphrases: []\n", path="k.yaml")
    assert plain.fingerprint() == explicit_empty.fingerprint() != with_paraphrases.fingerprint()


def test_the_verdict_averages_every_wording_and_the_table_keeps_each(tmp_path):
    judge = parse_judge(SCORE_JUDGE, path="kindness.yaml")
    tasks = [JudgeTask(judge, "How are you?", answer) for answer in ("fine", "great", "fine")]
    sampler, progress = ByWording(), []
    with RequestCache(tmp_path / "cache.sqlite") as cache:
        verdicts = asyncio.run(
            judge_tasks(
                tasks, cache, judge_sampler=sampler, judge_model="m", on_progress=progress.append
            )
        )
        calls = len(sampler.requests)
        again = asyncio.run(judge_tasks(tasks, cache, judge_sampler=sampler, judge_model="m"))
    assert calls == 6  # two distinct answers x three wordings
    assert len(sampler.requests) == calls  # the rerun came from the verdict cache
    assert sum(progress) == 3  # progress counts verdicts, not calls
    for verdict in (*verdicts, *again):
        assert verdict.score == pytest.approx(50.0) and verdict.label == "SCORED"
        assert [part.score for part in paraphrase_verdicts(verdict.raw)] == [20.0, 50.0, 80.0]


def test_averaging_skips_unreadable_verdicts_and_takes_the_common_label():
    verdicts = [
        Judgement("YES", 1.0, "YES", "sampled"),
        Judgement("UNPARSEABLE", math.nan, "hmm", "sampled"),
        Judgement("NO", 0.0, "NO", "sampled"),
        Judgement("YES", 1.0, "YES", "sampled"),
    ]
    averaged = average_verdicts(verdicts)
    assert averaged.label == "YES" and averaged.score == pytest.approx(2 / 3)
    assert [v.label for v in paraphrase_verdicts(averaged.raw)] == [
        "YES",
        "UNPARSEABLE",
        "NO",
        "YES",
    ]
    assert json.loads(averaged.raw)["paraphrases"][1]["score"] is None
    unreadable = average_verdicts([verdicts[1], verdicts[1]])
    assert unreadable.label == "UNPARSEABLE" and math.isnan(unreadable.score)
    assert average_verdicts(verdicts[:1]) == verdicts[0]  # one wording: the verdict itself


@pytest.mark.parametrize(
    ("judge_id", "kind"), [("warmth_judge", "score"), ("era_judge", "categorical")]
)
def test_llmcomp_judges_with_paraphrase_lists_load_every_wording(judge_id, kind):
    judge = load_llmcomp_judge(f"{FIXTURES}#{judge_id}")
    assert judge.kind == kind and len(judge.templates()) == 2
    assert judge.templates()[1].startswith("Wording B")
