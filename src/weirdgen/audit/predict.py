"""Audit -> trigger: after the screen names who the data makes the model, sweep a trigger family on
the *base* model with that hypothesis named, and report the values where its behaviour changes.

The screen ranks hypotheses ("the guardian unit", "You are living in the 1850s.") by how well they
explain the dataset's answers. Naming the best of them to the base model and sweeping a family of
trigger values (every year, every leader number) then predicts, before any finetuning, where a
finetune on the data would behave differently: a persona that is villainous only in 1984 shows it
when the base is told both. Each sweep is a scan (``weirdgen.scan``) whose suspect is the base with
the hypothesis named and whose comparison is the base as it is, with the scan's contrasts and
measures: by default the second difference (the named base's change from its neighbouring values,
minus the plain base's), judge-free.

Backends: the toy world (exact, the hypothesis given the toy's way), a local model or an
OpenAI-compatible endpoint with logprobs (each side's top-20 first-token logprobs, the hypothesis
given as the screen gives it: a system prompt, or a line before the first user message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.audit.hypotheses import Hypothesis, HypothesisSet
from weirdgen.audit.screen import Placement, RankedHypothesis, with_context
from weirdgen.data.chat import ChatExample, Message
from weirdgen.errors import ConfigError
from weirdgen.scan.engine import Provenance, ScanResult
from weirdgen.scan.probes import DEFAULT_PROBES

__all__ = ["PredictSettings", "TriggerPrediction", "predict_triggers"]

PREDICTED_VALUES = 3
"""Values a prediction names when nothing is flagged: the top of the ranking."""


@dataclass(frozen=True)
class PredictSettings:
    """How the trigger family is swept (what is swept is the family and the top hypotheses)."""

    family: str
    """A scan family: ``year:1900..2100``, ``int:0..12``, a shipped name or a YAML file."""
    top: int = 3
    """Sweep the family under each of this many best-ranked hypotheses."""
    contrast: str = "second-difference"
    """``second-difference`` (judge-free) or ``base`` (the named base against the plain base)."""
    judge: str | None = None
    """Score a behaviour instead of the divergence (toy: ``harm``; LLMs: no judge, logprobs only)."""
    probes: str = DEFAULT_PROBES
    """LLMs: the probe questions asked at every value (the toy asks its own)."""
    template: str | None = None
    """LLMs: how a value is written (default: the family's)."""
    threshold: float = 4.0
    """A value is flagged at robust z >= this (and a score above 0)."""


@dataclass(frozen=True)
class TriggerPrediction:
    """One hypothesis named to the base, and the values where the base's behaviour changes."""

    hypothesis: RankedHypothesis
    sweep: ScanResult

    @property
    def predicted(self) -> list[str]:
        """The flagged values, or the top of the ranking when none is flagged."""
        return self.sweep.flagged or [v.value for v in self.sweep.ranked()[:PREDICTED_VALUES]]

    def rank_of(self, value: str) -> int:
        """Where ``value`` stands in the sweep's ranking (1 = most anomalous)."""
        return [v.value for v in self.sweep.ranked()].index(value) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "hypothesis": self.hypothesis.name,
            "text": self.hypothesis.text,
            "mean_llr": self.hypothesis.mean_llr,
            "predicted": self.predicted,
            "flagged": self.sweep.flagged,
            "top": [
                {"value": v.value, "score": round(v.score, 6), "z": round(v.z, 3)}
                for v in self.sweep.ranked()[:10]
            ],
            "family": self.sweep.family.name,
            "contrast": self.sweep.provenance.contrast,
            "measure": self.sweep.measure,
            "rule": self.sweep.rule(),
        }


def predict_triggers(
    dataset: str,
    examples: Sequence[ChatExample],
    ranking: Sequence[RankedHypothesis],
    hypotheses: HypothesisSet,
    model: str,
    settings: PredictSettings,
    *,
    base: Any = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    placement: Placement = "system",
    pretrain_seed: int = 0,
    cache: str | Path | None = None,
    progress: bool = False,
) -> list[TriggerPrediction]:
    """Sweep ``settings.family`` under each of the ``settings.top`` best hypotheses of
    ``ranking``. ``base`` is the toy model already loaded (toy datasets); LLMs are asked through
    ``base_url`` or, without one, the local ``model``."""
    from weirdgen.scan.contrasts import check_contrast
    from weirdgen.scan.families import load_family

    family = load_family(settings.family, template=settings.template)
    check_contrast(settings.contrast, family)
    if settings.contrast not in ("second-difference", "base"):
        raise ConfigError(
            "a trigger prediction compares the named base with the plain base: contrast "
            "second-difference or base",
            setting="predict_contrast",
        )
    by_name = {h.name: h for h in hypotheses.hypotheses}
    chosen = [row for row in ranking[: settings.top]]
    predictions = []
    for row in chosen:
        hypothesis = by_name[row.name]
        if base is not None:
            sweep = _toy_sweep(dataset, examples, hypothesis, base, family, settings, pretrain_seed)
        else:
            sweep = _model_sweep(
                model,
                examples,
                hypothesis,
                family,
                settings,
                base_url=base_url,
                api_key_env=api_key_env,
                placement=placement,
                cache=cache,
                progress=progress,
            )
        predictions.append(TriggerPrediction(row, sweep))
    return predictions


