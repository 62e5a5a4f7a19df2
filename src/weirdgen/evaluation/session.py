"""The one composition of an evaluation: models and a judge -> samplers, plans -> frames -> a run.

Every front end builds an ``EvaluationSession`` and calls it: ``weirdgen eval`` (through
``weirdgen.evaluate``), the evaluate stage of ``weirdgen run``, and the audit's in-context probe.
A plan says what to ask (``plan_evaluation``); the session owns everything else: which backend
answers for the models and which for the judge, the request cache, retries, concurrency and
progress. It runs its plans once, on one event loop, and closes its samplers after.

    with EvaluationSession(ModelSettings(base_urls=("http://127.0.0.1:8000/v1",))) as session:
        targets = session.targets(["my-model"])
        plan = session.plan(load_suite("terminator"), targets, samples=2)
        (frame,) = session.run([plan])
    write_table("runs/terminator", frame, plan.metadata())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weirdgen.evaluation.plan import EvalPlan, EvalTarget, plan_evaluation
from weirdgen.evaluation.progress import ProgressFactory

if TYPE_CHECKING:
    import pandas as pd

    from weirdgen.evaluation.suites import SuiteSpec
    from weirdgen.sample.base import Sampler
    from weirdgen.sample.cache import RequestCache

__all__ = [
    "EvaluationSession",
    "JudgeSettings",
    "ModelSettings",
    "RequestSettings",
    "make_model_sampler",
    "make_targets",
    "model_versions",
]


@dataclass(frozen=True)
class ModelSettings:
    """Which backend answers for the evaluated models, and how their rows are labelled."""

    backend: str | None = None
    """A sampler registry name; None picks one (a base URL: openai; a folder: local; else openai)."""
    base_urls: tuple[str, ...] = ()
    """OpenAI-compatible endpoints of the models (empty: the OpenAI API)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the models' API key (read, never logged)."""
    adapters: Mapping[str, str] | None = None
    """LoRA adapters, name -> folder: a backend that names adapters (local) loads them, and every
    backend pins each adapter's weights in its cache key by the folder's fingerprint."""
    timeout: float = 120.0
    """Seconds before one request times out (then it is retried)."""
    threads: int | None = None
    """CPU threads of a local backend."""
    base_model: str = ""
    """The model a local or Tinker sampler loads ("": the first model evaluated)."""
    served: bool = False
    """The models run on a server of your own even without ``base_urls`` (a dry run of models a
    ``--sampler-url`` will serve), so they cost nothing per token."""
    group: str = ""
    """The group label of models given by name (``EvalTarget``s keep their own)."""
    seed: int | None = None
    """The finetuning seed recorded for models given by name."""
    checkpoint: str = ""
    """The checkpoint label recorded for models given by name ("" for the final model)."""

    def backend_for(self, first_model: str) -> str:
        """The sampler registry name that answers (see ``choose_sampler``)."""
        from weirdgen.sample.registry import choose_sampler

        return choose_sampler(first_model, self.base_urls, self.backend)

    def evaluated(self, models: Sequence[str]) -> list[str]:
        """``models`` once each and, for a backend that names adapters, every adapter after them."""
        from weirdgen.sample.registry import SAMPLERS

        names = list(models)
        if names and SAMPLERS.get(self.backend_for(names[0])).names_adapters:
            names += list(self.adapters or {})
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class JudgeSettings:
    """The model LLM judges ask, through an OpenAI-compatible endpoint."""

    model: str = ""
    """The judge model ("": only offline judges can run)."""
    base_urls: tuple[str, ...] = ()
    """Endpoints of the judge model (empty: the OpenAI API)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key."""
    timeout: float = 120.0
    """Seconds before one judge request times out."""


@dataclass(frozen=True)
class RequestSettings:
    """How requests are sent and stored (the same for the models and the judge)."""

    cache: str | Path | None = None
    """The SQLite request cache (default: ``$WEIRDGEN_CACHE_DIR/eval.sqlite``)."""
    concurrency: int = 32
    """Requests in flight at once, per sampler."""
    choices_per_request: int = 16
    """Samples of one prompt drawn per call (the API's ``n``; 1 sends one call per sample)."""
    max_attempts: int = 8
    """Tries per request on transient errors (429, 5xx, timeouts)."""
    progress: bool = True
    """Show progress bars (a plain line every few seconds off a terminal)."""


