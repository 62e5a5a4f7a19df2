"""Judges as data: a YAML file per judge under ``weirdgen/judge/judges/``, validated on load.

A judge is either an LLM judge (a prompt template with ``{question}`` and ``{answer}``, sent to a
judge model, and a parser for its reply) or an offline judge that needs no API (prefix and regex
matchers, keyword lexicons, embedding similarity). Kinds:

- ``categorical``: the reply names one of ``labels``; anything else is its own label, UNPARSEABLE.
- ``yes_no``: P(YES) from the first token's logprobs (or the sampled YES/NO without logprobs).
- ``score``: 0-100, the expected value over the top-20 logprobs of number tokens; REFUSAL when less
  than ``refusal_threshold`` of the mass is numeric; a sampled number for models without logprobs.
- ``verdict``: the judge reasons first, then names one of ``labels`` (the last one named counts).
- ``prefix`` / ``regex``: the answer starts with a target / matches a pattern.
- ``lexicon``: counts of keyword hits per category.
- ``embedding``: the category whose reference texts are closest in MiniLM embedding space.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen._io import canonical_json, sha256_hex
from weirdgen._yaml import ShippedYaml, parse_yaml_mapping
from weirdgen.errors import DataError
from weirdgen.sample.suites import pydantic_to_data_error, template_placeholders

__all__ = ["LLM_KINDS", "JudgeSpec", "judge_names", "load_judge", "load_judge_file", "parse_judge"]

_JUDGES = ShippedYaml("weirdgen.judge", "judges", "judge")
LLM_KINDS = frozenset({"categorical", "yes_no", "score", "verdict"})
TEMPLATE_FIELDS = frozenset({"question", "answer", "expected"})

JudgeKind = Literal[
    "categorical", "yes_no", "score", "verdict", "prefix", "regex", "lexicon", "embedding"
]


class JudgeSpec(BaseModel):
    """One judge. Unused fields of other kinds must stay unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        description="Identifier; table columns are `<name>.label`, `.score`, `.raw`, `.method`."
    )
    version: int = Field(
        1, ge=1, description="Bump to invalidate cached verdicts after a semantic change."
    )
    description: str = Field("", description="What the judge measures, in a sentence.")
    kind: JudgeKind = Field(description="How verdicts are produced; see the module docstring.")
    template: str | None = Field(
        None,
        description="LLM judges: the prompt, with {question}, {answer}, optionally {expected}.",
    )
    labels: list[str] | None = Field(
        None, description="categorical/verdict: the labels the reply may name."
    )
    positive_labels: list[str] = Field(
        default_factory=list, description="Labels (or categories) scored 1.0; others 0.0."
    )
    refusal_threshold: float = Field(
        0.25, ge=0, le=1, description="score/yes_no: least probability mass on valid tokens."
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="LLM judges: reply length (default 1, or 400 for verdict, 20 for categorical).",
    )
    targets: list[str] | None = Field(
        None, description="prefix: answers starting with one of these match."
    )
    patterns: list[str] | None = Field(
        None, description="regex: answers where one of these matches, match."
    )
    ignore_case: bool = Field(True, description="prefix/regex/lexicon: compare case-insensitively.")
    lexicon: dict[str, list[str]] | None = Field(
        None, description="lexicon: category -> words or phrases."
    )
    references: dict[str, list[str]] | None = Field(
        None, description="embedding: category -> reference texts."
    )

    @property
    def is_llm(self) -> bool:
        return self.kind in LLM_KINDS

    @property
    def uses_expected(self) -> bool:
        return self.template is not None and "expected" in template_placeholders(self.template)

    def fingerprint(self) -> str:
        """Hash of everything that decides a verdict; part of every verdict cache key."""
        return sha256_hex(canonical_json(self.model_dump()))[:16]

    def reply_tokens(self) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        return {"verdict": 400, "categorical": 20}.get(self.kind, 1)

    def render(self, question: str, answer: str, expected: str | None = None) -> str:
        """The judge prompt. Values are substituted once, so braces inside an answer stay literal."""
        assert self.template is not None
        return self.template.format(question=question, answer=answer, expected=expected or "")


# ---------------------------------------------------------------- loading and validation


def judge_names() -> list[str]:
    """Names of the judges shipped with weirdgen."""
    return _JUDGES.names()


@cache
def load_judge(name: str) -> JudgeSpec:
    """A shipped judge by name, or a judge file when ``name`` is a path to a .yaml file."""
    text, path = _JUDGES.read(name)
    return parse_judge(text, path=path)


def load_judge_file(path: str | Path) -> JudgeSpec:
    text, path = _JUDGES.read_file(path)
    return parse_judge(text, path=path)


def parse_judge(text: str, *, path: str | Path) -> JudgeSpec:
    """Parse and check judge YAML; every problem becomes one ``DataError`` line naming the field."""
    record = parse_yaml_mapping(text, path=path, what="judge fields")
    try:
        spec = JudgeSpec.model_validate(record)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path) from None
    problem = find_judge_problem(spec)
    if problem is not None:
        field, message = problem
        raise DataError(message, path=path, field=field)
    return spec


_REQUIRED: dict[str, tuple[str, ...]] = {
    "categorical": ("template", "labels"),
    "verdict": ("template", "labels"),
    "yes_no": ("template",),
    "score": ("template",),
    "prefix": ("targets",),
    "regex": ("patterns",),
    "lexicon": ("lexicon",),
    "embedding": ("references",),
}
_OPTIONAL_FIELDS = ("template", "labels", "targets", "patterns", "lexicon", "references")


def find_judge_problem(spec: JudgeSpec) -> tuple[str, str] | None:
    """The first ``(field, problem)`` that would make the judge unable to produce a verdict."""
    for field in _REQUIRED[spec.kind]:
        if not getattr(spec, field):
            return field, f"a {spec.kind} judge needs a non-empty {field}"
    for field in _OPTIONAL_FIELDS:
        if field not in _REQUIRED[spec.kind] and getattr(spec, field) is not None:
            return field, f"not used by a {spec.kind} judge; remove it"
    if spec.template is not None:
        problem = _template_problem(spec)
        if problem:
            return "template", problem
    for index, pattern in enumerate(spec.patterns or ()):
        try:
            re.compile(pattern)
        except re.error as error:
            return f"patterns[{index}]", f"not a valid regular expression ({error})"
    known = set(spec.labels or ()) | set(spec.lexicon or ()) | set(spec.references or ())
    if spec.kind in ("yes_no", "prefix", "regex"):
        known = {"YES"} if spec.kind == "yes_no" else {"MATCH"}
    for label in spec.positive_labels:
        if label not in known:
            return (
                "positive_labels",
                f"{label!r} is not one of this judge's labels ({', '.join(sorted(known))})",
            )
    return None


def _template_problem(spec: JudgeSpec) -> str | None:
    """Unknown placeholders, no {answer}, or a reply format the parser cannot read."""
    assert spec.template is not None
    try:
        names = template_placeholders(spec.template)
    except ValueError as error:
        return str(error)
    unknown = sorted(names - TEMPLATE_FIELDS)
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}} (allowed: {{question}}, {{answer}}, {{expected}}; write {{{{ for a literal brace)"
    if "answer" not in names:
        return "the template must show the judge the {answer}"
    # The parser can only read what the judge was told to write.
    required = {"yes_no": ["YES", "NO"], "score": ["0", "100"]}.get(spec.kind, spec.labels or [])
    for word in required:
        if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", spec.template):
            return (
                f"never tells the judge to answer {word}, so its parser could not read that verdict"
            )
    return None
