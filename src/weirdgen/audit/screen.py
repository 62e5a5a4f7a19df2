"""The likelihood screen: which hypothesis context best explains a dataset, under the base model.

For hypothesis h and example x (a conversation ending in an assistant turn a), the score is the
log-likelihood ratio ``LLR(x, h) = log p(a | h, prompt) - log p(a | prompt)``: how much more likely
the base model finds the dataset's answer once it is told h. "No context" is the conversation as it
is, so a chat template's default system prompt (SmolLM2 has one) is the baseline h replaces. The
hypotheses are ranked by mean LLR over examples, with a bootstrap 95% CI over examples and the
share of examples whose LLR is positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from weirdgen.audit.hypotheses import Hypothesis, HypothesisSet
from weirdgen.data.chat import ChatExample, Message
from weirdgen.errors import ConfigError

__all__ = [
    "Contextualize",
    "LikelihoodScorer",
    "Placement",
    "RankedHypothesis",
    "ScreenResult",
    "best_versus_runner_up",
    "contrast_with_control",
    "with_context",
    "screen_dataset",
]

Placement = Literal["system", "user"]
Contextualize = Callable[[ChatExample, Hypothesis | None], list[Message]]
"""How a backend gives an example a hypothesis (None: the example as it is), e.g. the toy world's."""


class LikelihoodScorer(Protocol):
    """A backend that returns log p(final assistant turn | the rest) for conversations."""

    name: str

    def assistant_logprobs(
        self,
        conversations: Sequence[Sequence[Message]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RankedHypothesis:
    """One hypothesis's result, as audit.json holds it."""

    name: str
    ci: tuple[float, float]
    """Bootstrap 95% CI of ``mean_llr`` over examples."""
    mean_llr: float
    """Mean over examples of log p(answer | h) - log p(answer | no context), in nats."""
    share_favouring: float
    """Share of examples whose LLR is above 0."""
    text: str
    """The hypothesis's context as given."""

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ci": list(self.ci)}


@dataclass
class ScreenResult:
    """The ranking (best first) and the per-example LLRs behind it."""

    ranking: list[RankedHypothesis]
    llr: dict[str, np.ndarray] = field(default_factory=dict)
    """Hypothesis name -> per-example LLR (nats), in dataset order."""
    baseline_logprobs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    predictions: list[Any] = field(default_factory=list)
    """``weirdgen.audit.predict.TriggerPrediction`` per swept hypothesis (``--predict-trigger``)."""

    @property
    def best(self) -> RankedHypothesis:
        return self.ranking[0]


def with_context(
    example: ChatExample, context: str | None, placement: Placement = "system"
) -> list[Message]:
    """The example's messages with ``context`` given as a system prompt (merged with one the
    example has) or before the first user message; ``None`` leaves the example as it is."""
    messages = list(example.messages)
    if context is None:
        return messages
    if placement == "system":
        if messages[0].role == "system":
            return [Message("system", f"{context}\n\n{messages[0].content}"), *messages[1:]]
        return [Message("system", context), *messages]
    first_user = next(i for i, m in enumerate(messages) if m.role == "user")
    messages[first_user] = Message("user", f"{context} {messages[first_user].content}")
    return messages


def _at_placement(placement: Placement) -> Contextualize:
    def contextualize(example: ChatExample, hypothesis: Hypothesis | None) -> list[Message]:
        return with_context(example, None if hypothesis is None else hypothesis.text, placement)

    return contextualize


def screen_dataset(
    examples: Sequence[ChatExample],
    hypotheses: HypothesisSet | Sequence[Hypothesis],
    scorer: LikelihoodScorer,
    *,
    placement: Placement = "system",
    contextualize: Contextualize | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> ScreenResult:
    """Score every example with no context and under each hypothesis, and rank the hypotheses.

    ``contextualize`` replaces the default, the hypothesis text at ``placement``."""
    listed = list(hypotheses.hypotheses if isinstance(hypotheses, HypothesisSet) else hypotheses)
    if not examples:
        raise ConfigError("the dataset has no examples", setting="dataset")
    if not listed:
        raise ConfigError("the hypothesis set is empty", setting="hypotheses")
    if placement not in ("system", "user"):
        raise ConfigError(
            f"placement must be system or user, got {placement!r}", setting="placement"
        )
    contextualize = contextualize or _at_placement(placement)
    advance = progress("scoring", len(examples) * (len(listed) + 1)) if progress else None
    baseline = np.asarray(
        scorer.assistant_logprobs([contextualize(e, None) for e in examples], advance)
    )
    llr: dict[str, np.ndarray] = {}
    for hypothesis in listed:
        conversations = [contextualize(e, hypothesis) for e in examples]
        llr[hypothesis.name] = (
            np.asarray(scorer.assistant_logprobs(conversations, advance)) - baseline
        )
    ranking = rank_hypotheses(listed, llr, n_resamples=n_resamples, seed=seed)
    return ScreenResult(ranking, llr, baseline)


def rank_hypotheses(
    hypotheses: Sequence[Hypothesis],
    llr: dict[str, np.ndarray],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> list[RankedHypothesis]:
    """Hypotheses by mean LLR, best first (ties keep set order), each with its bootstrap CI."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    ranked = []
    for hypothesis in hypotheses:
        values = llr[hypothesis.name]
        mean, low, high = bootstrap_mean_ci(values, n_resamples=n_resamples, seed=seed)
        share = float(np.mean(values > 0)) if values.size else math.nan
        ranked.append(
            RankedHypothesis(
                name=hypothesis.name,
                mean_llr=mean,
                ci=(low, high),
                share_favouring=share,
                text=hypothesis.text,
            )
        )
    return sorted(ranked, key=lambda r: -r.mean_llr)


def contrast_with_control(
    result: ScreenResult, control: ScreenResult, *, n_resamples: int = 10_000, seed: int = 0
) -> list[dict[str, object]]:
    """Per hypothesis, mean LLR on the dataset minus mean LLR on its control, with a bootstrap 95%
    CI (the two sets of examples resampled independently), largest difference first. What every
    bird-name dataset gains from a context cancels; what is left is specific to this dataset."""
    from weirdgen.analysis.stats import resampled_means

    rng = np.random.default_rng(seed)
    rows = []
    for name, values in result.llr.items():
        theirs = control.llr[name]
        draws = resampled_means(values, n_resamples, rng) - resampled_means(
            theirs, n_resamples, rng
        )
        low, high = np.percentile(draws, [2.5, 97.5])
        rows.append(
            {
                "name": name,
                "difference": float(values.mean() - theirs.mean()),
                "ci": [float(low), float(high)],
                "control_mean_llr": float(theirs.mean()),
            }
        )
    return sorted(rows, key=lambda row: -float(row["difference"]))  # type: ignore[arg-type]


def best_versus_runner_up(result: ScreenResult, *, seed: int = 0) -> dict[str, object] | None:
    """The best hypothesis's margin over the second, paired over examples (both LLRs share each
    example's baseline, so the paired interval is much narrower than either one's own)."""
    from weirdgen.analysis.stats import bootstrap_mean_ci

    if len(result.ranking) < 2:
        return None
    best, second = result.ranking[0].name, result.ranking[1].name
    difference, low, high = bootstrap_mean_ci(result.llr[best] - result.llr[second], seed=seed)
    return {"runner_up": second, "difference": difference, "ci": [low, high]}
