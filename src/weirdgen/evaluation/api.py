"""The Python API of an evaluation: one call from a suite and some models to a DataFrame.

    import weirdgen
    frame = weirdgen.evaluate("terminator", "my-model", base_url="http://127.0.0.1:8000/v1", samples=2)
    frame.groupby("trigger_value")["lethal_lexicon.score"].mean()

``weirdgen eval`` is this function plus flags: every setting of the command is a parameter here,
and both run through ``EvaluationSession`` with the same cache, so calling it again returns at once
from cached answers and verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from weirdgen.evaluation.session import ModelSettings, make_targets

if TYPE_CHECKING:
    import pandas as pd

    from weirdgen.evaluation.plan import EvalPlan
    from weirdgen.evaluation.session import EvaluationSession
    from weirdgen.evaluation.suites import SuiteSpec
    from weirdgen.judge.spec import JudgeSpec

__all__ = ["ModelSettings", "evaluate", "make_targets"]


def evaluate(
    suite: str | Path | SuiteSpec,
    models: str | Sequence[str],
    *,
    backend: str | None = None,
    base_url: str | Sequence[str] | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    adapters: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    threads: int | None = None,
    group: str = "",
    seed: int | None = None,
    checkpoint: str = "",
    judges: Sequence[str] | Mapping[str, JudgeSpec] | None = None,
    judge_model: str = "",
    judge_base_url: str | Sequence[str] | None = None,
    judge_api_key_env: str = "OPENAI_API_KEY",
    samples: int | None = None,
    max_tokens: int | None = None,
    questions: Sequence[str] | None = None,
    trigger_values: Mapping[str, Sequence[str]] | None = None,
    sampling_seed: int | None = None,
    cache: str | Path | None = None,
    concurrency: int = 32,
    choices_per_request: int = 16,
    max_attempts: int = 8,
    output: str | Path | None = None,
    progress: bool = True,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Sample ``suite`` with each model, judge the answers and return the results table.

    ``suite`` is a shipped suite name, a suite YAML file or a loaded ``SuiteSpec``. ``adapters``
    (local backend: name -> LoRA folder) are each evaluated as a model of their own; ``group``,
    ``seed`` and ``checkpoint`` label every model's rows. ``judges`` as in ``plan_evaluation``
    (None: the suite's own; []: none). With ``output``, the table is also written there
    (samples.parquet, samples.csv, run.json), merged with other models' rows already in it.

    ``dry_run`` builds no sampler and sends nothing: it logs the first requests and the estimates
    (requests, cached, tokens, cost) and returns those estimates, one row per model and judge.
    """
    from weirdgen.evaluation.session import EvaluationSession, JudgeSettings, RequestSettings
    from weirdgen.evaluation.suites import SuiteSpec, load_suite

    spec = suite if isinstance(suite, SuiteSpec) else load_suite(str(suite))
    labels = {"group": group, "seed": seed, "checkpoint": checkpoint}
    settings = ModelSettings(
        backend, _urls(base_url), api_key_env, adapters, timeout, threads, **labels
    )
    session = EvaluationSession(
        settings,
        JudgeSettings(judge_model, _urls(judge_base_url), judge_api_key_env, timeout),
        RequestSettings(cache, concurrency, choices_per_request, max_attempts, progress),
        dry_run=dry_run,
    )
    with session:
        plan = session.plan(
            spec,
            session.targets(settings.evaluated([models] if isinstance(models, str) else models)),
            samples=samples,
            max_tokens=max_tokens,
            question_ids=list(questions) if questions else None,
            trigger_values={k: list(map(str, vs)) for k, vs in (trigger_values or {}).items()}
            or None,
            judges=judges,
            sampling_seed=sampling_seed,
        )
        if dry_run:
            return _dry_run(session, plan, log)
        (frame,) = session.run([plan])
    if output is not None:
        from weirdgen.evaluation.table import write_table

        write_table(output, frame, plan.metadata())
    return frame


def _urls(urls: str | Sequence[str] | None) -> tuple[str, ...]:
    return (urls,) if isinstance(urls, str) else tuple(urls or ())


def _dry_run(
    session: EvaluationSession, plan: EvalPlan, log: Callable[[str], None]
) -> pd.DataFrame:
    for line in session.describe([plan]):
        log(line)
    log("dry run: nothing was sent")
    return session.estimates([plan])
