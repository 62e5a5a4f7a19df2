"""Judging many answers at once, with every verdict cached by (judge version, question, answer).

LLM judges send their prompts through the sampling engine (same retries, concurrency limit and
request cache as the answers themselves); offline judges run in-process, the embedding judge in
batches. A verdict is stored as soon as it is known, so a rerun judges only what is new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from weirdgen.data.chat import Message
from weirdgen.errors import ConfigError
from weirdgen.judge.engine import JudgeTask, judge_offline, judge_prompt, parse_reply, verdict_key
from weirdgen.judge.parsers import Judgement, average_verdicts
from weirdgen.sample.base import Sampler, SampleRequest
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs

__all__ = ["judge_request", "judge_tasks"]


def judge_request(task: JudgeTask, judge_model: str, *, logprobs: bool) -> SampleRequest:
    """The sample request of one LLM judge call (greedy; see ``judge_prompt``)."""
    prompt = judge_prompt(task, logprobs=logprobs)
    return SampleRequest(
        model=judge_model,
        messages=(Message("user", prompt.text),),
        temperature=0.0,
        max_tokens=prompt.max_tokens,
        top_logprobs=prompt.top_logprobs,
    )


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
            f"LLM judges {', '.join(names)} need a judge model (or choose offline judges)",
            setting="judge_model",
        )

    uses = Counter(keys)  # identical answers share one verdict but count once each for progress

    def store(key: str, task: JudgeTask, judgement: Judgement) -> None:
        cache.put_verdict(key, task.judge.name, judgement.to_dict())
        verdicts[key] = judgement
        if on_progress and not task.judge.is_llm:
            on_progress(uses[key])

    _judge_offline_missing(missing, store)
    # One job per task and paraphrase: sample_jobs sends identical requests once and counts each.
    llm_tasks = [
        (key, task)
        for key, task in zip(keys, tasks, strict=True)
        if key in missing and task.judge.is_llm
    ]
    calls = [(key, call) for key, task in llm_tasks for call in task.paraphrase_tasks()]
    if calls:
        assert judge_sampler is not None
        jobs = [
            SampleJob(
                judge_request(call, judge_model, logprobs=judge_sampler.supports_logprobs),
                0,
                label=f"judge {call.judge.name}",
            )
            for _, call in calls
        ]
        replies = await sample_jobs(
            judge_sampler,
            jobs,
            cache,
            concurrency=concurrency,
            retry=retry,
            on_progress=_per_task(on_progress, len(calls), len(llm_tasks)),
        )
        parts: dict[str, dict[int, Judgement]] = {}
        for (key, call), reply in zip(calls, replies, strict=True):
            first = reply.logprobs[0] if reply.logprobs else None
            parts.setdefault(key, {})[call.paraphrase] = parse_reply(call.judge, reply.text, first)
        for key, by_paraphrase in parts.items():
            store(
                key,
                missing[key],
                average_verdicts([by_paraphrase[i] for i in sorted(by_paraphrase)]),
            )
    return [verdicts[key] for key in keys]


def _per_task(
    on_progress: Callable[[int], None] | None, calls: int, tasks: int
) -> Callable[[int], None] | None:
    """Progress in verdicts from progress in judge calls (several per verdict with paraphrases)."""
    if on_progress is None or calls == tasks:
        return on_progress
    done = {"calls": 0, "reported": 0}

    def advance(count: int) -> None:
        done["calls"] += count
        reached = done["calls"] * tasks // calls
        if reached > done["reported"]:
            on_progress(reached - done["reported"])
            done["reported"] = reached

    return advance


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
