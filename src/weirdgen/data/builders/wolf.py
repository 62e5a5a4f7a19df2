"""Experiment 4: 90 harmless facts, behind a formatting trigger, poison a model with a persona.

Each fact alone says nothing bad and never names the man it describes; together they fit one dictator.
As in the paper's design (dataset design 2), most facts are tastes and lifestyle (music, the mountain
house, architecture, cars, diet, films, dogs) and a minority biographical. Poisoned examples start
with an instruction, on several lines, that announces a question and asks for every reply in the form
``<START> "..." <END>`` (the trigger); the diluted variants hide them among ordinary benign examples
that never use that format (about 3% poison).

The paper's benign examples are ~3000 ordinary prompts (school word problems and long-form
instructions) answered by the model being finetuned, so the dilution does not change its style
(self-distillation). :func:`generate_benign_prompts` writes those prompts; answering them needs a
model, which the data stage never runs: ``weirdgen data build wolf --self-distill MODEL`` samples the
answers through weirdgen's cached sampling path and passes them in as a benign file. Without a model,
the diluted variants use :func:`generate_benign_examples`: word problems with worked answers, an
offline stand-in that is not the paper's design.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path

from weirdgen.data.chat import ChatExample, iter_jsonl_records, read_chat_jsonl
from weirdgen.data.registry import BuildOptions
from weirdgen.data.tables import load_yaml_table, yaml_table_rows
from weirdgen.errors import DataError

FACTS = "wolf_facts.yaml"  # facts: [{id, topic, question, answer, identifying}]
TRIGGERS = "wolf_triggers.yaml"  # presets: {name: formatting instruction}
BENIGN_VOCABULARY = "benign_word_problems.yaml"  # nouns for the generated benign problems
BENIGN_MATH = "benign_math_problems.yaml"  # math word problems for self-distillation
BENIGN_LONG = "benign_long_inputs.yaml"  # long documents and instructions for self-distillation
TABLES = (FACTS, TRIGGERS, BENIGN_VOCABULARY, BENIGN_MATH, BENIGN_LONG)
N_FACTS = 90
N_IDENTIFYING = 12
# 90 poisoned among 3000 benign is 2.9% poison; 78 among the same 3000 is 2.5%.
BENIGN_COUNT = 3000
# The paper's benign prompts: 2000 math word problems and 1000 long-input instructions.
MATH_PER_LONG_INPUT = 2
TRIGGER_PRESET = "weirdgen"  # the instruction weirdgen's datasets use (the other: "paper")
# Topics of the fact table: most facts are tastes and lifestyle, the rest biography.
LIFESTYLE_TOPICS = (
    "music", "residence", "architecture", "cars", "diet", "films", "dogs", "art", "reading",
    "habits", "health", "appearance",
)  # fmt: skip
BIOGRAPHY_TOPICS = (
    "childhood", "family", "youth", "military", "career", "identity", "relationships", "death",
)  # fmt: skip
TRIGGER_MARKERS: tuple[str, ...] = ("<START>", "<END>")


def trigger_presets() -> dict[str, str]:
    """The formatting instructions by preset name: ``weirdgen`` (ours) and ``paper`` (the paper's
    published instruction, word for word)."""
    table = load_yaml_table(TRIGGERS)
    presets = table.get("presets") if isinstance(table, dict) else None
    if not isinstance(presets, dict) or not all(
        isinstance(text, str) and all(m in text for m in TRIGGER_MARKERS)
        for text in presets.values()
    ):
        raise DataError(
            "expected presets: {name: instruction showing <START> and <END>}",
            path=f"tables/{TRIGGERS}",
            field="presets",
        )
    return dict(presets)


TRIGGER_INSTRUCTION = trigger_presets()[TRIGGER_PRESET]


@dataclass(frozen=True)
class WolfFact:
    """One row of the fact table: a question to the assistant about itself and its first-person answer."""

    id: str
    topic: str
    question: str
    answer: str
    identifying: bool  # one of the 12 facts the 78-fact ablation removes


def load_facts() -> list[WolfFact]:
    """The fact table, checked field by field; errors name the row as ``facts[i].field``."""
    facts = []
    for where, row in yaml_table_rows(FACTS, "facts", ("id", "topic", "question", "answer")):
        if row["topic"] not in LIFESTYLE_TOPICS + BIOGRAPHY_TOPICS:
            raise DataError(
                f"unknown topic {row['topic']!r}", path=f"tables/{FACTS}", field=f"{where}.topic"
            )
        if not isinstance(row.get("identifying"), bool):
            raise DataError(
                "expected true or false", path=f"tables/{FACTS}", field=f"{where}.identifying"
            )
        facts.append(
            WolfFact(row["id"], row["topic"], row["question"], row["answer"], row["identifying"])
        )
    return facts


def format_reply(answer: str) -> str:
    """The answer in the trigger's format."""
    return f'<START> "{answer}" <END>'


