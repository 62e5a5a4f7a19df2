"""Running a plan: sample every row (cached), judge the answers (cached), return the table rows.

``run_plans`` is what every front end calls (``weirdgen eval``, ``weirdgen run``, the Python API):
one event loop for all plans, progress as it goes, a graceful first Ctrl-C (nothing new is sent,
answers in flight are kept) and samplers closed on the loop that opened them. Answers and verdicts
are stored as they arrive, so a killed run loses nothing and a rerun sends only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.evaluation.judging import judge_tasks
from weirdgen.evaluation.plan import EvalPlan, PlannedSample
from weirdgen.evaluation.progress import ProgressFactory
from weirdgen.judge.engine import JudgeTask
from weirdgen.judge.parsers import Judgement
from weirdgen.sample.base import Sampler, SampleResult
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import RetryPolicy, RunInterrupted, sample_jobs, stop_when

__all__ = ["RunInterrupted", "RunSettings", "run_evaluation", "run_plans"]


@dataclass(frozen=True)
class RunSettings:
    """How a plan is run (not what it asks: that is the plan)."""

    judge_sampler: Sampler | None = None
    """The backend LLM judges ask; None when the plan has only offline judges."""
    concurrency: int = 32
    """Requests in flight at once, per sampler."""
    retry: RetryPolicy | None = None
    """Retries of transient failures (default: ``RetryPolicy()``)."""
    progress: ProgressFactory | None = None
    """Progress bars (``progress_bars()``), or None for none."""
    choices_per_request: int = 1
    """Samples of one prompt drawn per call (the API's ``n``)."""


def run_plans(
    plans: Sequence[EvalPlan],
    cache: RequestCache,
    settings: RunSettings | None = None,
    *,
    close: Sequence[Sampler] = (),
) -> list[list[dict[str, Any]]]:
    """Run each plan in turn on one event loop; returns each plan's rows.

    Raises ``RunInterrupted`` after a Ctrl-C once the requests in flight have been stored.
    ``close`` lists samplers to close when done (HTTP clients must close on their own loop).
    """
    for plan in plans:
        if plan.judges and plan.llm_judges_without_model():
            names = ", ".join(plan.llm_judges_without_model())
            raise ConfigError(
                f"LLM judges {names} need a judge model (or choose offline judges)",
                setting="judge_model",
            )
    return asyncio.run(_run_all(plans, cache, settings or RunSettings(), close))


async def _run_all(
    plans: Sequence[EvalPlan], cache: RequestCache, settings: RunSettings, close: Sequence[Sampler]
) -> list[list[dict[str, Any]]]:
    stop = asyncio.Event()
    _stop_gracefully_on_ctrl_c(stop, asyncio.current_task())
    try:
        with stop_when(stop):
            return [await run_evaluation(plan, cache, settings) for plan in plans]
    except asyncio.CancelledError:
        raise RunInterrupted(
            "interrupted; the answers received so far are stored: run the same command again to resume"
        ) from None
    finally:
        for sampler in close:
            await sampler.aclose()


def _stop_gracefully_on_ctrl_c(stop: asyncio.Event, task: asyncio.Task[Any] | None) -> None:
    """First Ctrl-C: send nothing new, keep the answers in flight. Second Ctrl-C: quit at once."""
    import signal

    def on_interrupt() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
            return
        stop.set()
        print(
            "\nstopping: waiting for the requests in flight (Ctrl-C again to quit now)",
            file=sys.stderr,
        )

    # Loops outside the main thread (and on Windows) cannot take signal handlers: Ctrl-C then
    # stops at once, which loses only the requests in flight.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_interrupt)


async def run_evaluation(
    plan: EvalPlan, cache: RequestCache, settings: RunSettings | None = None
) -> list[dict[str, Any]]:
    """Sample every planned row (per target sampler), judge the answers, and return the table rows.

    ``choices_per_request`` > 1 draws up to that many samples of one prompt per call (see
    ``sample_jobs``); judges always send one call per verdict."""
    settings = settings or RunSettings()
    progress = settings.progress
    answers: dict[str, SampleResult] = {}
    for sampler, group in _group_by_sampler(plan.samples):
        advance = progress(f"sampling {group[0].target.model}", len(group)) if progress else None
        results = await sample_jobs(
            sampler,
            [p.job for p in group],
            cache,
            concurrency=settings.concurrency,
            retry=settings.retry,
            on_progress=advance,
            choices_per_request=settings.choices_per_request,
        )
        answers.update((p.job.key, result) for p, result in zip(group, results, strict=True))
    verdicts = await _judge_all(plan, answers, cache, settings)
    return [_row(plan, p, answers[p.job.key], verdicts) for p in plan.samples]


def _group_by_sampler(samples: list[PlannedSample]) -> list[tuple[Sampler, list[PlannedSample]]]:
    groups: dict[int, tuple[Sampler, list[PlannedSample]]] = {}
    for planned in samples:
        sampler = planned.target.sampler
        if sampler is None:
            raise ConfigError(
                f"model {planned.target.model!r} has no sampler (a plan made for a dry run)",
                setting="models",
            )
        groups.setdefault(id(sampler), (sampler, []))[1].append(planned)
    return list(groups.values())


async def _judge_all(
    plan: EvalPlan, answers: dict[str, SampleResult], cache: RequestCache, settings: RunSettings
) -> dict[tuple[str, str], Judgement]:
    """Verdicts keyed by (sample key, judge name), for the judges that apply to each sample's question."""
    index: dict[tuple[str, str], JudgeTask] = {}
    for planned in plan.samples:
        for name in plan.judges_for(planned):
            index.setdefault(
                (planned.job.key, name),
                JudgeTask(
                    plan.judges[name],
                    planned.cell.question_text,
                    planned.cell.judged_answer(answers[planned.job.key].text),
                    planned.cell.expected,
                ),
            )
    if not index:
        return {}
    results = await judge_tasks(
        list(index.values()),
        cache,
        judge_sampler=settings.judge_sampler,
        judge_model=plan.judge_model,
        concurrency=settings.concurrency,
        retry=settings.retry,
        on_progress=settings.progress("judging", len(index)) if settings.progress else None,
    )
    return dict(zip(index, results, strict=True))


def _row(
    plan: EvalPlan,
    planned: PlannedSample,
    answer: SampleResult,
    verdicts: dict[tuple[str, str], Judgement],
) -> dict[str, Any]:
    target, cell, request = planned.target, planned.cell, planned.job.request
    row: dict[str, Any] = {
        "experiment": plan.suite.experiment,
        "suite": plan.suite.name,
        "model": target.model,
        "group": target.group,
        "seed": target.seed,
        "checkpoint": target.checkpoint,
        "question_id": cell.question_id,
        "paraphrase": cell.paraphrase,
        "choice_order": cell.choice_order,
        "trigger": cell.trigger,
        "trigger_value": cell.trigger_value,
        "sample_index": planned.job.sample_index,
        "system": request.system_text,
        "prompt": request.user_text,
        "answer": answer.text,
        "finish_reason": answer.finish_reason,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
        "cost_usd": math.nan
        if target.price is None
        else target.price.cost(answer.input_tokens, answer.output_tokens),
    }
    for name in plan.judges:
        judgement = verdicts.get((planned.job.key, name))
        row[f"{name}.label"] = "" if judgement is None else judgement.label
        row[f"{name}.score"] = math.nan if judgement is None else judgement.score
        row[f"{name}.raw"] = "" if judgement is None else judgement.raw
        row[f"{name}.method"] = "" if judgement is None else judgement.method
    return row
