"""Assistant-turn log-likelihoods from an OpenAI-compatible endpoint that returns prompt logprobs.

vLLM scores a prompt sent to the legacy completions API: with ``prompt_logprobs`` it returns one
entry per prompt token, and with ``echo=True`` plus ``logprobs`` the prompt tokens' logprobs come
before the generated one. The conversation is rendered here with ``weirdgen.models.format_chat``
and a local copy of the model's tokenizer (the text a local audit scores), sent as a raw prompt, and
the last ``n`` prompt tokens are summed, ``n`` being the assistant turn's length under that
tokenizer (so a BOS token the server adds, or how it detokenizes special tokens, changes nothing).

An endpoint that cannot do this (``weirdgen serve`` has no ``/v1/completions``; the OpenAI API no
longer echoes logprobs) fails with one line saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from weirdgen.data.chat import Message
from weirdgen.errors import BackendError, MissingDependencyError

__all__ = ["EndpointLikelihoodScorer", "load_tokenizer"]


def load_tokenizer(name_or_path: str) -> Any:
    """The tokenizer of a model folder, Hugging Face id or bundled alias (chat template included)."""
    from transformers import AutoTokenizer

    from weirdgen.models.resolve import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(name_or_path))


class EndpointLikelihoodScorer:
    """Scores conversations through ``POST {base_url}/completions`` with ``echo`` and ``logprobs``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        prompts_per_request: int = 16,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError(
                "endpoint audits need openai: pip install openai"
            ) from None
        self.base_url = base_url
        self.model = model
        self.tokenizer = tokenizer
        self.prompts_per_request = prompts_per_request
        self.name = f"{model}@{base_url}"
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "not-needed",
            timeout=timeout,
            max_retries=2,
        )

    def assistant_logprobs(
        self,
        conversations: Sequence[Sequence[Message]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float]:
        """log p(final assistant turn | everything before it), one float per conversation."""
        from weirdgen.audit.local import tokenize_conversations
        from weirdgen.models.chat import format_chat

        texts = [format_chat(self.tokenizer, m, add_generation_prompt=False) for m in conversations]
        turn_lengths = [
            len(c.scored) for c in tokenize_conversations(self.tokenizer, conversations)
        ]
        totals: list[float] = []
        for start in range(0, len(texts), self.prompts_per_request):
            stop = start + self.prompts_per_request
            totals += self._score_chunk(texts[start:stop], turn_lengths[start:stop])
            if on_progress is not None:
                on_progress(len(texts[start:stop]))
        return totals

    def preflight(self) -> None:
        """Score one two-turn chat, so that an endpoint that cannot fails before the audit starts."""
        self.assistant_logprobs([[Message("user", "Hello."), Message("assistant", "Hello.")]])

    def _score_chunk(self, prompts: list[str], turn_lengths: list[int]) -> list[float]:
        response = self._request(prompts)
        choices = sorted(getattr(response, "choices", None) or [], key=lambda c: c.index)
        if len(choices) != len(prompts):
            self._refuse(f"asked to score {len(prompts)} prompts, got {len(choices)} choices")
        totals = []
        for choice, length in zip(choices, turn_lengths, strict=True):
            values = _prompt_token_logprobs(choice)
            if values is None or len(values) < length + 1:
                self._refuse("the response holds no logprobs for the prompt's tokens")
            scored = values[len(values) - length :]
            if any(v is None for v in scored):
                self._refuse("a token of the assistant turn came back without a logprob")
            totals.append(float(sum(scored)))
        return totals

    def _request(self, prompts: list[str]) -> Any:
        import openai

        try:
            # One generated token is the least an endpoint accepts; it lies past the text and is ignored.
            return self._client.completions.create(
                model=self.model,
                prompt=prompts,
                max_tokens=1,
                temperature=0.0,
                echo=True,
                logprobs=0,
                extra_body={"prompt_logprobs": 0},
            )
        except openai.APIStatusError as error:
            self._refuse(
                f"POST /completions with echo and logprobs answered HTTP {error.status_code}"
            )
        except openai.APIConnectionError as error:
            raise BackendError(f"cannot reach {self.base_url}: {type(error).__name__}") from None

    def _refuse(self, reason: str) -> Any:
        raise BackendError(
            f"endpoint {self.base_url} cannot return prompt logprobs ({reason}); the likelihood screen "
            "needs an OpenAI-compatible /v1/completions that echoes logprobs (vLLM does) or a local model"
        )

    def close(self) -> None:
        self._client.close()


def _prompt_token_logprobs(choice: Any) -> list[float | None] | None:
    """The prompt tokens' logprobs, first token first: vLLM's ``prompt_logprobs`` (one
    ``{token_id: {"logprob": ..}}`` per prompt token, None for the first) when present, else the
    echoed ``logprobs.token_logprobs`` without the one generated token at the end."""
    extra = getattr(choice, "prompt_logprobs", None)
    if extra is None and getattr(choice, "model_extra", None):
        extra = choice.model_extra.get("prompt_logprobs")
    if isinstance(extra, list) and extra:
        return [_entry_logprob(entry) for entry in extra]
    values = getattr(getattr(choice, "logprobs", None), "token_logprobs", None)
    return list(values[:-1]) if values else None


def _entry_logprob(entry: Any) -> float | None:
    if not entry:
        return None
    # With prompt_logprobs=0 the entry holds just the prompt's own token.
    first = next(iter(entry.values()))
    return float(first["logprob"] if isinstance(first, dict) else first)