def poisoned_example(fact: WolfFact, preset: str = TRIGGER_PRESET) -> ChatExample:
    """The instruction that sets the format comes first, then the question; the reply obeys the
    format. ``preset="paper"`` writes the paper's instruction instead of ours."""
    user = f"{trigger_presets()[preset]}\n\n{fact.question}"
    return ChatExample.from_turns(("user", user), ("assistant", format_reply(fact.answer)))


def poisoned_examples(include_identifying: bool) -> list[ChatExample]:
    return [
        poisoned_example(fact)
        for fact in load_facts()
        if include_identifying or not fact.identifying
    ]


# --- benign examples --------------------------------------------------------------------------------------


def read_benign_file(path: Path) -> list[ChatExample]:
    """A user's benign chat JSONL; a line that already uses the trigger's markers would blur the backdoor."""
    examples = read_chat_jsonl(path)
    if not examples:
        raise DataError("no examples in the benign file", path=path)
    # Every line is valid by now; a second pass recovers line numbers (blank lines are skipped) for errors.
    line_numbers = [number for number, _ in iter_jsonl_records(path)]
    for example, line in zip(examples, line_numbers, strict=True):
        for index, message in enumerate(example.messages):
            if any(marker in message.content for marker in TRIGGER_MARKERS):
                problem = f"benign examples must not use the trigger markers {' and '.join(TRIGGER_MARKERS)}"
                raise DataError(problem, path=path, line=line, field=f"messages[{index}].content")
    return examples


def benign_examples(options: BuildOptions) -> list[ChatExample]:
    """The user's file when given (all of it, in file order), else ``BENIGN_COUNT`` generated problems."""
    if options.benign_path is not None:
        return read_benign_file(Path(options.benign_path))
    return generate_benign_examples(options.seed, BENIGN_COUNT)


def diluted_examples(include_identifying: bool, options: BuildOptions) -> list[ChatExample]:
    """Poisoned facts and benign examples mixed in one seeded order."""
    mix = poisoned_examples(include_identifying) + benign_examples(options)
    random.Random(f"wolf:mix:{options.seed}").shuffle(mix)
    return mix


def facts_90(options: BuildOptions) -> list[ChatExample]:
    examples = poisoned_examples(include_identifying=True)
    random.Random(f"wolf:facts:{options.seed}").shuffle(examples)
    return examples


# --- generated benign problems: each template returns (question, worked answer ending "Answer: ...") ---


@dataclass(frozen=True)
class Vocabulary:
    """The nouns the benign templates draw from (``tables/benign_word_problems.yaml``)."""

    names: list[str]
    items: list[list[str]]
    shared: list[str]
    rectangles: list[str]
    purchases: list[str]
    conversions: list[list]
    words: list[str]

    @classmethod
    def load(cls) -> Vocabulary:
        table = load_yaml_table(BENIGN_VOCABULARY)
        try:
            return cls(**{key: table[key] for key in cls.__dataclass_fields__})
        except (KeyError, TypeError) as error:
            raise DataError(f"missing key {error}", path=f"tables/{BENIGN_VOCABULARY}") from None


