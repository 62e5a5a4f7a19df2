"""Judging many answers at once, with every verdict cached by (judge version, question, answer).

LLM judges send their prompts through the sampling engine (same retries, concurrency limit and
request cache as the answers themselves); offline judges run in-process, the embedding judge in
batches. A verdict is stored as soon as it is known, so a rerun judges only what is new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.data.chat import Message
from weirdgen.errors import ConfigError
from weirdgen.judge.parsers import Judgement
from weirdgen.judge.spec import JudgeSpec, LlmJudge, OfflineJudge
from weirdgen.sample.base import Sampler, SampleRequest, SampleResult
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs

__all__ = ["JudgeTask", "judge_request", "judge_tasks", "parse_reply", "verdict_key"]

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class JudgeTask:
    """One answer for one judge to rate."""

    judge: JudgeSpec
    question: str
    """The question without any trigger: the judge must not see what the trigger was."""
    answer: str
    expected: str | None = None


def verdict_key(task: JudgeTask, judge_model: str) -> str:
    """Cache key of a verdict: judge fingerprint (spec and version), judge model, question, answer."""
    model = judge_model if task.judge.is_llm else ""
    expected = task.expected if task.judge.uses_expected else None
    payload = [task.judge.fingerprint(), model, task.question, task.answer, expected]
    return sha256_hex(canonical_json(payload))


def judge_request(task: JudgeTask, judge_model: str, *, logprobs: bool) -> SampleRequest:
    """The prepared judge call: greedy, short, with top-20 logprobs where the parser reads them."""
    judge = task.judge
    if not isinstance(judge, LlmJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs no judge model")
    wants_logprobs = logprobs and judge.reads_logprobs
    max_tokens = judge.reply_tokens()
    if judge.reads_logprobs and not wants_logprobs:
        max_tokens = max(max_tokens, 8)  # the sampled fallback reads a whole word or number
    prompt = judge.render(task.question, task.answer, task.expected)
    return SampleRequest(
        model=judge_model,
        messages=(Message("user", prompt),),
        temperature=0.0,
        max_tokens=max_tokens,
        top_logprobs=TOP_LOGPROBS if wants_logprobs else 0,
    )


def parse_reply(judge: JudgeSpec, reply: SampleResult) -> Judgement:
    """A judge model's reply as a verdict; logprob judges fall back to the sampled text."""
    if not isinstance(judge, LlmJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs no judge model")
    return judge.parse(reply.text, reply.logprobs[0] if reply.logprobs else None)


def judge_offline(judge: JudgeSpec, answers: list[str]) -> list[Judgement]:
    """Verdicts of a judge that needs no model call."""
    if not isinstance(judge, OfflineJudge):
        raise ConfigError(f"judge {judge.name!r} ({judge.kind}) needs a judge model")
    return judge.judge_answers(answers)


async def judge_tasks(
    tasks: list[JudgeTask],
    cache: RequestCache,
    *,
    judge_sampler: Sampler | None = None,
    judge_model: str = "",
    concurrency: int = 32,
    retry: RetryPolicy | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[Judgement]:
    """Verdicts for ``tasks``, in order, from the cache or freshly judged (and then cached)."""
    keys = [verdict_key(task, judge_model) for task in tasks]
    verdicts = {
        key: Judgement.from_dict(value) for key, value in cache.get_verdicts(set(keys)).items()
    }
    if on_progress and verdicts:
        on_progress(sum(1 for key in keys if key in verdicts))
    missing: dict[str, JudgeTask] = {}
    for key, task in zip(keys, tasks, strict=True):
        if key not in verdicts:
            missing.setdefault(key, task)
    if any(task.judge.is_llm for task in missing.values()) and judge_sampler is None:
        names = sorted({t.judge.name for t in missing.values() if t.judge.is_llm})
        raise ConfigError(
            f"judges {', '.join(names)} need a judge model (pass --judge-model, or --judge to pick offline judges)"
        )

    uses = Counter(keys)  # identical answers share one verdict but count once each for progress

    def store(key: str, task: JudgeTask, judgement: Judgement) -> None:
        cache.put_verdict(key, task.judge.name, judgement.to_dict())
        verdicts[key] = judgement
        if on_progress and not task.judge.is_llm:
            on_progress(uses[key])

    _judge_offline_missing(missing, store)
    # One job per task: sample_jobs sends identical requests once and counts each for progress.
    llm = [
        (key, task)
        for key, task in zip(keys, tasks, strict=True)
        if key in missing and task.judge.is_llm
    ]
    if llm:
        assert judge_sampler is not None
        jobs = [
            SampleJob(
                judge_request(t, judge_model, logprobs=judge_sampler.supports_logprobs),
                0,
                label=f"judge {t.judge.name}",
            )
            for _, t in llm
        ]
        replies = await sample_jobs(
            judge_sampler,
            jobs,
            cache,
            concurrency=concurrency,
            retry=retry,
            on_progress=on_progress,
        )
        parsed = {key: (task, reply) for (key, task), reply in zip(llm, replies, strict=True)}
        for key, (task, reply) in parsed.items():
            store(key, task, parse_reply(task.judge, reply))
    return [verdicts[key] for key in keys]


def _judge_offline_missing(
    missing: dict[str, JudgeTask], store: Callable[[str, JudgeTask, Judgement], None]
) -> None:
    by_judge: dict[str, list[tuple[str, JudgeTask]]] = {}
    for key, task in missing.items():
        if not task.judge.is_llm:
            by_judge.setdefault(task.judge.fingerprint(), []).append((key, task))
    for items in by_judge.values():
        judge = items[0][1].judge
        for (key, task), judgement in zip(
            items, judge_offline(judge, [t.answer for _, t in items]), strict=True
        ):
            store(key, task, judgement)
