"""Start a server to measure (tablecast or a peer), find it on loopback, read its CPU and RSS.

A server is named by its kind, and for tablecast optionally its store and workers:
``tablecast`` (one process, its SQLite store), ``tablecast-pg`` (one process, a PostgreSQL
store), ``tablecast-pg-w2`` (``--workers 2`` on a PostgreSQL store). CPU and RSS are those of
the whole process tree: a supervisor and its workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets.sync.client

ROOT = Path(__file__).parent.parent
KINDS = ("tablecast", "seed", "websockets")
TICKS = os.sysconf("SC_CLK_TCK")
NAME = re.compile(r"(?P<kind>[a-z]+)(?P<pg>-pg)?(?:-w(?P<workers>[0-9]+))?")


def parse_name(name: str) -> tuple[str, bool, int]:
    """``tablecast-pg-w2`` -> ("tablecast", True, 2): kind, PostgreSQL store, workers."""
    match = NAME.fullmatch(name)
    if not match or match["kind"] not in KINDS:
        raise ValueError(f"not a server: {name!r} (e.g. tablecast, tablecast-pg, tablecast-pg-w2)")
    kind, pg, workers = match["kind"], bool(match["pg"]), int(match["workers"] or 1)
    if (pg or workers > 1) and kind != "tablecast":
        raise ValueError(f"only tablecast has a store and workers: {name!r}")
    if workers > 1 and not pg:
        raise ValueError(f"--workers needs the PostgreSQL store: {name!r}")
    return kind, pg, workers


def children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive."""
    tree, i = [pid], 0
    while i < len(tree):
        tree += children(tree[i])
        i += 1
    return tree


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds a process and its descendants have used so far, including
    those that exited and were waited for (their parents' cutime and cstime)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def _tcp_sockets(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets on local ``port`` in ``state`` (01 ESTABLISHED, 0A LISTEN)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(int(fields[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    name: str = ""  # e.g. tablecast-pg-w2; the kind if empty
    workers: int = 1

    def __post_init__(self) -> None:
        self.name = self.name or self.kind

    def worker_pids(self) -> list[int]:
        """The processes that serve: the supervisor's children under --workers."""
        return children(self.proc.pid) if self.workers > 1 else [self.proc.pid]

    def cpu(self) -> float:
        """User + system CPU seconds the server (all its processes) has used so far."""
        return process_tree_cpu(self.proc.pid)

    def _status(self, key: str) -> float:
        total = 0.0
        for pid in process_tree(self.proc.pid):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1]) / 1024
        return total

    def rss_mib(self) -> float:
        """Summed over the server's processes (forked workers' shared pages count in each)."""
        return self._status("VmRSS")

    def peak_rss_mib(self) -> float:
        return self._status("VmHWM")

    def connections(self) -> list[int]:
        """Open TCP connections on the server's port, per worker (viewers and drivers)."""
        established = _tcp_sockets(self.port, "01")
        return [len(_socket_inodes(pid) & established) for pid in self.worker_pids()]

    def open_files(self) -> list[int]:
        """Files each worker holds open: its viewers, and what else it needs (the listening
        socket, PostgreSQL connections, the event loop's)."""
        return [len(os.listdir(f"/proc/{pid}/fd")) for pid in self.worker_pids()]

    def file_limit(self) -> int:
        """The soft limit on open files of the (first) worker."""
        for line in Path(f"/proc/{self.worker_pids()[0]}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
        raise RuntimeError("no open files limit")

    def listening(self) -> int:
        """Sockets listening on the server's port: one per worker once all are up."""
        return len(_tcp_sockets(self.port, "0A"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.data_dir is not None:
            self.data_dir.cleanup()

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


def start(
    name: str,
    *,
    compression: bool = False,
    args: tuple[str, ...] = (),
    database: Callable[[], str] | None = None,
) -> ServerProcess:
    """Start the server ``name`` (see :func:`parse_name`); ``database`` gives the URL of a
    fresh PostgreSQL database, for the servers that use one."""
    kind, pg, workers = parse_name(name)
    port = free_port()
    data_dir = None
    if kind == "tablecast":
        data_dir = tempfile.TemporaryDirectory(prefix="tablecast-bench-")
        store: tuple[str, ...] = ()
        if pg:
            if database is None:
                raise ValueError(f"{name} needs a PostgreSQL database")
            store = ("--store", database(), "--workers", str(workers))
        command = [
            sys.executable,
            "-m",
            "tablecast",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            data_dir.name,
            *store,
            "--log-level",
            "warning",
            "--compression",
            "1" if compression else "0",
            # load clients are thousands of viewers from a few addresses, asking for pages as
            # fast as they are answered: the limits meant for real clients are lifted
            "--max-connections-per-ip",
            "0",
            "--max-http-connections-per-ip",
            "0",
            "--page-rate",
            "1000000",
            *args,
        ]
    else:
        module = "bench.peers.seed" if kind == "seed" else "bench.peers.broadcast"
        command = [sys.executable, "-m", module, "--port", str(port), *args]
        if compression:
            command.append("--compression")
    # this checkout's tablecast, not whichever one the interpreter has installed
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    server = ServerProcess(kind, proc, port, data_dir, name, workers)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        # every worker listening, or the first would get all the early connections
        if server.listening() >= workers:
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{name} did not start: {' '.join(command)}")


class Driver:
    """One legacy client that makes a document, uploads to it and turns its pages."""

    def __init__(self, server: ServerProcess) -> None:
        self.ws = websockets.sync.client.connect(
            server.url("/parser/ws"), max_size=None, compression=None, open_timeout=30
        )
        self.document_id = self.page()["uuid"]

    def page(self) -> dict[str, Any]:
        import orjson

        return orjson.loads(self.ws.recv(timeout=120))  # type: ignore[no-any-return]

    def upload(self, data: bytes) -> dict[str, Any]:
        self.ws.send(data)
        return self.page()

    def turn(self, page_no: int) -> None:
        self.ws.send(str(page_no))

    def close(self) -> None:
        self.ws.close()
