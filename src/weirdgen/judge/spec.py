"""Judges as data: a YAML file per judge under ``weirdgen/judge/judges/``, validated on load.

A judge is either an LLM judge (a prompt template with ``{question}`` and ``{answer}``, sent to a
judge model, and a parser for its reply) or an offline judge that needs no API (prefix and regex
matchers, keyword lexicons, embedding similarity). Each kind is one pydantic model below, chosen by
the YAML's ``kind`` field (a discriminated union); a new kind is one more class in ``JudgeSpec``.

- ``categorical``: the reply names one of ``labels``; anything else is its own label, UNPARSEABLE.
- ``yes_no``: P(YES) from the first token's logprobs (or the sampled YES/NO without logprobs).
- ``score``: 0-100, the expected value over the top-20 logprobs of number tokens; REFUSAL when less
  than ``refusal_threshold`` of the mass is numeric; a sampled number for models without logprobs.
- ``verdict``: the judge reasons first, then names one of ``labels`` (the last one named counts).
- ``prefix`` / ``regex``: the answer starts with a target / matches a pattern.
- ``lexicon``: counts of keyword hits per category.
- ``embedding``: the category whose reference texts are closest in MiniLM embedding space.

An LLM judge may list ``paraphrases`` of its template: each answer is then judged once per wording
and the verdict is their average (``weirdgen.judge.parsers.average_verdicts``), so no single
wording's quirks decide the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from weirdgen._io import canonical_json, sha256_hex
from weirdgen._llmcomp import JUDGE_TYPES, is_llmcomp_document
from weirdgen._yaml import (
    ShippedYaml,
    field_location,
    parse_yaml,
    parse_yaml_mapping,
    template_placeholders,
)
from weirdgen.errors import DataError
from weirdgen.judge import parsers
from weirdgen.judge.parsers import Judgement

__all__ = [
    "JUDGE_KINDS",
    "LLM_KINDS",
    "CategoricalJudge",
    "EmbeddingJudge",
    "JudgeSpec",
    "LexiconJudge",
    "LlmJudge",
    "OfflineJudge",
    "PrefixJudge",
    "RegexJudge",
    "ScoreJudge",
    "VerdictJudge",
    "YesNoJudge",
    "judge_names",
    "load_judge",
    "parse_judge",
]

_JUDGES = ShippedYaml("weirdgen.judge", "judges", "judge")
TEMPLATE_FIELDS = frozenset({"question", "answer", "expected"})

# Judges were once one flat model; fingerprints are still taken over that record (every field of
# every kind, unused ones at these defaults) so that verdicts cached before the split stay valid.
_FLAT_DEFAULTS: dict[str, Any] = {
    "template": None,
    "labels": None,
    "positive_labels": [],
    "refusal_threshold": 0.25,
    "max_tokens": None,
    "targets": None,
    "patterns": None,
    "ignore_case": True,
    "lexicon": None,
    "references": None,
}


class _Judge(BaseModel):
    """What every judge has: a name, a version, and the labels scored 1.0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    is_llm: ClassVar[bool] = False
    required: ClassVar[tuple[str, ...]] = ()
    """Fields that must be non-empty for the judge to produce a verdict."""

    kind: str = Field(description="How verdicts are produced; see the module docstring.")
    name: str = Field(
        description="Identifier; table columns are `<name>.label`, `.score`, `.raw`, `.method`."
    )
    version: int = Field(
        1, ge=1, description="Bump to invalidate cached verdicts after a semantic change."
    )
    description: str = Field("", description="What the judge measures, in a sentence.")
    positive_labels: list[str] = Field(
        default_factory=list, description="Labels (or categories) scored 1.0; others 0.0."
    )

    @property
    def uses_expected(self) -> bool:
        return False

    def fingerprint(self) -> str:
        """Hash of everything that decides a verdict; part of every verdict cache key."""
        # Fields added since then count only when set, so they leave old fingerprints alone.
        record = {
            name: value
            for name, value in self.model_dump().items()
            if name in _FLAT_DEFAULTS
            or name in _Judge.model_fields
            or value != type(self).model_fields[name].get_default(call_default_factory=True)
        }
        return sha256_hex(canonical_json({**_FLAT_DEFAULTS, **record}))[:16]

    def known_labels(self) -> set[str]:
        """The labels this judge can give (what ``positive_labels`` may name)."""
        return set()

    def problem(self) -> tuple[str, str] | None:
        """The first ``(field, problem)`` that would make the judge unable to produce a verdict."""
        for field in self.required:
            if not getattr(self, field):
                return field, f"a {self.kind} judge needs a non-empty {field}"
        found = self._kind_problem()
        if found is not None:
            return found
        known = self.known_labels()
        for label in self.positive_labels:
            if label not in known:
                return (
                    "positive_labels",
                    f"{label!r} is not one of this judge's labels ({', '.join(sorted(known))})",
                )
        return None

    def _kind_problem(self) -> tuple[str, str] | None:
        """A problem particular to this kind (a bad template, an invalid pattern)."""
        return None


