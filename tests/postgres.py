"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package: initialised in
a temporary directory, listening on loopback only, stopped afterwards.

PostgreSQL refuses to run as root, so as root (CI, this machine) its programs run as the
``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

# Quick for tests; a crash of the machine is not something a test survives anyway. A process
# killed (PostgreSQL's own or ours) still loses nothing committed.
TEST_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
}


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major)
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    return Path(found[-1]).parent


def _major(path: str) -> int:
    return int(Path(path).parent.parent.name)


def free_port() -> int:
    """A port free now, for a server started in a moment; from below the kernel's range of
    ephemeral ports, which every socket bound to port 0 or connecting out is given one of
    meanwhile (and a parallel run of the tests opens many)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral = int(text.split()[0])
    except (OSError, IndexError, ValueError):
        ephemeral = 32768
    while True:
        port = random.SystemRandom().randrange(max(1024, ephemeral - 12000), ephemeral)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class PostgreSQL:
    """One PostgreSQL cluster in a temporary directory of its own (pytest's are private to
    root, and PostgreSQL runs as ``postgres``). ``start()``, ``stop()`` and ``start()`` again
    come back on the same port, as a restarted database server would. ``remove()`` stops it and
    deletes its files."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="tablecast-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self._as_postgres = os.geteuid() == 0
        self.log = self.directory / "postgresql.log"
        self._started = False  # once: later starts come back on the same port
        self._initdb()

    def _run(self, *args: str | Path) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def _initdb(self) -> None:
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            bindir() / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n")
            conf.write(f"unix_socket_directories = '{self.directory}'\n")
            for name, value in self.settings.items():
                conf.write(f"{name} = '{value}'\n")

    def start(self) -> PostgreSQL:
        for attempt in range(3):
            try:
                self._run(bindir() / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "start")
                self._started = True
                return self
            except RuntimeError:
                # The free port it was given may have been taken meanwhile (by any socket of a
                # parallel run of the tests): at its first start, it takes another.
                taken = self.log.exists() and "could not bind" in self.log.read_text()
                if self._started or not taken or attempt == 2:
                    raise
                self.port = free_port()
                with (self.data / "postgresql.conf").open("a") as conf:
                    conf.write(f"port = {self.port}\n")  # the last setting of a name counts
        raise AssertionError("unreachable")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: as systemd stops it; ``immediate``: as if it crashed."""
        self._run(bindir() / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_until_accepting(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
