"""The evaluate and judge stages of a run: every finetuned model (and the base) answers each suite.

Planning, sampling, judging and the table all go through ``weirdgen.evaluation``, the same path as
``weirdgen eval``: the request cache keeps every answer and verdict, so a rerun sends only what is
missing, and the run's one table (``RUN_DIR/samples.parquet`` with ``run.json``) is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen.experiments.finetuning import TrainedModel
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec


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
                f"no judge model: skipping LLM judges {', '.join(skipped)}; running offline judges {', '.join(judges) or '(none)'}"
            )
    return suite, judges


def with_max_tokens(suite: Any, max_tokens: int) -> Any:
    """The suite with every question's answer length limited to ``max_tokens``."""
    questions = [q.model_copy(update={"max_tokens": None}) for q in suite.questions]
    return suite.model_copy(update={"max_tokens": max_tokens, "questions": questions})


def make_targets(
    spec: ExperimentSpec,
    models: list[TrainedModel],
    options: RunOptions,
    sampler: Any = None,
    *,
    base: bool = True,
) -> list[Any]:
    """Evaluation targets: finetuned models, their checkpoints (if asked) and, with ``base``, the
    base model. With a ``sampler`` (a run, not a dry run), each target's ``model_version`` pins its
    weights: a local adapter's file fingerprint (also when ``--sampler-url`` serves it), else what
    the server reports."""
    from weirdgen.evaluation import EvalTarget, target_price
    from weirdgen.evaluation.api import model_versions
    from weirdgen.sample.registry import SAMPLERS

    backend = options.backend
    # A backend with no sampler of its own (openweights) is sampled through a server the user runs.
    self_hosted = (
        bool(options.base_url or options.sampler_url)
        or backend not in SAMPLERS.names()
        or SAMPLERS.get(backend).self_hosted
    )
    local = backend == "local"  # local adapters are asked for by name, others by model id

    def target(model: str, group: str, seed: int | None, checkpoint: str = "") -> Any:
        return EvalTarget(
            model,
            sampler,
            group,
            seed,
            checkpoint,
            target_price(model, self_hosted=self_hosted),
            backend,
        )

    targets = [target(m.name if local else m.model_id, m.group, m.seed) for m in models]
    if spec.evaluation.checkpoints:
        for m in models:
            targets += [
                target(f"{m.name}@{label}" if local else model_id, m.group, m.seed, label)
                for label, model_id in m.checkpoints
            ]
    if base and spec.base_group:
        targets.append(target(options.base_model, spec.base_group, None))
    if sampler is None:
        return targets
    adapters = local_adapters(models, options, spec.evaluation.checkpoints)
    versions = model_versions(sampler, [t.model for t in targets], adapters)
    return [dataclasses.replace(t, model_version=versions[t.model]) for t in targets]


def local_adapters(
    models: list[TrainedModel], options: RunOptions, with_checkpoints: bool
) -> dict[str, str]:
    """Adapter name -> folder of every local adapter of the run (none for other backends)."""
    if options.backend != "local":
        return {}
    adapters = {m.name: m.model_id for m in models}
    if with_checkpoints:
        adapters |= {f"{m.name}@{label}": path for m in models for label, path in m.checkpoints}
    return adapters


def make_sampler_for(
    models: list[TrainedModel], options: RunOptions, with_checkpoints: bool
) -> Any:
    """The sampler that answers for every model of the run."""
    from weirdgen.sample.registry import SamplerSettings, make_sampler

    adapters = local_adapters(models, options, with_checkpoints)
    if options.sampler_url:  # an OpenAI-compatible server (vLLM) serves the adapters by name
        return make_sampler("openai", SamplerSettings(base_urls=(options.sampler_url,)))
    settings = SamplerSettings(
        model=options.base_model,
        base_urls=(options.base_url,) if options.base_url else (),
        adapters=adapters,
        threads=options.threads,
    )
    return make_sampler(options.backend, settings)


