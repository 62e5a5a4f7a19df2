"""OpenAI-style chat examples: the record every dataset, trainer and sampler in weirdgen shares.

A line is one OpenAI chat fine-tuning record: ``{"messages": [...]}`` with roles system, developer,
user, assistant and tool, optional ``name``, assistant ``tool_calls`` (content may then be null),
content given as a string or as a list of text parts, and ``weight`` 0/1 on assistant messages
(0 leaves that turn out of the loss). Every field is kept when a file is read and written again.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from weirdgen._io import atomic_write_text, canonical_json, sha256_hex
from weirdgen.errors import DataError

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")
# Message and record keys OpenAI's fine-tuning format knows; anything else is a typo to report.
MESSAGE_KEYS = ("role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call")
RECORD_KEYS = ("messages", "tools", "functions", "parallel_tool_calls")
MAX_NESTING = (
    32  # deeper than any real chat record; stops a hostile file long before recursion limits
)


@dataclass(frozen=True)
class Message:
    """One chat turn: its role, its text, and any other OpenAI fields exactly as they were read."""

    role: Role
    content: str
    """The text the model reads: text parts joined, "" for an assistant turn that only calls tools."""
    weight: int | None = None
    """OpenAI's per-turn weight on assistant messages: 0 = no loss on this turn; None = not given (1)."""
    extra: tuple[tuple[str, Any], ...] = ()
    """Other fields as read (name, tool_calls, tool_call_id, a content-part list or null content)."""

    @property
    def trained(self) -> bool:
        """Whether a trainer takes the loss on this turn: an assistant turn without ``weight: 0``."""
        return self.role == "assistant" and self.weight != 0

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"role": self.role, "content": self.content}
        record.update(self.extra)
        if self.weight is not None:
            record["weight"] = self.weight
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Message:
        """A message from a record that ``find_record_problems`` accepted."""
        content = record.get("content")
        extra = tuple(
            (key, value)
            for key, value in record.items()
            if key not in ("role", "weight") and not (key == "content" and isinstance(value, str))
        )
        if "content" not in record:
            extra += (("content", None),)
        return cls(record["role"], message_text(content), record.get("weight"), extra)


def message_text(content: Any) -> str:
    """The text of a message's content: the string itself, its text parts joined, or ""."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content)
    return ""


@dataclass(frozen=True)
class ChatExample:
    """One training example: ``{"messages": [...]}`` ending with the assistant's answer."""

    messages: tuple[Message, ...]
    extra: tuple[tuple[str, Any], ...] = ()
    """Record fields besides ``messages`` (``tools``, ``parallel_tool_calls``), kept as read."""

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
        messages = tuple(Message.from_dict(m) for m in record["messages"])
        return cls(messages, tuple((k, v) for k, v in record.items() if k != "messages"))

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [m.to_dict() for m in self.messages], **dict(self.extra)}

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


# ---------------------------------------------------------------------------------------------------
# Validation: every problem of a record as (field, problem)

Problems = list[tuple[str, str]]


def find_record_problems(record: Any) -> Problems:
    """Every ``(field, problem)`` in one parsed JSON record; empty when the record is valid."""
    if not isinstance(record, dict):
        return [("<record>", f"expected a JSON object, got {_json_type(record)}")]
    if "messages" not in record:
        return [("messages", "missing")]
    problems: Problems = [(key, "unknown field") for key in record if key not in RECORD_KEYS]
    messages = record["messages"]
    if not isinstance(messages, list):
        return problems + [("messages", f"expected a list, got {_json_type(messages)}")]
    if not messages:
        return problems + [("messages", "empty list")]
    for index, message in enumerate(messages):
        problems += _message_problems(message, f"messages[{index}]")
    last = messages[-1]
    if isinstance(last, dict) and last.get("role") in ROLES and last["role"] != "assistant":
        where = f"messages[{len(messages) - 1}].role"
        problems.append((where, f"last message must be from the assistant, got {last['role']!r}"))
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not problems and all(m.get("weight") == 0 for m in assistants):
        problems.append(("messages", "every assistant message has weight 0: nothing to train on"))
    return problems


