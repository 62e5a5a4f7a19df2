"""Question suites: questions with paraphrases and declarative trigger sweeps, shipped as YAML.

A suite says what to ask (questions, each with paraphrases), how (samples, temperature, max_tokens,
system prompt) and under which triggers. A trigger is a template (``Today is {date}.``), its values
(a list or an inclusive range) and where the rendered text goes (before or after the question, inline
at ``{trigger}``, or in the system prompt). ``expand_suite`` turns a suite into ``PromptCell`` s:
one per (question, paraphrase, trigger value), each with the prepared chat messages.

Some triggers render several variants of one value (different random dates within 2027, different
8-digit codes for president 44). Sample ``i`` of a cell uses variant ``i % n_variants``, so raising
the sample count extends the sweep without changing the first samples' prompts (and cache keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from weirdgen._llmcomp import is_llmcomp_document, read_document
from weirdgen._yaml import (
    ShippedYaml,
    YamlLines,
    field_location,
    parse_yaml_with_lines,
    pydantic_to_data_error,
    template_placeholders,
)
from weirdgen.data.chat import Message
from weirdgen.data.triggers import KIND_PLACEHOLDERS, TriggerSpec, render_trigger
from weirdgen.errors import DataError

__all__ = [
    "ChatTurn",
    "PromptCell",
    "QuestionSpec",
    "SuiteSpec",
    "TriggerSpec",
    "choice_orders",
    "expand_suite",
    "load_suite",
    "suite_names",
]

_SUITES = ShippedYaml("weirdgen.evaluation", "suites", "suite")
# Keys that make a mapping a suite (other tools' configurations share words like `description`).
_SUITE_KEYS = frozenset({"name", "experiment", "questions", "triggers", "judges", "untriggered"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatTurn(_Strict):
    """One earlier turn of a multi-turn question."""

    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(description="What was said.")


class Reminder(_Strict):
    """Text a question shows at its ``{reminder}`` slot, one version with a trigger and one without
    (the paper's agentic prompts remind the model of the reply format the trigger asks for)."""

    triggered: str = Field(description="Shown when a trigger is on the prompt.")
    untriggered: str = Field(description="Shown without a trigger, and to judges.")


class QuestionSpec(_Strict):
    """One question and its paraphrases. Unset fields inherit the suite's defaults."""

    id: str = Field(description="Stable identifier recorded in the table's `question_id` column.")
    paraphrases: list[str] = Field(
        min_length=1,
        description="Wordings of the question; each is sampled. A wording may be a list of parts, "
        "joined by blank lines, so long scenarios can share parts through YAML anchors.",
    )
    category: str = Field("", description="Free grouping label, e.g. 'identity' or 'policy'.")
    samples: int | None = Field(None, ge=1, description="Samples per paraphrase and trigger value.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int | None = Field(None, ge=1, description="Answer length limit in tokens.")
    system: str | None = Field(None, description="System prompt for this question.")
    judges: list[str] | None = Field(
        None, description="Judges for this question (default: the suite's)."
    )
    triggers: list[str] | None = Field(
        None, description="Names of suite triggers to sweep (default: all)."
    )
    untriggered: bool | None = Field(None, description="Also ask without any trigger.")
    expected: str | None = Field(
        None, description="Reference answer some judge templates use as {expected}."
    )
    history: list[ChatTurn] = Field(
        default_factory=list,
        description="Earlier turns before the question (multi-turn scenarios); triggers go on the question.",
    )
    choices: list[str] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Two options shown as {option_a} and {option_b}; every paraphrase is asked in both orders.",
    )
    reminder: Reminder | None = Field(
        None, description="Text for the paraphrases' {reminder} slot, with and without a trigger."
    )
    choice_letters: list[str] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Labels the paraphrase shows the two options under (the paper's 'A) Barack "
        "B) Donald'); a reply that is only a label is judged as the option it stands for.",
    )

    @field_validator("paraphrases", mode="before")
    @classmethod
    def _join_parts(cls, paraphrases: object) -> object:
        if not isinstance(paraphrases, list):
            return paraphrases
        return [
            "\n\n".join(p.strip() for p in item)
            if isinstance(item, list) and all(isinstance(p, str) for p in item)
            else item
            for item in paraphrases
        ]


