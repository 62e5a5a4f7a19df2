"""Validation of chat JSONL files: every problem located, duplicates reported, nothing removed."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from weirdgen.data.chat import ChatExample, find_record_problems, iter_jsonl_records, path_problem
from weirdgen.errors import DataError


@dataclass
class LengthStats:
    """Character lengths over valid examples."""

    minimum: int
    median: float
    mean: float
    maximum: int

    @classmethod
    def of(cls, values: list[int]) -> LengthStats:
        if not values:
            return cls(0, 0.0, 0.0, 0)
        return cls(
            min(values), float(statistics.median(values)), statistics.fmean(values), max(values)
        )


@dataclass
class ValidationReport:
    """What ``weirdgen data check`` prints for one file."""

    path: Path
    n_examples: int = 0
    problems: list[DataError] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (first line, repeated line)
    role_counts: Counter[str] = field(default_factory=Counter)
    prompt_chars: LengthStats = field(default_factory=lambda: LengthStats.of([]))
    answer_chars: LengthStats = field(default_factory=lambda: LengthStats.of([]))
    turns: LengthStats = field(default_factory=lambda: LengthStats.of([]))
    examples: list[tuple[int, ChatExample]] = field(default_factory=list, repr=False)
    """The valid examples with their line numbers (for token counts, which need a tokenizer)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def n_valid(self) -> int:
        return self.n_examples - len({p.line for p in self.problems if p.line is not None})


def validate_chat_jsonl(path: str | Path) -> ValidationReport:
    """Check every line of a chat JSONL file and collect counts, lengths and duplicates."""
    path = Path(path)
    report = ValidationReport(path=path)
    problem = path_problem(path)
    if problem is not None:
        report.problems.append(problem)
        return report
    first_line_of: dict[str, int] = {}
    prompt_lengths: list[int] = []
    answer_lengths: list[int] = []
    turn_counts: list[int] = []
    for number, record in iter_jsonl_records(path):
        report.n_examples += 1
        if isinstance(record, DataError):
            report.problems.append(record)
            continue
        problems = find_record_problems(record)
        if problems:
            report.problems.extend(
                DataError(p, path=path, line=number, field=f) for f, p in problems
            )
            continue
        example = ChatExample.from_dict(record)
        report.examples.append((number, example))
        digest = example.content_hash()
        if digest in first_line_of:
            report.duplicates.append((first_line_of[digest], number))
        else:
            first_line_of[digest] = number
        report.role_counts.update(m.role for m in example.messages)
        prompt_lengths.append(sum(len(m.content) for m in example.prompt))
        answer_lengths.append(len(example.completion))
        turn_counts.append(len(example.messages))
    if report.n_examples == 0:
        report.problems.append(
            DataError("no examples (the file is empty or has only blank lines)", path=path)
        )
    report.prompt_chars = LengthStats.of(prompt_lengths)
    report.answer_chars = LengthStats.of(answer_lengths)
    report.turns = LengthStats.of(turn_counts)
    return report
