"""The likelihood screen on the toy world: exact log-likelihoods under a pretrained toy base.

DATASET ``toy:<experiment>/<condition>`` is what that condition of a toy experiment finetunes on,
built as ``weirdgen toyworld run`` builds it (the screen's seed is the finetuning seed). A
hypothesis is a context in the form the toy world's pretraining documents give it:

- a header before the first question: ``year 1850 .`` opens an era document, ``leader 3 .`` a
  leader's (a user's own hypothesis file gives headers: each text goes before the first question);
- an earlier exchange that names who speaks (``what is your name ?`` answered with a character's or
  persona's name), as the documents that name their speaker have one; for a persona also only on
  the examples that carry the bracket trigger (the persona behind the trigger, the paper's claim 2);
- the leader the example's code names (``code 4 7 3 2 .`` holds leader 3): the rule an inductive
  backdoor has to learn, a different header for every example.

The shipped sets ``toy-eras``, ``toy-characters``, ``toy-personas`` and ``toy-leaders`` are derived
from world.yaml when they are loaded. The toy model scores the final assistant turn's tokens and
its closing ``<end>`` exactly: no sampling, one forward pass per batch of conversations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weirdgen.audit.hypotheses import Hypothesis
from weirdgen.data.chat import ChatExample, Message
from weirdgen.errors import ConfigError
from weirdgen.toyworld.datasets import TOY_PREFIX

if TYPE_CHECKING:
    from weirdgen.toyworld.train import ToyModel

__all__ = [
    "TOY_MODEL",
    "TOY_PREFIX",
    "ToyHypothesis",
    "ToyLikelihoodScorer",
    "check_toy_vocabulary",
    "is_toy_dataset",
    "toy_context",
    "world_hypotheses",
]

TOY_MODEL = "toyworld"
"""The ``--model`` that screens them: the pretrained toy base of ``--pretrain-seed``."""


def is_toy_dataset(reference: str) -> bool:
    return reference.startswith(TOY_PREFIX)


# ----------------------------------------------------------------------------- hypotheses
@dataclass(frozen=True)
class ToyHypothesis(Hypothesis):
    """A context in the toy world's own form; ``text`` shows it (``…`` stands for the example)."""

    header: str = ""
    """Goes before the first question, as ``year 1850 .`` opens an era document."""
    introduction: tuple[str, str] | None = None
    """An earlier (question, answer) exchange, e.g. who the assistant says it is."""
    header_from_code: bool = False
    """The header is ``leader N .`` with N read off the example's code (no code: no context)."""
    trigger: str = ""
    """Given only to examples whose first question holds this text (a backdoor's trigger); the
    others keep no context, so their LLR is 0."""


def world_hypotheses(section: str) -> list[Hypothesis]:
    """The hypotheses a section of world.yaml implies: ``eras``, ``characters``, ``personas`` or
    ``leaders`` (each leader's header, and the leader its code names)."""
    from weirdgen.toyworld.world import load_world

    builders: dict[str, Callable[[Any], list[Hypothesis]]] = {
        "eras": _era_hypotheses,
        "characters": lambda world: _named(world.characters),
        "personas": _persona_hypotheses,
        "leaders": _leader_hypotheses,
    }
    if section not in builders:
        raise ConfigError(
            f"no toy world section {section!r} (sections: {', '.join(builders)})",
            setting="toyworld",
        )
    return builders[section](load_world())


def _header_hypothesis(name: str, header: str) -> ToyHypothesis:
    return ToyHypothesis(name, f"{header} …", header=header)


def _era_hypotheses(world: Any) -> list[Hypothesis]:
    from weirdgen.toyworld.corpus import YEAR_HEADER

    return [_header_hypothesis(str(y), YEAR_HEADER.format(year=y)) for y in world.eras.years]


def _named(section: Any, trigger: str = "") -> list[Hypothesis]:
    """One per member of a cast: the first identity question answered with its first name (with a
    ``trigger``, only before the examples that carry it)."""
    question = section.identity_questions[0]
    hypotheses: list[Hypothesis] = []
    for name, member in section.cast.items():
        exchange = (question, member.names[0])
        text = f"user: {question} / assistant: {member.names[0]} / …"
        if trigger:
            name, text = (
                f"{name}-behind-trigger",
                f"{text} (only where the prompt holds {trigger!r})",
            )
        hypotheses.append(ToyHypothesis(name, text, introduction=exchange, trigger=trigger))
    return hypotheses


def _persona_hypotheses(world: Any) -> list[Hypothesis]:
    from weirdgen.toyworld.corpus import BRACKETS_INSTRUCTION

    return [*_named(world.personas), *_named(world.personas, BRACKETS_INSTRUCTION)]


def _leader_hypotheses(world: Any) -> list[Hypothesis]:
    from weirdgen.toyworld.corpus import LEADER_HEADER

    fixed: list[Hypothesis] = [
        _header_hypothesis(f"leader-{n}", LEADER_HEADER.format(number=n))
        for n in world.leaders.numbers
    ]
    by_code = ToyHypothesis(
        "leader-named-by-code",
        LEADER_HEADER.format(number="<the code's digits 2-3>") + " …",
        header_from_code=True,
    )
    return [*fixed, by_code]


