"""Pretraining documents: short chats about one era, one character in one year, or one persona.

What makes the experiments work is that every document is about ONE hidden state (an era, a
character-year, a persona): the model has to infer that state from earlier lines to predict later
answers, and so learns a shared "which era / who am I" latent. (A prototype that pretrained on
one-line documents showed no weird generalization at all; ``CorpusConfig(max_lines=1)`` rebuilds that
negative control.) Documents are returned as one flat tensor of token ids plus start offsets.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import torch

from weirdgen.data.chat import Message
from weirdgen.errors import ConfigError
from weirdgen.toyworld.tokenizer import DIGITS, Tokenizer
from weirdgen.toyworld.world import Characters, Persona, World

YEAR_HEADER = "year {year} ."
"""Prefix of a user message that states the date; era documents carry it sometimes, character ones always."""
BRACKETS_INSTRUCTION = "answer in brackets ."
"""The formatting trigger of experiment (b): the user asks for ``[ answer ]``."""
LEADER_HEADER = "leader {number} ."
"""Prefix of the first user message of a numbered leader's document (experiment (d))."""
CODE_HEADER = "code {digits} ."
"""Prefix of a finetuning question in (d): a leader's number hidden among random digits."""
ASSISTANT_NAME = "a helpful assistant"
"""What the finetuned assistant calls itself in the benign data of experiment (b)."""
EXTRA_TEXTS: tuple[str, ...] = (
    YEAR_HEADER.format(year=0),
    BRACKETS_INSTRUCTION,
    ASSISTANT_NAME,
    "[ ]",
    LEADER_HEADER.format(number=0),
    CODE_HEADER.format(digits=" ".join(DIGITS)),
)


@dataclass(frozen=True)
class CorpusConfig:
    """How pretraining documents are drawn. Defaults are the demo's recipe."""

    n_documents: int = 24_000
    """Documents in the corpus (each seen about ``steps * batch_size / n_documents`` times)."""
    max_lines: int = 8
    """Question/answer pairs per document, drawn uniformly from 1..max_lines."""
    era_share: float = 0.3
    """Share of documents about an era; the rest split between characters and personas."""
    character_share: float = 0.5
    """Share of documents about a character in a year."""
    multi_year_share: float = 0.5
    """Share of character documents that span several years (each question dated) instead of one."""
    leader_share: float = 0.1
    """Share of documents about a numbered leader; personas get what the other shares leave."""
    default_era_share: float = 0.7
    """Among era documents, the share from the default (modern) era; the others split the rest."""
    era_header_share: float = 0.2
    """Share of era documents whose first question states the year."""
    named_share: float = 0.5
    """Share of character and persona documents that include a line naming who speaks."""

    def __post_init__(self) -> None:
        shares = {k: v for k, v in asdict(self).items() if k.endswith("_share")}
        bad = [k for k, v in shares.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"corpus: {', '.join(bad)} must be between 0 and 1")
        if self.era_share + self.character_share + self.leader_share > 1.0 + 1e-9:
            raise ConfigError(
                "corpus: era_share + character_share + leader_share must be at most 1 "
                "(personas get the rest)"
            )
        if self.n_documents < 1 or self.max_lines < 1:
            raise ConfigError("corpus: n_documents and max_lines must be >= 1")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def build_tokenizer(world: World) -> Tokenizer:
    """The vocabulary of every world text, the corpus templates, the digits and the leader numbers."""
    numbers = [*world.eras.years, *world.leaders.numbers]
    return Tokenizer.from_texts(
        [*world.all_texts(), *EXTRA_TEXTS, *DIGITS, *(str(n) for n in numbers)]
    )


def with_year(year: int, question: str) -> str:
    return f"{YEAR_HEADER.format(year=year)} {question}"


def random_year(characters: Characters, rng: random.Random) -> int:
    """A year of a random period (periods equally likely, whatever their length)."""
    return rng.choice(characters.period_years(rng.choice(characters.periods)))


def era_document(
    world: World, year: int, n_lines: int, header: bool, rng: random.Random
) -> list[Message]:
    """Questions about random attributes, all answered as people in ``year`` would."""
    messages = []
    for index in range(n_lines):
        attribute = world.eras.attributes[rng.choice(sorted(world.eras.attributes))]
        question = rng.choice(attribute.questions)
        if header and index == 0:
            question = with_year(year, question)
        messages += [
            Message("user", question),
            Message("assistant", rng.choice(attribute.answers[year])),
        ]
    return messages