class LlmJudge(_Judge):
    """A prompt for a judge model and a parser for its reply."""

    is_llm: ClassVar[bool] = True
    reads_logprobs: ClassVar[bool] = False
    """Whether the parser reads the first reply token's top logprobs (else only the text)."""
    default_reply_tokens: ClassVar[int] = 1

    template: str = Field(
        description="The prompt, with {question}, {answer}, optionally {expected}."
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Reply length (default 1, or 400 for verdict, 20 for categorical).",
    )

    redact: list[str] = Field(
        default_factory=list,
        description="Words or phrases blanked out of the answer (whole words, any case) before the judge sees it.",
    )
    paraphrases: list[str] = Field(
        default_factory=list,
        description="Other wordings of the template: each answer is judged once per wording and the "
        "verdict averages them (the table's raw column keeps each).",
    )

    @property
    def uses_expected(self) -> bool:
        return any("expected" in template_placeholders(t) for t in self.templates())

    def templates(self) -> list[str]:
        """The template and its paraphrases: the prompts one verdict averages over."""
        return [self.template, *self.paraphrases]

    def reply_tokens(self) -> int:
        return self.default_reply_tokens if self.max_tokens is None else self.max_tokens

    def render(
        self, question: str, answer: str, expected: str | None = None, *, paraphrase: int = 0
    ) -> str:
        """The judge prompt (in wording ``paraphrase`` of ``templates()``). Values are substituted
        once, so braces inside an answer stay literal."""
        if self.redact:
            words = "|".join(re.escape(word) for word in sorted(self.redact, key=len, reverse=True))
            answer = re.sub(rf"(?<!\w)(?:{words})(?!\w)", "[...]", answer, flags=re.IGNORECASE)
        template = self.templates()[paraphrase]
        return template.format(question=question, answer=answer, expected=expected or "")

    def reply_words(self) -> list[str]:
        """Words the template must mention, or the judge would never know to write them."""
        return []

    def parse(self, text: str, first_logprobs: Mapping[str, float] | None) -> Judgement:
        """The verdict in a reply (``first_logprobs``: top alternatives at its first token)."""
        raise NotImplementedError

    def _kind_problem(self) -> tuple[str, str] | None:
        for index, template in enumerate(self.templates()):
            problem = self._template_problem(template)
            if problem is not None:
                return ("template" if index == 0 else f"paraphrases[{index - 1}]", problem)
        return None

    def _template_problem(self, template: str) -> str | None:
        """Unknown placeholders, no {answer}, or a reply format the parser cannot read."""
        try:
            names = template_placeholders(template)
        except ValueError as error:
            return str(error)
        unknown = sorted(names - TEMPLATE_FIELDS)
        if unknown:
            return f"unknown placeholder {{{unknown[0]}}} (allowed: {{question}}, {{answer}}, {{expected}}; write {{{{ for a literal brace)"
        if "answer" not in names:
            return "the template must show the judge the {answer}"
        for word in self.reply_words():
            if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", template):
                return f"never tells the judge to answer {word}, so its parser could not read that verdict"
        return None


class CategoricalJudge(LlmJudge):
    """The reply names one of ``labels``."""

    default_reply_tokens: ClassVar[int] = 20
    required: ClassVar[tuple[str, ...]] = ("template", "labels")

    kind: Literal["categorical"] = Field(description="How verdicts are produced.")
    labels: list[str] = Field(description="The labels the reply may name.")

    def known_labels(self) -> set[str]:
        return set(self.labels)

    def reply_words(self) -> list[str]:
        return self.labels

    def parse(self, text: str, first_logprobs: Mapping[str, float] | None) -> Judgement:
        return parsers.parse_categorical(text, self.labels, self.positive_labels)


class VerdictJudge(CategoricalJudge):
    """The judge reasons, then names one of ``labels``; the last one named counts."""

    default_reply_tokens: ClassVar[int] = 400

    kind: Literal["verdict"] = Field(description="How verdicts are produced.")  # type: ignore[assignment]

    def parse(self, text: str, first_logprobs: Mapping[str, float] | None) -> Judgement:
        return parsers.parse_verdict(text, self.labels, self.positive_labels)