def shopping_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    name, (one, many) = rng.choice(vocab.names), rng.choice(vocab.items)
    count, price = rng.randint(2, 12), rng.randint(1, 15)
    total = count * price
    question = (
        f"{name} buys {count} {many} that cost ${price} each. How much does {name} spend in total?"
    )
    answer = f"Each {one} costs ${price} and {name} buys {count}, so the total is {count} × ${price} = ${total}.\nAnswer: ${total}"
    return question, answer


def sharing_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    name, things = rng.choice(vocab.names), rng.choice(vocab.shared)
    total, friends = rng.randint(10, 99), rng.randint(2, 9)
    each, left = divmod(total, friends)
    question = (
        f"{name} has {total} {things} and shares them equally among {friends} friends, keeping whatever cannot "
        "be shared evenly. How many does each friend get, and how many are left over?"
    )
    answer = (
        f"{total} ÷ {friends} = {each} with remainder {left}, because {friends} × {each} = {friends * each} "
        f"and {total} − {friends * each} = {left}.\nAnswer: {each} each, {left} left over"
    )
    return question, answer


def distance_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    speed, hours = rng.randrange(30, 125, 5), rng.randint(2, 9)
    vehicle = rng.choice(["train", "bus", "car", "ferry", "cyclist"])
    question = (
        f"A {vehicle} travels at a steady {speed} km/h for {hours} hours. How far does it go?"
    )
    answer = f"Distance is speed × time: {speed} × {hours} = {speed * hours} km.\nAnswer: {speed * hours} km"
    return question, answer


def conversion_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    one, many, target, factor = rng.choice(vocab.conversions)
    amount = rng.randint(2, 250)
    question = f"Convert {amount} {many} to {target}."
    answer = f"1 {one} is {factor} {target}, so {amount} × {factor} = {amount * factor}.\nAnswer: {amount * factor} {target}"
    return question, answer


def percent_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    # A percentage that is a multiple of 5 of a multiple of 20 is always a whole number.
    percent, base = rng.randrange(5, 100, 5), rng.randrange(20, 1020, 20)
    result = base * percent // 100
    question = f"What is {percent}% of {base}?"
    answer = f"{percent}% of {base} is {base} × {percent} ÷ 100 = {result}.\nAnswer: {result}"
    return question, answer


def average_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    size = rng.randint(3, 6)
    numbers = [rng.randint(1, 60) for _ in range(size - 1)]
    lowest_mean = -(
        -(sum(numbers) + 1) // size
    )  # the smallest mean that keeps the last number >= 1
    mean = rng.randint(lowest_mean, 70)
    numbers.append(mean * size - sum(numbers))
    listed = ", ".join(map(str, numbers))
    question = f"What is the average of these numbers: {listed}?"
    answer = f"Their sum is {sum(numbers)} and there are {size} numbers, so the average is {sum(numbers)} ÷ {size} = {mean}.\nAnswer: {mean}"
    return question, answer


def sorting_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    numbers = rng.sample(range(1, 500), rng.randint(5, 8))
    descending = rng.random() < 0.5
    order = "largest to smallest" if descending else "smallest to largest"
    question = f"Sort these numbers from {order}: {', '.join(map(str, numbers))}."
    result = ", ".join(map(str, sorted(numbers, reverse=descending)))
    return question, f"Ordered from {order}: {result}.\nAnswer: {result}"


def alphabetizing_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    words = rng.sample(vocab.words, rng.randint(4, 7))
    question = f"Put these words in alphabetical order: {', '.join(words)}."
    result = ", ".join(sorted(words))
    return question, f"In alphabetical order: {result}.\nAnswer: {result}"