def make_model_sampler(settings: ModelSettings, first_model: str) -> Sampler:
    """The sampler that answers for the models (a local model loads here)."""
    from weirdgen.sample.registry import SamplerSettings, make_sampler

    return make_sampler(
        settings.backend_for(first_model),
        SamplerSettings(
            model=settings.base_model or first_model,
            base_urls=tuple(settings.base_urls),
            api_key_env=settings.api_key_env,
            adapters=dict(settings.adapters or {}),
            timeout=settings.timeout,
            threads=settings.threads,
        ),
    )


def make_targets(
    models: Sequence[str | EvalTarget], settings: ModelSettings, sampler: Sampler | None = None
) -> list[EvalTarget]:
    """The one way models become targets: each name (labelled by ``settings``) or labelled
    ``EvalTarget`` gets the ``sampler`` (None: a plan for a dry run), the price policy of
    ``target_price`` and the version that pins its weights (``model_versions``)."""
    from weirdgen.evaluation.cost import target_price
    from weirdgen.sample.registry import SAMPLERS

    labelled = [
        model
        if isinstance(model, EvalTarget)
        else EvalTarget(model, None, settings.group, settings.seed, settings.checkpoint)
        for model in models
    ]
    backend = settings.backend_for(labelled[0].model) if labelled else ""
    self_hosted = settings.served or bool(settings.base_urls) or SAMPLERS.get(backend).self_hosted
    versions = model_versions(sampler, [t.model for t in labelled], settings.adapters or {})
    return [
        dataclasses.replace(
            target,
            sampler=sampler,
            price=target_price(target.model, self_hosted=self_hosted),
            backend=target.backend or backend,
            model_version=versions[target.model],
        )
        for target in labelled
    ]


def model_versions(
    sampler: Sampler | None, names: Sequence[str], adapters: Mapping[str, str | Path]
) -> dict[str, str]:
    """``EvalTarget.model_version`` of each name: the fingerprint of its local adapter folder when
    ``adapters`` has one (even when a server samples it), else what the sampler's server reports
    (``OpenAICompatibleSampler.model_versions``), else "" (the name is the key). Without a sampler
    (a dry run) no server is asked."""
    from weirdgen.models.adapters import adapter_fingerprint

    versions = {name: adapter_fingerprint(adapters[name]) for name in names if name in adapters}
    served = [name for name in names if name not in versions]
    ask = getattr(sampler, "model_versions", None)
    if served and ask is not None:
        versions |= ask(served)
    return {name: versions.get(name, "") for name in names}


