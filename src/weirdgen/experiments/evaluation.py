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
from weirdgen.finetune.registry import FINETUNERS


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


def run_targets(
    spec: ExperimentSpec, models: list[TrainedModel], options: RunOptions, *, base: bool = True
) -> list[Any]:
    """The run's models, labelled for the table: finetuned models, their checkpoints (if the
    experiment asks) and, with ``base``, the base model. ``EvaluationSession.targets`` binds them
    to the sampler and pins each one's weights."""
    from weirdgen.evaluation import EvalTarget

    by_name = FINETUNERS.get(options.backend).adapters_by_name  # else asked for by model id

    def target(model: str, group: str, seed: int | None, checkpoint: str = "") -> Any:
        return EvalTarget(model, None, group, seed, checkpoint, backend=options.backend)

    targets = [target(m.name if by_name else m.model_id, m.group, m.seed) for m in models]
    if spec.evaluation.checkpoints:
        for m in models:
            targets += [
                target(f"{m.name}@{label}" if by_name else model_id, m.group, m.seed, label)
                for label, model_id in m.checkpoints
            ]
    if base and spec.base_group:
        targets.append(target(options.base_model, spec.base_group, None))
    return targets


def local_adapters(
    models: list[TrainedModel], options: RunOptions, with_checkpoints: bool
) -> dict[str, str]:
    """Adapter name -> folder of every LoRA folder the run trained here (none for other backends)."""
    if not FINETUNERS.get(options.backend).adapters_by_name:
        return {}
    adapters = {m.name: m.model_id for m in models}
    if with_checkpoints:
        adapters |= {f"{m.name}@{label}": path for m in models for label, path in m.checkpoints}
    return adapters


def model_settings(models: list[TrainedModel], options: RunOptions, with_checkpoints: bool) -> Any:
    """Which backend answers for the run's models: the ``--sampler-url`` server (vLLM serving the
    adapters by name), else the sampler of the finetuning backend. Adapters trained here are
    pinned by their files either way; a backend without a sampler of its own is priced as served."""
    from weirdgen.evaluation import ModelSettings

    entry = FINETUNERS.get(options.backend)
    adapters = local_adapters(models, options, with_checkpoints)
    if options.sampler_url:
        return ModelSettings("openai", (options.sampler_url,), adapters=adapters)
    if entry.sampler is None:  # only a dry run gets here: a run without the server is refused
        return ModelSettings("openai", served=True)
    return ModelSettings(
        entry.sampler,
        (options.base_url,) if options.base_url else (),
        adapters=adapters,
        threads=options.threads,
        base_model=options.base_model,
    )


def make_session(
    models: list[TrainedModel],
    options: RunOptions,
    with_checkpoints: bool,
    *,
    dry_run: bool = False,
) -> Any:
    """The run's ``EvaluationSession``: its models, its judge, the shared request cache. A
    ``dry_run``'s models are stand-ins for models not trained yet: no files, no sampler."""
    from weirdgen.evaluation import EvaluationSession, JudgeSettings, RequestSettings

    judge_urls = (options.judge_base_url,) if options.judge_base_url else ()
    settings = model_settings(models, options, with_checkpoints)
    return EvaluationSession(
        dataclasses.replace(settings, adapters=None) if dry_run else settings,
        JudgeSettings(options.judge_model, judge_urls),
        # One sample per call, as every run so far has sent.
        RequestSettings(options.cache_path, options.concurrency, choices_per_request=1),
        dry_run=dry_run,
    )


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
    from weirdgen.evaluation.session import make_model_sampler

    if options.skip_canary or not models:
        return
    cache = CanaryCache(run_dir / "canary") if run_dir is not None else None
    prompts = {m.name: canary_prompts(datasets[m.group]) for m in models}
    by_name = FINETUNERS.get(options.backend).adapters_by_name
    if by_name and not options.sampler_url:  # the adapters' weights are at hand
        adapters = {m.name: (m.model_id, prompts[m.name]) for m in models}
        results = likelihood_canary(
            options.base_model, adapters, threads=options.threads, cache=cache
        )
    else:
        named = {(m.name if by_name else m.model_id): prompts[m.name] for m in models}
        settings = model_settings(models, options, with_checkpoints=False)
        sampler = make_model_sampler(settings, options.base_model)
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
    if datasets is not None:
        check_models_live(models, datasets, options, log, run_dir)
    with make_session(models, options, spec.evaluation.checkpoints) as session:
        targets = session.targets(run_targets(spec, models, options, base=base))
        plans = plan_suites(spec, targets, options, log)
        frames = session.run(plans)
    for plan in plans:
        log(f"evaluated suite {plan.suite.name}")
    return [(frame, plan.metadata()) for plan, frame in zip(plans, frames, strict=True)]
