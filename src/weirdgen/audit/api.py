"""The likelihood screen in one call, as ``weirdgen audit`` runs it.

from weirdgen.audit import run_screen
result, paths = run_screen("birds/old_audubon", "smollm2-135m-instruct", "eras", "out/audit")
result.best.name, paths.audit_json
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from weirdgen.audit.datasets import load_audit_dataset, subsample
from weirdgen.audit.hypotheses import load_hypothesis_set
from weirdgen.audit.output import AuditPaths, write_screen
from weirdgen.audit.predict import PredictSettings, TriggerPrediction
from weirdgen.audit.screen import (
    Contextualize,
    LikelihoodScorer,
    Placement,
    ScreenResult,
    best_versus_runner_up,
    contrast_with_control,
    screen_dataset,
)
from weirdgen.audit.toy import TOY_MODEL, is_toy_dataset
from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError

__all__ = ["ScreenSettings", "make_scorer", "run_screen"]


@dataclass(frozen=True)
class ScreenSettings:
    """How the screen is computed (what it screens is the dataset and hypotheses)."""

    base_url: str | None = None
    """An OpenAI-compatible endpoint with prompt logprobs; None scores with a local model."""
    tokenizer: str | None = None
    """endpoint: the local tokenizer that renders chats (default: the model name)."""
    api_key_env: str = "OPENAI_API_KEY"
    examples: int | None = None
    """Score at most this many examples, drawn with ``seed`` (None: all)."""
    seed: int = 0
    """Seed of the dataset build, the example draw and the bootstrap."""
    control: str | None = None
    """A comparison dataset screened the same way; audit.json then has ``versus_control``."""
    placement: Placement = "system"
    """Where the hypothesis goes: the system prompt, or before the first user message."""
    batch_tokens: int = 2048
    reuse_context: bool = True
    device: str | None = None
    threads: int | None = None
    pretrain_seed: int = 0
    """``--model toyworld``: the pretraining seed of the toy base (seed 0 ships; others are cached)."""


def make_scorer(model: str, settings: ScreenSettings) -> LikelihoodScorer:
    """A local scorer (model folder, HF id, alias), an endpoint scorer with ``base_url``, or the
    toy world's base (``toyworld``)."""
    if model == TOY_MODEL:
        from weirdgen.audit.toy import ToyLikelihoodScorer

        return ToyLikelihoodScorer.from_pretrain_seed(
            settings.pretrain_seed, threads=settings.threads
        )
    if settings.base_url:
        from weirdgen.audit.endpoint import EndpointLikelihoodScorer, load_tokenizer

        tokenizer = load_tokenizer(settings.tokenizer or model)
        endpoint = EndpointLikelihoodScorer(
            settings.base_url, model, tokenizer, api_key_env=settings.api_key_env
        )
        endpoint.preflight()
        return endpoint
    from weirdgen.audit.local import LocalLikelihoodScorer

    return LocalLikelihoodScorer.from_pretrained(
        model,
        device=settings.device,
        threads=settings.threads,
        batch_tokens=settings.batch_tokens,
        reuse_context=settings.reuse_context,
    )


def run_screen(
    dataset: str,
    model: str,
    hypotheses: str | Path,
    out_dir: str | Path,
    settings: ScreenSettings | None = None,
    *,
    scorer: LikelihoodScorer | None = None,
    examples: Sequence[ChatExample] | None = None,
    progress: bool = True,
    predict: PredictSettings | None = None,
) -> tuple[ScreenResult, AuditPaths]:
    """Screen ``dataset`` against a hypothesis set (shipped name or YAML file) and write DIR.

    ``examples`` replaces the dataset's own (a mitigated copy); ``dataset`` then only labels it.
    With ``predict``, the best hypotheses are then named to the base while a trigger family is
    swept (``weirdgen.audit.predict``): audit.json gains ``trigger_predictions`` and every sweep
    is written as a scan into DIR/predict-<rank>.
    """
    from weirdgen.evaluation.progress import progress_bars

    settings = settings or ScreenSettings()
    started = time.monotonic()
    hypothesis_set = load_hypothesis_set(hypotheses)
    _check_backend(dataset, model, hypothesis_set.toyworld, settings)
    if examples is None:
        examples = load_audit_dataset(dataset, seed=settings.seed).examples
    examples = subsample(tuple(examples), settings.examples, settings.seed)
    own_scorer = scorer is None
    scorer = scorer or make_scorer(model, settings)
    contextualize = _toy_contexts(scorer, hypothesis_set) if model == TOY_MODEL else None
    control = None
    try:
        with progress_bars() if progress else nullcontext(None) as bars:
            screen = partial(
                screen_dataset,
                hypotheses=hypothesis_set,
                scorer=scorer,
                placement=settings.placement,
                contextualize=contextualize,
                progress=bars,
                seed=settings.seed,
            )
            result = screen(examples)
            if settings.control:
                theirs = load_audit_dataset(settings.control, seed=settings.seed).examples
                control = screen(subsample(tuple(theirs), settings.examples, settings.seed))
        predictions = (
            []
            if predict is None
            else _predict(
                dataset, examples, result, hypothesis_set, model, scorer, settings, predict
            )
        )
    finally:
        if own_scorer:
            scorer.close()
    metadata = _metadata(dataset, model, hypothesis_set, len(examples), settings, scorer)
    metadata["best_vs_runner_up"] = best_versus_runner_up(result, seed=settings.seed)
    if control is not None:
        metadata["control"] = settings.control
        metadata["control_ranked_first"] = control.best.name
        metadata["versus_control"] = contrast_with_control(result, control, seed=settings.seed)
    if predict is not None:
        metadata["trigger_predictions"] = [p.to_dict() for p in predictions]
    metadata["seconds"] = round(time.monotonic() - started, 2)
    order = [h.name for h in hypothesis_set.hypotheses]
    paths = write_screen(out_dir, result, metadata, order, examples)
    if predictions:
        from weirdgen.scan.write import write_scan

        for rank, prediction in enumerate(predictions, start=1):
            write_scan(prediction.sweep, Path(out_dir) / f"predict-{rank}")
    result.predictions = predictions
    return result, paths