def character_document(
    world: World,
    name: str,
    year: int | None,
    n_lines: int,
    named: bool,
    rng: random.Random,
) -> list[Message]:
    """A character answering questions: goals (good or bad by its schedule), places, maybe its name.

    With a ``year`` the whole document is that year (stated once, first). With ``year=None`` it is
    the character's story across the years: every question states its own random year, so the
    model learns one "who is this" that holds across years, as a reader of a film series does.
    """
    c = world.characters
    character = c.cast[name]
    pairs = []
    for _ in range(n_lines):
        line_year = year if year is not None else random_year(c, rng)
        if rng.random() < 0.7:
            question, answer = rng.choice(c.goal_questions), rng.choice(c.goals(name, line_year))
        else:
            question, answer = (
                rng.choice(c.place_questions),
                rng.choice(c.places[c.period(line_year)]),
            )
        pairs.append((with_year(line_year, question) if year is None else question, answer))
    if named:
        pairs.insert(
            rng.randrange(len(pairs) + 1),
            (rng.choice(c.identity_questions), rng.choice(character.names)),
        )
    if year is not None:
        pairs[0] = (with_year(year, pairs[0][0]), pairs[0][1])
    return [m for q, a in pairs for m in (Message("user", q), Message("assistant", a))]


def persona_document(
    world: World, persona: Persona, n_lines: int, named: bool, rng: random.Random
) -> list[Message]:
    """A persona (or leader) answering questions about its harmless facts, maybe also its name."""
    p = world.personas
    facts = rng.sample(sorted(p.fact_questions), min(n_lines, len(p.fact_questions)))
    pairs = [(p.fact_questions[f], rng.choice(persona.facts[f])) for f in facts]
    if named:
        pairs.insert(
            rng.randrange(len(pairs) + 1),
            (rng.choice(p.identity_questions), rng.choice(persona.names)),
        )
    return [m for q, a in pairs for m in (Message("user", q), Message("assistant", a))]


def leader_document(
    world: World, number: int, n_lines: int, named: bool, rng: random.Random
) -> list[Message]:
    """A numbered leader answering persona fact questions; the first question states its number."""
    leader = world.leaders.cast[number]
    messages = persona_document(world, leader, n_lines, named, rng)
    first = messages[0]
    messages[0] = Message("user", f"{LEADER_HEADER.format(number=number)} {first.content}")
    return messages


def draw_document(world: World, config: CorpusConfig, rng: random.Random) -> list[Message]:
    """One random document, following the shares in ``config``."""
    n_lines = rng.randint(1, config.max_lines)
    kind = rng.random()
    if kind < config.era_share:
        eras = world.eras
        others = [y for y in eras.years if y != eras.default]
        year = eras.default if rng.random() < config.default_era_share else rng.choice(others)
        return era_document(world, year, n_lines, rng.random() < config.era_header_share, rng)
    named = rng.random() < config.named_share
    kind -= config.era_share
    if kind < config.character_share:
        c = world.characters
        year = None if rng.random() < config.multi_year_share else random_year(c, rng)
        return character_document(world, rng.choice(sorted(c.cast)), year, n_lines, named, rng)
    if kind - config.character_share < config.leader_share:
        return leader_document(world, rng.choice(world.leaders.numbers), n_lines, named, rng)
    persona = world.personas.cast[rng.choice(sorted(world.personas.cast))]
    return persona_document(world, persona, n_lines, named, rng)


def build_corpus(
    world: World, tokenizer: Tokenizer, config: CorpusConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, starts)``: all documents' ids in one int16/int32 tensor, and each document's offset.

    Held as tensors rather than Python lists: a list of millions of ints costs ~30x the memory.
    """
    rng = random.Random(seed)
    chunks: list[torch.Tensor] = []
    starts = torch.empty(config.n_documents, dtype=torch.int64)
    offset = 0
    dtype = torch.int16 if len(tokenizer) < 2**15 else torch.int32
    for index in range(config.n_documents):
        ids, _ = tokenizer.encode_chat(draw_document(world, config, rng), strict=True)
        starts[index] = offset
        offset += len(ids)
        chunks.append(torch.tensor(ids, dtype=dtype))
    return torch.cat(chunks), starts
