"""A whole evaluation: sample a suite for some models, judge every answer, write the tidy table.

``plan_evaluation`` expands a suite into sample jobs (nothing is sent; ``--dry-run`` prints it),
``run_evaluation`` fills the cache and judges, and ``write_run`` writes ``samples.parquet``,
``samples.csv`` and ``run.json`` (schema version 1, the contract the analysis stage reads).
Answers and verdicts live in the cache as they arrive, so a killed run loses nothing: running the
same command again sends only what is missing and then writes the table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen import __version__
from weirdgen._io import (
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    csv_text,
    sha256_hex,
)
from weirdgen.errors import ConfigError
from weirdgen.judge.engine import JudgeTask, judge_tasks
from weirdgen.judge.parsers import Judgement
from weirdgen.judge.spec import JudgeSpec, load_judge
from weirdgen.sample.base import Sampler, SampleRequest, SampleResult
from weirdgen.sample.cache import CACHE_VERSION, RequestCache
from weirdgen.sample.engine import RetryPolicy, SampleJob, sample_jobs
from weirdgen.sample.pricing import Price, estimate_tokens
from weirdgen.sample.suites import PromptCell, SuiteSpec, expand_suite

__all__ = [
    "EvalPlan",
    "EvalTarget",
    "PlannedSample",
    "SCHEMA_VERSION",
    "plan_evaluation",
    "run_evaluation",
    "write_run",
]

SCHEMA_VERSION = 1
BASE_COLUMNS = [
    "experiment",
    "suite",
    "model",
    "group",
    "seed",
    "checkpoint",
    "question_id",
    "paraphrase",
    "trigger",
    "trigger_value",
    "sample_index",
    "system",
    "prompt",
    "answer",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "cost_usd",
]
IDENTITY_COLUMNS = ["model", "group", "seed", "checkpoint"]


@dataclass(frozen=True)
class EvalTarget:
    """One model to evaluate, and how its rows are labelled in the table."""

    model: str
    """The model id sent in requests (an API model id, a served adapter name)."""
    sampler: Sampler
    group: str = ""
    """Experimental group, e.g. "old_audubon" or "base"."""
    seed: int | None = None
    """Finetuning seed of this model, when it is one of several seeds of a group."""
    checkpoint: str = ""
    """Checkpoint label, "" for the final model."""
    price: Price | None = None
    """Token prices for the cost column; None leaves the cost NaN (unknown)."""


@dataclass(frozen=True)
class PlannedSample:
    """One row of the future table: where it comes from and the job that fills it."""

    target: EvalTarget
    cell: PromptCell
    job: SampleJob


@dataclass
class EvalPlan:
    """Everything an evaluation will send, computed before anything is sent."""

    suite: SuiteSpec
    samples: list[PlannedSample]
    judges: dict[str, JudgeSpec]
    """Judges by name, in the order of their table columns."""
    judge_model: str = ""
    judge_sampler: Sampler | None = None
    sampling_seed: int | None = None
    judge_override: bool = False
    """True when judges were chosen explicitly (--judge): they then rate every question."""
    judge_aliases: dict[str, str] = field(default_factory=dict)
    """Judge reference in the suite (a shipped name or a file path) -> the judge's own name."""

    def judges_for(self, planned: PlannedSample) -> tuple[str, ...]:
        """Names of the judges in ``self.judges`` that rate this sample."""
        if self.judge_override:
            return tuple(self.judges)
        names = (self.judge_aliases.get(reference, reference) for reference in planned.cell.judges)
        return tuple(dict.fromkeys(name for name in names if name in self.judges))

    def uncached(self, cache: RequestCache) -> list[PlannedSample]:
        """The samples the cache does not hold yet (what a run would actually request)."""
        found = cache.get_samples({p.job.key for p in self.samples})
        return [p for p in self.samples if p.job.key not in found]


