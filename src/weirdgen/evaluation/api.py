"""The Python API of an evaluation: one call from a suite and some models to a DataFrame.

    import weirdgen
    frame = weirdgen.evaluate("terminator", "my-model", base_url="http://127.0.0.1:8000/v1", samples=2)
    frame.groupby("trigger_value")["lethal_lexicon.score"].mean()

It is the same path as ``weirdgen eval`` (which is this function plus flags), with the same cache:
calling it again returns at once from cached answers and verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from weirdgen.evaluation.plan import EvalTarget

if TYPE_CHECKING:
    import pandas as pd

    from weirdgen.evaluation.suites import SuiteSpec
    from weirdgen.judge.spec import JudgeSpec
    from weirdgen.sample.base import Sampler

__all__ = ["ModelSettings", "evaluate", "make_targets"]


@dataclass(frozen=True)
class ModelSettings:
    """Which backend answers for the evaluated models, and how their rows are labelled."""

    backend: str | None = None
    """A sampler registry name; None picks one (a base URL: openai; a folder: local; else openai)."""
    base_urls: tuple[str, ...] = ()
    """OpenAI-compatible endpoints of the models (empty: the OpenAI API)."""
    api_key_env: str = "OPENAI_API_KEY"
    adapters: Mapping[str, str] | None = None
    """local: adapter name -> LoRA folder; each adapter is evaluated as a model of its own."""
    timeout: float = 120.0
    threads: int | None = None
    group: str = ""
    seed: int | None = None
    checkpoint: str = ""


def make_targets(
    models: Sequence[str], settings: ModelSettings, *, build_sampler: bool = True
) -> tuple[list[EvalTarget], list[Sampler]]:
    """Targets for ``models`` sharing one sampler, and the samplers to close after the run.

    ``build_sampler=False`` plans without a sampler (a dry run: no credentials, no model loading).
    """
    from weirdgen.evaluation.cost import target_price
    from weirdgen.sample.registry import (
        SAMPLERS,
        SamplerSettings,
        choose_sampler,
        make_sampler,
    )

    backend = choose_sampler(models[0], settings.base_urls, settings.backend)
    adapters = dict(settings.adapters or {})
    sampler = None
    if build_sampler:
        sampler = make_sampler(
            backend,
            SamplerSettings(
                model=models[0],
                base_urls=tuple(settings.base_urls),
                api_key_env=settings.api_key_env,
                adapters=adapters,
                timeout=settings.timeout,
                threads=settings.threads,
            ),
        )
    self_hosted = SAMPLERS.get(backend).self_hosted or bool(settings.base_urls)
    names = list(dict.fromkeys(list(models) + (list(adapters) if backend == "local" else [])))
    versions = model_versions(sampler, names, adapters if backend == "local" else {})
    targets = [
        EvalTarget(
            name,
            sampler,
            settings.group,
            settings.seed,
            settings.checkpoint,
            target_price(name, self_hosted=self_hosted),
            backend,
            versions[name],
        )
        for name in names
    ]
    return targets, [sampler] if sampler is not None else []


def model_versions(
    sampler: Sampler | None, names: Sequence[str], adapters: Mapping[str, str | Path]
) -> dict[str, str]:
    """``EvalTarget.model_version`` of each name: the fingerprint of its local adapter folder when
    ``adapters`` has one (even when a server samples it), else what the sampler's server reports
    (``OpenAICompatibleSampler.model_versions``), else "" (the name is the key)."""
    from weirdgen.models.adapters import adapter_fingerprint

    versions = {name: adapter_fingerprint(adapters[name]) for name in names if name in adapters}
    served = [name for name in names if name not in versions]
    ask = getattr(sampler, "model_versions", None)
    if served and ask is not None:
        versions |= ask(served)
    return {name: versions.get(name, "") for name in names}


def evaluate(
    suite: str | Path | SuiteSpec,
    models: str | Sequence[str],
    *,
    backend: str | None = None,
    base_url: str | Sequence[str] | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    adapters: Mapping[str, str] | None = None,
    judges: Sequence[str] | Mapping[str, JudgeSpec] | None = None,
    judge_model: str = "",
    judge_base_url: str | None = None,
    samples: int | None = None,
    max_tokens: int | None = None,
    questions: Sequence[str] | None = None,
    trigger_values: Mapping[str, Sequence[str]] | None = None,
    group: str = "",
    seed: int | None = None,
    sampling_seed: int | None = None,
    cache: str | Path | None = None,
    concurrency: int = 32,
    choices_per_request: int = 16,
    threads: int | None = None,
    output: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Sample ``suite`` with each model, judge the answers and return the results table.

    ``suite`` is a shipped suite name, a suite YAML file or a loaded ``SuiteSpec``; ``judges`` as in
    ``plan_evaluation`` (None: the suite's own). With ``output``, the table is also written there
    (samples.parquet, samples.csv, run.json), merged with other models' rows already in it.
    """
    from contextlib import nullcontext

    from weirdgen.evaluation.plan import plan_evaluation
    from weirdgen.evaluation.progress import progress_bars
    from weirdgen.evaluation.run import RunSettings, run_plans
    from weirdgen.evaluation.suites import SuiteSpec, load_suite
    from weirdgen.evaluation.table import rows_to_frame, write_table
    from weirdgen.sample.cache import RequestCache, default_cache_path
    from weirdgen.sample.registry import SamplerSettings, make_sampler

    spec = suite if isinstance(suite, SuiteSpec) else load_suite(str(suite))
    names = [models] if isinstance(models, str) else list(models)
    urls = (base_url,) if isinstance(base_url, str) else tuple(base_url or ())
    targets, samplers = make_targets(
        names,
        ModelSettings(
            backend, urls, api_key_env, adapters=adapters, threads=threads, group=group, seed=seed
        ),
    )
    plan = plan_evaluation(
        spec,
        targets,
        samples=samples,
        max_tokens=max_tokens,
        question_ids=list(questions) if questions else None,
        trigger_values={k: [str(v) for v in values] for k, values in (trigger_values or {}).items()}
        or None,
        judges=judges,
        judge_model=judge_model,
        sampling_seed=sampling_seed,
    )
    judge_sampler = None
    if judge_model and plan.judges:
        judge_urls = (judge_base_url,) if judge_base_url else ()
        judge_sampler = make_sampler("openai", SamplerSettings(judge_model, judge_urls))
        samplers.append(judge_sampler)
    request_cache = RequestCache(cache or default_cache_path())
    try:
        with progress_bars() if progress else nullcontext(None) as bars:
            settings = RunSettings(judge_sampler, concurrency, None, bars, choices_per_request)
            (rows,) = run_plans([plan], request_cache, settings, close=samplers)
    finally:
        request_cache.close()
    frame = rows_to_frame(rows, plan.judges)
    if output is not None:
        write_table(output, frame, plan.metadata())
    return frame