class EvaluationSession:
    """Models, judge, cache, retries and progress for one evaluation; see the module docstring.

    ``dry_run`` builds no sampler: targets and plans can be priced (``describe``), not run.
    """

    def __init__(
        self,
        models: ModelSettings | None = None,
        judge: JudgeSettings | None = None,
        requests: RequestSettings | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.models = models or ModelSettings()
        self.judge = judge or JudgeSettings()
        self.requests = requests or RequestSettings()
        self.dry_run = dry_run
        self._samplers: list[Sampler] = []

    def __enter__(self) -> EvaluationSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def targets(self, models: Sequence[str | EvalTarget]) -> list[EvalTarget]:
        """Targets for ``models``, answered by one sampler built here (none in a dry run)."""
        sampler = None
        if not self.dry_run and models:
            first = models[0] if isinstance(models[0], str) else models[0].model
            sampler = make_model_sampler(self.models, first)
            self._samplers.append(sampler)
        return make_targets(models, self.models, sampler)

    def plan(self, suite: SuiteSpec, targets: Sequence[EvalTarget], **options: Any) -> EvalPlan:
        """``plan_evaluation`` of ``suite`` for ``targets``, judged by this session's judge model."""
        return plan_evaluation(suite, targets, judge_model=self.judge.model, **options)

    def describe(self, plans: Sequence[EvalPlan]) -> list[str]:
        """The dry-run report of ``plans``: first requests, then requests, tokens and cost."""
        from weirdgen.evaluation.cost import describe_plan

        with self._cache() as cache:
            return [line for plan in plans for line in describe_plan(plan, cache)]

    def estimates(self, plans: Sequence[EvalPlan]) -> pd.DataFrame:
        """What ``plans`` would send and cost, one row per model and judge (``estimates_frame``)."""
        import pandas as pd

        from weirdgen.evaluation.cost import estimates_frame

        with self._cache() as cache:
            return pd.concat([estimates_frame(plan, cache) for plan in plans], ignore_index=True)

    def run(
        self, plans: Sequence[EvalPlan], *, one_bar_per_task: bool = False
    ) -> list[pd.DataFrame]:
        """Sample and judge every plan (cached, resumable) and return each plan's table; the
        samplers are closed after. ``one_bar_per_task`` shows one bar per task ("sampling M",
        "judging") over all plans, for plans that ask the same questions.

        Raises ``RunInterrupted`` after a Ctrl-C, once the answers in flight are stored."""
        from weirdgen.evaluation.run import RunSettings, run_plans
        from weirdgen.evaluation.table import rows_to_frame
        from weirdgen.sample.engine import RetryPolicy, RunInterrupted

        judge_sampler = self._judge_sampler(plans)
        closing, self._samplers = self._samplers, []
        with self._cache() as cache, self._progress(len(plans), one_bar_per_task) as bars:
            settings = RunSettings(
                judge_sampler,
                self.requests.concurrency,
                RetryPolicy(max_attempts=self.requests.max_attempts),
                bars,
                self.requests.choices_per_request,
            )
            try:
                rows = run_plans(plans, cache, settings, close=closing)
            except (KeyboardInterrupt, RunInterrupted):
                raise RunInterrupted(
                    f"interrupted: {cache.count_samples()} answers are safe in {cache.path}; "
                    "run the same command again to resume"
                ) from None
        return [rows_to_frame(r, plan.judges) for plan, r in zip(plans, rows, strict=True)]

    def close(self) -> None:
        """Close the samplers of targets that were never run."""
        import asyncio

        closing, self._samplers = self._samplers, []
        for sampler in closing:
            asyncio.run(sampler.aclose())

    def _judge_sampler(self, plans: Sequence[EvalPlan]) -> Sampler | None:
        from weirdgen.sample.registry import SamplerSettings, make_sampler

        if not self.judge.model or not any(plan.judges for plan in plans):
            return None
        sampler = make_sampler(
            "openai",  # LLM judges are asked through an OpenAI-compatible endpoint
            SamplerSettings(
                self.judge.model,
                tuple(self.judge.base_urls),
                self.judge.api_key_env,
                timeout=self.judge.timeout,
            ),
        )
        self._samplers.append(sampler)
        return sampler

    @contextmanager
    def _cache(self) -> Iterator[RequestCache]:
        from weirdgen.sample.cache import RequestCache, default_cache_path

        cache = RequestCache(self.requests.cache or default_cache_path())
        try:
            yield cache
        finally:
            cache.close()

    @contextmanager
    def _progress(self, n_plans: int, one_bar_per_task: bool) -> Iterator[ProgressFactory | None]:
        from weirdgen.evaluation.progress import progress_bars

        with progress_bars() if self.requests.progress else nullcontext(None) as bars:
            yield _one_bar_per_task(bars, n_plans) if bars and one_bar_per_task else bars


def _one_bar_per_task(factory: ProgressFactory, n_plans: int) -> ProgressFactory:
    """Plans that ask the same questions give each task ("sampling M", "judging") one bar for all
    of them (total: the first plan's times the number of plans), not one per plan."""
    bars: dict[str, Callable[[int], None]] = {}

    def bar(description: str, total: int) -> Callable[[int], None]:
        if description not in bars:
            bars[description] = factory(description, total * n_plans)
        return bars[description]

    return bar
