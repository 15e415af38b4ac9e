"""`pip install .` gives the server everything it imports: the README's first command works."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def imported_top_level_modules() -> set[str]:
    """Every top-level module the `graph` package imports, outside the standard library."""
    found: set[str] = set()
    for path in (ROOT / "graph").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "graph"}


def runtime_distributions() -> set[str]:
    """The declared runtime dependencies and, recursively, what they require."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(text).name for text in project["dependencies"]]
    seen: set[str] = set()
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def test_every_module_the_server_imports_comes_with_its_runtime_dependencies() -> None:
    providers = packages_distributions()
    installed = runtime_distributions()
    missing = {
        module: providers.get(module)
        for module in imported_top_level_modules()
        if not {
            distribution.lower().replace("_", "-") for distribution in providers.get(module, [])
        }
        & installed
    }
    assert not missing, f"imported by graph/ but not a runtime dependency: {missing}"
