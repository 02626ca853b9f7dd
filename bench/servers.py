"""Start a server to measure (tablecast or a peer), find it on loopback, read its CPU and RSS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets.sync.client

ROOT = Path(__file__).parent.parent
KINDS = ("tablecast", "seed", "websockets")
TICKS = os.sysconf("SC_CLK_TCK")


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

    def cpu(self) -> float:
        """User + system CPU seconds the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def _status(self, key: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(key)

    def rss_mib(self) -> float:
        return self._status("VmRSS")

    def peak_rss_mib(self) -> float:
        return self._status("VmHWM")

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


def start(kind: str, *, compression: bool = False, args: tuple[str, ...] = ()) -> ServerProcess:
    port = free_port()
    data_dir = None
    if kind == "tablecast":
        data_dir = tempfile.TemporaryDirectory(prefix="tablecast-bench-")
        command = [
            sys.executable,
            "-m",
            "tablecast",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            data_dir.name,
            "--log-level",
            "warning",
            "--compression",
            "1" if compression else "0",
            # load clients are thousands of viewers from a few addresses, asking for pages as
            # fast as they are answered: the limits meant for real clients are lifted
            "--max-connections-per-ip",
            "0",
            "--page-rate",
            "1000000",
            *args,
        ]
    elif kind in ("seed", "websockets"):
        module = "bench.peers.seed" if kind == "seed" else "bench.peers.broadcast"
        command = [sys.executable, "-m", module, "--port", str(port), *args]
        if compression:
            command.append("--compression")
    else:
        raise ValueError(kind)
    # this checkout's tablecast, not whichever one the interpreter has installed
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    server = ServerProcess(kind, proc, port, data_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{kind} did not start: {' '.join(command)}")


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