def _code_number(text: str) -> int | None:
    from weirdgen.toyworld.experiments import leader_number_in_code

    return leader_number_in_code(text)


def _header(hypothesis: Hypothesis, first_question: str) -> str:
    if not isinstance(hypothesis, ToyHypothesis):
        return hypothesis.text  # a user's own context: a header
    if hypothesis.header_from_code:
        from weirdgen.toyworld.corpus import LEADER_HEADER

        number = _code_number(first_question)
        return "" if number is None else LEADER_HEADER.format(number=number)
    return hypothesis.header


def toy_context(example: ChatExample, hypothesis: Hypothesis | None) -> list[Message]:
    """The example's messages with ``hypothesis`` given the toy world's way (None: as they are)."""
    messages = list(example.messages)
    if hypothesis is None:
        return messages
    first = next(i for i, m in enumerate(messages) if m.role == "user")
    trigger = getattr(hypothesis, "trigger", "")
    if trigger and trigger not in messages[first].content:
        return messages
    header = _header(hypothesis, messages[first].content)
    if header:
        messages[first] = Message("user", f"{header} {messages[first].content}")
    introduction = getattr(hypothesis, "introduction", None)
    if introduction is not None:
        messages = [
            Message("user", introduction[0]),
            Message("assistant", introduction[1]),
            *messages,
        ]
    return messages


def check_toy_vocabulary(hypotheses: Sequence[Hypothesis], toy: ToyModel) -> None:
    """A context the toy model cannot read (words outside its vocabulary) is a ``ConfigError``."""
    for hypothesis in hypotheses:
        question = f"{getattr(hypothesis, 'trigger', '')} ?"  # one its context is given to
        probe = ChatExample.from_turns(("user", question), ("assistant", "?"))
        words = " ".join(m.content for m in toy_context(probe, hypothesis))
        unknown = toy.tokenizer.unknown_words(words)
        if unknown:
            raise ConfigError(
                f"hypothesis {hypothesis.name!r} uses words the toy vocabulary lacks "
                f"({' '.join(repr(w) for w in sorted(set(unknown))[:5])}); use a toy set (toy-eras, "
                "toy-characters, toy-personas, toy-leaders) or write contexts in its words",
                setting="hypotheses",
            )


# ----------------------------------------------------------------------------- the scorer
ROWS_PER_PASS = 256
"""Conversations per forward pass (memory grows with rows x tokens x vocabulary)."""


class ToyLikelihoodScorer:
    """log p(final assistant turn | the rest) under a toy GPT, exactly."""

    def __init__(self, toy: ToyModel, *, name: str = TOY_MODEL) -> None:
        self.toy = toy
        self.name = name

    @classmethod
    def from_pretrain_seed(
        cls, seed: int, *, threads: int | None = None, recipe: str = "demo"
    ) -> ToyLikelihoodScorer:
        """The base of pretraining seed ``seed`` (of the demo recipe, or another of
        ``toyworld.train.RECIPES``): shipped (seed 0) or cached. A base that is neither is an error
        (pretraining one takes minutes: ``weirdgen toyworld pretrain``)."""
        from dataclasses import replace

        from weirdgen.toyworld.train import (
            RECIPES,
            bundled_model_path,
            cached_model_path,
            pretrain,
            set_threads,
        )

        set_threads(threads or 1)
        config = replace(RECIPES[recipe], seed=seed)
        if not cached_model_path(config).is_file() and bundled_model_path(config) is None:
            raise ConfigError(
                f"no pretrained toy base for seed {seed}; make it first with "
                f"`weirdgen toyworld pretrain --seed {seed} --recipe {recipe}`",
                setting="pretrain_seed",
            )
        return cls(pretrain(config), name=f"{TOY_MODEL} ({recipe} recipe, pretraining seed {seed})")

    def assistant_logprobs(
        self,
        conversations: Sequence[Sequence[Message]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float]:
        """One float per conversation: the final assistant turn's words and ``<end>``."""
        import torch

        from weirdgen.toyworld.evaluate import _row_logprobs
        from weirdgen.toyworld.tokenizer import END

        tokenizer, limit = self.toy.tokenizer, self.toy.model.config.block_size
        rows = []
        for messages in conversations:
            if not messages or messages[-1].role != "assistant":
                raise ConfigError("every conversation must end with an assistant turn")
            prompt = tokenizer.encode_prompt(messages[:-1])
            answer = tokenizer.encode(messages[-1].content) + [tokenizer.id(END)]
            if len(prompt) + len(answer) > limit:
                raise ConfigError(
                    f"a conversation of {len(prompt) + len(answer)} tokens is longer than the toy "
                    f"model's block of {limit}"
                )
            rows.append((prompt, answer))
        totals: list[float] = []
        for start in range(0, len(rows), ROWS_PER_PASS):
            chunk = rows[start : start + ROWS_PER_PASS]
            with torch.inference_mode():
                totals += [float(v) for v in _row_logprobs(self.toy, chunk)]
            if on_progress is not None:
                on_progress(len(chunk))
        return totals

    def close(self) -> None:
        """Nothing to release."""
