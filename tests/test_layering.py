"""The package's shape, checked from its source: every package sits in a layer and imports only its
own layer and earlier ones, the packages import each other without a cycle, no package reaches the
public API through the package root, judging never needs a sampler, and the results table's
schema version has one home.

Imports are read from the syntax tree, function-level (lazy) imports included: a lazy import is
still a dependency, it only loads later.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "weirdgen"
FOUNDATION = {
    "errors",
    "_io",
    "_lazy",
    "_llmcomp",
    "_paths",
    "_registry",
    "_threads",
    "_version",
    "_yaml",
}
"""Modules of the package root every layer may use; they import nothing but each other."""
LAYERS = [
    ["data"],
    ["models"],  # local model loading, chat formatting and generation: finetune, sample, serve
    ["toyworld"],  # the CPU model organism: its models are trained and sampled by backends
    ["finetune"],
    ["sample"],
    ["judge"],
    ["evaluation"],
    ["analysis"],
    ["report"],
    ["audit", "scan"],  # the defences, built on the whole pipeline
    ["experiments", "serve"],  # orchestration: the run, the local server
    ["bench"],  # benchmarks of the defences against ground truth (runs toy experiments and scans)
    ["cli"],
]
"""The stages in the order data flows, with the packages around them; a package imports only its
own layer and the layers before it."""
STAGES = ["data", "finetune", "sample", "judge", "evaluation", "analysis", "report"]
LAYER_OF = {package: index for index, layer in enumerate(LAYERS) for package in layer}


def _imports(path: Path) -> set[str]:
    """Every ``weirdgen`` module ``path`` imports; ``from weirdgen import x`` counts as the root."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m == "weirdgen" or m.startswith("weirdgen.")}


def _package_of(path: Path) -> str:
    """The top-level package (or root module, without ``.py``) a source file belongs to."""
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _target(module: str) -> str:
    return module.split(".")[1] if module != "weirdgen" else "weirdgen"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _sources():
        source = _package_of(path)
        for module in _imports(path):
            target = _target(module)
            if target not in {source, "weirdgen"}:
                graph.setdefault(source, set()).add(target)
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert packages - set(LAYER_OF) == set(), "add the new package to LAYERS"
    assert modules - FOUNDATION == set(), "add the new root module to FOUNDATION"


def test_a_package_imports_only_its_own_and_earlier_layers() -> None:
    offending = set()
    for path in _sources():
        source = _package_of(path)
        for module in _imports(path):
            target = _target(module)
            if source in FOUNDATION:
                allowed = target in FOUNDATION or target == source
            elif source == "cli" and target == "weirdgen":
                allowed = True  # the command line is the public API plus flags
            elif source in LAYER_OF:
                allowed = target in FOUNDATION or LAYER_OF.get(target, 99) <= LAYER_OF[source]
            else:  # the root's __init__ and __main__
                continue
            if not allowed:
                offending.add(f"{path.relative_to(PACKAGE).as_posix()} imports {module}")
    assert offending == set(), sorted(offending)


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_later_stage_and_no_orchestration(stage: str) -> None:
    later = set(STAGES[STAGES.index(stage) + 1 :]) | {
        "audit",
        "scan",
        "cli",
        "experiments",
        "serve",
    }
    offending = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / stage).rglob("*.py")
        for module in _imports(path)
        if _target(module) in later
    }
    assert not offending, sorted(offending)


def test_no_package_reaches_the_api_through_the_package_root() -> None:
    """``weirdgen/__init__`` re-exports later stages: a package importing it would depend on them.
    Only the command line, which is the public API plus flags, calls it."""
    offending = [
        path.relative_to(PACKAGE).as_posix()
        for path in _sources()
        if _package_of(path) not in {"cli", "__init__", "__main__"} and "weirdgen" in _imports(path)
    ]
    assert offending == []


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one package (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_packages_import_each_other_without_a_cycle() -> None:
    assert _cycles(_package_graph()) == []


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


REGISTRIES = {"_registry.py", "sample/registry.py", "finetune/registry.py"}
BACKEND_TEST = re.compile(
    r"""backend["')\]]*\s*(?:==|!=|\bnot\s+in\b|\bin\b)\s*(?:["'(\[{]|[A-Z][A-Z0-9_]+\b(?![.(]))"""
)
"""``backend == "local"``, ``job.backend in SERVABLE``, ``.get("backend") != "toy"`` and the like."""


def test_the_backend_regex_finds_name_tests() -> None:
    for line in ['if backend == "local":', "x.backend in GPU_BACKENDS", '.get("backend") != "toy"']:
        assert BACKEND_TEST.search(line), line
    for line in ["backend = entry.name", "if entry.trains_here:", "backend in FINETUNERS.names()"]:
        assert not BACKEND_TEST.search(line), line


def test_what_a_backend_can_do_is_asked_of_its_registry_entry() -> None:
    """Generic code asks the entry (``FINETUNERS.get(name).trains_here``), never the name."""
    offending = {}
    for path in _sources():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in REGISTRIES:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        hits = [
            f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if BACKEND_TEST.search(line)
        ]
        if hits:
            offending[relative] = hits
    assert offending == {}, offending


LONGEST_FUNCTION = 80
LONG_FUNCTIONS_BEING_REMOVED: set[str] = set()
"""Functions allowed over the limit while they are split (empty: keep it so)."""


def test_no_function_is_longer_than_80_lines() -> None:
    """A longer function is several steps that want names of their own."""
    long = [
        f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} {node.name} "
        f"({node.end_lineno - node.lineno + 1} lines)"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
        and f"{path.relative_to(PACKAGE).as_posix()} {node.name}"
        not in LONG_FUNCTIONS_BEING_REMOVED
    ]
    assert long == []