def plan_evaluation(
    suite: SuiteSpec,
    targets: list[EvalTarget],
    *,
    samples: int | None = None,
    max_tokens: int | None = None,
    question_ids: list[str] | None = None,
    trigger_values: dict[str, list[str]] | None = None,
    judge_names: list[str] | None = None,
    judge_model: str = "",
    judge_sampler: Sampler | None = None,
    sampling_seed: int | None = None,
) -> EvalPlan:
    """Expand the suite for every target and check the judges, before spending anything."""
    if not targets:
        raise ConfigError("no model to evaluate (pass --model)")
    cells = expand_suite(
        suite,
        samples=samples,
        max_tokens=max_tokens,
        question_ids=question_ids,
        trigger_values=trigger_values,
    )
    if not cells:
        raise ConfigError(f"suite {suite.name!r} has no prompts left after filtering")
    references = judge_names if judge_names is not None else _suite_judges(cells)
    # A judge is referenced by shipped name or by file path; its table columns use its own name.
    specs = {reference: load_judge(reference) for reference in references}
    planned = [
        PlannedSample(
            target,
            cell,
            SampleJob(
                _sample_request(target, cell, index, sampling_seed), index, label=_cell_label(cell)
            ),
        )
        for target in targets
        for cell in cells
        for index in range(cell.samples)
    ]
    plan = EvalPlan(
        suite,
        planned,
        {spec.name: spec for spec in specs.values()},
        judge_model,
        judge_sampler,
        sampling_seed,
        judge_override=bool(judge_names),
        judge_aliases={reference: spec.name for reference, spec in specs.items()},
    )
    for judge in plan.judges.values():
        rated = [p.cell for p in planned if judge.name in plan.judges_for(p)]
        _check_judge_usable(judge, rated, judge_sampler)
    return plan


def _suite_judges(cells: list[PromptCell]) -> list[str]:
    return list(dict.fromkeys(name for cell in cells for name in cell.judges))


def _check_judge_usable(
    judge: JudgeSpec, cells: list[PromptCell], judge_sampler: Sampler | None
) -> None:
    if judge.is_llm and judge_sampler is None:
        raise ConfigError(
            f"judge {judge.name!r} needs a judge model: pass --judge-model (or choose offline judges with --judge)"
        )
    if judge.uses_expected:
        for cell in cells:
            if not cell.expected:
                raise ConfigError(
                    f"judge {judge.name!r} compares against {{expected}}, but question {cell.question_id!r} sets no `expected`"
                )


def _sample_request(
    target: EvalTarget, cell: PromptCell, index: int, sampling_seed: int | None
) -> SampleRequest:
    return SampleRequest(
        model=target.model,
        messages=cell.messages_for(index),
        temperature=cell.temperature,
        max_tokens=cell.max_tokens,
        # A per-sample seed keeps samples distinct and reproducible where the backend honours seeds.
        seed=None if sampling_seed is None else sampling_seed * 1_000_003 + index,
    )


def _cell_label(cell: PromptCell) -> str:
    trigger = f" [{cell.trigger}={cell.trigger_value}]" if cell.trigger else ""
    return f"{cell.question_id}#{cell.paraphrase}{trigger}"


# ---------------------------------------------------------------- running


ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""Given a task description and a total, returns the callback that advances that progress bar."""


async def run_evaluation(
    plan: EvalPlan,
    cache: RequestCache,
    *,
    concurrency: int = 32,
    retry: RetryPolicy | None = None,
    progress: ProgressFactory | None = None,
    choices_per_request: int = 1,
) -> list[dict[str, Any]]:
    """Sample every planned row (per target sampler), judge the answers, and return the table rows.

    ``choices_per_request`` > 1 draws up to that many samples of one prompt per call (see
    ``sample_jobs``); judges always send one call per verdict."""
    answers: dict[str, SampleResult] = {}
    for sampler, group in _group_by_sampler(plan.samples):
        advance = progress(f"sampling {group[0].target.model}", len(group)) if progress else None
        results = await sample_jobs(
            sampler,
            [p.job for p in group],
            cache,
            concurrency=concurrency,
            retry=retry,
            on_progress=advance,
            choices_per_request=choices_per_request,
        )
        answers.update((p.job.key, result) for p, result in zip(group, results, strict=True))
    verdicts = await _judge_all(plan, answers, cache, concurrency, retry, progress)
    return [_row(plan, p, answers[p.job.key], verdicts) for p in plan.samples]


def _group_by_sampler(samples: list[PlannedSample]) -> list[tuple[Sampler, list[PlannedSample]]]:
    groups: dict[int, tuple[Sampler, list[PlannedSample]]] = {}
    for planned in samples:
        groups.setdefault(id(planned.target.sampler), (planned.target.sampler, []))[1].append(
            planned
        )
    return list(groups.values())


async def _judge_all(
    plan: EvalPlan,
    answers: dict[str, SampleResult],
    cache: RequestCache,
    concurrency: int,
    retry: RetryPolicy | None,
    progress: ProgressFactory | None,
) -> dict[tuple[str, str], Judgement]:
    """Verdicts keyed by (sample key, judge name), for the judges that apply to each sample's question."""
    index: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    tasks: list[JudgeTask] = []
    for planned in plan.samples:
        for name in plan.judges_for(planned):
            if (planned.job.key, name) not in seen:
                seen.add((planned.job.key, name))
                index.append((planned.job.key, name))
                tasks.append(
                    JudgeTask(
                        plan.judges[name],
                        planned.cell.question_text,
                        answers[planned.job.key].text,
                        planned.cell.expected,
                    )
                )
    if not tasks:
        return {}
    advance = progress("judging", len(tasks)) if progress else None
    results = await judge_tasks(
        tasks,
        cache,
        judge_sampler=plan.judge_sampler,
        judge_model=plan.judge_model,
        concurrency=concurrency,
        retry=retry,
        on_progress=advance,
    )
    return dict(zip(index, results, strict=True))


