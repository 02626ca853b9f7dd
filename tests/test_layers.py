"""The package's layers: no module imports, however indirectly, a module that imports it.

Read from the source with ``ast``, not by importing: every import counts, including those
inside functions and under ``TYPE_CHECKING``, since either way the two modules can no longer
be understood (or moved) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tablecast

PACKAGE = Path(tablecast.__file__).parent


def imports() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports."""
    files: dict[str, tuple[Path, bool]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["tablecast", *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in files.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:  # `from . import tasks` imports a module
                    submodule = f"{module}.{alias.name}"
                    found.add(submodule if submodule in files else module)
        graph[name] = {module for module in found if module in files and module != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of modules that import each other (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(_path_around(graph, set(group)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _path_around(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path from the group's first module back to itself, for the failure message."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        module = todo.pop(0)
        for other in sorted(graph[module] & group):
            if other == start:
                return [*paths[module], start]
            if other not in paths:
                paths[other] = [*paths[module], other]
                todo.append(other)
    raise AssertionError("a strongly connected group has a cycle")


def test_the_walk_sees_every_kind_of_import() -> None:
    graph = imports()
    assert "tablecast.services" in graph["tablecast.server"]  # from .services import ...
    assert "tablecast.tasks" in graph["tablecast.server"]  # from . import tasks
    assert "tablecast.services" in graph["tablecast.handlers.api"]  # under TYPE_CHECKING
    assert "tablecast.server" in graph["tablecast.cli"]  # inside a function
    assert "tablecast.bus.postgres" in graph["tablecast.bus"]  # a package's own module


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it() -> None:
    found = cycles(imports())
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)