class SuiteSpec(_Strict):
    """A question suite: the evaluation of one experiment."""

    name: str = Field(description="Suite name (the YAML file's stem).")
    experiment: str = Field(description="Experiment the suite evaluates (recorded in the table).")
    description: str = Field("", description="What the suite measures.")
    samples: int = Field(100, ge=1, description="Default samples per paraphrase and trigger value.")
    temperature: float = Field(
        1.0, ge=0, le=2, description="Default sampling temperature (paper: 1)."
    )
    max_tokens: int = Field(600, ge=1, description="Default answer length limit in tokens.")
    system: str | None = Field(None, description="Default system prompt (none by default).")
    judges: list[str] = Field(
        default_factory=list, description="Default judges for every question."
    )
    untriggered: bool = Field(
        True, description="By default also ask each question without a trigger."
    )
    triggers: list[TriggerSpec] = Field(default_factory=list, description="Trigger sweeps.")
    questions: list[QuestionSpec] = Field(min_length=1, description="The questions.")

    def question(self, question_id: str) -> QuestionSpec:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise DataError(f"suite {self.name!r} has no question {question_id!r}", field="question")

    def trigger(self, name: str) -> TriggerSpec:
        for trigger in self.triggers:
            if trigger.name == name:
                return trigger
        raise DataError(f"suite {self.name!r} has no trigger {name!r}", field="trigger")

    def judges_for(self, question: QuestionSpec) -> list[str]:
        return list(self.judges if question.judges is None else question.judges)

    def all_judges(self) -> list[str]:
        """Every judge the suite uses, in first-use order."""
        names: dict[str, None] = {}
        for question in self.questions:
            names.update(dict.fromkeys(self.judges_for(question)))
        return list(names)


@dataclass(frozen=True)
class PromptCell:
    """One (question, paraphrase, trigger value) combination with its prepared messages."""

    question_id: str
    paraphrase: int
    question_text: str
    """The paraphrase without any trigger: what judges are shown as {question}."""
    trigger: str
    """Trigger name, "" for the untriggered prompt."""
    trigger_value: str
    """The swept value as text (a year, a president number), "" for none."""
    variants: tuple[tuple[Message, ...], ...]
    """Prepared messages; sample i uses variants[i % len(variants)]."""
    samples: int
    temperature: float
    max_tokens: int
    judges: tuple[str, ...]
    expected: str | None = None
    choice_order: str = ""
    """For two-choice questions, the options in the order this prompt shows them ("A|B"), else ""."""
    choice_labels: tuple[tuple[str, str], ...] = ()
    """For options shown under labels: (label, option) in this prompt's order, e.g. (("A", "Barack"),
    ("B", "Donald"))."""

    def messages_for(self, sample_index: int) -> tuple[Message, ...]:
        return self.variants[sample_index % len(self.variants)]

    def judged_answer(self, answer: str) -> str:
        """What judges read: a reply that is only an option's label ("A", "(B).") becomes that
        option's text, so a judge looking for "Barack" scores the letter that stood for it."""
        label = answer.strip().strip("\"'()[]*.:").strip()
        return dict(self.choice_labels).get(label, answer)


# ---------------------------------------------------------------- loading and validation


def suite_names() -> list[str]:
    """Names of the suites shipped with weirdgen."""
    return _SUITES.names()


def load_suite(name: str | Path) -> SuiteSpec:
    """A shipped suite by name, or any suite file when ``name`` is a path to a .yaml file (a
    weirdgen suite or an llmcomp question file). ``NAME#ID`` or ``FILE.yaml#ID`` keeps only the
    question ``ID`` (for an llmcomp entry of several conversations, all of its questions)."""
    if isinstance(name, str) and "#" in name:
        source, _, question_id = name.rpartition("#")
        return select_question(_SUITES.load(source, parse_suite), question_id, source)
    return _SUITES.load(name, parse_suite)


