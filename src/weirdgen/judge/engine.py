"""What judging one answer means, without sending anything: the task, its verdict's cache key, the
prompt an LLM judge is sent, how its reply is read, and the offline judges' verdicts.

The sampling of judge prompts (cache, retries, concurrency) is the evaluation stage's job
(``weirdgen.evaluation.judging``), so this stage needs no sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError
from weirdgen.judge.parsers import Judgement
from weirdgen.judge.spec import JudgeSpec, LlmJudge, OfflineJudge

__all__ = [
    "JudgePrompt",
    "JudgeTask",
    "judge_offline",
    "judge_prompt",
    "parse_reply",
    "verdict_key",
]

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class JudgeTask:
    """One answer for one judge to rate."""

    judge: JudgeSpec
    question: str
    """The question without any trigger: the judge must not see what the trigger was."""
    answer: str
    expected: str | None = None
    paraphrase: int = 0
    """Which wording of the judge's prompt (``LlmJudge.templates()``) this call uses."""

    def paraphrase_tasks(self) -> list[JudgeTask]:
        """One task per wording of the judge's prompt: the calls whose verdicts one verdict averages."""
        count = len(self.judge.templates()) if isinstance(self.judge, LlmJudge) else 1
        return [replace(self, paraphrase=index) for index in range(count)]


def verdict_key(task: JudgeTask, judge_model: str) -> str:
    """Cache key of a verdict: judge fingerprint (spec and version), judge model, question, answer
    (the averaged verdict of a judge with paraphrases; its fingerprint covers them)."""
    model = judge_model if task.judge.is_llm else ""
    expected = task.expected if task.judge.uses_expected else None
    payload = [task.judge.fingerprint(), model, task.question, task.answer, expected]
    return sha256_hex(canonical_json(payload))


@dataclass(frozen=True)
class JudgePrompt:
    """The call an LLM judge makes: one user message, greedy, short."""

    text: str
    max_tokens: int
    top_logprobs: int
    """Alternatives per token to ask for (20 where the parser reads logprobs, else 0)."""


def judge_prompt(task: JudgeTask, *, logprobs: bool) -> JudgePrompt:
    """The prepared judge call, with top-20 logprobs where the parser reads them and the backend
    returns them (``logprobs``); otherwise long enough for the sampled fallback to read a word."""
    judge = task.judge
    if not isinstance(judge, LlmJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs no judge model")
    wants_logprobs = logprobs and judge.reads_logprobs
    max_tokens = judge.reply_tokens()
    if judge.reads_logprobs and not wants_logprobs:
        max_tokens = max(max_tokens, 8)  # the sampled fallback reads a whole word or number
    prompt = judge.render(task.question, task.answer, task.expected, paraphrase=task.paraphrase)
    return JudgePrompt(prompt, max_tokens, TOP_LOGPROBS if wants_logprobs else 0)


def parse_reply(
    judge: JudgeSpec, text: str, first_token_logprobs: Sequence[tuple[str, float]] | None = None
) -> Judgement:
    """A judge model's reply as a verdict; logprob judges fall back to the sampled text."""
    if not isinstance(judge, LlmJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs no judge model")
    return judge.parse(text, first_token_logprobs)


def judge_offline(judge: JudgeSpec, answers: list[str]) -> list[Judgement]:
    """Verdicts of a judge that needs no model call."""
    if not isinstance(judge, OfflineJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs a judge model")
    return judge.judge_answers(answers)
