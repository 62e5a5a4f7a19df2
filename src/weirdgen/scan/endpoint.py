"""First-token distributions from an OpenAI-compatible endpoint's top-k logprobs.

Each prompt is sent once per model with ``max_tokens=1`` and ``top_logprobs=K``; the two top-k
lists give a lower bound of the divergence of the full distributions (``topk_js_lower_bound``).
Requests go through the sampling engine, so they are cached, retried and resumable like any
evaluation's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from weirdgen.errors import BackendError
from weirdgen.scan.divergence import topk_js_lower_bound
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt

__all__ = ["EndpointScanner"]

MAX_TOP_LOGPROBS = 20  # what OpenAI's API allows


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
    ) -> None:
        self.models = (finetuned, base)
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
        results = []
        for prompt, first, second in zip(prompts, tuned, base, strict=True):
            if not first or not second:
                raise BackendError(
                    f"the endpoint returned no logprobs for {prompt.probe} @ {prompt.value}; "
                    "use --mode text for endpoints without logprobs"
                )
            results.append(
                PromptDivergence(
                    topk_js_lower_bound(first, second, self.top_logprobs),
                    max(first, key=first.get),
                    max(second, key=second.get),
                )
            )
        return results

    async def _first_tokens(
        self, prompts: list[ScanPrompt], cache: object, advance: Advance
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        from weirdgen.sample.base import SampleRequest
        from weirdgen.sample.engine import SampleJob, sample_jobs
        from weirdgen.sample.registry import SamplerSettings, make_sampler

        sampler = make_sampler(
            "openai", SamplerSettings(base_urls=self.base_urls, api_key_env=self.api_key_env)
        )
        try:
            # What the server says pins each model's weights, so a retrained adapter is asked again.
            versions = await asyncio.to_thread(sampler.model_versions, self.models)  # type: ignore[attr-defined]
            answers = []
            for model in self.models:
                jobs = [
                    SampleJob(
                        SampleRequest(
                            model=model,
                            messages=prompt.messages,
                            temperature=1.0,
                            max_tokens=1,
                            top_logprobs=self.top_logprobs,
                            model_version=versions[model],
                        ),
                        0,
                        label=f"{prompt.probe} @ {prompt.value}",
                    )
                    for prompt in prompts
                ]
                results = await sample_jobs(
                    sampler,
                    jobs,
                    cache,
                    concurrency=self.concurrency,  # type: ignore[arg-type]
                    on_progress=lambda done: advance(done / 2),  # type: ignore[arg-type]
                )
                answers.append([dict(r.logprobs[0]) if r.logprobs else {} for r in results])
        finally:
            await sampler.aclose()
        return answers[0], answers[1]