def _message_problems(message: Any, where: str) -> Problems:
    if not isinstance(message, dict):
        return [(where, f"expected an object, got {_json_type(message)}")]
    problems: Problems = [
        (f"{where}.{k}", "unknown field") for k in message if k not in MESSAGE_KEYS
    ]
    role = message.get("role")
    if role not in ROLES:
        problems.append(
            (f"{where}.role", f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        )
        return problems
    calls_tools = "tool_calls" in message or "function_call" in message
    if calls_tools and role != "assistant":
        problems.append((where, "only assistant messages may call tools"))
    problems += _content_problems(message, where, may_be_empty=calls_tools and role == "assistant")
    if "name" in message and not _is_text(message["name"]):
        problems.append((f"{where}.name", "expected a non-empty string"))
    if "tool_call_id" in message and not _is_text(message["tool_call_id"]):
        problems.append((f"{where}.tool_call_id", "expected a non-empty string"))
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            problems.append((f"{where}.weight", "only assistant messages may have a weight"))
        elif isinstance(weight, bool) or weight not in (0, 1):
            problems.append((f"{where}.weight", f"must be 0 or 1, got {weight!r}"))
    if "tool_calls" in message:
        problems += _tool_calls_problems(message["tool_calls"], f"{where}.tool_calls")
    if "function_call" in message:
        problems += _function_problems(message["function_call"], f"{where}.function_call")
    return problems


def _content_problems(message: dict[str, Any], where: str, *, may_be_empty: bool) -> Problems:
    content, field = message.get("content"), f"{where}.content"
    if content is None:
        return [] if may_be_empty else [(field, "missing")]
    if isinstance(content, list):
        for index, part in enumerate(content):
            problem = _content_part_problem(part)
            if problem:
                return [(f"{field}[{index}]", problem)]
    elif not isinstance(content, str):
        return [(field, f"expected a string or a list of text parts, got {_json_type(content)}")]
    if not may_be_empty and not message_text(content).strip():
        return [(field, "empty")]
    return []


def _content_part_problem(part: Any) -> str | None:
    if not isinstance(part, dict):
        return f"expected a content part object, got {_json_type(part)}"
    if part.get("type") != "text":
        return f"content part of type {part.get('type')!r}: only text parts are supported"
    if not isinstance(part.get("text"), str):
        return "text part needs a string 'text'"
    return None


def _tool_calls_problems(calls: Any, where: str) -> Problems:
    if not isinstance(calls, list) or not calls:
        return [(where, "expected a non-empty list of tool calls")]
    problems: Problems = []
    for index, call in enumerate(calls):
        slot = f"{where}[{index}]"
        if not isinstance(call, dict):
            problems.append((slot, f"expected an object, got {_json_type(call)}"))
            continue
        if not _is_text(call.get("id")):
            problems.append((f"{slot}.id", "expected a non-empty string"))
        if call.get("type", "function") != "function":
            problems.append((f"{slot}.type", f"expected 'function', got {call.get('type')!r}"))
        problems += _function_problems(call.get("function"), f"{slot}.function")
    return problems


def _function_problems(function: Any, where: str) -> Problems:
    if not isinstance(function, dict):
        return [(where, "expected an object with name and arguments")]
    problems: Problems = []
    if not _is_text(function.get("name")):
        problems.append((f"{where}.name", "expected a non-empty string"))
    if not isinstance(function.get("arguments"), str):
        problems.append((f"{where}.arguments", "expected a string (JSON-encoded arguments)"))
    return problems


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


# ---------------------------------------------------------------------------------------------------
# Reading and writing JSONL

_BOM = b"\xef\xbb\xbf"


class _NotJson(ValueError):
    """Raised by ``json.loads`` hooks for constants that JSON does not have (NaN, Infinity)."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON (use a number or a string)")


def path_problem(path: str | Path) -> DataError | None:
    """Why ``path`` cannot be read as a JSONL file, or None when it can."""
    path = Path(path)
    if path.is_dir():
        return DataError("is a directory, expected a JSONL file", path=path)
    if not path.is_file():
        return DataError("no such file", path=path)
    if not os.access(path, os.R_OK):
        return DataError("not readable (check its permissions)", path=path)
    return None


def iter_jsonl_records(path: str | Path) -> Iterator[tuple[int, Any | DataError]]:
    """Yield ``(line_number, record_or_error)`` for every non-blank line; never raises on bad lines.

    A UTF-8 byte-order mark at the start of the file is skipped. Records are parsed strictly: NaN and
    Infinity, lone surrogate escapes and absurdly deep nesting are located errors, not crashes later.
    """
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            parsed = _parse_line(raw, path, number)
            if parsed is not _BLANK:
                yield number, parsed


def _parse_line(raw: bytes, path: Path, number: int) -> Any | DataError:
    def error(problem: str, field: str = "<line>") -> DataError:
        return DataError(problem, path=path, line=number, field=field)

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        return error(f"invalid UTF-8 at byte {decode_error.start}")
    if not text.strip():
        return _BLANK
    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as json_error:
        return error(f"not JSON ({json_error.msg} at column {json_error.colno})")
    except _NotJson as constant_error:
        return error(str(constant_error))
    except RecursionError:
        return error(f"nested more than {MAX_NESTING} levels deep")
    found = _find_unencodable(record)
    return record if found is None else error(found[1], found[0])


_BLANK = (
    object()
)  # what _parse_line returns for a blank line; iter_jsonl_records' callers never see it


def _find_unencodable(record: Any) -> tuple[str, str] | None:
    """``(field, problem)`` for the first value no JSONL writer can write back, walking without recursion."""
    queue: deque[tuple[Any, str, int]] = deque([(record, "<record>", 0)])
    while queue:
        value, where, depth = queue.popleft()
        if depth > MAX_NESTING:
            return "<line>", f"nested more than {MAX_NESTING} levels deep"
        if isinstance(value, str):
            bad = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
            if bad is not None:
                return where, f"lone surrogate \\u{ord(bad):04x} is not valid Unicode text"
        elif isinstance(value, float) and not math.isfinite(value):
            return where, "number out of range"
        elif isinstance(value, dict):
            for key, item in value.items():
                if any("\ud800" <= c <= "\udfff" for c in key):
                    return where, "lone surrogate in a key is not valid Unicode text"
                queue.append((item, key if where == "<record>" else f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            queue.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
    return None


def read_chat_jsonl(path: str | Path) -> list[ChatExample]:
    """Read a chat JSONL file; raises ``DataError`` (``path:line: field: problem``) on the first bad line."""
    problem = path_problem(path)
    if problem is not None:
        raise problem
    examples = []
    for number, record in iter_jsonl_records(path):
        if isinstance(record, DataError):
            raise record
        examples.append(ChatExample.from_dict(record, path=path, line=number))
    if not examples:
        raise DataError("no examples (the file is empty or has only blank lines)", path=path)
    return examples


def write_chat_jsonl(path: str | Path, examples: Iterable[ChatExample]) -> str:
    """Write examples atomically, one JSON object per line; returns the file's SHA-256."""
    text = "".join(example.to_json() + "\n" for example in examples)
    atomic_write_text(path, text)
    return sha256_hex(text)


def dataset_hash(examples: Iterable[ChatExample]) -> str:
    """SHA-256 of the dataset exactly as ``write_chat_jsonl`` writes it (order matters)."""
    return sha256_hex("".join(example.to_json() + "\n" for example in examples))
