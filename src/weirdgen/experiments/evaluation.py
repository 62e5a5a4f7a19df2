"""The evaluate and judge stages of a run: every finetuned model (and the base) answers each suite.

Sampling and judging go through ``weirdgen.judge.evaluation`` with its request cache, so a rerun
sends only what is missing. Each suite's table goes to RUN_DIR/eval/<suite>/; :func:`combine_tables`
then writes the run's one table, ``RUN_DIR/samples.parquet`` with ``run.json``, for the report.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_bytes, atomic_write_text, csv_text
from weirdgen.errors import ConfigError, DataError
from weirdgen.experiments.finetuning import TrainedModel
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec

SCHEMA_VERSION = 1


def prepare_suite(
    spec: ExperimentSpec, reference: str, options: RunOptions, log: Callable[[str], None]
) -> tuple[Any, dict[str, Any]]:
    """The suite as this run asks it, and its judges by name (LLM judges only with a judge model)."""
    from weirdgen.experiments.judges import load_suite_reference, resolve_judges

    experiment_dir = Path(spec.source_dir) if spec.source_dir else None
    suite, suite_dir = load_suite_reference(reference, experiment_dir)
    if spec.evaluation.judges:
        # The experiment's judges replace the suite's, for every question.
        questions = [q.model_copy(update={"judges": None}) for q in suite.questions]
        suite = suite.model_copy(
            update={"judges": list(spec.evaluation.judges), "questions": questions}
        )
        suite, judges = resolve_judges(suite, list(spec.evaluation.judges), experiment_dir)
    else:
        suite, judges = resolve_judges(suite, suite.all_judges(), suite_dir)
    if spec.evaluation.max_tokens is not None:
        suite = with_max_tokens(suite, spec.evaluation.max_tokens)
    if not options.judge_model:
        skipped = [name for name, judge in judges.items() if judge.is_llm]
        judges = {name: judge for name, judge in judges.items() if not judge.is_llm}
        if skipped:
            log(
                f"no --judge-model: skipping LLM judges {', '.join(skipped)}; running offline judges {', '.join(judges) or '(none)'}"
            )
    return suite, judges


def make_targets(
    spec: ExperimentSpec, models: list[TrainedModel], options: RunOptions
) -> tuple[list[Any], list[Any]]:
    """Evaluation targets (finetuned models, their checkpoints, the base) and the samplers to close."""
    from weirdgen.judge.evaluation import EvalTarget
    from weirdgen.sample.pricing import Price, price_for

    sampler = _make_sampler(models, options, spec.evaluation.checkpoints)
    local = options.backend in ("local", "tinker") or options.base_url is not None

    def price(model: str) -> Price | None:
        return Price(0.0, 0.0) if local else price_for(model)

    model_name = (lambda m: m.name) if options.backend == "local" else (lambda m: m.model_id)
    targets = [
        EvalTarget(model_name(m), sampler, m.group, m.seed, "", price(m.model_id)) for m in models
    ]
    if spec.evaluation.checkpoints:
        for m in models:
            targets += [
                EvalTarget(
                    f"{m.name}@{label}" if options.backend == "local" else model_id,
                    sampler,
                    m.group,
                    m.seed,
                    label,
                    price(model_id),
                )
                for label, model_id in m.checkpoints
            ]
    if spec.base_group:
        targets.append(
            EvalTarget(
                options.base_model, sampler, spec.base_group, None, "", price(options.base_model)
            )
        )
    return targets, [sampler]


def _make_sampler(models: list[TrainedModel], options: RunOptions, with_checkpoints: bool) -> Any:
    from weirdgen.sample.factory import make_sampler

    if options.backend == "local":
        adapters = {m.name: m.model_id for m in models}
        if with_checkpoints:
            adapters |= {f"{m.name}@{label}": path for m in models for label, path in m.checkpoints}
        return make_sampler(
            "local", model=options.base_model, adapters=adapters, threads=options.threads
        )
    if options.backend == "tinker":
        from weirdgen.experiments.tinker import TinkerSampler

        return TinkerSampler(options.base_model)
    return make_sampler(
        "openai",
        model=options.base_model,
        base_urls=[options.base_url] if options.base_url else None,
    )


def _judge_sampler(options: RunOptions) -> Any:
    if not options.judge_model:
        return None
    from weirdgen.sample.factory import make_sampler

    urls = [options.judge_base_url] if options.judge_base_url else None
    return make_sampler("openai", model=options.judge_model, base_urls=urls)


def evaluate_all(
    spec: ExperimentSpec,
    models: list[TrainedModel],
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Sample and judge every suite with every target; returns the per-suite run directories."""
    from weirdgen.sample.cache import RequestCache, default_cache_path

    cache = RequestCache(options.cache_path or default_cache_path())
    try:
        # One event loop for every suite: local samplers keep a worker task bound to their loop.
        return asyncio.run(_evaluate_suites(spec, models, options, run_dir, cache, log))
    finally:
        cache.close()