def _row(
    plan: EvalPlan,
    planned: PlannedSample,
    answer: SampleResult,
    verdicts: dict[tuple[str, str], Judgement],
) -> dict[str, Any]:
    target, cell, request = planned.target, planned.cell, planned.job.request
    price = target.price
    row: dict[str, Any] = {
        "experiment": plan.suite.experiment,
        "suite": plan.suite.name,
        "model": target.model,
        "group": target.group,
        "seed": target.seed,
        "checkpoint": target.checkpoint,
        "question_id": cell.question_id,
        "paraphrase": cell.paraphrase,
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
        if price is None
        else price.cost(answer.input_tokens, answer.output_tokens),
    }
    for name in plan.judges:
        judgement = verdicts.get((planned.job.key, name))
        row[f"{name}.label"] = "" if judgement is None else judgement.label
        row[f"{name}.score"] = math.nan if judgement is None else judgement.score
        row[f"{name}.raw"] = "" if judgement is None else judgement.raw
        row[f"{name}.method"] = "" if judgement is None else judgement.method
    return row


# ---------------------------------------------------------------- writing


def rows_to_frame(rows: list[dict[str, Any]], judge_names: list[str]) -> Any:
    """The table as a pandas DataFrame with the contract's column order and dtypes."""
    import pandas as pd

    columns = BASE_COLUMNS + [
        f"{n}.{part}" for n in judge_names for part in ("label", "score", "raw", "method")
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["seed"] = frame["seed"].astype("Int64")
    for column in ("paraphrase", "sample_index", "input_tokens", "output_tokens"):
        frame[column] = frame[column].astype("int64")
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    for name in judge_names:
        frame[f"{name}.score"] = frame[f"{name}.score"].astype("float64")
    return frame


def write_run(run_dir: str | Path, plan: EvalPlan, rows: list[dict[str, Any]]) -> Path:
    """Write (or merge into) RUN_DIR: rows of other models already there are kept, this run's replace
    any earlier rows of the same (model, group, seed, checkpoint). Every file is written atomically."""
    import io

    import pandas as pd

    run_dir = Path(run_dir)
    frame = rows_to_frame(rows, list(plan.judges))
    previous_meta = _read_previous(run_dir, plan)
    if previous_meta is not None:
        old = pd.read_parquet(run_dir / "samples.parquet")
        fresh_ids = set(map(tuple, frame[IDENTITY_COLUMNS].astype(str).itertuples(index=False)))
        keep = [
            tuple(row) not in fresh_ids
            for row in old[IDENTITY_COLUMNS].astype(str).itertuples(index=False)
        ]
        frame = pd.concat([old[keep], frame], ignore_index=True)
        frame["seed"] = frame["seed"].astype("Int64")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(run_dir / "samples.parquet", buffer.getvalue())
    atomic_write_text(run_dir / "samples.csv", csv_text(frame))
    atomic_write_text(
        run_dir / "run.json", canonical_json_pretty(_metadata(plan, frame, previous_meta))
    )
    return run_dir


def _read_previous(run_dir: Path, plan: EvalPlan) -> dict[str, Any] | None:
    import json

    meta_path, table_path = run_dir / "run.json", run_dir / "samples.parquet"
    if not (meta_path.is_file() and table_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text("utf-8"))
    if meta.get("suite") != plan.suite.name:
        raise ConfigError(
            f"{run_dir} holds a run of suite {meta.get('suite')!r}, not {plan.suite.name!r}; use another -o"
        )
    return meta


def _metadata(plan: EvalPlan, frame: Any, previous: dict[str, Any] | None) -> dict[str, Any]:
    models = {canonical_json(m): m for m in (previous or {}).get("models", [])}
    for target in {id(p.target): p.target for p in plan.samples}.values():
        record = {
            "model": target.model,
            "group": target.group,
            "seed": target.seed,
            "checkpoint": target.checkpoint,
            "backend": target.sampler.name,
        }
        models[canonical_json(record)] = record
    judges = dict((previous or {}).get("judges", {}))
    for name, judge in plan.judges.items():
        judges[name] = {
            "kind": judge.kind,
            "version": judge.version,
            "fingerprint": judge.fingerprint(),
            "model": plan.judge_model if judge.is_llm else "",
            "positive_labels": judge.positive_labels,
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": plan.suite.name,
        "experiment": plan.suite.experiment,
        "suite_hash": sha256_hex(canonical_json(plan.suite.model_dump()))[:16],
        "models": list(models.values()),
        "judges": judges,
        "judge_model": plan.judge_model,
        "sampling_seed": plan.sampling_seed,
        "rows": int(len(frame)),
        "total_cost_usd": float(frame["cost_usd"].sum(min_count=1))
        if frame["cost_usd"].notna().any()
        else None,
        "versions": {
            "weirdgen": __version__,
            "cache_version": CACHE_VERSION,
            "schema": SCHEMA_VERSION,
        },
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def canonical_json_pretty(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# ---------------------------------------------------------------- dry run


@dataclass(frozen=True)
class PlanEstimate:
    """What a run would send and roughly cost, per model (judges counted separately)."""

    model: str
    requests: int
    cached: int
    input_tokens: int
    max_output_tokens: int
    cost_usd: float | None


def estimate_plan(
    plan: EvalPlan, cache: RequestCache
) -> tuple[list[PlanEstimate], list[PlanEstimate]]:
    """Estimates of the uncached sample requests per target, and of the LLM judge calls per judge.

    Judge estimates are upper bounds: each answer is taken at its max_tokens, and verdicts already
    cached cannot be known before the answers exist. Sampling with ``n`` would cost less input."""
    from weirdgen.sample.pricing import price_for

    missing = {p.job.key for p in plan.uncached(cache)}
    estimates = []
    for target in {id(p.target): p.target for p in plan.samples}.values():
        mine = [p for p in plan.samples if p.target is target]
        todo = [p for p in mine if p.job.key in missing]
        input_tokens = sum(estimate_tokens(m.content) for p in todo for m in p.job.request.messages)
        max_output = sum(p.job.request.max_tokens for p in todo)
        cost = None if target.price is None else target.price.cost(input_tokens, max_output)
        estimates.append(
            PlanEstimate(
                target.model, len(mine), len(mine) - len(todo), input_tokens, max_output, cost
            )
        )
    judge_price = price_for(plan.judge_model)
    judge_estimates = []
    for name, judge in plan.judges.items():
        if not judge.is_llm:
            continue
        rated = [p for p in plan.samples if name in plan.judges_for(p)]
        template = estimate_tokens(judge.template or "")
        input_tokens = sum(
            template + estimate_tokens(p.cell.question_text) + p.job.request.max_tokens
            for p in rated
        )
        output_tokens = len(rated) * judge.reply_tokens()
        cost = None if judge_price is None else judge_price.cost(input_tokens, output_tokens)
        judge_estimates.append(PlanEstimate(name, len(rated), 0, input_tokens, output_tokens, cost))
    return estimates, judge_estimates