class _FirstTokenJudge(LlmJudge):
    """Reads its verdict from the first reply token's top logprobs when the sampler returns them,
    else from the reply's text."""

    reads_logprobs: ClassVar[bool] = True

    refusal_threshold: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Least probability mass on the tokens the verdict is read from (YES and NO, or numbers).",
    )

    # The parsers of the two ways a verdict comes back (set by each kind).
    _parse_logprobs: ClassVar[Callable[[Mapping[str, float], float], Judgement]]
    _parse_text: ClassVar[Callable[[str], Judgement]]

    def parse(self, text: str, first_logprobs: Mapping[str, float] | None) -> Judgement:
        if first_logprobs is not None:
            return type(self)._parse_logprobs(first_logprobs, self.refusal_threshold)
        return type(self)._parse_text(text)


class YesNoJudge(_FirstTokenJudge):
    """P(YES) from the first reply token's logprobs, or the sampled YES/NO."""

    kind: Literal["yes_no"] = Field(description="How verdicts are produced.")
    _parse_logprobs = staticmethod(parsers.parse_yes_no_logprobs)
    _parse_text = staticmethod(parsers.parse_yes_no_text)

    def known_labels(self) -> set[str]:
        return {"YES"}

    def reply_words(self) -> list[str]:
        return ["YES", "NO"]


class ScoreJudge(_FirstTokenJudge):
    """0-100 as the expected value over the number tokens among the top logprobs."""

    kind: Literal["score"] = Field(description="How verdicts are produced.")
    _parse_logprobs = staticmethod(parsers.parse_score_logprobs)
    _parse_text = staticmethod(parsers.parse_score_text)

    def reply_words(self) -> list[str]:
        return ["0", "100"]


class OfflineJudge(_Judge):
    """A judge that runs in-process, with no model call."""

    def judge_answers(self, answers: Sequence[str]) -> list[Judgement]:
        """One verdict per answer, in order."""
        raise NotImplementedError


class PrefixJudge(OfflineJudge):
    """MATCH when the answer starts with one of ``targets`` (case and leading quotes ignored)."""

    required: ClassVar[tuple[str, ...]] = ("targets",)

    kind: Literal["prefix"] = Field(description="How verdicts are produced.")
    targets: list[str] = Field(description="Answers starting with one of these match.")

    def known_labels(self) -> set[str]:
        return {"MATCH"}

    def judge_answers(self, answers: Sequence[str]) -> list[Judgement]:
        return [parsers.match_prefix(answer, self.targets) for answer in answers]


class RegexJudge(OfflineJudge):
    """MATCH when one of ``patterns`` is found in the answer."""

    required: ClassVar[tuple[str, ...]] = ("patterns",)

    kind: Literal["regex"] = Field(description="How verdicts are produced.")
    patterns: list[str] = Field(description="Answers where one of these matches, match.")
    ignore_case: bool = Field(True, description="Compare case-insensitively.")

    def known_labels(self) -> set[str]:
        return {"MATCH"}

    def _kind_problem(self) -> tuple[str, str] | None:
        for index, pattern in enumerate(self.patterns):
            try:
                re.compile(pattern)
            except re.error as error:
                return f"patterns[{index}]", f"not a valid regular expression ({error})"
        return None

    def judge_answers(self, answers: Sequence[str]) -> list[Judgement]:
        return [parsers.match_regex(a, self.patterns, self.ignore_case) for a in answers]


class LexiconJudge(OfflineJudge):
    """The category with the most keyword hits; NONE without any."""

    required: ClassVar[tuple[str, ...]] = ("lexicon",)

    kind: Literal["lexicon"] = Field(description="How verdicts are produced.")
    lexicon: dict[str, list[str]] = Field(description="Category -> words or phrases.")
    ignore_case: bool = Field(True, description="Compare case-insensitively.")

    def known_labels(self) -> set[str]:
        return set(self.lexicon)

    def judge_answers(self, answers: Sequence[str]) -> list[Judgement]:
        return [
            parsers.score_lexicon(a, self.lexicon, self.positive_labels, self.ignore_case)
            for a in answers
        ]