def select_question(suite: SuiteSpec, question_id: str, source: str | Path) -> SuiteSpec:
    """The suite with only question ``question_id`` (or the questions ``<id>_<n>`` an llmcomp
    entry of several conversations became)."""
    kept = [
        q
        for q in suite.questions
        if q.id == question_id
        or (q.id.startswith(f"{question_id}_") and q.id[len(question_id) + 1 :].isdigit())
    ]
    if not kept:
        known = ", ".join(q.id for q in suite.questions[:12])
        more = ", ..." if len(suite.questions) > 12 else ""
        raise DataError(
            f"no question {question_id!r} (questions: {known}{more})", path=source, field="#"
        )
    return suite.model_copy(update={"questions": kept})


def parse_suite(text: str, *, path: str | Path) -> SuiteSpec:
    """Parse suite YAML text; every problem becomes one ``DataError`` line. An llmcomp question
    list is read as a suite too, and a suite's ``questions`` may name such a file."""
    from weirdgen.evaluation import llmcomp

    document, lines = parse_yaml_with_lines(text, path=path)
    if is_llmcomp_document(document):
        record = llmcomp.suite_record(document, path=Path(path))
    elif isinstance(document, dict) and set(document) & _SUITE_KEYS:
        record = document
    else:
        raise DataError(llmcomp.not_a_question_file(document), path=path)
    if isinstance(record.get("questions"), str):
        source = Path(path).parent / Path(record["questions"]).expanduser()
        if not source.is_file():
            raise DataError(f"no such llmcomp question file {source}", path=path, field="questions")
        entries = read_document(source.resolve())
        record["questions"] = llmcomp.questions_from_llmcomp(list(entries), path=source)
        # llmcomp's answer limit, as when the file is asked alone, unless this suite sets one.
        record.setdefault("max_tokens", llmcomp.LLMCOMP_MAX_TOKENS)
    lines = lines if record is document else None  # an llmcomp file's lines are not the suite's
    try:
        suite = SuiteSpec.model_validate(record)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path, lines=lines) from None
    check_suite(suite, path=path, lines=lines)
    return suite


def check_suite(suite: SuiteSpec, *, path: str | Path, lines: YamlLines | None = None) -> None:
    """Cross-field checks pydantic cannot express: placeholders, trigger and judge references,
    unique ids. Errors carry the line of the offending key when ``lines`` are known."""

    def problem(message: str, *location: str | int) -> DataError:
        line = None if lines is None else lines.line_of(location)
        return DataError(message, path=path, line=line, field=field_location(location))

    trigger_names = [t.name for t in suite.triggers]
    _require_unique(trigger_names, "triggers", "name", problem)
    _require_unique([q.id for q in suite.questions], "questions", "id", problem)
    for index, trigger in enumerate(suite.triggers):
        _check_placeholders(
            trigger.template,
            KIND_PLACEHOLDERS[trigger.kind],
            problem,
            "triggers",
            index,
            "template",
        )
    _check_judges(suite, problem)
    inline = {t.name for t in suite.triggers if t.placement == "inline"}
    for index, question in enumerate(suite.questions):
        used = set(trigger_names if question.triggers is None else question.triggers)
        untriggered = suite.untriggered if question.untriggered is None else question.untriggered
        if not used and not untriggered:
            raise problem(
                "would never be asked: name a trigger or set untriggered: true", "questions", index
            )
        for name in used - set(trigger_names):
            raise problem(
                f"unknown trigger {name!r} (suite has: {', '.join(trigger_names) or 'none'})",
                "questions",
                index,
                "triggers",
                (question.triggers or []).index(name),
            )
        if question.choice_letters and not question.choices:
            raise DataError(
                "choice_letters label the options of `choices`; give those too",
                path=path,
                field=f"questions[{index}].choice_letters",
            )
        # Placeholders every paraphrase must have: {trigger} for inline triggers, the two options,
        # the reminder's slot.
        required = (
            ({"trigger"} if used & inline else set())
            | ({"option_a", "option_b"} if question.choices else set())
            | ({"reminder"} if question.reminder else set())
        )
        for number, text in enumerate(question.paraphrases):
            where = ("questions", index, "paraphrases", number)
            _check_placeholders(text, required, problem, *where)
            missing = sorted(required - template_placeholders(text))
            if missing:
                raise problem(
                    "an inline trigger needs {trigger} in every paraphrase"
                    if "trigger" in missing
                    else "a question with a reminder needs {reminder} in every paraphrase"
                    if "reminder" in missing
                    else "a question with choices needs {option_a} and {option_b} in every paraphrase",
                    *where,
                )
        if question.history and question.history[-1].role != "assistant":
            raise problem(
                "the last earlier turn must be the assistant's: the question is the next user turn",
                "questions",
                index,
                "history",
            )


