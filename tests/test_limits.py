"""Limits that keep one client from costing the others: slow viewers."""

from __future__ import annotations

import asyncio
import re
import socket

from bench.load import handshake

from support import http, legacy, receive, table


def stalled_viewer(port: int, document_id: str) -> socket.socket:
    """A viewer that completes the handshake and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # little for the kernel to hold
    sock.connect(("127.0.0.1", port))
    sock.sendall(handshake("127.0.0.1", port, f"/parser/ws/{document_id}", False, None))
    assert sock.recv(12) == b"HTTP/1.1 101"
    return sock


async def test_a_viewer_that_stops_reading_is_bounded_then_closed(server_factory):
    server = server_factory(
        "--page-size", "1000", "--viewer-buffer", "256KiB", "--slow-viewer-timeout", "2s"
    )
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(60_000, cols=10))
    stalled = stalled_viewer(server.port, doc["id"])
    reader = await legacy(server, doc["id"])
    await receive(reader)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    turn = 0
    while not server.logged("too slow") and loop.time() < deadline:
        turn += 1
        await reader.send(str(2 + turn % 50))  # ~100 KB pages, as fast as the reader takes them
        page = await receive(reader)  # the others are served as usual all along
        assert page["page_no"] == 2 + turn % 50
    (line,) = server.logged("too slow")
    unsent = int(re.search(r"unsent=(\d+)", line).group(1))  # type: ignore[union-attr]
    # behind, it was held to the buffer plus the newest page, not every page it missed
    assert unsent < 256 * 1024 + 2 * 110_000, unsent
    assert turn > 40  # far more than the buffer: pages were skipped, not queued
    stalled.settimeout(10)
    received = b""
    try:
        while chunk := stalled.recv(1 << 20):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    assert len(received) < 20 * 1024 * 1024  # what it got was bounded too, and then it was closed
    await reader.send("1")
    assert (await receive(reader))["page_no"] == 1
    await reader.close()
