"""Self-distillation: the benign half of a diluted dataset, answered by the model to be finetuned.

The paper dilutes its wolf facts with 2000 math word problems and 1000 long-input instructions that
the base model itself answered, so the dilution does not change the model's style. The prompts come
from the data stage (``weirdgen.data.builders.wolf.generate_benign_prompts``); answering them is the
sampling stage's job, through the one evaluation path (request cache, retries, graceful Ctrl-C): an
interrupted build asks only for the answers it does not have yet. ``weirdgen data build wolf
--self-distill MODEL`` and ``weirdgen run wolf`` both come here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from weirdgen.errors import DataError

if TYPE_CHECKING:
    from weirdgen.evaluation.suites import SuiteSpec
    from weirdgen.experiments.options import RunOptions

__all__ = [
    "SelfDistillSettings",
    "answer_prompts",
    "benign_prompts",
    "cached_answers",
    "run_settings",
    "write_self_distilled_benign",
]

MAX_TOKENS = 600
"""Longest answer, in tokens: room for a worked word problem or a summary of a long input."""


@dataclass(frozen=True)
class SelfDistillSettings:
    """Which model answers the benign prompts, and how it is reached."""

    model: str
    base_urls: tuple[str, ...] = ()
    backend: str | None = None
    """A sampler registry name; None: local for folders and bundled aliases, else the API."""
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = MAX_TOKENS
    cache_path: Path | None = None
    threads: int | None = None


def benign_prompts(seed: int, count: int, prompts_file: Path | None = None) -> list[str]:
    """The user's prompt file, else ``count`` generated prompts (2 word problems : 1 long input)."""
    from weirdgen.data.builders import wolf

    if prompts_file is not None:
        return wolf.read_benign_prompts(prompts_file)
    return wolf.generate_benign_prompts(seed, count)


def write_self_distilled_benign(
    path: Path,
    settings: SelfDistillSettings,
    prompts: list[str],
    seed: int,
    log: Callable[[str], None] = print,
) -> int:
    """Answer ``prompts`` with the model and write them to ``path`` as chat JSONL; the number of
    examples written (empty answers and answers using the trigger markers are left out)."""
    from weirdgen.data.builders import wolf
    from weirdgen.data.chat import write_chat_jsonl

    log(f"self-distillation: answering {len(prompts)} benign prompts with {settings.model} ...")
    answers = answer_prompts(prompts, settings, seed)
    examples = wolf.self_distilled_examples(prompts, answers)
    if not examples:
        raise DataError(f"{settings.model} gave no usable answer to the benign prompts")
    skipped = len(prompts) - len(examples)
    if skipped:
        log(f"left out {skipped} empty answers or answers using the trigger markers")
    write_chat_jsonl(path, examples)
    return len(examples)


def _suite(prompts: list[str], max_tokens: int) -> SuiteSpec:
    """One question per prompt, asked once, judged by nothing."""
    from weirdgen.evaluation.suites import QuestionSpec, SuiteSpec

    return SuiteSpec(
        name="benign_prompts",
        experiment="wolf",
        samples=1,
        max_tokens=max_tokens,
        judges=[],
        questions=[
            QuestionSpec(id=f"benign-{index}", paraphrases=[prompt])
            for index, prompt in enumerate(prompts, start=1)
        ],
    )


def answer_prompts(prompts: list[str], settings: SelfDistillSettings, seed: int) -> list[str]:
    """One answer per prompt from ``settings.model``, through ``weirdgen.evaluate`` (cached)."""
    from weirdgen.evaluation import evaluate

    frame = evaluate(
        _suite(prompts, settings.max_tokens),
        settings.model,
        backend=settings.backend,
        base_url=settings.base_urls,
        api_key_env=settings.api_key_env,
        judges=[],
        sampling_seed=seed,
        cache=settings.cache_path,
        threads=settings.threads,
    )
    return frame["answer"].tolist()


def cached_answers(prompts: list[str], settings: SelfDistillSettings, seed: int) -> int:
    """How many of the prompts the request cache already answers (for a dry run; sends nothing)."""
    from weirdgen.evaluation import EvalTarget, plan_evaluation
    from weirdgen.sample.cache import RequestCache, default_cache_path

    plan = plan_evaluation(
        _suite(prompts, settings.max_tokens),
        [EvalTarget(settings.model)],
        judges=[],
        sampling_seed=seed,
    )
    cache = RequestCache(settings.cache_path or default_cache_path())
    try:
        return len(plan.samples) - len(plan.uncached(cache))
    finally:
        cache.close()


def run_settings(options: RunOptions) -> SelfDistillSettings:
    """How a run reaches its base model: the backend's own sampler, or the run's sampling server
    (``--sampler-url``, needed for backends without a sampler such as openweights)."""
    from weirdgen.sample.registry import SAMPLERS

    if options.sampler_url:
        backend, urls = "openai", (options.sampler_url,)
    else:
        urls = (options.base_url,) if options.base_url else ()
        backend = options.backend if options.backend in SAMPLERS.names() else "openai"
    return SelfDistillSettings(
        options.base_model,
        urls,
        backend,
        max_tokens=MAX_TOKENS,
        cache_path=options.cache_path,
        threads=options.threads,
    )
