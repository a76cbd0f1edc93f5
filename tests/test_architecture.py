"""The shape of the code: layers without import cycles, and the linters the project holds itself to."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.python_source import parse_python

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cml"

#: Shared infrastructure: imported by every layer, importing no layer above it.
FOUNDATION = {"cml.errors", "cml.secrets", "cml.signals", "cml.fileio", "cml.http", "cml.ci", "cml.git", "cml.sandbox"}
#: What each layer may import besides the foundation (a package's own modules always).
ALLOWED = {
    "cml.report": set(),
    "cml.trackers": {"cml.report"},
    "cml.forges": set(),
    "cml.workspace": {"cml.forges"},
    "cml.assets": {"cml.forges", "cml.report", "cml.workspace", "cml.aws"},
    "cml.actions": {"cml.forges", "cml.assets", "cml.report", "cml.workspace"},
    "cml.runner": {"cml.forges", "cml.aws"},
    "cml.aws": set(),
    "cml.demo": {"cml.report"},
}


def _unit(module: str) -> str:
    """The layer a module belongs to: its top-level package or module under ``cml``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def import_graph() -> dict[str, set[tuple[str, str]]]:
    """``layer -> {(imported layer, importing module)}`` over every import, at module level or in a function."""
    graph: dict[str, set[tuple[str, str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(parse_python(path)):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{alias.name}" if node.module == "cml" else node.module for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("cml.") and _unit(target) != _unit(module) and module != "cml":
                    graph.setdefault(_unit(module), set()).add((_unit(target), module))
    return graph


def test_foundation_imports_no_layer_above_it():
    graph = import_graph()
    wrong = sorted((module, target) for unit in FOUNDATION for target, module in graph.get(unit, ())
                   if target not in FOUNDATION)
    assert wrong == [], f"foundation modules importing a layer above them: {wrong}"


def test_each_layer_imports_only_the_layers_below_it():
    graph = import_graph()
    wrong = sorted((module, target) for unit, allowed in ALLOWED.items() for target, module in graph.get(unit, ())
                   if target not in FOUNDATION | allowed)
    assert wrong == [], f"imports that go up or sideways: {wrong}"


def test_no_package_cycle():
    graph = {unit: {target for target, _ in edges} for unit, edges in import_graph().items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for step in graph.get(start, ()):
            if step == goal or (step not in seen and (seen.add(step) or reaches(step, goal, seen))):
                return True
        return False

    cycles = sorted(unit for unit in graph if reaches(unit, unit, set()))
    assert cycles == [], f"packages on an import cycle: {cycles}"


def test_only_heavy_libraries_are_imported_inside_functions():
    """cml's own modules and the standard library are imported at the top, where the dependency graph shows."""
    late = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for function in ast.walk(parse_python(path)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                         else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
                late += [f"{module}: {name}" for name in names
                         if name.split(".")[0] in sys.stdlib_module_names or name.startswith("cml")]
    allowed_late = {"cml: cml.report", "cml: cml.actions"}  # the facade's lazy attributes
    # Start-up (tests/test_startup.py): the commands, and the run source their options build, import what an option
    # needs when it is used; import_graph still sees these imports.
    late = [entry for entry in late if not entry.startswith(("cml.cli.", "cml.trackers.sources: cml"))]
    assert sorted(set(late) - allowed_late) == []


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_code_passes_the_linters(tool):
    executable = shutil.which(tool, path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    command = [executable, "check", "cml", "tests", "benchmarks"] if tool == "ruff" else [executable]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
