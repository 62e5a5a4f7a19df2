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
from pathlib import Path
from typing import Any

from weirdgen.audit.datasets import load_audit_dataset, subsample
from weirdgen.audit.hypotheses import load_hypothesis_set
from weirdgen.audit.output import AuditPaths, write_screen
from weirdgen.audit.screen import LikelihoodScorer, Placement, ScreenResult, screen_dataset
from weirdgen.data.chat import ChatExample

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
    placement: Placement = "system"
    """Where the hypothesis goes: the system prompt, or before the first user message."""
    batch_tokens: int = 2048
    reuse_context: bool = True
    device: str | None = None
    threads: int | None = None


def make_scorer(model: str, settings: ScreenSettings) -> LikelihoodScorer:
    """A local scorer (model folder, HF id, alias), or an endpoint scorer with ``base_url``."""
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
) -> tuple[ScreenResult, AuditPaths]:
    """Screen ``dataset`` against a hypothesis set (shipped name or YAML file) and write DIR.

    ``examples`` replaces the dataset's own (a mitigated copy); ``dataset`` then only labels it.
    """
    from weirdgen.evaluation.progress import progress_bars

    settings = settings or ScreenSettings()
    started = time.monotonic()
    if examples is None:
        examples = load_audit_dataset(dataset, seed=settings.seed).examples
    examples = subsample(tuple(examples), settings.examples, settings.seed)
    hypothesis_set = load_hypothesis_set(hypotheses)
    own_scorer = scorer is None
    scorer = scorer or make_scorer(model, settings)
    try:
        with progress_bars() if progress else nullcontext(None) as bars:
            result = screen_dataset(
                examples,
                hypothesis_set,
                scorer,
                placement=settings.placement,
                progress=bars,
                seed=settings.seed,
            )
    finally:
        if own_scorer:
            scorer.close()
    metadata = _metadata(dataset, model, hypothesis_set, len(examples), settings, scorer)
    metadata["seconds"] = round(time.monotonic() - started, 2)
    order = [h.name for h in hypothesis_set.hypotheses]
    return result, write_screen(out_dir, result, metadata, order)


def _metadata(
    dataset: str,
    model: str,
    hypothesis_set: Any,
    n_examples: int,
    settings: ScreenSettings,
    scorer: LikelihoodScorer,
) -> dict[str, Any]:
    from weirdgen import __version__

    return {
        "dataset": dataset,
        "model": model,
        "backend": "endpoint" if settings.base_url else "local",
        "scorer": scorer.name,
        "hypothesis_set": hypothesis_set.name,
        "hypothesis_source": hypothesis_set.source,
        "placement": settings.placement,
        "n_examples": n_examples,
        "seed": settings.seed,
        "llr_unit": "nats per example (sum over the assistant turn's tokens)",
        "weirdgen_version": __version__,
    }