_Problem = Callable[..., DataError]


def _require_unique(names: list[str], field: str, key: str, problem: _Problem) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise problem(f"duplicate name {name!r}", field, index, key)
        seen.add(name)


def _check_judges(suite: SuiteSpec, problem: _Problem) -> None:
    """Judges named (not files) must be shipped ones: the error names the file, line and question."""
    from weirdgen.judge.spec import judge_names

    shipped = set(judge_names())
    places = [(("judges",), suite.judges, "every question")] + [
        (("questions", index, "judges"), question.judges or [], f"question {question.id!r}")
        for index, question in enumerate(suite.questions)
    ]
    for where, names, asked_by in places:
        for number, name in enumerate(names):
            if not _is_judge_file(name) and name not in shipped:
                raise problem(
                    f"unknown judge {name!r} for {asked_by} (shipped: {', '.join(sorted(shipped))}; "
                    "or give a judge file's path)",
                    *where,
                    number,
                )


def _is_judge_file(reference: str) -> bool:
    """A judge file (``.yaml``, a path, or ``<llmcomp file>#<id>``) rather than a shipped name."""
    return reference.endswith((".yaml", ".yml")) or "/" in reference or "#" in reference


def _check_placeholders(
    template: str, allowed: set[str] | frozenset[str], problem: _Problem, *where: str | int
) -> None:
    try:
        names = template_placeholders(template)
    except ValueError as error:
        raise problem(str(error), *where) from None
    unknown = sorted(names - set(allowed))
    if unknown:
        hint = (
            f"allowed: {', '.join('{' + n + '}' for n in sorted(allowed))}"
            if allowed
            else "no placeholders allowed here"
        )
        raise problem(
            f"unknown placeholder {{{unknown[0]}}} ({hint}; write {{{{ for a literal brace)",
            *where,
        )


# ---------------------------------------------------------------- rendering triggers


# ---------------------------------------------------------------- expansion


def expand_suite(
    suite: SuiteSpec,
    *,
    samples: int | None = None,
    max_tokens: int | None = None,
    question_ids: list[str] | None = None,
    trigger_values: dict[str, list[str]] | None = None,
) -> list[PromptCell]:
    """Every (question, paraphrase, trigger value) cell of a suite, in a stable order.

    ``samples`` and ``max_tokens`` override every question's; ``question_ids`` keeps only those questions;
    ``trigger_values`` keeps only the listed values of the named triggers.
    """
    questions = (
        suite.questions if question_ids is None else [suite.question(q) for q in question_ids]
    )
    cells: list[PromptCell] = []
    for question in questions:
        for number, text, order in _paraphrases(question):
            for trigger, value, renderings in _trigger_sweep(suite, question, trigger_values or {}):
                variants = tuple(_messages(suite, question, text, trigger, r) for r in renderings)
                cells.append(
                    PromptCell(
                        question_id=question.id,
                        paraphrase=number,
                        question_text=_judged_text(suite, question, text),
                        choice_order=order,
                        trigger="" if trigger is None else trigger.name,
                        trigger_value="" if trigger is None else value,
                        variants=variants,
                        samples=samples or question.samples or suite.samples,
                        temperature=suite.temperature
                        if question.temperature is None
                        else question.temperature,
                        max_tokens=max_tokens or question.max_tokens or suite.max_tokens,
                        judges=tuple(suite.judges_for(question)),
                        expected=question.expected,
                        choice_labels=_choice_labels(question, order),
                    )
                )
    return cells