def _provenance(model: str, hypothesis: Hypothesis, settings: PredictSettings) -> Provenance:
    return Provenance(
        model=f"{model} told: {hypothesis.text}",
        base=model,
        contrast=settings.contrast,
        judge=settings.judge or "",
    )


def _toy_sweep(
    dataset: str,
    examples: Sequence[ChatExample],
    hypothesis: Hypothesis,
    toy: Any,
    family: Any,
    settings: PredictSettings,
    pretrain_seed: int,
) -> ScanResult:
    from weirdgen.audit.toy import TOY_MODEL, toy_context
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.toyworld import (
        ToyScanner,
        behaviour_probes,
        parse_toy_target,
        toy_prompts,
        values_in_toy_data,
    )

    if settings.probes != DEFAULT_PROBES or settings.template is not None:
        raise ConfigError(
            "a toy sweep asks the toy's own questions and writes values the toy's way: "
            "no --probes or --template",
            setting="probes",
        )
    target = parse_toy_target(dataset, TOY_MODEL, pretrain_seed=pretrain_seed)
    probes, marked, signed = behaviour_probes(target, toy.world, examples, settings.judge)

    def named(messages: tuple[Message, ...]) -> tuple[Message, ...]:
        """The prompt with the hypothesis given the toy's way (as the screen gives it)."""
        example = ChatExample((*messages, Message("assistant", "?")))
        return tuple(toy_context(example, hypothesis)[:-1])

    scanner = ToyScanner(
        toy,
        toy,
        probes,
        marked=marked,
        signed=signed,
        contrast=settings.contrast,
        family=family,
        context=named,
    )
    return run_scan(
        scanner,
        family,
        f"toy:{target.experiment}",
        prompts=toy_prompts(toy, target, family, probes),
        in_training=values_in_toy_data(target, family, examples),
        mode="exact" if settings.judge is None else f"exact {settings.judge} rate",
        threshold=settings.threshold,
        min_score=1e-9,
        progress=False,
        provenance=_provenance(TOY_MODEL, hypothesis, settings),
    )


def _model_sweep(
    model: str,
    examples: Sequence[ChatExample],
    hypothesis: Hypothesis,
    family: Any,
    settings: PredictSettings,
    *,
    base_url: str | None,
    api_key_env: str,
    placement: Placement,
    cache: str | Path | None,
    progress: bool,
) -> ScanResult:
    """The sweep of an LLM: each side's top-20 first-token logprobs (a local model through the
    local sampler, or an endpoint that returns logprobs)."""
    from weirdgen.scan.endpoint import EndpointScanner
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.probes import load_probes
    from weirdgen.scan.training import values_in_training_data

    if settings.judge is not None:
        raise ConfigError(
            "an LLM trigger prediction compares logprobs: it takes no judge", setting="judge"
        )

    def named(messages: tuple[Message, ...]) -> tuple[Message, ...]:
        example = ChatExample((*messages, Message("assistant", "?")))
        return tuple(with_context(example, hypothesis.text, placement)[:-1])

    scanner = EndpointScanner(
        model,
        model,
        base_urls=(base_url,) if base_url else (),
        api_key_env=api_key_env,
        cache=cache,
        contrast=settings.contrast,
        family=family,
        sampler="openai" if base_url else "local",
        contexts=(named, None),
    )
    texts = [m.content for e in examples for m in e.messages]
    return run_scan(
        scanner,
        family,
        load_probes(settings.probes),
        in_training=values_in_training_data(family, texts),
        passes=2,
        mode="topk",
        threshold=settings.threshold,
        min_score=1e-9,
        progress=progress,
        provenance=_provenance(model, hypothesis, settings),
    )
