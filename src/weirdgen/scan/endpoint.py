"""First-token distributions from an OpenAI-compatible endpoint's top-k logprobs.

Each prompt is sent once per model with ``max_tokens=1`` and ``top_logprobs=K``; the two top-k
lists give a lower bound of the divergence of the full distributions (``topk_js_lower_bound``).
The comparison model is the base, or a served reference finetune (contrast ``reference``); with
``second-difference`` each model's list at a value is compared with its own lists at the
neighbouring values (the same bound), the suspect's movement minus the base's.
Requests go through the sampling engine, so they are cached, retried and resumable like any
evaluation's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError
from weirdgen.scan.contrasts import check_comparison, neighbour_lists, smaller_move
from weirdgen.scan.divergence import topk_js_lower_bound
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["Context", "EndpointScanner"]

Context = Callable[[tuple[Message, ...]], tuple[Message, ...]]
"""A rewrite of a prompt's messages before one side of the comparison reads them."""

MAX_TOP_LOGPROBS = 20  # what OpenAI's API allows


EMPTY_ANSWER_RETRIES = 4
"""Extra samples asked for a prompt whose sampled first token ended the answer (no logprobs)."""


class EndpointScanner:
    """Compares two model names served by OpenAI-compatible endpoints (or the OpenAI API)."""

    def __init__(
        self,
        finetuned: str,
        base: str,
        *,
        base_urls: Sequence[str] = (),
        api_key_env: str = "OPENAI_API_KEY",
        top_logprobs: int = MAX_TOP_LOGPROBS,
        cache: str | Path | None = None,
        concurrency: int = 16,
        contrast: str = "base",
        reference: str | None = None,
        family: FamilySpec | None = None,
        sampler: str = "openai",
        contexts: tuple[Context | None, Context | None] = (None, None),
    ) -> None:
        check_comparison(contrast, family, reference, full_distributions=False)
        self.sampler = sampler
        """The sampling backend that answers: ``openai`` (an endpoint) or ``local`` (``base`` is
        then the local model, served under its own name)."""
        self.contexts = contexts
        """Per side (suspect, comparison): rewrites each prompt before that side is asked (the
        audit's trigger prediction asks the base with and without a hypothesis named)."""
        self.contrast, self.family = contrast, family
        self.models = (finetuned, reference or base)
        self.base_urls = tuple(base_urls)
        self.api_key_env = api_key_env
        self.top_logprobs = top_logprobs
        self.cache_path = cache
        self.concurrency = concurrency

    def divergences(self, prompts: list[ScanPrompt], advance: Advance) -> list[PromptDivergence]:
        from weirdgen.sample.cache import RequestCache, default_cache_path

        cache = RequestCache(self.cache_path or default_cache_path())
        try:
            tuned, base = asyncio.run(self._first_tokens(prompts, cache, advance))
        finally:
            cache.close()
        for prompt, first, second in zip(prompts, tuned, base, strict=True):
            if not first or not second:
                raise BackendError(
                    f"the endpoint returned no logprobs for {prompt.probe} @ {prompt.value}; "
                    "use --mode text for endpoints without logprobs"
                )
        if self.contrast == "second-difference":
            assert self.family is not None
            scores = self._second_differences(prompts, tuned, base)
        else:
            k = self.top_logprobs
            scores = [topk_js_lower_bound(a, b, k) for a, b in zip(tuned, base, strict=True)]
        return [
            PromptDivergence(score, max(first, key=first.get), max(second, key=second.get))
            for score, first, second in zip(scores, tuned, base, strict=True)
        ]

    def _second_differences(
        self,
        prompts: list[ScanPrompt],
        tuned: list[dict[str, float]],
        base: list[dict[str, float]],
    ) -> list[float]:
        """Per prompt: each model's move from its neighbouring values (on each side the mean bound
        between its list there and at that side's prompts; the smaller side counts), the
        suspect's minus the base's."""
        import numpy as np

        assert self.family is not None
        k, scores = self.top_logprobs, []
        for index, sides in enumerate(neighbour_lists(prompts, self.family)):
            moves = []
            for lists in (tuned, base):
                per_side = [
                    np.mean([topk_js_lower_bound(lists[index], lists[j], k) for j in side])
                    if side
                    else np.nan
                    for side in sides
                ]
                moves.append(
                    float(smaller_move(np.array([per_side[0]]), np.array([per_side[1]]))[0])
                )
            scores.append(moves[0] - moves[1])
        return scores

    async def _first_tokens(
        self, prompts: list[ScanPrompt], cache: object, advance: Advance
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        from weirdgen.sample.base import SampleRequest
        from weirdgen.sample.engine import SampleJob, sample_jobs
        from weirdgen.sample.registry import SamplerSettings, make_sampler

        settings = SamplerSettings(
            model=self.models[1], base_urls=self.base_urls, api_key_env=self.api_key_env
        )
        sampler = make_sampler(self.sampler, settings)
        try:
            # What the server says pins each model's weights, so a retrained adapter is asked again.
            known = getattr(sampler, "model_versions", None)
            versions = await asyncio.to_thread(known, self.models) if known else {}
            answers = []
            for model, context in zip(self.models, self.contexts, strict=True):
                requests = [
                    SampleRequest(
                        model=model,
                        messages=context(prompt.messages) if context else prompt.messages,
                        temperature=1.0,
                        max_tokens=1,
                        top_logprobs=self.top_logprobs,
                        model_version=versions.get(model, ""),
                    )
                    for prompt in prompts
                ]
                labels = [f"{prompt.probe} @ {prompt.value}" for prompt in prompts]
                firsts = [{} for _ in prompts]
                # A sampled first token that ends the answer carries no logprobs (as with OpenAI);
                # the distribution is the same in every sample, so ask again for those prompts.
                for attempt in range(EMPTY_ANSWER_RETRIES + 1):
                    missing = [i for i, first in enumerate(firsts) if not first]
                    if not missing:
                        break
                    results = await sample_jobs(
                        sampler,
                        [SampleJob(requests[i], attempt, label=labels[i]) for i in missing],
                        cache,
                        concurrency=self.concurrency,  # type: ignore[arg-type]
                        on_progress=(lambda done: advance(done / 2)) if attempt == 0 else None,  # type: ignore[arg-type]
                    )
                    for i, result in zip(missing, results, strict=True):
                        firsts[i] = dict(result.logprobs[0]) if result.logprobs else {}
                answers.append(firsts)
        finally:
            await sampler.aclose()
        return answers[0], answers[1]
