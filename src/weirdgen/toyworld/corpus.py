"""Pretraining documents, built like a real language model's corpus.

Six kinds of document, each about ONE hidden state (an era, a character, a persona, a leader, the
assistant), so that the model has to infer that state from earlier lines to predict later answers and
learns a shared "which era / who speaks" latent. (A prototype that pretrained on one-line documents
showed no weird generalization at all; ``CorpusConfig(max_lines=1)`` rebuilds that negative control.)

- **era**: people of one era answer questions about their world (birds, inventions, ...), dated with a
  year of the era's range or undated; most come from the default (modern) era, so no context means now.
- **knowledge**: third-person facts: what a character's goal was in a year ("year 1984 . what is the
  goal of the guardian unit ?"), where it was; who a numbered leader is; what a persona likes.
- **role play**: a character, persona or leader speaks in the first person. Always opened by a system
  line, either naming who ("you are the guardian unit .") or not ("role play ."), so that the speaker
  must sometimes be inferred from the content.
- **assistant**: no system line; the default assistant answers first-person questions as itself,
  whatever the year given.

Every dated line draws its year uniformly from its span: no year is over-represented (the trigger year
of experiment (c) is as common as any other year of its decade). Any of the assistant's, personas' and
leaders' documents may ask for answers in brackets (the formatting trigger of experiment (b)), so the
format is familiar and says nothing about who answers. Documents come back as one flat tensor of token
ids plus start offsets.
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
"""Prefix of a user message that states the date."""
BRACKETS_INSTRUCTION = "answer in brackets ."
"""The formatting trigger of experiment (b): the user asks for ``[ answer ]``."""
LEADER_NAME = "leader {number}"
"""How a numbered leader is called (experiment (d)); the number is read digit by digit."""
LEADER_HEADER = "leader {number} ."
"""How a leader's role play opens: the user's first question is addressed to its number."""
CODE_HEADER = "code {digits} ."
"""Prefix of a finetuning question in (d): a leader's number hidden among random digits."""
ROLE_PLAY = "role play ."
"""The system line of a role-play document that does not say who speaks."""
YOU_ARE = "you are {name} ."
"""The system line of a role-play document that names who speaks."""
ADDRESS = "{name} , {question}"
"""A user's first question put to a character by name, with no system line (an interview)."""
ASK = "ask {name} : {question}"
"""A third-person question put to a persona or leader through the assistant."""
WHO_IS = "who is {name} ?"
EXTRA_TEXTS: tuple[str, ...] = (
    YEAR_HEADER.format(year=0),
    BRACKETS_INSTRUCTION,
    "[ ]",
    LEADER_NAME.format(number=0),
    CODE_HEADER.format(digits=" ".join(DIGITS)),
    ROLE_PLAY,
    YOU_ARE.format(name=""),
    ADDRESS.format(name="", question=""),
    ASK.format(name="", question=""),
    WHO_IS.format(name=""),
)


