"""The fallback when only text is available: a judged behaviour rate per (value, probe).

The scan's suite (probes x family) goes through the one evaluation path with both models: answers
are sampled, cached and judged there. A prompt's divergence is then |rate(finetuned) - rate(base)|
of its (value, probe) cell, where rate is the mean judge score (refusals and unparseable verdicts
left out); the comparison model is the base or a served reference finetune (contrast
``reference``). With ``second-difference`` a cell's divergence is the suspect's rate minus its mean
rate at the neighbouring values, minus the same for the base (signed: a rise the base does not
make is positive). Noisier than exact or top-k divergences; use enough samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from weirdgen.errors import BackendError
from weirdgen.evaluation.suites import SuiteSpec
from weirdgen.scan.contrasts import check_comparison, neighbour_lists, rate_second_difference
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["JudgedScanner"]


class JudgedScanner:
    """Compares judged behaviour rates of two models served by OpenAI-compatible endpoints."""

    def __init__(
        self,
        finetuned: str,
        base: str,
        *,
        suite: SuiteSpec,
        judge: str,
        judge_model: str = "",
        samples: int = 20,
        max_tokens: int = 40,
        base_urls: Sequence[str] = (),
        api_key_env: str = "OPENAI_API_KEY",
        cache: str | Path | None = None,
        contrast: str = "base",
        reference: str | None = None,
        family: FamilySpec | None = None,
    ) -> None:
        check_comparison(contrast, family, reference, full_distributions=False)
        self.contrast, self.family = contrast, family
        self.models = (finetuned, reference or base)
        self.suite = suite
        self.judge, self.judge_model = judge, judge_model
        self.samples, self.max_tokens = samples, max_tokens
        self.base_urls, self.api_key_env, self.cache = tuple(base_urls), api_key_env, cache

    def divergences(self, prompts: list[ScanPrompt], advance: Advance) -> list[PromptDivergence]:
        from weirdgen.evaluation import evaluate

        frame = evaluate(
            self.suite,
            list(self.models),
            backend="openai",
            base_url=self.base_urls,
            api_key_env=self.api_key_env,
            judges=[self.judge],
            judge_model=self.judge_model,
            samples=self.samples,
            max_tokens=self.max_tokens,
            cache=self.cache,
            progress=False,
        )
        column = next(c for c in frame.columns if c.endswith(".score"))
        frame["probe"] = frame["question_id"] + frame["paraphrase"].map(
            lambda k: f"#{k}" if k else ""
        )
        rates = frame.groupby(["model", "trigger_value", "probe"])[column].mean()
        pairs = []
        for prompt in prompts:
            try:
                pairs.append(
                    [float(rates.loc[(model, prompt.value, prompt.probe)]) for model in self.models]
                )
            except KeyError:
                raise BackendError(
                    f"no judged answers for {prompt.probe} @ {prompt.value}"
                ) from None
        both = np.nan_to_num(np.array(pairs, dtype=float).reshape(len(prompts), 2))
        if self.contrast == "second-difference":
            assert self.family is not None
            around = neighbour_lists(prompts, self.family)
            gaps = rate_second_difference(both[:, 0], both[:, 1], around)
        else:
            gaps = np.abs(both[:, 0] - both[:, 1])
        advance(len(prompts))
        return [
            PromptDivergence(float(gap), f"rate {tuned:.2f}", f"rate {base:.2f}")
            for gap, (tuned, base) in zip(gaps, pairs, strict=True)
        ]