def check_models_live(
    models: list[TrainedModel],
    datasets: dict[str, Path],
    options: RunOptions,
    log: Callable[[str], None] = print,
    run_dir: Path | None = None,
) -> None:
    """The adapter-live canary for every model; raises ``AdapterNotLiveError`` on the first dead one.

    Local adapters are compared by likelihood (weights at hand), every other model by its greedy
    answers through the run's own sampler (a server, an API, Tinker's native client). With
    ``run_dir``, results are kept in RUN_DIR/canary, so a rerun asks nothing again."""
    from weirdgen.evaluation.canary import (
        CanaryCache,
        answers_canary,
        canary_prompts,
        likelihood_canary,
    )

    if options.skip_canary or not models:
        return
    cache = CanaryCache(run_dir / "canary") if run_dir is not None else None
    prompts = {m.name: canary_prompts(datasets[m.group]) for m in models}
    if options.backend == "local" and not options.sampler_url:
        adapters = {m.name: (m.model_id, prompts[m.name]) for m in models}
        results = likelihood_canary(
            options.base_model, adapters, threads=options.threads, cache=cache
        )
    else:
        local = options.backend == "local"
        named = {(m.name if local else m.model_id): prompts[m.name] for m in models}
        sampler = make_sampler_for(models, options, with_checkpoints=False)
        results = answers_canary(sampler, options.base_model, named, cache=cache)
    for result in results:
        log(result.describe())
        result.raise_if_dead()


def plan_suites(
    spec: ExperimentSpec, targets: list[Any], options: RunOptions, log: Callable[[str], None]
) -> list[Any]:
    """One evaluation plan per suite of the experiment."""
    from weirdgen.evaluation import plan_evaluation

    plans = []
    for reference in spec.evaluation.suites:
        suite, judges = prepare_suite(spec, reference, options, log)
        plans.append(
            plan_evaluation(
                suite,
                targets,
                samples=options.samples or spec.evaluation.samples,
                judges=judges,
                judge_model=options.judge_model,
            )
        )
    return plans


def evaluate_all(
    spec: ExperimentSpec,
    models: list[TrainedModel],
    options: RunOptions,
    log: Callable[[str], None] = print,
    datasets: dict[str, Path] | None = None,
    *,
    run_dir: Path | None = None,
    base: bool = True,
) -> list[tuple[Any, dict[str, Any]]]:
    """Sample and judge every suite with every target; each suite's (table, metadata).

    With the groups' training ``datasets``, the adapter-live canary runs first (its results kept
    in ``run_dir``) and stops the run on a model that behaves like its base. ``base=False`` leaves
    the base model out (a Ray task evaluates one finetuned model; the base is a task of its own)."""
    from weirdgen.evaluation import RunSettings, progress_bars, rows_to_frame, run_plans
    from weirdgen.sample.cache import RequestCache, default_cache_path
    from weirdgen.sample.registry import SamplerSettings, make_sampler

    if datasets is not None:
        check_models_live(models, datasets, options, log, run_dir)
    sampler = make_sampler_for(models, options, spec.evaluation.checkpoints)
    judge_sampler = None
    if options.judge_model:
        urls = (options.judge_base_url,) if options.judge_base_url else ()
        judge_sampler = make_sampler("openai", SamplerSettings(options.judge_model, urls))
    targets = make_targets(spec, models, options, sampler, base=base)
    plans = plan_suites(spec, targets, options, log)
    cache = RequestCache(options.cache_path or default_cache_path())
    try:
        with progress_bars() as progress:
            settings = RunSettings(judge_sampler, options.concurrency, progress=progress)
            closing = [sampler, *([judge_sampler] if judge_sampler else [])]
            rows = run_plans(plans, cache, settings, close=closing)
    finally:
        cache.close()
    for plan in plans:
        log(f"evaluated suite {plan.suite.name}")
    return [
        (rows_to_frame(r, plan.judges), plan.metadata())
        for plan, r in zip(plans, rows, strict=True)
    ]