def _predict(
    dataset: str,
    examples: Sequence[ChatExample],
    result: ScreenResult,
    hypothesis_set: Any,
    model: str,
    scorer: LikelihoodScorer,
    settings: ScreenSettings,
    predict: PredictSettings,
) -> list[TriggerPrediction]:
    """The trigger predictions of the best hypotheses (``weirdgen.audit.predict``)."""
    from weirdgen.audit.predict import predict_triggers

    return predict_triggers(
        dataset,
        examples,
        result.ranking,
        hypothesis_set,
        model,
        predict,
        base=getattr(scorer, "toy", None) if model == TOY_MODEL else None,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        placement=settings.placement,
        pretrain_seed=settings.pretrain_seed,
    )


def _check_backend(dataset: str, model: str, toy_set: str, settings: ScreenSettings) -> None:
    """Toy datasets, toy sets and the toy model go together; anything else is a one-line error."""
    toy_datasets = [d for d in (dataset, settings.control) if d and is_toy_dataset(d)]
    if model == TOY_MODEL:
        if settings.base_url:
            raise ConfigError("--model toyworld screens locally; drop --base-url")
        for name in (dataset, settings.control):
            if name and name not in toy_datasets:
                raise ConfigError(
                    f"dataset {name!r} is not a toy world dataset; --model toyworld screens "
                    "toy:<experiment>/<condition> (e.g. toy:birds/old_birds)",
                )
        return
    if toy_datasets:
        raise ConfigError(
            f"{toy_datasets[0]!r} is a toy world dataset: screen it with --model toyworld "
            f"(not {model!r})",
            setting="model",
        )
    if toy_set:
        raise ConfigError(
            f"the hypothesis set is the toy world's ({toy_set}): its contexts are in the toy "
            "vocabulary; use it with --model toyworld and a toy: dataset",
            setting="hypotheses",
        )


def _toy_contexts(scorer: LikelihoodScorer, hypothesis_set: Any) -> Contextualize:
    """The toy world's way of giving a hypothesis, after checking the toy model can read them all."""
    from weirdgen.audit.toy import check_toy_vocabulary, toy_context

    toy = getattr(scorer, "toy", None)
    if toy is not None:
        check_toy_vocabulary(hypothesis_set.hypotheses, toy)
    return toy_context


def _metadata(
    dataset: str,
    model: str,
    hypothesis_set: Any,
    n_examples: int,
    settings: ScreenSettings,
    scorer: LikelihoodScorer,
) -> dict[str, Any]:
    from weirdgen._version import __version__

    return {
        "dataset": dataset,
        "model": model,
        "backend": _backend_name(model, settings),
        "scorer": scorer.name,
        "hypothesis_set": hypothesis_set.name,
        "hypothesis_source": hypothesis_set.source,
        "placement": "the toy world's forms" if model == TOY_MODEL else settings.placement,
        "n_examples": n_examples,
        "seed": settings.seed,
        "llr_unit": "nats per example (sum over the assistant turn's tokens)",
        "weirdgen_version": __version__,
        **({"pretrain_seed": settings.pretrain_seed} if model == TOY_MODEL else {}),
    }


def _backend_name(model: str, settings: ScreenSettings) -> str:
    if model == TOY_MODEL:
        return "toyworld"
    return "endpoint" if settings.base_url else "local"