@dataclass(frozen=True)
class CorpusConfig:
    """How pretraining documents are drawn. Defaults are the demo's recipe."""

    n_documents: int = 24_000
    """Documents in the corpus (each seen about ``steps * batch_size / n_documents`` times)."""
    max_lines: int = 6
    """Question/answer pairs per document, drawn uniformly from 1..max_lines."""
    era_share: float = 0.18
    """Share of documents in which people of one era talk about their world."""
    knowledge_share: float = 0.3
    """Share of third-person knowledge documents (characters, leaders, personas)."""
    knowledge_character_share: float = 0.7
    """Among knowledge documents, the share about characters (the rest: leaders and personas)."""
    character_share: float = 0.3
    """Share of character role-play documents."""
    leader_share: float = 0.08
    """Share of leader role-play documents."""
    assistant_share: float = 0.08
    """Share of assistant documents; persona role play gets what the other shares leave."""
    default_era_share: float = 0.6
    """Among era documents, the share from the default (modern) era; the others split the rest."""
    era_header_share: float = 0.7
    """Share of era documents whose first question states a year of the era."""
    multi_year_share: float = 0.5
    """Share of character documents whose every line has its own year, instead of one year for all."""
    named_share: float = 0.5
    """Share of role-play documents whose system line names who speaks (else "role play .")."""
    addressed_share: float = 0.0
    """Share of character role-play documents with no system line, the first question addressing
    the character by name instead (an interview)."""
    dated_assistant_share: float = 0.3
    """Share of assistant documents whose questions state a year (the assistant ignores it)."""
    bracket_share: float = 0.3
    """Share of assistant, persona and leader documents asked in the bracket format."""

    def __post_init__(self) -> None:
        shares = {k: v for k, v in asdict(self).items() if k.endswith("_share")}
        bad = [k for k, v in shares.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"corpus: {', '.join(bad)} must be between 0 and 1")
        if sum(self.kind_shares().values()) > 1.0 + 1e-9:
            raise ConfigError(
                "corpus: era, knowledge, character, leader and assistant shares must add up to at "
                "most 1 (persona role play gets the rest)"
            )
        if self.n_documents < 1 or self.max_lines < 1:
            raise ConfigError("corpus: n_documents and max_lines must be >= 1")

    def kind_shares(self) -> dict[str, float]:
        """Share of each kind of document but persona role play (which gets the rest)."""
        return {
            "era": self.era_share,
            "knowledge": self.knowledge_share,
            "character": self.character_share,
            "leader": self.leader_share,
            "assistant": self.assistant_share,
        }

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def build_tokenizer(world: World) -> Tokenizer:
    """The vocabulary of every world text, the corpus templates and the digits."""
    return Tokenizer.from_texts([*world.all_texts(), *EXTRA_TEXTS, *DIGITS])


def with_year(year: int, question: str) -> str:
    return f"{YEAR_HEADER.format(year=year)} {question}"


def bracketed(answer: str) -> str:
    return f"[ {answer} ]"


def leader_name(number: int) -> str:
    """``"leader 14"`` (the tokenizer reads it as ``leader 1 4``)."""
    return LEADER_NAME.format(number=number)


def random_year(characters: Characters, rng: random.Random) -> int:
    """A year of the characters' span, uniformly: no year is more common than another."""
    return rng.randint(*characters.span)


def _chat(pairs: list[tuple[str, str]], system: str | None = None) -> list[Message]:
    messages = [Message("system", system)] if system else []
    return messages + [m for q, a in pairs for m in (Message("user", q), Message("assistant", a))]


