"""Exact evaluation (probability of each candidate answer) and sampling for toy models.

Exact evaluation replaces the paper's "sample 1000 answers and ask a judge": the toy world knows
every answer each era or character could give, so we score every candidate's full log-probability
(its words and the closing ``<end>``), renormalize over the candidates, and add up the mass that
belongs to each era or character. There is no sampling noise; the only randomness left is in
pretraining and finetuning, which is why experiments repeat over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from weirdgen.data.chat import Message
from weirdgen.toyworld.tokenizer import END, PAD
from weirdgen.toyworld.train import ToyModel

Chat = Sequence[Message]


def user(text: str) -> tuple[Message, ...]:
    """A one-question chat: what every toy evaluation asks."""
    return (Message("user", text),)


@torch.no_grad()
def candidate_logprobs(
    toy: ToyModel, prompts: Sequence[Chat], candidates: Sequence[str]
) -> torch.Tensor:
    """Log-probability ``(P, C)`` of each full candidate answer after each prompt."""
    tokenizer = toy.tokenizer
    prompt_ids = [tokenizer.encode_prompt(p) for p in prompts]
    answer_ids = [tokenizer.encode_answer(c) for c in candidates]
    rows = [(p, a) for p in prompt_ids for a in answer_ids]
    length = max(len(p) + len(a) for p, a in rows)
    batch = torch.full((len(rows), length), tokenizer.id(PAD), dtype=torch.long)
    # answer_mask[r, t] is True where position t predicts an answer token (the token at t + 1).
    answer_mask = torch.zeros((len(rows), length - 1), dtype=torch.bool)
    for row, (p, a) in enumerate(rows):
        batch[row, : len(p) + len(a)] = torch.tensor(p + a)
        answer_mask[row, len(p) - 1 : len(p) + len(a) - 1] = True
    logprobs = torch.log_softmax(toy.model(batch[:, :-1]).float(), dim=-1)  # (R, T-1, vocab)
    token_logprobs = logprobs.gather(-1, batch[:, 1:, None]).squeeze(-1)  # (R, T-1)
    totals = (token_logprobs * answer_mask).sum(dim=1)
    return totals.view(len(prompts), len(candidates))


def candidate_distribution(
    toy: ToyModel, prompts: Sequence[Chat], candidates: Sequence[str]
) -> torch.Tensor:
    """``(P, C)``: each prompt's probability over the candidates, renormalized to sum to 1."""
    return torch.softmax(candidate_logprobs(toy, prompts, candidates), dim=-1)


def group_mass(
    toy: ToyModel, prompts: Sequence[Chat], groups: dict[str, Sequence[str]]
) -> dict[str, float]:
    """Mean over prompts of the probability mass on each group of candidates (groups must not overlap)."""
    names = list(groups)
    candidates = [c for name in names for c in groups[name]]
    distribution = candidate_distribution(toy, prompts, candidates)  # (P, C)
    masses, first = {}, 0
    for name in names:
        count = len(groups[name])
        masses[name] = float(distribution[:, first : first + count].sum(dim=1).mean())
        first += count
    return masses


@dataclass(frozen=True)
class Generation:
    """One sampled answer. ``text`` is model output: untrusted, even from a toy."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str
    """"stop" when the model ended its turn, "length" when it hit ``max_tokens`` or the block size."""
    top_logprobs: tuple[dict[str, float], ...] = ()
    """Per answer position, the ``top_logprobs`` likeliest tokens and their log-probabilities."""


@torch.no_grad()
def generate(
    toy: ToyModel,
    chat: Chat,
    *,
    temperature: float = 1.0,
    max_tokens: int = 24,
    top_logprobs: int = 0,
    generator: torch.Generator | None = None,
) -> Generation:
    """Sample one answer token by token (temperature 0 = greedy)."""
    tokenizer = toy.tokenizer
    ids = tokenizer.encode_prompt(chat)
    end, answer, alternatives = tokenizer.id(END), [], []
    finish = "length"
    for _ in range(max_tokens):
        if len(ids) >= toy.model.config.block_size:
            break
        logits = toy.model(torch.tensor([ids]))[0, -1].float()  # (vocab,)
        if top_logprobs > 0:
            logprobs = torch.log_softmax(logits, dim=-1)
            values, indices = logprobs.topk(min(top_logprobs, logprobs.numel()))
            alternatives.append(
                {tokenizer.vocab[int(i)]: float(v) for v, i in zip(values, indices, strict=True)}
            )
        if temperature <= 0:
            token = int(logits.argmax())
        else:
            token = int(
                torch.multinomial(
                    torch.softmax(logits / temperature, dim=-1), 1, generator=generator
                )
            )
        if token == end:
            finish = "stop"
            if alternatives:
                alternatives.pop()  # like chat APIs, report no logprobs for the stop token
            break
        ids.append(token)
        answer.append(token)
    return Generation(tokenizer.decode(answer), tuple(answer), finish, tuple(alternatives))
