"""The package's shape, checked from its source: data flows one way through the stages, judging
never needs a sampler, and the results table's schema version has one home."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "weirdgen"
STAGES = ["data", "finetune", "sample", "judge", "evaluation", "analysis", "report"]
ORCHESTRATION = {"cli", "experiments", "serve"}


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m.startswith("weirdgen.")}


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_later_stage_and_no_orchestration(stage: str) -> None:
    later = set(STAGES[STAGES.index(stage) + 1 :]) | ORCHESTRATION
    offending = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / stage).rglob("*.py")
        for module in _imports(path)
        if module.split(".")[1] in later
    }
    assert not offending, sorted(offending)


def test_judging_needs_no_sampler() -> None:
    offending = [
        f"{path.name}: {module}"
        for path in (PACKAGE / "judge").rglob("*.py")
        for module in _imports(path)
        if module.startswith("weirdgen.sample")
    ]
    assert not offending


def test_the_schema_version_is_defined_once() -> None:
    definitions = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^SCHEMA_VERSION\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert definitions == ["evaluation/table.py"]


def test_the_hand_written_http_client_is_gone() -> None:
    assert not (PACKAGE / "sample" / "_http.py").exists()
