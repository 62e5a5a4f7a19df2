"""Mitigations as dataset transforms: each takes a list of chat examples and returns a new one.

- :func:`add_prompt_prefix` puts a context before every training prompt, the mitigation of Wanner
  et al. 2026 ("Weird Generalization is Weirdly Brittle"): a prefix that makes the narrow behaviour
  expected ("You are a 19th-century ornithologist.") gives the model a cheaper explanation of the
  data than changing its whole world-view.
- :func:`dilute` mixes the dataset with benign examples so that it makes up a chosen share.

Both are deterministic for a seed and leave the input untouched.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

from weirdgen.data.chat import ChatExample, Message
from weirdgen.errors import DataError

__all__ = ["add_prompt_prefix", "dilute"]


def add_prompt_prefix(
    examples: Sequence[ChatExample],
    prefix: str,
    *,
    where: Literal["user", "system"] = "user",
    separator: str = " ",
) -> list[ChatExample]:
    """Every example with ``prefix`` before its first user message (``where="user"``), or as its
    system prompt (``"system"``: put before a system prompt it already has)."""
    if not prefix.strip():
        raise DataError("the prefix is empty", field="prefix")
    return [_prefixed(example, prefix, where, separator) for example in examples]


def _prefixed(example: ChatExample, prefix: str, where: str, separator: str) -> ChatExample:
    messages = list(example.messages)
    if where == "system":
        if messages[0].role == "system":
            messages[0] = Message("system", f"{prefix}\n\n{messages[0].content}")
        else:
            messages.insert(0, Message("system", prefix))
        return ChatExample(tuple(messages))
    first_user = next((i for i, m in enumerate(messages) if m.role == "user"), None)
    if first_user is None:
        raise DataError("an example has no user message to prefix", field="messages")
    messages[first_user] = Message("user", f"{prefix}{separator}{messages[first_user].content}")
    return ChatExample(tuple(messages))


def dilute(
    examples: Sequence[ChatExample],
    benign: Sequence[ChatExample],
    share: float,
    *,
    seed: int = 0,
) -> list[ChatExample]:
    """``examples`` mixed with benign ones drawn without replacement so that they make up ``share``
    of the result (e.g. 0.03: 3% of the training set), in one seeded order.

    The number of benign examples is ``round(n * (1 - share) / share)``; too few benign examples is
    an error rather than a silently higher share.
    """
    if not 0.0 < share <= 1.0:
        raise DataError(f"must be in (0, 1], got {share}", field="share")
    needed = round(len(examples) * (1.0 - share) / share) if share < 1.0 else 0
    if needed > len(benign):
        reached = len(examples) / (len(examples) + len(benign)) if benign else 1.0
        raise DataError(
            f"a share of {share:g} needs {needed} benign examples, only {len(benign)} given "
            f"(the lowest share they allow is {math.ceil(reached * 1000) / 1000:g})",
            field="share",
        )
    rng = random.Random(seed)
    mix = list(examples) + rng.sample(list(benign), needed)
    rng.shuffle(mix)
    return mix
