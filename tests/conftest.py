"""Fixtures shared by every test: real servers, started and stopped per test.

A test's server runs in a thread of the test's own process (support.InProcessServer) unless
the process is what the test is about: marked ``@pytest.mark.process`` (signals, crashes,
memory, the exit), or started with flags only a process has (``open_files``,
``sigint_ignored``, ``--workers``, a PostgreSQL ``--store``), or while another server runs
(what a server keeps in module globals is one process's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from nginx import Nginx
from postgres import PostgreSQL
from support import InProcessServer, Logging, Server, StoreFactory, stop_all
from tablecast.store.base import Store
from tablecast.store.sqlite import SQLiteStore


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process: the test's servers run as processes of their own (see conftest)"
    )


PROCESS_FLAGS = ("--workers", "--store")


@pytest.fixture
async def server_factory(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    servers: list[Logging] = []
    as_process = request.node.get_closest_marker("process") is not None

    def make(
        *args: str,
        data_dir: Path | None = None,
        port: int = 0,
        open_files: int | None = None,
        sigint_ignored: bool = False,
    ) -> Any:
        """A server; ``port`` to come back where a previous one was (for reconnecting clients);
        ``open_files``: its limit of open files; ``sigint_ignored``: started as a shell starts
        a background job."""
        flags = ("--port", str(port), *args)
        server: Logging
        if (
            as_process
            or open_files
            or sigint_ignored
            or any(flag in args for flag in PROCESS_FLAGS)
            or InProcessServer.running
        ):
            server = Server(
                data_dir or tmp_path / "data",
                *flags,
                open_files=open_files,
                sigint_ignored=sigint_ignored,
            )
        else:
            server = InProcessServer(data_dir or tmp_path / "data", *flags)
        servers.append(server)  # stopped below even if it never said it was listening
        return server.start()

    yield make
    # stopped while the test's event loop runs: a client the test left open answers the
    # server's close at once, where otherwise the server would wait two seconds for it
    await asyncio.to_thread(stop_all, [server.stop for server in servers if _running(server)])
    # whatever a test did, the server must not have hit an unexpected exception
    for server in servers:
        problems = server.logged(r"Traceback| ERROR ")
        assert not problems, "".join(server.log[-60:])


def _running(server: Logging) -> bool:
    if isinstance(server, InProcessServer):
        return server is InProcessServer.running
    assert isinstance(server, Server)
    return server.proc is not None


@pytest.fixture
def server(server_factory: Any) -> Any:
    return server_factory()


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """One PostgreSQL server for the whole run; each test takes its own database of it."""
    server = PostgreSQL().start()
    yield server
    server.remove()


@pytest.fixture
def pg_url(postgresql: PostgreSQL) -> str:
    """The URL of a fresh, empty database."""
    return postgresql.new_database()


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[Any]:
    """``nginx_factory(*servers, site="nginx.conf")``: nginx in front of the servers."""
    started: list[Nginx] = []

    def make(*servers: Server, read_timeout: str | None = None, site: str = "nginx.conf") -> Nginx:
        directory = tmp_path / f"nginx{len(started)}"
        directory.mkdir()
        proxy = Nginx(directory, [server.port for server in servers], read_timeout, site)
        started.append(proxy)
        return proxy

    yield make
    stop_all([lambda proxy=proxy: _stop_nginx(proxy) for proxy in started])


def _stop_nginx(proxy: Nginx) -> None:
    try:
        proxy.stop()
    except BaseException:
        proxy.proc.kill()  # one that would not stop
        proxy.proc.wait()
        raise


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens (and re-opens, as after a restart) one store; a test that takes it runs on each kind.
    PostgreSQL: a fresh database per test, and each store opened on it a node of its own."""
    opened: list[Store] = []
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""

    def make() -> Store:
        store: Store
        if pg_url:
            from tablecast.store.postgres import PostgresStore

            store = PostgresStore(pg_url, node=len(opened) + 1)
        else:
            store = SQLiteStore(tmp_path / "store.sqlite3")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def nodes(server_factory: Any, pg_url: str) -> Any:
    """``nodes(n)``: n servers (separate processes) on one PostgreSQL database."""

    def make(n: int = 2, *args: str) -> list[Server]:
        return [server_factory("--store", pg_url, *args) for _ in range(n)]

    return make
