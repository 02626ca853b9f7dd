"""Light WebSocket load clients: thousands of viewers per process, spread over processes.

A viewer is a bare ``asyncio.Protocol``. It sends the opening handshake, then reads frame
headers only: payloads are skipped as they stream past, never buffered, decompressed or
parsed. A viewer's work per message is a few microseconds, far below any server's, so the
clients are not what a benchmark measures (each run prints the clients' CPU beside the
server's to show it).

A process holds at most 20,000 open files here, so ``LoadClients`` spreads viewers over worker
processes, and over source addresses 127.0.0.1, 127.0.0.2... (one address has ~28,000
ephemeral ports towards one server port).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import multiprocessing
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

import uvloop


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked frame, as clients must send them."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + masked


def handshake(
    host: str,
    port: int | None,
    path: str,
    deflate: bool,
    subprotocol: str | None,
    extra: Sequence[str] = (),
) -> bytes:
    """A WebSocket opening handshake. ``port`` None: ``host`` is the whole Host header;
    ``extra``: more header lines (the tests send an Origin, a cookie, forwarded headers)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}" if port is not None else f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Tally:
    """Shared by a process's viewers, so that asking "how many have it?" costs nothing."""

    received = 0  # viewers with a message since the last arm


class Viewer(asyncio.Protocol):
    """One connection. ``arrivals``: when each whole data message arrived (monotonic time)."""

    def __init__(
        self, request: bytes, opened: asyncio.Future[Viewer], stall: bool, tally: Tally
    ) -> None:
        self.tally = tally
        self.request = request
        self.opened = opened
        self.stall = stall
        self.transport: asyncio.Transport | None = None
        self.is_open = False
        self.closed = False
        self.close_code: int | None = None
        self.messages = 0
        self.arrivals: list[float] = []
        self.recording = False
        self.response = bytearray()
        self.head = bytearray()
        self.remaining = 0
        self.opcode = 0
        self.fin = False
        self.control: bytearray | None = None
        self.pager: Pager | None = None  # paging on its own: request, reply, next request
        self.asked = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.is_open:
            self.response += data
            end = self.response.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.response.startswith(b"HTTP/1.1 101"):
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(bytes(self.response[:80])))
                return
            self.is_open = True
            data = bytes(self.response[end + 4 :])
            self.response = bytearray()
            if not self.opened.done():
                self.opened.set_result(self)
            if self.stall:
                assert self.transport is not None
                self.transport.pause_reading()  # a viewer that never reads again
                return
        self.frames(data)

    def frames(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if self.remaining:
                take = min(self.remaining, n - i)
                if self.control is not None:
                    self.control += data[i : i + take]
                i += take
                self.remaining -= take
                if not self.remaining:
                    self.frame_done()
                continue
            head = self.head
            want = 2
            if len(head) >= 2:
                size = head[1] & 0x7F
                want = 4 if size == 126 else 10 if size == 127 else 2
            take = min(want - len(head), n - i)
            head += data[i : i + take]
            i += take
            if len(head) < want:
                continue
            size = head[1] & 0x7F
            if want == 2 and size >= 126:
                continue  # the extended length follows
            length = (
                size
                if size < 126
                else struct.unpack_from("!H" if size == 126 else "!Q", head, 2)[0]
            )
            opcode = head[0] & 0x0F
            self.fin = bool(head[0] & 0x80)
            if opcode:
                self.opcode = opcode  # continuation frames keep their message's opcode
            self.control = bytearray() if opcode >= 8 else None
            self.head = bytearray()
            self.remaining = length
            if not length:
                self.frame_done()

    def frame_done(self) -> None:
        opcode = self.opcode
        if opcode == 0x9:  # ping: answer, or a server closes us
            assert self.transport is not None and self.control is not None
            self.transport.write(client_frame(0xA, bytes(self.control)))
        elif opcode == 0x8:
            payload = bytes(self.control or b"")
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            assert self.transport is not None
            self.transport.write(client_frame(0x8, payload[:2]))
            self.transport.close()
        elif opcode in (0x1, 0x2) and self.fin:
            self.messages += 1
            if self.pager is not None:
                self.pager.answered(self)
            if self.recording:
                if not self.arrivals:
                    self.tally.received += 1
                self.arrivals.append(time.monotonic())
        self.control = None

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(0x1, text.encode()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the handshake"))


class Pager:
    """Drives viewers that each ask for a random page as soon as the last one arrived."""

    def __init__(self, pages: int, legacy: bool, until: float) -> None:
        import random

        self.random = random.Random(os.getpid())
        self.pages = pages
        self.legacy = legacy
        self.until = until
        self.latencies: list[float] = []

    def ask(self, viewer: Viewer) -> None:
        page = self.random.randint(1, self.pages)
        text = str(page) if self.legacy else f'{{"type": "goto", "page": {page}}}'
        viewer.asked = time.monotonic()
        viewer.send_text(text)

    def answered(self, viewer: Viewer) -> None:
        now = time.monotonic()
        self.latencies.append(now - viewer.asked)
        if now < self.until:
            self.ask(viewer)
        else:
            viewer.pager = None


@dataclass
class Target:
    host: str
    port: int
    path: str
    deflate: bool = False
    subprotocol: str | None = None


async def open_viewers(
    target: Target,
    count: int,
    *,
    stall_every: int = 0,
    source: str = "127.0.0.1",
    concurrency: int = 256,
    tally: Tally | None = None,
    retries: int = 0,
) -> tuple[list[Viewer], int, dict[str, int]]:
    """Open ``count`` viewers, ``concurrency`` handshakes at a time, trying a failed one again
    up to ``retries`` times (a second later), as the app reconnects. (viewers, how many never
    opened, every failed attempt counted by what went wrong)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    viewers: list[Viewer] = []
    never = 0
    failed: dict[str, int] = {}
    tally = tally or Tally()

    async def attempt(stall: bool) -> bool:
        opened: asyncio.Future[Viewer] = loop.create_future()
        request = handshake(
            target.host, target.port, target.path, target.deflate, target.subprotocol
        )
        transport = None
        try:
            transport, _ = await loop.create_connection(
                lambda: Viewer(request, opened, stall, tally),
                target.host,
                target.port,
                local_addr=(source, 0),
            )
            viewers.append(await asyncio.wait_for(opened, 60))
            return True
        except (TimeoutError, OSError, ConnectionError) as exc:
            if transport is not None:
                transport.abort()  # whatever the server made of it, this one is given up
            kind = type(exc).__name__
            if isinstance(exc, OSError) and exc.errno:
                kind += f" {errno.errorcode.get(exc.errno, exc.errno)}"
            elif str(exc):
                kind += f": {str(exc)[:40]}"
            failed[kind] = failed.get(kind, 0) + 1
            return False

    async def one(index: int) -> None:
        nonlocal never
        stall = bool(stall_every) and index % stall_every == stall_every - 1
        for tried in range(retries + 1):
            if tried:
                await asyncio.sleep(1.0)
            async with gate:
                if await attempt(stall):
                    return
        never += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return viewers, never, failed


# Worker processes


def _worker(pipe: Connection, index: int) -> None:
    # uvloop's event loop costs the viewers about half of asyncio's per message
    uvloop.run(_serve_commands(pipe, index))


async def _serve_commands(pipe: Connection, index: int) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
    # uvloop makes the pipe non-blocking; a large reply (thousands of latencies) then fails
    # with EAGAIN half-way, so replies go out with the pipe blocking again.
    send = pipe.send

    def reply(obj: Any) -> None:
        os.set_blocking(pipe.fileno(), True)
        send(obj)

    pipe.send = reply  # type: ignore[method-assign]
    viewers: list[Viewer] = []
    tally = Tally()
    while True:
        command, arg = await commands.get()
        if command == "connect":
            started = time.monotonic()
            new, never, failed = await open_viewers(**arg, tally=tally)
            viewers += new
            pipe.send(
                {
                    "opened": len(new),
                    "failures": never,
                    "failed_attempts": failed,
                    "seconds": time.monotonic() - started,
                }
            )
        elif command == "arm":
            for viewer in viewers:
                viewer.arrivals = []
                viewer.recording = True
            tally.received = 0
            pipe.send(None)
        elif command == "received":  # reading viewers with a message since arm
            pipe.send(tally.received)
        elif command == "reading":  # viewers that read (not stalled on purpose)
            pipe.send(sum(1 for v in viewers if not v.stall))
        elif command == "arrivals":  # the first arrival after arm, per viewer
            pipe.send([v.arrivals[0] if v.arrivals else None for v in viewers if not v.stall])
        elif command == "send":  # every viewer sends this text message
            for viewer in viewers:
                viewer.send_text(arg)
            pipe.send(None)
        elif command == "page":  # every viewer pages on its own for a while
            pager = Pager(arg["pages"], arg["legacy"], time.monotonic() + arg["seconds"])
            for viewer in viewers:
                viewer.pager = pager
                pager.ask(viewer)
            await asyncio.sleep(arg["seconds"] + 1)
            pipe.send(pager.latencies)
        elif command == "status":
            times = os.times()
            pipe.send(
                {
                    "open": sum(1 for v in viewers if not v.closed),
                    "closed": sum(1 for v in viewers if v.closed),
                    "messages": sum(v.messages for v in viewers),
                    "cpu": times.user + times.system,
                    "close_codes": sorted({v.close_code for v in viewers if v.close_code}),
                }
            )
        elif command == "close":
            for viewer in viewers:
                if viewer.transport is not None:
                    viewer.transport.close()
            await asyncio.sleep(0.2)
            pipe.send(None)
            return


class LoadClients:
    """Viewers spread over worker processes; every call goes to all workers and gathers."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for index in range(processes):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker, args=(theirs, index), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def _all(self, command: str, args: list[Any] | None = None) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, args[i] if args else None))
        return [pipe.recv() for pipe in self.pipes]

    def connect(
        self, target: Target, total: int, stall_every: int = 0, retries: int = 0
    ) -> dict[str, Any]:
        """Open ``total`` viewers, shared out evenly; each worker uses its own source address.
        ``failures``: viewers that never opened, after ``retries`` more attempts each;
        ``failure_kinds``: every failed attempt, retried or not, by what went wrong."""
        share = [
            total // len(self.pipes) + (i < total % len(self.pipes)) for i in range(len(self.pipes))
        ]
        started = time.monotonic()
        replies = self._all(
            "connect",
            [
                {
                    "target": target,
                    "count": n,
                    "stall_every": stall_every,
                    "source": f"127.0.0.{1 + i}",
                    "retries": retries,
                }
                for i, n in enumerate(share)
            ],
        )
        why: dict[str, int] = {}
        for r in replies:
            for kind, n in r["failed_attempts"].items():
                why[kind] = why.get(kind, 0) + n
        return {
            "opened": sum(r["opened"] for r in replies),
            "failures": sum(r["failures"] for r in replies),
            "failure_kinds": why,  # e.g. {"TimeoutError": 3}
            "seconds": time.monotonic() - started,
        }

    def arm(self) -> None:
        self._all("arm")

    def send(self, text: str) -> None:
        self._all("send", [text] * len(self.pipes))

    def page(self, pages: int, legacy: bool, seconds: float) -> list[float]:
        """Every viewer pages on its own, at random, for ``seconds``; the latencies."""
        arg = {"pages": pages, "legacy": legacy, "seconds": seconds}
        return [t for part in self._all("page", [arg] * len(self.pipes)) for t in part]

    def reading(self) -> int:
        return sum(self._all("reading"))

    def wait_received(self, expected: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            received = sum(self._all("received"))
            if received >= expected or time.monotonic() > deadline:
                return received
            time.sleep(0.02)  # arrival times are stamped by the viewers: polling can be lazy

    def arrivals(self) -> list[float | None]:
        return [t for part in self._all("arrivals") for t in part]

    def status(self) -> dict[str, Any]:
        replies = self._all("status")
        return {
            "open": sum(r["open"] for r in replies),
            "closed": sum(r["closed"] for r in replies),
            "messages": sum(r["messages"] for r in replies),
            "cpu": sum(r["cpu"] for r in replies),
            "close_codes": sorted({c for r in replies for c in r["close_codes"]}),
        }

    def close(self) -> None:
        try:
            self._all("close")
        finally:
            for proc in self.procs:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()


def wait_quiet(clients: LoadClients, seconds: float = 0.5, timeout: float = 30) -> None:
    """Wait until no viewer has received anything for a while (join pages, presence...)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        messages = clients.status()["messages"]
        if messages == last:
            return
        last = messages
        time.sleep(seconds)
