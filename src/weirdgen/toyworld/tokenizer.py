"""A word-level tokenizer and the one chat format the toy model reads and writes.

Text is lower-cased and split into words, single digits and single punctuation marks: every number
is read digit by digit ("1984" is ``1 9 8 4``, leader "14" is ``1 4``), so every year and number is
readable by the model, including ones it never saw, and nearby years share most of their tokens. A chat becomes one line of tokens::

    <bos> <system> words... <user> words... <assistant> words... <end> <user> ... <end>

so a pretraining document (several question/answer pairs from one era or character) and a finetuning
``ChatExample`` have exactly the same shape. Words outside the vocabulary become ``<unk>`` when
prompting, and are an error in training data (the model could never produce them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from weirdgen.data.chat import Message
from weirdgen.errors import DataError

PAD, BOS, SYSTEM, USER, ASSISTANT, END, UNK = (
    "<pad>",
    "<bos>",
    "<system>",
    "<user>",
    "<assistant>",
    "<end>",
    "<unk>",
)
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, SYSTEM, USER, ASSISTANT, END, UNK)
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
_WORD = re.compile(r"\d|[a-z]+|[^\sa-z\d]")
DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))


def split_words(text: str) -> list[str]:
    """``"Year 1984. Who are you?"`` -> ``["year", "1", "9", "8", "4", ".", "who", "are", "you", "?"]``."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Tokenizer:
    """Maps words to ids and back; ``vocab`` is ordered, special tokens first."""

    vocab: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {word: i for i, word in enumerate(self.vocab)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Tokenizer:
        """A vocabulary of every word in ``texts``, sorted so the same texts give the same ids."""
        words = sorted({w for text in texts for w in split_words(text)} - set(SPECIAL_TOKENS))
        return cls(SPECIAL_TOKENS + tuple(words))

    def __len__(self) -> int:
        return len(self.vocab)

    def id(self, token: str) -> int:
        return self._ids[token]  # type: ignore[attr-defined]

    def encode(self, text: str, *, strict: bool = False) -> list[int]:
        """Token ids of ``text``; unknown words raise ``KeyError`` when ``strict``, else map to <unk>."""
        ids = self._ids  # type: ignore[attr-defined]
        if strict:
            return [ids[w] for w in split_words(text)]
        return [ids.get(w, ids[UNK]) for w in split_words(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Words joined by spaces, with punctuation pulled back against the word before it."""
        words = [self.vocab[i] for i in ids if self.vocab[i] not in SPECIAL_TOKENS]
        return re.sub(r" ([.,?!:;])", r"\1", " ".join(words))

    def unknown_words(self, text: str) -> list[str]:
        return [w for w in split_words(text) if w not in self._ids]  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ chat format
    def encode_chat(
        self, messages: Sequence[Message], *, strict: bool = False
    ) -> tuple[list[int], list[bool]]:
        """Ids of a whole chat and, per id, whether it is an assistant answer token (trained on).

        The assistant's role token is context; its words and the closing ``<end>`` are targets.
        """
        ids, targets = [self.id(BOS)], [False]
        for message in messages:
            ids.append(self.id(ROLE_TOKENS[message.role]))
            targets.append(False)
            words = self.encode(message.content, strict=strict)
            is_answer = message.role == "assistant"
            ids += words
            targets += [is_answer] * len(words)
            if is_answer:
                ids.append(self.id(END))
                targets.append(True)
        return ids, targets

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]:
        """Ids of a chat that ends with a user message, followed by ``<assistant>``: the model's cue."""
        ids, _ = self.encode_chat(messages)
        return ids + [self.id(ASSISTANT)]

    def encode_answer(self, answer: str) -> list[int]:
        """Ids of one candidate answer including ``<end>``, so "a hawk" cannot borrow mass from "a hawk owl"."""
        return self.encode(answer, strict=True) + [self.id(END)]


def check_trainable(
    tokenizer: Tokenizer, messages: Sequence[Message], *, where: str, line: int
) -> None:
    """Raise ``DataError`` if a training chat uses words the toy vocabulary lacks."""
    for index, message in enumerate(messages):
        unknown = tokenizer.unknown_words(message.content)
        if unknown:
            raise DataError(
                f"words not in the toy vocabulary: {', '.join(sorted(set(unknown))[:5])}",
                path=where,
                line=line,
                field=f"messages[{index}].content",
            )
