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
    assert "tablecast.web.services" in graph["tablecast.web.server"]  # from .services import ...
    assert "tablecast.tasks" in graph["tablecast.web.server"]  # from . import tasks
    assert "tablecast.web.services" in graph["tablecast.web.api"]  # under TYPE_CHECKING
    assert "tablecast.web.server" in graph["tablecast.cli"]  # inside a function
    assert "tablecast.bus.postgres" in graph["tablecast.bus"]  # a package's own module


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it() -> None:
    found = cycles(imports())
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


# The layers, lowest first, and what each may import. The pure layers (the table, the wire)
# open no sockets and start no threads, so nothing of the store, the services or the web may
# reach into them; the store knows nothing of who uses it; the services know nothing of HTTP
# or of WebSocket framing's use by a connection; only the web (and the commands) wire it all.
BASE = {"access", "config", "errors", "metrics", "model", "rates", "tasks"}
MAY_IMPORT = {
    "base": {"base"},
    "table": {"base", "table"},
    "wire": {"base", "table", "wire"},
    "bus": {"base", "bus"},
    "store": {"base", "table", "bus", "store"},
    "service": {"base", "table", "wire", "bus", "store", "service"},
    "web": {"base", "table", "wire", "bus", "store", "service", "web"},
}


def layer(module: str) -> str:
    """``tablecast.table.parsing`` -> ``table``; a top-level shared module -> ``base``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in MAY_IMPORT:
        return parts[1]
    return "base" if parts[1] in BASE else parts[1]  # cli, client, workers, reader: the commands


def test_every_module_has_a_layer() -> None:
    known = {*MAY_IMPORT, "package", "cli", "client", "workers", "reader", "__main__"}
    assert {layer(module) for module in imports()} <= known


def test_no_layer_reaches_above_itself() -> None:
    wrong = [
        f"{module} -> {other}"
        for module, others in sorted(imports().items())
        if layer(module) in MAY_IMPORT
        for other in sorted(others)
        if layer(other) not in MAY_IMPORT[layer(module)]
    ]
    assert not wrong, "imports across layers: " + "; ".join(wrong)


def test_the_layer_rule_sees_a_reach_upwards() -> None:
    assert "web" not in MAY_IMPORT["service"]
    assert layer("tablecast.web.connection") == "web"
    assert layer("tablecast.model") == "base"