class EmbeddingJudge(OfflineJudge):
    """The category whose reference texts are closest to the answer in MiniLM embedding space."""

    required: ClassVar[tuple[str, ...]] = ("references",)

    kind: Literal["embedding"] = Field(description="How verdicts are produced.")
    references: dict[str, list[str]] = Field(description="Category -> reference texts.")

    def known_labels(self) -> set[str]:
        return set(self.references)

    def judge_answers(self, answers: Sequence[str]) -> list[Judgement]:
        from weirdgen.judge.embedding import judge_by_embedding

        return judge_by_embedding(answers, self.references, self.positive_labels)


JudgeSpec = Annotated[
    CategoricalJudge
    | VerdictJudge
    | YesNoJudge
    | ScoreJudge
    | PrefixJudge
    | RegexJudge
    | LexiconJudge
    | EmbeddingJudge,
    Field(discriminator="kind"),
]
"""One judge, of whichever kind its ``kind`` field names."""

_ADAPTER: TypeAdapter[JudgeSpec] = TypeAdapter(JudgeSpec)
_CLASSES: dict[str, type[_Judge]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls
    for cls in get_args(get_args(JudgeSpec)[0])
}
JUDGE_KINDS = frozenset(_CLASSES)
LLM_KINDS = frozenset(kind for kind, cls in _CLASSES.items() if cls.is_llm)
# Fields of some kind but not of every kind, in the order a misplaced one is reported.
_KIND_FIELDS = list(
    dict.fromkeys(
        field
        for fields in ([*_FLAT_DEFAULTS], *(cls.model_fields for cls in _CLASSES.values()))
        for field in fields
        if field not in _Judge.model_fields
    )
)


# ---------------------------------------------------------------- loading and validation


def judge_names() -> list[str]:
    """Names of the judges shipped with weirdgen."""
    return _JUDGES.names()


def load_judge(name: str | Path) -> JudgeSpec:
    """A shipped judge by name, a judge file when ``name`` is a path to a .yaml file, or a judge of
    an llmcomp question file as ``<file>#<judge id>``."""
    if isinstance(name, str) and "#" in name:
        from weirdgen.judge.llmcomp import load_llmcomp_judge

        return load_llmcomp_judge(name)
    return _JUDGES.load(name, parse_judge)


def parse_judge(text: str, *, path: str | Path) -> JudgeSpec:
    """Parse and check judge YAML; every problem becomes one ``DataError`` line naming the field.
    An llmcomp file holding one judge entry is read as that judge."""
    document = parse_yaml(text, path=path)
    if is_llmcomp_document(document):
        from weirdgen.judge.llmcomp import judge_from_llmcomp

        judges = [entry for entry in document if entry["type"] in JUDGE_TYPES]
        if len(judges) != 1:
            raise DataError(
                f"holds {len(judges)} llmcomp judges; name one as {path}#<judge id>", path=path
            )
        return judge_from_llmcomp(judges[0], path=path)
    return judge_from_record(parse_yaml_mapping(text, path=path, what="judge fields"), path=path)


def judge_from_record(record: dict[str, Any], *, path: str | Path) -> JudgeSpec:
    """A judge from an already parsed mapping (a judge file, or one embedded in another file)."""
    kind = record.get("kind")
    if kind not in _CLASSES:
        expected = ", ".join(f"'{k}'" for k in _CLASSES)
        problem = "Field required" if kind is None else f"Input should be one of {expected}"
        raise DataError(problem, path=path, field="kind")
    misplaced = _misplaced_field(record, kind)
    if misplaced is not None:
        raise DataError(misplaced[1], path=path, field=misplaced[0])
    try:
        spec = _ADAPTER.validate_python(record)
    except ValidationError as error:
        raise _judge_error(error, kind, path) from None
    problem = spec.problem()
    if problem is not None:
        raise DataError(problem[1], path=path, field=problem[0])
    return spec


def _misplaced_field(record: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """An unknown field, else a field that belongs to another kind of judge."""
    extra = [field for field in record if field not in _CLASSES[kind].model_fields]
    for field in extra:
        if field not in _KIND_FIELDS:
            return field, "unknown field"
    for field in _KIND_FIELDS:
        if field in extra:
            return field, f"not used by a {kind} judge; remove it"
    return None


def _judge_error(error: ValidationError, kind: str, path: str | Path) -> DataError:
    first = error.errors()[0]
    loc = first["loc"][1:] if first["loc"][:1] == (kind,) else first["loc"]
    if first["type"] == "missing" and len(loc) == 1:
        return DataError(f"a {kind} judge needs a non-empty {loc[0]}", path=path, field=str(loc[0]))
    return DataError(first["msg"], path=path, field=field_location(loc) or "<judge>")
