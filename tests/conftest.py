"""Fixtures shared by every test: real servers, started and stopped per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nginx import Nginx
from postgres import PostgreSQL
from support import Server, stop_all


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def make(
        *args: str,
        data_dir: Path | None = None,
        port: int = 0,
        open_files: int | None = None,
        sigint_ignored: bool = False,
    ) -> Server:
        """A server; ``port`` to come back where a previous one was (for reconnecting clients);
        ``open_files``: its limit of open files; ``sigint_ignored``: started as a shell starts
        a background job."""
        server = Server(
            data_dir or tmp_path / "data",
            "--port",
            str(port),
            *args,
            open_files=open_files,
            sigint_ignored=sigint_ignored,
        )
        servers.append(server)  # stopped below even if it never said it was listening
        return server.start()

    yield make
    stop_all([server.stop for server in servers if server.proc])
    # whatever a test did, the server must not have hit an unexpected exception
    for server in servers:
        problems = server.logged(r"Traceback| ERROR ")
        assert not problems, "".join(server.log[-60:])


@pytest.fixture
def server(server_factory: Any) -> Server:
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
