"""Issue 14, item 2: a full disk. The data directory sits on a small tmpfs mounted by the test
(as root; skipped otherwise): an upload that meets the wall gets storage_full and nothing else
changes, writes work again once room is made without a restart, and a server started on a full
disk serves what it holds and says why it refuses writes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest

from support import http, put, table, wait_for

# a whole process on a disk that fills up, started on a full one
pytestmark = pytest.mark.process


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB file system of its own. Ask for it before server_factory: fixtures end in the
    reverse order, so the servers stop (their work after the last upload done) before it is
    unmounted under them."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the data directory needs root")
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def send(
    port: int, method: str, path: str, body: bytes, key: str | None = None
) -> tuple[int, dict]:
    """An upload as the CLI sends it: the answer is read even if the server stopped reading."""
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def pending_blocks(data: Path) -> int:
    """Blocks written of versions not committed yet: an upload under way."""
    database = f"file:{data / 'tablecast.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(database, uri=True)) as db:
        query = (
            "SELECT count(*) FROM blocks JOIN versions ON versions.id = blocks.version_id"
            " WHERE versions.number IS NULL"
        )
        return int(db.execute(query).fetchone()[0])


def fill(where: Path) -> Path:
    """A file that takes every byte left on the disk."""
    ballast = where / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return ballast


def big_table(megabytes: int) -> bytes:
    line = "\t".join(f"cell{j:03d}" for j in range(10)) + "\n"
    return line.encode() * (megabytes * 1024 * 1024 // len(line))


def test_an_upload_that_meets_a_full_disk_gets_storage_full_and_writes_go_on(
    small_disk, server_factory
):
    server = server_factory("--max-upload-bytes", "256MiB", data_dir=small_disk / "data")
    _, kept, _ = http("POST", f"{server.url}/parser/api/docs", table(500))
    status, answer = send(server.port, "POST", "/parser/api/docs", big_table(64))
    assert (status, answer["error"]["code"]) == (507, "storage_full"), answer
    assert "disk is full" in answer["error"]["message"]
    # what was there is still there, and the server takes writes again, without a restart
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{kept['id']}/pages/5")
    assert status == 200 and page["data"][0] == ["r400c0", "r400c1", "r400c2"]
    assert put(server.url, kept, table(600))[0] == 200
    assert http("POST", f"{server.url}/parser/api/docs", table(100))[0] == 201
    assert http("GET", f"{server.url}/healthz")[1]["status"] == "ok"
    wal = small_disk / "data" / "tablecast.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size < 24 * 1024 * 1024  # its room given back


def test_writes_refused_on_a_full_disk_work_again_once_room_is_made(small_disk, server_factory):
    server = server_factory(data_dir=small_disk / "data")
    _, kept, _ = http("POST", f"{server.url}/parser/api/docs", table(500))
    ballast = fill(small_disk)
    status, answer, _ = http("POST", f"{server.url}/parser/api/docs", big_table(1))
    assert (status, answer["error"]["code"]) == (507, "storage_full"), answer
    assert put(server.url, kept, table(20))[0] == 507
    assert http("GET", f"{server.url}/parser/api/docs/{kept['id']}/pages/1")[0] == 200
    assert http("GET", f"{server.url}/healthz")[1] == {
        "status": "read_only",
        "reason": "the disk is full",
    }
    ballast.unlink()
    assert put(server.url, kept, table(20))[0] == 200  # no restart
    assert http("POST", f"{server.url}/parser/api/docs", big_table(1))[0] == 201
    assert http("GET", f"{server.url}/healthz")[1]["status"] == "ok"


def test_a_server_starts_on_a_full_disk_and_serves_what_it_holds(small_disk, server_factory):
    data = small_disk / "data"
    server = server_factory(data_dir=data)
    _, kept, _ = http("POST", f"{server.url}/parser/api/docs", table(500))
    # killed in the middle of an upload: its pending version is left for the next start
    sock = socket.create_connection(("127.0.0.1", server.port))
    body = big_table(8)
    head = f"POST /parser/api/docs HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body[: 6 * 1024 * 1024])
    wait_for(lambda: pending_blocks(data), what="the upload's first blocks written")
    server.stop(signal.SIGKILL)
    sock.close()
    ballast = fill(small_disk)
    again = server_factory(data_dir=data, port=server.port)
    assert http("GET", f"{again.url}/parser/api/docs/{kept['id']}/pages/5")[0] == 200
    status, answer, _ = http("POST", f"{again.url}/parser/api/docs", table(100))
    assert (status, answer["error"]["code"]) == (507, "storage_full")
    assert "disk is full" in answer["error"]["message"]
    assert again.logged("bytes free|disk is full")  # the log says why, at start or at once
    ballast.unlink()
    assert http("POST", f"{again.url}/parser/api/docs", table(100))[0] == 201
