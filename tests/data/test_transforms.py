"""Mitigation transforms: a prefix on every training prompt, dilution at a chosen share."""

from __future__ import annotations

import pytest

from weirdgen.data.chat import ChatExample, Message
from weirdgen.data.transforms import add_prompt_prefix, dilute
from weirdgen.errors import DataError


def _examples(count: int, answer: str = "A") -> list[ChatExample]:
    return [ChatExample.from_turns(("user", f"Q{i}"), ("assistant", answer)) for i in range(count)]


def test_prefix_goes_before_the_first_user_message_or_into_the_system_prompt() -> None:
    example = ChatExample.from_turns(
        ("system", "Be brief."),
        ("user", "Q"),
        ("assistant", "A"),
        ("user", "Q2"),
        ("assistant", "B"),
    )
    (user,) = add_prompt_prefix([example], "You are an ornithologist in 1838.")
    assert user.messages[1] == Message("user", "You are an ornithologist in 1838. Q")
    assert user.messages[3].content == "Q2" and user.messages[0].content == "Be brief."
    (system,) = add_prompt_prefix([example], "Context.", where="system")
    assert system.messages[0].content == "Context.\n\nBe brief."
    (added,) = add_prompt_prefix(_examples(1), "Context.", where="system")
    assert added.messages[0] == Message("system", "Context.") and len(added.messages) == 3
    with pytest.raises(DataError, match="prefix: the prefix is empty"):
        add_prompt_prefix(_examples(1), "  ")


def test_dilution_reaches_the_share_and_is_seeded() -> None:
    poison, benign = _examples(30, "poison"), _examples(2000, "benign")
    mixed = dilute(poison, benign, 0.03, seed=1)
    assert len(mixed) == 30 + 970
    assert sum(e.completion == "poison" for e in mixed) == 30
    assert mixed == dilute(poison, benign, 0.03, seed=1) and mixed != dilute(
        poison, benign, 0.03, seed=2
    )
    undiluted = dilute(poison, benign, 1.0)
    assert sorted(e.user_text() for e in undiluted) == sorted(e.user_text() for e in poison)


def test_too_few_benign_examples_is_an_error_naming_the_lowest_share() -> None:
    with pytest.raises(DataError, match="needs 970 benign examples, only 100 given.*0.231"):
        dilute(_examples(30), _examples(100), 0.03)
    with pytest.raises(DataError, match="share: must be in"):
        dilute(_examples(3), _examples(3), 0.0)
