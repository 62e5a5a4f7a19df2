"""Suites and judges an experiment names: shipped names, or YAML files of the user's own.

Files are found relative to the file that names them (the experiment YAML, or the suite YAML for
judges a suite lists), so a user's folder of experiment, suite, judge and data works from anywhere.
A judge file is known by the ``name`` inside it: that name heads its table columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weirdgen.errors import DataError


def is_file_reference(reference: str) -> bool:
    """Whether a suite or judge reference names a file rather than a shipped one (``file#id``
    names a judge inside an llmcomp question file)."""
    return reference.endswith((".yaml", ".yml")) or "/" in reference or "#" in reference


def resolve_reference(reference: str, relative_to: Path | None) -> str:
    """A file reference made absolute against ``relative_to``; shipped names pass through."""
    if not is_file_reference(reference):
        return reference
    path = Path(reference).expanduser()
    return str(path if path.is_absolute() or relative_to is None else relative_to / path)


def load_suite_reference(reference: str, experiment_dir: Path | None) -> tuple[Any, Path | None]:
    """The suite and the folder its own references are relative to (None for shipped suites)."""
    from weirdgen.evaluation.suites import load_suite

    resolved = resolve_reference(reference, experiment_dir)
    return load_suite(resolved), Path(resolved).parent if is_file_reference(reference) else None


def resolve_judges(
    suite: Any, references: list[str], relative_to: Path | None
) -> tuple[Any, dict[str, Any]]:
    """Load ``references`` (names or files) and return the suite rewritten to name them by judge name.

    Returns ``(suite, {judge name: JudgeSpec})`` in reference order.
    """
    from weirdgen.judge.spec import load_judge

    judges: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for reference in references:
        judge = load_judge(resolve_reference(reference, relative_to))
        if judge.name in judges and renamed.get(reference) is None:
            raise DataError(f"two judges are both named {judge.name!r}", field="judges")
        judges[judge.name] = judge
        renamed[reference] = judge.name
    return _renamed_suite(suite, renamed), judges


def _renamed_suite(suite: Any, renamed: dict[str, str]) -> Any:
    def rename(names: list[str] | None) -> list[str] | None:
        return None if names is None else [renamed.get(name, name) for name in names]

    questions = [q.model_copy(update={"judges": rename(q.judges)}) for q in suite.questions]
    return suite.model_copy(update={"judges": rename(suite.judges), "questions": questions})
