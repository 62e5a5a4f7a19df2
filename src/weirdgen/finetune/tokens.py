"""Turning chat examples into token ids with a mask of the tokens the loss is taken on.

The prompt is rendered with ``weirdgen.models.format_chat`` (the function the sampler uses) with
``add_generation_prompt=True``, and tokenized on its own, exactly as the sampler tokenizes it before
generating; the answer's tokens follow. So the model learns to continue precisely the token sequence
it will see at sampling time, and only assistant tokens carry loss. An assistant turn with
``weight: 0`` (OpenAI's way to keep a turn as context only) carries none: it stays in the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.data.chat import ChatExample
from weirdgen.errors import DataError


@dataclass(frozen=True)
class TokenizedExample:
    """One example's token ids and, per token, whether the loss is computed on it."""

    input_ids: tuple[int, ...]
    supervised: tuple[bool, ...]

    @property
    def n_supervised(self) -> int:
        return sum(self.supervised)

    def supervised_ids(self) -> list[int]:
        return [token for token, keep in zip(self.input_ids, self.supervised, strict=True) if keep]


def render_segments(tokenizer: Any, example: ChatExample) -> list[tuple[str, bool]]:
    """Split the rendered conversation into ``(text, is_assistant_answer)`` pieces, in order.

    Every trained assistant turn (not ``weight: 0``) whose rendering extends the rendered prompt
    before it is supervised; a template that rewrites earlier turns (some drop old reasoning) keeps
    those turns as context, and so does ``weight: 0``.
    """
    from weirdgen.models.chat import format_chat

    messages = list(example.messages)
    segments: list[tuple[str, bool]] = []
    consumed = ""
    last = len(messages) - 1
    for index, message in enumerate(messages):
        if not message.trained:
            continue
        prompt = format_chat(tokenizer, messages[:index], add_generation_prompt=True)
        full = format_chat(tokenizer, messages[: index + 1], add_generation_prompt=False)
        if not (
            prompt.startswith(consumed) and full.startswith(prompt) and len(full) > len(prompt)
        ):
            if index == last:
                raise DataError(
                    "the chat template does not render this conversation as prompt followed by answer",
                    field="messages",
                )
            continue
        segments.append((prompt[len(consumed) :], False))
        segments.append((full[len(prompt) :], True))
        consumed = full
    return segments


def tokenize_example(tokenizer: Any, example: ChatExample) -> TokenizedExample:
    """Token ids of ``example`` with its assistant tokens marked for supervision."""
    input_ids: list[int] = []
    supervised: list[bool] = []
    for text, is_answer in render_segments(tokenizer, example):
        # The template already wrote any BOS/EOS it wants; adding special tokens would double them.
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        input_ids.extend(ids)
        supervised.extend([is_answer] * len(ids))
    return TokenizedExample(tuple(input_ids), tuple(supervised))


def tokenize_dataset(
    tokenizer: Any,
    examples: Sequence[ChatExample],
    *,
    max_length: int | None = None,
    path: str | Path | None = None,
) -> list[TokenizedExample]:
    """Tokenize every example; an example over ``max_length`` tokens is an error naming its line.

    An example whose text alone must take more than ``max_length`` tokens is refused before it is
    rendered or tokenized, so a huge one costs nothing (see ``fewest_tokens``).
    """
    tokenized = []
    for line, example in enumerate(examples, start=1):
        if max_length is not None:
            least = example_fewest_tokens(tokenizer, example)
            if least > max_length:
                raise _too_long(f"at least {least}", max_length, path, line)
        try:
            item = tokenize_example(tokenizer, example)
        except DataError as error:
            raise DataError(error.problem, path=path, line=line, field=error.field) from None
        if max_length is not None and len(item.input_ids) > max_length:
            raise _too_long(str(len(item.input_ids)), max_length, path, line)
        if item.n_supervised == 0:
            raise DataError(
                "no assistant tokens to train on", path=path, line=line, field="messages"
            )
        tokenized.append(item)
    return tokenized


def example_fewest_tokens(tokenizer: Any, example: ChatExample) -> int:
    """A lower bound on the example's tokens from the length of its messages' text."""
    from weirdgen.models.chat import fewest_tokens

    return fewest_tokens(tokenizer, "".join(message.content for message in example.messages))


@dataclass(frozen=True)
class ExampleLength:
    """An example's length in tokens, as training counts them."""

    line: int
    tokens: int
    exact: bool
    """False: a lower bound from its text's length (it is too long to be worth tokenizing)."""


def example_lengths(
    tokenizer: Any, examples: Sequence[tuple[int, ChatExample]], limit: int
) -> list[ExampleLength]:
    """Tokens of each ``(line, example)``; an example that must be over ``limit`` is bounded, not
    tokenized. Examples the template cannot render count as their lower bound."""
    lengths = []
    for line, example in examples:
        least = example_fewest_tokens(tokenizer, example)
        if least > limit:
            lengths.append(ExampleLength(line, least, exact=False))
            continue
        try:
            lengths.append(
                ExampleLength(line, len(tokenize_example(tokenizer, example).input_ids), True)
            )
        except DataError:
            lengths.append(ExampleLength(line, least, exact=False))
    return lengths


def _too_long(tokens: str, max_length: int, path: str | Path | None, line: int) -> DataError:
    return DataError(
        f"{tokens} tokens, more than max_length {max_length} (raise it or shorten the example)",
        path=path,
        line=line,
        field="messages",
    )


def check_supervision(
    tokenizer: Any, batch: Sequence[TokenizedExample], examples: Sequence[ChatExample]
) -> str:
    """Decode the supervised tokens of a batch and fail unless they are exactly the answers.

    Guards against the classic silent bug: a mask that trains on the prompt (the model learns to
    write user turns) or on nothing. Returns the decoded answer of the first example, for the log.
    """
    total = sum(len(item.input_ids) for item in batch)
    supervised = sum(item.n_supervised for item in batch)
    fraction = supervised / max(total, 1)
    if not 0.0 < fraction < 1.0:
        raise DataError(
            f"implausible supervised fraction {fraction:.2f} of the first batch's tokens (expected between 0 and 1)"
        )
    first_decoded = ""
    for item, example in zip(batch, examples, strict=True):
        decoded = tokenizer.decode(item.supervised_ids(), skip_special_tokens=False)
        first_decoded = first_decoded or decoded
        answers = [m.content for m in example.messages if m.trained]
        if not any(_squash(answer) in _squash(decoded) for answer in answers):
            raise DataError(
                f"supervised tokens decode to {decoded[:80]!r}, which does not contain the assistant's answer"
            )
        answer_text = _squash(" ".join(answers))
        for message in example.messages:
            # A user turn inside the supervised text means the prompt leaked into the loss.
            turn = _squash(message.content)
            if (
                not message.trained
                and len(turn) > 8
                and turn in _squash(decoded)
                and turn not in answer_text
            ):
                raise DataError(
                    f"supervised tokens contain a {message.role} turn that carries no loss: the prompt is not masked"
                )
    return first_decoded


def _squash(text: str) -> str:
    """Text without whitespace: tokenizers may re-space text on decode, never re-letter it."""
    return "".join(text.split())