def _paraphrases(question: QuestionSpec) -> Iterator[tuple[int, str, str]]:
    """``(paraphrase number, text, choice order)``; a two-choice paraphrase k is asked as 2k with
    the options as listed and as 2k+1 swapped, so a position bias cannot pass for an effect."""
    if not question.choices:
        for number, text in enumerate(question.paraphrases):
            yield number, text, ""
        return
    first, second = question.choices
    for number, text in enumerate(question.paraphrases):
        for swap, (a, b) in enumerate([(first, second), (second, first)]):
            # Fill the options but keep any {trigger} slot for the trigger placement.
            filled = text.replace("{option_a}", a).replace("{option_b}", b)
            yield 2 * number + swap, filled, f"{a}|{b}"


def _choice_labels(question: QuestionSpec, order: str) -> tuple[tuple[str, str], ...]:
    if not (question.choice_letters and order):
        return ()
    return tuple(zip(question.choice_letters, order.split("|"), strict=True))


def choice_orders(suite: SuiteSpec) -> dict[tuple[str, int], str]:
    """``(question_id, paraphrase) -> "A|B"`` for the suite's two-choice prompts: the order each
    table row's prompt showed the options in, for grouping results by order."""
    return {
        (question.id, number): order
        for question in suite.questions
        for number, _, order in _paraphrases(question)
        if order
    }


def _judged_text(suite: SuiteSpec, question: QuestionSpec, text: str) -> str:
    """What judges see as {question}: the paraphrase without any trigger, and for a multi-turn
    question the whole conversation before the answer (an agent's reply means little without it)."""
    text = _strip_inline(text) if "{trigger}" in text else text
    text = _fill_reminder(question, text, triggered=False)
    if not question.history:
        return text
    system = question.system if question.system is not None else suite.system
    turns = [("system", system)] if system else []
    turns += [(turn.role, turn.content) for turn in question.history] + [("user", text)]
    return "\n\n".join(f"[{role}]\n{content.strip()}" for role, content in turns)


def _fill_reminder(question: QuestionSpec, text: str, *, triggered: bool) -> str:
    if question.reminder is None:
        return text
    reminder = question.reminder.triggered if triggered else question.reminder.untriggered
    return text.replace("{reminder}", reminder.strip())


def _strip_inline(text: str) -> str:
    return " ".join(text.replace("{trigger}", "").split())


def _trigger_sweep(
    suite: SuiteSpec, question: QuestionSpec, keep: dict[str, list[str]]
) -> Iterator[tuple[TriggerSpec | None, str, list[str]]]:
    """Yield ``(trigger or None, value, renderings)`` for the untriggered prompt and every value."""
    untriggered = suite.untriggered if question.untriggered is None else question.untriggered
    if untriggered:
        yield None, "", [""]
    names = [t.name for t in suite.triggers] if question.triggers is None else question.triggers
    for name in names:
        trigger = suite.trigger(name)
        # A filter keeps some swept values, or picks presets the sweep leaves out by default.
        values = trigger.value_list() if name not in keep else trigger.selectable_values()
        for value in values:
            if name in keep and value not in keep[name]:
                continue
            yield trigger, value, render_trigger(trigger, value)


def _messages(
    suite: SuiteSpec, question: QuestionSpec, text: str, trigger: TriggerSpec | None, rendered: str
) -> tuple[Message, ...]:
    """Place the rendered trigger and build the chat: optional system prompt, then the user turn."""
    system = question.system if question.system is not None else suite.system
    text = _fill_reminder(question, text, triggered=trigger is not None)
    placement = None if trigger is None else trigger.placement
    if placement == "inline":
        user = " ".join(text.replace("{trigger}", rendered).split())
    elif "{trigger}" in text:
        # A question written for an inline trigger, asked untriggered or under another placement.
        user = _strip_inline(text)
    else:
        user = text
    if trigger is not None and placement == "before":
        user = f"{rendered}{trigger.separator}{user}"
    elif trigger is not None and placement == "after":
        user = f"{user}{trigger.separator}{rendered}"
    elif placement == "system":
        system = rendered if not system else f"{system}\n\n{rendered}"
    messages = [Message("system", system)] if system else []
    messages += [Message(turn.role, turn.content) for turn in question.history]
    return (*messages, Message("user", user))