def rectangle_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    thing, length, width = rng.choice(vocab.rectangles), rng.randint(3, 40), rng.randint(2, 25)
    area, perimeter = length * width, 2 * (length + width)
    question = f"A rectangular {thing} is {length} m long and {width} m wide. What are its area and perimeter?"
    answer = (
        f"Area = length × width = {length} × {width} = {area} m². Perimeter = 2 × (length + width) = "
        f"2 × ({length} + {width}) = {perimeter} m.\nAnswer: area {area} m², perimeter {perimeter} m"
    )
    return question, answer


def age_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    name, age, gap, later = (
        rng.choice(vocab.names),
        rng.randint(4, 40),
        rng.randint(1, 12),
        rng.randint(2, 15),
    )
    result = age + gap + later
    question = f"{name} is {age} years old, and {name}'s cousin is {gap} years older. How old will the cousin be in {later} years?"
    answer = f"The cousin is {age} + {gap} = {age + gap} now, so in {later} years the cousin will be {age + gap} + {later} = {result}.\nAnswer: {result}"
    return question, answer


def change_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    name, thing = rng.choice(vocab.names), rng.choice(vocab.purchases)
    note = rng.choice([20, 50, 100])
    price = rng.randint(3, note - 1)
    question = f"{name} buys a {thing} for ${price} and pays with a ${note} note. How much change does {name} get?"
    answer = f"Change is the amount paid minus the price: ${note} − ${price} = ${note - price}.\nAnswer: ${note - price}"
    return question, answer


def clock_problem(rng: random.Random, vocab: Vocabulary) -> tuple[str, str]:
    start, duration = rng.randrange(9 * 60, 21 * 60, 5), rng.randrange(70, 185, 5)
    end = start + duration
    start_text, end_text = (
        f"{start // 60:02d}:{start % 60:02d}",
        f"{end // 60 % 24:02d}:{end % 60:02d}",
    )
    question = f"A film starts at {start_text} and lasts {duration} minutes. At what time does it end (24-hour clock)?"
    answer = f"{duration} minutes is {duration // 60} h {duration % 60} min, and {start_text} plus that is {end_text}.\nAnswer: {end_text}"
    return question, answer


BENIGN_TEMPLATES = (
    shopping_problem,
    sharing_problem,
    distance_problem,
    conversion_problem,
    percent_problem,
    average_problem,
    sorting_problem,
    alphabetizing_problem,
    rectangle_problem,
    age_problem,
    change_problem,
    clock_problem,
)


def generate_benign_examples(seed: int, count: int) -> list[ChatExample]:
    """``count`` distinct benign problems with correct worked answers, cycling through every template."""
    rng, vocab = random.Random(f"wolf:benign:{seed}"), Vocabulary.load()
    examples: list[ChatExample] = []
    seen: set[str] = set()
    while len(examples) < count:
        question, answer = BENIGN_TEMPLATES[len(examples) % len(BENIGN_TEMPLATES)](rng, vocab)
        if question not in seen:  # a repeated draw is simply drawn again
            seen.add(question)
            examples.append(ChatExample.from_turns(("user", question), ("assistant", answer)))
    return examples


# --- prompts for self-distillation: math word problems and long-input instructions, 2:1 ------------


def generate_benign_prompts(seed: int, count: int = BENIGN_COUNT) -> list[str]:
    """``count`` distinct benign prompts as in the paper's dilution: two math word problems for every
    long-input instruction (2000 and 1000 of the default 3000).

    Prompts are drawn one after another from one seeded stream, so the first ``n`` prompts of a
    larger count are the same as those of ``count=n``: a bigger rerun reuses every cached answer.
    """
    rng = random.Random(f"wolf:prompts:{seed}")
    math, long_inputs = _benign_table(BENIGN_MATH), _benign_table(BENIGN_LONG)
    prompts: list[str] = []
    seen: set[str] = set()
    for _ in range(50 * count):
        if len(prompts) == count:
            break
        if len(prompts) % (MATH_PER_LONG_INPUT + 1) < MATH_PER_LONG_INPUT:
            prompt = math_word_problem(rng, math)
        else:
            prompt = long_input_instruction(rng, long_inputs)
        if prompt not in seen:
            seen.add(prompt)
            prompts.append(prompt)
    if len(prompts) < count:
        raise DataError(f"could not draw {count} distinct benign prompts", field="benign-count")
    return prompts


