"""The browser app's own unit tests (tests/static/*.test.mjs: its view model, state and
views, without a browser), run by Node's test runner; and its modules' layers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import tablecast

TESTS = Path(__file__).parent / "static"
STATIC = Path(tablecast.__file__).parent / "static"
IMPORT = re.compile(r'from "\./([\w.-]+\.js)"')


def test_the_apps_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "Node.js is not installed: `make test` installs Debian's nodejs"
    # the files named, not the folder: Node 21 and later read a folder given as a glob
    files = sorted(str(path) for path in TESTS.glob("*.test.mjs"))
    assert files, f"no tests in {TESTS}"
    run = subprocess.run(
        [node, "--test", "--test-reporter=spec", *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_module_of_the_app_imports_one_that_imports_it() -> None:
    graph = {
        path.name: set(IMPORT.findall(path.read_text(encoding="utf-8")))
        for path in STATIC.glob("*.js")
    }
    assert "app.js" in graph
    for imported in graph.values():
        assert imported <= graph.keys(), imported - graph.keys()

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return seen

    cycles = sorted(name for name in graph if name in reaches(name))
    assert not cycles, f"modules in an import cycle: {cycles}"
