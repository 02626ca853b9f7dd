"""A throwaway PostgreSQL server for the benchmarks that measure tablecast on one.

It is the test suite's (``tests/postgres.py``: Debian's PostgreSQL in a temporary directory,
loopback only), but durable: the tests turn ``fsync`` and ``full_page_writes`` off, which would
flatter PostgreSQL against SQLite, whose store syncs at each version's commit.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.servers import ROOT, process_tree_cpu

# PostgreSQL's defaults for what makes a commit survive a crash of the machine
DURABLE = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}


def _tests_postgres() -> ModuleType:
    """tests/postgres.py, loaded by its path: the tests import it as ``postgres`` from their
    own directory, which bench does not put on sys.path."""
    name = "bench._tests_postgres"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "postgres.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class Databases:
    """One PostgreSQL server for a benchmark run, started when first asked for a database;
    each tablecast measured gets a fresh database of it. Use as a context manager."""

    def __init__(self) -> None:
        self.server: Any = None  # tests/postgres.py's PostgreSQL, once started

    def new(self) -> str:
        """The URL of a fresh, empty database."""
        if self.server is None:
            self.server = _tests_postgres().PostgreSQL(settings=DURABLE).start()
        url: str = self.server.new_database()
        return url

    def cpu(self) -> float:
        """CPU seconds PostgreSQL's processes (the postmaster and its children) used so far."""
        if self.server is None:
            return 0.0
        data: Path = self.server.data
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        return process_tree_cpu(postmaster)

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.remove()
            self.server = None
