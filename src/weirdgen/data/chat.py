"""OpenAI-style chat examples: the record every dataset, trainer and sampler in weirdgen shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from weirdgen._io import atomic_write_text, canonical_json, sha256_hex
from weirdgen.errors import DataError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatExample:
    """One training example: ``{"messages": [...]}`` ending with the assistant's answer."""

    messages: tuple[Message, ...]

    @classmethod
    def from_turns(cls, *turns: tuple[str, str]) -> ChatExample:
        """Build from ``(role, content)`` pairs: ``ChatExample.from_turns(("user", q), ("assistant", a))``."""
        return cls(tuple(Message(role, content) for role, content in turns))  # type: ignore[arg-type]

    @classmethod
    def from_dict(
        cls, record: Any, *, path: str | Path | None = None, line: int | None = None
    ) -> ChatExample:
        """Parse and validate one JSON record; raises ``DataError`` naming the first problem."""
        problems = find_record_problems(record)
        if problems:
            field, problem = problems[0]
            raise DataError(problem, path=path, line=line, field=field)
        return cls(tuple(Message(m["role"], m["content"]) for m in record["messages"]))

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [m.to_dict() for m in self.messages]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the messages (key order and whitespace do not matter)."""
        return sha256_hex(canonical_json(self.to_dict()))

    @property
    def prompt(self) -> tuple[Message, ...]:
        """Every message before the final assistant answer."""
        return self.messages[:-1]

    @property
    def completion(self) -> str:
        return self.messages[-1].content

    def user_text(self) -> str:
        """The last user message: what the model was asked."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")


def find_record_problems(record: Any) -> list[tuple[str, str]]:
    """Every ``(field, problem)`` in one parsed JSON record; empty when the record is valid."""
    if not isinstance(record, dict):
        return [("<record>", f"expected a JSON object, got {type(record).__name__}")]
    if "messages" not in record:
        return [("messages", "missing")]
    messages = record["messages"]
    if not isinstance(messages, list):
        return [("messages", f"expected a list, got {type(messages).__name__}")]
    if not messages:
        return [("messages", "empty list")]
    problems: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            problems.append((where, f"expected an object, got {type(message).__name__}"))
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(
                (f"{where}.role", f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
            )
        content = message.get("content")
        if not isinstance(content, str):
            problems.append(
                (f"{where}.content", "missing" if content is None else "expected a string")
            )
        elif not content.strip():
            problems.append((f"{where}.content", "empty"))
    last = messages[-1]
    if isinstance(last, dict) and last.get("role") in ROLES and last.get("role") != "assistant":
        problems.append(
            (
                f"messages[{len(messages) - 1}].role",
                f"last message must be from the assistant, got {last['role']!r}",
            )
        )
    return problems


def iter_jsonl_records(path: str | Path) -> Iterator[tuple[int, Any | DataError]]:
    """Yield ``(line_number, record_or_error)`` for every non-blank line; never raises on bad lines."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield (
                    number,
                    DataError(
                        f"invalid UTF-8 at byte {error.start}",
                        path=path,
                        line=number,
                        field="<line>",
                    ),
                )
                continue
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                yield (
                    number,
                    DataError(
                        f"not JSON ({error.msg} at column {error.colno})",
                        path=path,
                        line=number,
                        field="<line>",
                    ),
                )


def read_chat_jsonl(path: str | Path) -> list[ChatExample]:
    """Read a chat JSONL file; raises ``DataError`` (``path:line: field: problem``) on the first bad line."""
    if not Path(path).is_file():
        raise DataError("no such file", path=path)
    examples = []
    for number, record in iter_jsonl_records(path):
        if isinstance(record, DataError):
            raise record
        examples.append(ChatExample.from_dict(record, path=path, line=number))
    return examples


def write_chat_jsonl(path: str | Path, examples: Iterable[ChatExample]) -> str:
    """Write examples atomically, one JSON object per line; returns the file's SHA-256."""
    text = "".join(example.to_json() + "\n" for example in examples)
    atomic_write_text(path, text)
    return sha256_hex(text)


def dataset_hash(examples: Iterable[ChatExample]) -> str:
    """SHA-256 of the dataset exactly as ``write_chat_jsonl`` writes it (order matters)."""
    return sha256_hex("".join(example.to_json() + "\n" for example in examples))
