"""Reading user-editable YAML (suites, judges, experiments) with errors that name file and line."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from weirdgen.errors import DataError

if TYPE_CHECKING:
    from pydantic import ValidationError


def parse_yaml_mapping(text: str, *, path: str | Path, what: str) -> dict[str, Any]:
    """Parse YAML text that must hold a mapping (``what`` names it in the error, e.g. "suite fields")."""
    record = parse_yaml(text, path=path)
    if not isinstance(record, dict):
        raise DataError(f"expected a mapping of {what}", path=path)
    return record


def parse_yaml(text: str, *, path: str | Path) -> Any:
    """Parse YAML text of any shape; a syntax error or a key given twice names the file and line."""
    return parse_yaml_with_lines(text, path=path)[0]


@dataclass(frozen=True)
class YamlLines:
    """Where each key and list item of a parsed YAML document starts (1-based lines), by its path
    of keys and indices, e.g. ``("triggers", 0, "range", "stop")``."""

    lines: dict[tuple[str | int, ...], int]

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """The line of the deepest part of ``location`` found in the document."""
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return None


def parse_yaml_with_lines(text: str, *, path: str | Path) -> tuple[Any, YamlLines]:
    """Parse YAML text and note the line of every key and item, for errors found after parsing."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[tuple[str | int, ...], int] = {}
        if node is not None:
            _note_lines(node, (), lines, path)
        record = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DataError(
            f"not valid YAML ({getattr(error, 'problem', error)})",
            path=path,
            line=None if mark is None else mark.line + 1,
        ) from None
    finally:
        loader.dispose()
    return record, YamlLines(lines)


def _note_lines(
    node: Any,
    where: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    path: str | Path,
) -> None:
    """Record the line of each key and item under ``node``; a key given twice is a ``DataError``
    (YAML would silently keep the last value)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if (*where, key) in lines:
                raise DataError(
                    f"key {key!r} is given twice (first on line {lines[(*where, key)]})",
                    path=path,
                    line=line,
                    field=field_location((*where, key)),
                )
            lines[(*where, key)] = line
            _note_lines(value_node, (*where, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*where, index)] = item.start_mark.line + 1
            _note_lines(item, (*where, index), lines, path)


def pydantic_to_data_error(
    error: ValidationError,
    path: str | Path,
    *,
    whole: str = "<suite>",
    lines: YamlLines | None = None,
) -> DataError:
    """The first pydantic problem as ``path:line: field: problem`` (fields like ``questions[2].id``,
    the line of that key when ``lines`` are known); ``whole`` names the field when the problem is
    with the record as a whole."""
    first = error.errors()[0]
    message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
    message = message.removeprefix("Value error, ")  # our validators' own sentences
    line = None if lines is None else lines.line_of(first["loc"])
    return DataError(message, path=path, line=line, field=field_location(first["loc"]) or whole)


def field_location(loc: Sequence[str | int]) -> str:
    """A pydantic error location as a field path, e.g. ``questions[2].id``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def template_placeholders(template: str) -> set[str]:
    """Names of the ``{placeholders}`` in a str.format template (``{{`` is a literal brace)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ValueError(f"malformed template ({error})") from None


@dataclass(frozen=True)
class ShippedYaml:
    """The YAML files shipped in one package folder (judges, suites), each known by its name, and
    any other such file a user points at by path."""

    package: str
    """The package holding the folder, e.g. ``"weirdgen.judge"``."""
    folder: str
    """The folder's name inside the package, e.g. ``"judges"``."""
    kind: str
    """What one file is, for messages and error fields, e.g. ``"judge"``."""

    def names(self) -> list[str]:
        """Names of the shipped files, without ``.yaml``."""
        folder = resources.files(self.package) / self.folder
        return sorted(r.name[: -len(".yaml")] for r in folder.iterdir() if r.name.endswith(".yaml"))

    def load(self, name: str | Path, parse: Callable[..., T]) -> T:
        """``parse(text, path=...)`` of a shipped file by name (parsed once per process), or of a
        file when ``name`` is a path (read again on every call, so edits are seen)."""
        if _is_path(name):
            text, path = self.read_file(name)
            return parse(text, path=path)
        return _parse_shipped(self, str(name), parse)

    def read(self, name: str | Path) -> tuple[str, str | Path]:
        """``(text, path for messages)`` of a shipped file by name, or of a file when ``name`` is a path."""
        if _is_path(name):
            return self.read_file(name)
        resource = resources.files(self.package) / self.folder / f"{name}.yaml"
        if not resource.is_file():
            raise DataError(
                f"unknown {self.kind} {name!r} (shipped: {', '.join(self.names())})",
                field=self.kind,
            )
        label = f"{self.package.replace('.', '/')}/{self.folder}/{name}.yaml"
        return resource.read_text("utf-8"), label

    def read_file(self, path: str | Path) -> tuple[str, Path]:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no such {self.kind} file", path=path)
        return path.read_text("utf-8"), path


T = TypeVar("T")


def _is_path(name: str | Path) -> bool:
    return isinstance(name, Path) or name.endswith((".yaml", ".yml")) or "/" in name


@cache
def _parse_shipped(files: ShippedYaml, name: str, parse: Callable[..., T]) -> T:
    text, label = files.read(name)
    return parse(text, path=label)