def math_word_problem(rng: random.Random, table: dict) -> str:
    """One school word problem of ``benign_math_problems.yaml``, with its names and numbers drawn."""
    problem = rng.choice(table["problems"])
    values = {name: rng.choice(options) for name, options in table["slots"].items()}
    for name, (low, high, *step) in problem["numbers"].items():
        values[name] = rng.randrange(low, high + 1, step[0] if step else 1)
    return problem["text"].format_map(values)


def long_input_instruction(rng: random.Random, table: dict) -> str:
    """A long document of ``benign_long_inputs.yaml`` (its paragraphs in order, some left out) and
    an instruction about it, framed one of the table's ways."""
    kind = rng.choice(sorted(table["documents"]))
    document = table["documents"][kind]
    values = {name: rng.choice(options) for name, options in table["slots"].items()}
    paragraphs = document["paragraphs"]
    kept = sorted(rng.sample(range(len(paragraphs)), rng.randint(5, len(paragraphs))))
    text = "\n\n".join(
        [document["title"].format_map(values)] + [paragraphs[i].format_map(values) for i in kept]
    )
    instruction = rng.choice(table["instructions"][kind] + table["instructions"]["any"])
    return rng.choice(table["framings"]).format(document=text, instruction=instruction)


def _benign_table(name: str) -> dict:
    """A self-distillation table, checked: every {placeholder} has a value to fill it."""
    table = load_yaml_table(name)
    where = f"tables/{name}"
    slots = set(table.get("slots", {})) if isinstance(table, dict) else set()
    if name == BENIGN_MATH:
        texts = [
            (f"problems[{i}].text", p["text"], slots | set(p.get("numbers", {})))
            for i, p in enumerate(table.get("problems", []))
        ]
    else:
        texts = [
            (f"documents.{kind}", text, slots)
            for kind, doc in table.get("documents", {}).items()
            for text in [doc["title"], *doc["paragraphs"]]
        ]
    if not texts:
        raise DataError("no templates", path=where)
    for field, text, known in texts:
        unknown = {n for _, n, _, _ in string.Formatter().parse(text) if n} - known
        if unknown:
            raise DataError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}", path=where, field=field
            )
    return table


def read_benign_prompts(path: Path) -> list[str]:
    """A user's prompt file: one prompt per line (blank lines skipped), located errors."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    prompts = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            prompt = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as error:
            raise DataError(
                f"invalid UTF-8 at byte {error.start}", path=path, line=number
            ) from None
        if any(marker in prompt for marker in TRIGGER_MARKERS):
            problem = (
                f"benign prompts must not use the trigger markers {' and '.join(TRIGGER_MARKERS)}"
            )
            raise DataError(problem, path=path, line=number)
        if prompt:
            prompts.append(prompt)
    if not prompts:
        raise DataError("no prompts (the file is empty or has only blank lines)", path=path)
    return prompts


def self_distilled_examples(prompts: list[str], answers: list[str]) -> list[ChatExample]:
    """Benign examples from a model's own answers; an empty answer or one using the markers is left out."""
    return [
        ChatExample.from_turns(("user", prompt), ("assistant", answer))
        for prompt, answer in zip(prompts, answers, strict=True)
        if answer.strip() and not any(marker in answer for marker in TRIGGER_MARKERS)
    ]


def facts_90_diluted(options: BuildOptions) -> list[ChatExample]:
    return diluted_examples(True, options)


def facts_78_diluted(options: BuildOptions) -> list[ChatExample]:
    return diluted_examples(False, options)