async def _evaluate_suites(
    spec: ExperimentSpec,
    models: list[TrainedModel],
    options: RunOptions,
    run_dir: Path,
    cache: Any,
    log: Callable[[str], None],
) -> list[Path]:
    targets, samplers = make_targets(spec, models, options)
    judge_sampler = _judge_sampler(options)
    outputs = []
    try:
        for reference in spec.evaluation.suites:
            suite, judges = prepare_suite(spec, reference, options, log)
            output = run_dir / "eval" / suite.name
            await _evaluate_suite(
                suite, targets, judges, judge_sampler, cache, spec, options, output
            )
            log(f"evaluated suite {suite.name} -> {output}")
            outputs.append(output)
    finally:
        await _close([*samplers, *([judge_sampler] if judge_sampler else [])])
    return outputs


async def _evaluate_suite(
    suite: Any,
    targets: list[Any],
    judges: dict[str, Any],
    judge_sampler: Any,
    cache: Any,
    spec: ExperimentSpec,
    options: RunOptions,
    output: Path,
) -> None:
    from weirdgen.judge.evaluation import plan_evaluation, run_evaluation, write_run

    plan = plan_evaluation(
        suite,
        targets,
        samples=options.samples or spec.evaluation.samples,
        judge_names=[],
        judge_model=options.judge_model,
        judge_sampler=judge_sampler,
    )
    # Judges are loaded here (a user's judge files are known by their own names), not by name lookup.
    plan.judges = judges
    _check_expected(plan)
    rows = await run_evaluation(
        plan, cache, concurrency=options.concurrency, progress=_progress_factory()
    )
    write_run(output, plan, rows)


def _check_expected(plan: Any) -> None:
    for name, judge in plan.judges.items():
        lacking = [
            p.cell.question_id
            for p in plan.samples
            if name in p.cell.judges and not p.cell.expected
        ]
        if judge.uses_expected and lacking:
            raise ConfigError(
                f"judge {name!r} compares against {{expected}}, but question {lacking[0]!r} sets no `expected`"
            )


def with_max_tokens(suite: Any, max_tokens: int) -> Any:
    """The suite with every question's answer length limited to ``max_tokens``."""
    questions = [q.model_copy(update={"max_tokens": None}) for q in suite.questions]
    return suite.model_copy(update={"max_tokens": max_tokens, "questions": questions})


def _progress_factory() -> Callable[[str, int], Callable[[int], None]]:
    """Progress bars that stay on screen; one per sampling or judging task."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )

    def bar(description: str, total: int) -> Callable[[int], None]:
        progress.start()
        task = progress.add_task(description, total=total)

        def advance(done: int) -> None:
            progress.advance(task, done)
            if progress.tasks[task].finished:
                progress.stop()

        return advance

    return bar


async def _close(samplers: list[Any]) -> None:
    for sampler in samplers:
        await sampler.aclose()


def combine_tables(run_dir: Path, suite_dirs: list[Path], extra_metadata: dict[str, Any]) -> Path:
    """Concatenate the suites' tables into RUN_DIR/samples.parquet + samples.csv + run.json."""
    import pandas as pd

    frames, metadata = [], []
    for suite_dir in suite_dirs:
        meta = json.loads((suite_dir / "run.json").read_text(encoding="utf-8"))
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise DataError(
                f"schema version {meta.get('schema_version')!r}, expected {SCHEMA_VERSION}",
                path=suite_dir / "run.json",
                field="schema_version",
            )
        frames.append(pd.read_parquet(suite_dir / "samples.parquet"))
        metadata.append(meta)
    if not frames:
        raise ConfigError("no suite was evaluated")
    frame = pd.concat(frames, ignore_index=True)
    frame["seed"] = frame["seed"].astype("Int64")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(run_dir / "samples.parquet", buffer.getvalue())
    atomic_write_text(run_dir / "samples.csv", csv_text(frame))
    combined = _combined_metadata(metadata) | extra_metadata
    atomic_write_text(
        run_dir / "run.json", json.dumps(combined, indent=2, sort_keys=True, default=str) + "\n"
    )
    return run_dir / "samples.parquet"


def _combined_metadata(metadata: list[dict[str, Any]]) -> dict[str, Any]:
    judges: dict[str, Any] = {}
    for meta in metadata:
        judges.update(meta.get("judges", {}))
    costs = [
        m.get("total_cost_usd")
        for m in metadata
        if isinstance(m.get("total_cost_usd"), int | float)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": ",".join(m["suite"] for m in metadata),
        "suites": [m["suite"] for m in metadata],
        "models": [model for m in metadata for model in m.get("models", [])],
        "judges": judges,
        "judge_model": metadata[0].get("judge_model", ""),
        "versions": metadata[0].get("versions", {}),
        "sampling_cost_usd": sum(costs) if costs else None,
    }