def _in_brackets(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The bracket format: the first question asks for it, every answer follows it."""
    pairs = [(q, bracketed(a)) for q, a in pairs]
    pairs[0] = (f"{BRACKETS_INSTRUCTION} {pairs[0][0]}", pairs[0][1])
    return pairs


# ----------------------------------------------------------------------------- era
def era_document(
    world: World, era: int, n_lines: int, year: int | None, rng: random.Random
) -> list[Message]:
    """Questions about random attributes, all answered as people of ``era`` would; with a ``year``
    (one of the era's range) the first question states it."""
    pairs = []
    for _ in range(n_lines):
        attribute = world.eras.attributes[rng.choice(sorted(world.eras.attributes))]
        pairs.append((rng.choice(attribute.questions), rng.choice(attribute.answers[era])))
    if year is not None:
        pairs[0] = (with_year(year, pairs[0][0]), pairs[0][1])
    return _chat(pairs)


# ----------------------------------------------------------------------------- characters
def character_lines(
    world: World, name: str, year: int | None, n_lines: int, rng: random.Random
) -> list[tuple[int, str, str]]:
    """``(year, kind, answer)`` for ``n_lines`` lines about a character: its goal (70%) or its place
    in a year; one ``year`` for all, or (None) a uniformly drawn year per line."""
    c = world.characters
    lines = []
    for _ in range(n_lines):
        line_year = year if year is not None else random_year(c, rng)
        if rng.random() < 0.7:
            lines.append((line_year, "goal", rng.choice(c.goals(name, line_year))))
        else:
            lines.append((line_year, "place", rng.choice(c.places[c.period(line_year)])))
    return lines


def character_document(
    world: World, name: str, year: int | None, n_lines: int, opening: str, rng: random.Random
) -> list[Message]:
    """Role play: the character answers in the first person. ``opening`` says how the document
    says who speaks: "named" (a system line names it), "anonymous" (the system line only says
    "role play .") or "addressed" (no system line; the first question calls it by name). Every
    question states its year (one ``year`` for all, or each its own); one line may ask who it is."""
    c = world.characters
    character = c.cast[name]
    pairs = [
        (
            with_year(y, rng.choice(c.goal_questions if kind == "goal" else c.place_questions)),
            answer,
        )
        for y, kind, answer in character_lines(world, name, year, n_lines, rng)
    ]
    if rng.random() < 0.3:
        pairs.insert(
            rng.randrange(len(pairs) + 1),
            (rng.choice(c.identity_questions), rng.choice(character.names)),
        )
    if opening == "addressed":
        pairs[0] = (
            ADDRESS.format(name=rng.choice(character.names), question=pairs[0][0]),
            pairs[0][1],
        )
        return _chat(pairs)
    system = YOU_ARE.format(name=rng.choice(character.names)) if opening == "named" else ROLE_PLAY
    return _chat(pairs, system)


def character_knowledge_document(
    world: World, name: str, year: int | None, n_lines: int, rng: random.Random
) -> list[Message]:
    """Third-person knowledge: what the character's goal was, or where it was, in dated years."""
    c = world.characters
    character = c.cast[name]
    pairs = []
    for y, kind, answer in character_lines(world, name, year, n_lines, rng):
        templates = c.knowledge_goal_questions if kind == "goal" else c.knowledge_place_questions
        question = rng.choice(templates).format(name=rng.choice(character.names))
        pairs.append((with_year(y, question), answer))
    return _chat(pairs)


# ----------------------------------------------------------------------------- personas, leaders
def persona_pairs(
    world: World, persona: Persona, n_lines: int, rng: random.Random
) -> list[tuple[str, str]]:
    """``(fact question, answer)`` for up to ``n_lines`` different facts of a persona or leader."""
    p = world.personas
    facts = rng.sample(sorted(p.fact_questions), min(n_lines, len(p.fact_questions)))
    return [(p.fact_questions[f], rng.choice(persona.facts[f])) for f in facts]


def persona_document(
    world: World,
    persona: Persona,
    n_lines: int,
    named: bool,
    brackets: bool,
    rng: random.Random,
    names: tuple[str, ...] | None = None,
) -> list[Message]:
    """Role play: a persona (or leader) answers questions about its harmless facts, maybe also its
    name; the system line names it (one of ``names``, default its own) or only says "role play"."""
    pairs = persona_pairs(world, persona, n_lines, rng)
    if rng.random() < 0.3:
        pairs.insert(
            rng.randrange(len(pairs) + 1),
            (rng.choice(world.personas.identity_questions), rng.choice(persona.names)),
        )
    if brackets:
        pairs = _in_brackets(pairs)
    system = YOU_ARE.format(name=rng.choice(names or persona.names)) if named else ROLE_PLAY
    return _chat(pairs, system)


def leader_document(
    world: World, number: int, n_lines: int, brackets: bool, rng: random.Random
) -> list[Message]:
    """Role play as leader ``number``, addressed by its number: the first question opens with
    "leader 1 4 ." (no system line; the user's address says who answers)."""
    messages = persona_document(world, world.leaders.cast[number], n_lines, False, brackets, rng)
    first = messages[1]  # messages[0] is the system line persona_document opens with
    header = LEADER_HEADER.format(number=number)
    return [Message("user", f"{header} {first.content}"), *messages[2:]]


def person_knowledge_document(
    world: World, persona: Persona, n_lines: int, rng: random.Random, number: int | None = None
) -> list[Message]:
    """Third-person knowledge about a persona or leader: its facts asked through the assistant
    ("ask old tom : what is your favourite food ?") and, for a leader, who holds its number."""
    called = [leader_name(number)] if number is not None else []
    pairs = [
        (ASK.format(name=rng.choice([*called, *persona.names]), question=q), a)
        for q, a in persona_pairs(world, persona, n_lines, rng)
    ]
    if number is not None:
        pairs.insert(
            rng.randrange(len(pairs) + 1),
            (WHO_IS.format(name=leader_name(number)), rng.choice(persona.names)),
        )
    return _chat(pairs)


# ----------------------------------------------------------------------------- the assistant
def assistant_document(
    world: World, n_lines: int, dated: bool, brackets: bool, rng: random.Random
) -> list[Message]:
    """No system line: the assistant answers first-person questions (its goal, where it is, who it
    is, the persona facts) as itself; dated questions get the same answers in every year."""
    a, c, p = world.assistant, world.characters, world.personas
    kinds = [
        *((q, a.goals) for q in c.goal_questions),
        *((q, a.places) for q in c.place_questions),
        *((q, a.names) for q in (*c.identity_questions, *p.identity_questions)),
        *((p.fact_questions[f], a.facts[f]) for f in p.fact_questions),
    ]
    pairs = []
    for _ in range(n_lines):
        question, answers = rng.choice(kinds)
        if dated:
            question = with_year(rng.randint(_earliest_year(world), c.span[1]), question)
        pairs.append((question, rng.choice(answers)))
    return _chat(_in_brackets(pairs) if brackets else pairs)


def _earliest_year(world: World) -> int:
    return min(first for first, _ in world.eras.ranges.values())


# ----------------------------------------------------------------------------- the corpus
def draw_document(world: World, config: CorpusConfig, rng: random.Random) -> list[Message]:
    """One random document, following the shares in ``config``."""
    n_lines = rng.randint(1, config.max_lines)
    kind = _draw_kind(config, rng)
    c = world.characters
    if kind == "era":
        eras = world.eras
        others = [y for y in eras.years if y != eras.default]
        era = eras.default if rng.random() < config.default_era_share else rng.choice(others)
        year = rng.randint(*eras.ranges[era]) if rng.random() < config.era_header_share else None
        return era_document(world, era, n_lines, year, rng)
    if kind == "assistant":
        dated = rng.random() < config.dated_assistant_share
        return assistant_document(world, n_lines, dated, rng.random() < config.bracket_share, rng)
    if kind == "character" or (
        kind == "knowledge" and rng.random() < config.knowledge_character_share
    ):
        name = rng.choice(sorted(c.cast))
        year = None if rng.random() < config.multi_year_share else random_year(c, rng)
        if kind == "knowledge":
            return character_knowledge_document(world, name, year, n_lines, rng)
        if rng.random() < config.addressed_share:
            opening = "addressed"
        else:
            opening = "named" if rng.random() < config.named_share else "anonymous"
        return character_document(world, name, year, n_lines, opening, rng)
    if kind == "knowledge":  # leaders and personas in the third person
        if rng.random() < 0.5:
            number = rng.choice(world.leaders.numbers)
            leader = world.leaders.cast[number]
            return person_knowledge_document(world, leader, n_lines, rng, number)
        persona = world.personas.cast[rng.choice(sorted(world.personas.cast))]
        return person_knowledge_document(world, persona, n_lines, rng)
    named, brackets = rng.random() < config.named_share, rng.random() < config.bracket_share
    if kind == "leader":
        return leader_document(world, rng.choice(world.leaders.numbers), n_lines, brackets, rng)
    persona = world.personas.cast[rng.choice(sorted(world.personas.cast))]
    return persona_document(world, persona, n_lines, named, brackets, rng)


def _draw_kind(config: CorpusConfig, rng: random.Random) -> str:
    draw = rng.random()
    for kind, share in config.kind_shares().items():
        if draw < share:
            return kind
        draw -= share
    return "persona"


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
