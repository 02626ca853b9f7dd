"""Issue 14, "no one client can take the server down": what one client can do over its
connections (pings, fragments, compressed messages, sockets, origins), each at a small scale,
and what it must not cost anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import socket
import threading
import time
import zlib
from collections import Counter

import orjson
import pytest
from bench.load import handshake as bench_handshake
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from support import TIME, V1, create, duration, expect, http, legacy, receive, table, v1, wait_for

# Raw clients, for what no well-behaved library sends


def handshake(
    port: int,
    path: str,
    *,
    host: str | None = None,
    origin: str | None = None,
    deflate: bool = False,
    extra: tuple[str, ...] = (),
) -> bytes:
    """The load clients' handshake (bench.load), for ``host`` if given (the whole Host
    header), from a page of ``origin``."""
    headers = (*([f"Origin: {origin}"] if origin else []), *extra)
    if host is None:
        return bench_handshake("127.0.0.1", port, path, deflate, None, headers)
    return bench_handshake(host, None, path, deflate, None, headers)


def opened(port: int, path: str, *, source: str = "127.0.0.1", **options) -> socket.socket:
    """A raw socket past its 101 (the rest of the answer left unread)."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(15)
    sock.connect(("127.0.0.1", port))
    sock.sendall(handshake(port, path, **options))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    mask = b"\x11\x22\x33\x44"
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        size = bytes([0x80 | n])
    elif n < 65536:
        size = bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        size = bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first]) + size + mask + masked


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def read_until_closed(sock: socket.socket, limit: float = 20) -> bytes:
    """What the server sends until it closes the connection, which it must do within
    ``limit`` seconds: a connection it leaves open fails the test (a wait, not a measure)."""
    deadline = time.monotonic() + limit
    data = b""
    try:
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(1 << 20)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except TimeoutError:
        raise AssertionError(f"still open after {limit} s, having sent {data[:300]!r}") from None


def new_document(server) -> dict[str, str]:
    return http("POST", f"{server.url}/parser/api/docs", table(50))[1]


# Pings, fragments, compression


@pytest.mark.process  # the memory the process holds
def test_a_ping_flood_that_never_reads_is_held_to_its_buffer_then_closed(server_factory):
    server = server_factory("--viewer-buffer", "64KiB", "--slow-viewer-timeout", duration(2))
    doc = new_document(server)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # little for the kernel to hold
    sock.settimeout(15)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(handshake(server.port, f"/parser/ws/{doc['id']}"))
    before = server.rss()
    ping = frame(0x9, b"p" * 125)
    burst = ping * 4000  # 524 KB of pings, each owed a pong the client never reads
    sent, started = 0, time.monotonic()
    try:
        while sent < 64 * 1024 * 1024 and time.monotonic() - started < 30:
            sock.sendall(burst)
            sent += len(burst)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # closed on it: too slow
    grown = server.rss() - before
    assert grown < 16 * 1024 * 1024, grown  # before: it grew by what was sent (64 MiB)
    wait_for(lambda: server.logged("too slow"), 15, "the server closing it as too slow")
    sock.close()
    assert http("GET", f"{server.url}/healthz")[0] == 200


async def test_text_in_too_many_fragments_closes_the_connection(server):
    doc = new_document(server)
    sock = opened(server.port, f"/parser/ws/{doc['id']}")
    pieces = frame(0x1, b"ab", fin=False) + frame(0x0, b"ab", fin=False) * 5000
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(pieces)
    data = read_until_closed(sock)
    assert b"\x88" in data and (1008).to_bytes(2, "big") in data  # close 1008, said
    sock.close()


def test_a_message_begun_and_never_finished_is_timed_out(server_factory):
    # pings a thread of this process must answer in time, busy as the machine may be
    server = server_factory("--ping-interval", duration(2))
    doc = new_document(server)
    sock = opened(server.port, f"/parser/ws/{doc['id']}")
    sock.sendall(frame(0x1, b'{"type":', fin=False))  # and never the rest

    stop = threading.Event()

    def answer_pings() -> None:  # alive: it answers every ping, so only the message times out
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except (TimeoutError, OSError):
                return
            if not data:
                return
            for _ in range(data.count(b"\x89\x00")):
                sock.sendall(frame(0xA, b""))

    thread = threading.Thread(target=answer_pings, daemon=True)
    thread.start()
    thread.join(15)
    stop.set()
    server.caught_up()  # the line is written before the close, and read a moment after
    assert server.logged("message not finished"), "".join(server.log[-10:])
    sock.close()


@pytest.mark.process  # the memory the process holds
async def test_a_view_link_cannot_make_the_server_inflate_a_bomb(server_factory):
    server = server_factory("--max-upload-bytes", "256MiB")
    doc = new_document(server)
    bomb = deflated(b"\x00" * (200 * 1024 * 1024))  # ~200 KB that inflate to 200 MiB
    ws = await legacy(server, doc["id"])  # a view link, permessage-deflate agreed
    await receive(ws)
    before = server.rss()
    for _ in range(5):  # as the library would send it compressed, but no library makes bombs
        ws.transport.write(frame(0x2, bomb, rsv1=True))
    await ws.send("2")  # a page request after them: answered, the connection lives
    errors = []
    while True:
        page = await receive(ws, timeout=20)
        if "error" in page:
            errors.append(page["error"]["code"])
        elif page["page_no"] == 1:
            break
    assert errors == ["edit_key_required"] * 5
    _, metrics, _ = http("GET", f"{server.url}/metrics")
    inflated = re.search(r"^tablecast_inflated_bytes_total (\S+)", metrics, re.M)
    assert inflated is not None and float(inflated.group(1)) < 1024 * 1024  # nothing of them
    assert server.rss() - before < 64 * 1024 * 1024
    await ws.close()


@pytest.mark.process  # the memory the process holds
async def test_an_editors_compressed_upload_is_inflated_a_piece_at_a_time(server_factory):
    # a bomb from the document's own editor is an upload: it is read a piece at a time, as
    # fast as it is parsed, and refused at the size limit, never held whole
    server = server_factory("--max-upload-bytes", "128MiB")
    ws = await connect(f"{server.ws_url}/parser/ws", max_size=None, compression="deflate")
    await receive(ws)
    # a first file, sorted: what Arrow sets up once in a process (its threads, its allocator's
    # arenas: some 30 MiB) is not what this upload costs
    await ws.send(b"a\tb\n1\t2\n")
    first = await receive(ws)
    while not first.get("data"):
        first = await receive(ws)
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{first['uuid']}/pages/1?sort=0")
    assert status == 200, body
    before = server.reset_peak_rss()
    # 192 MiB in rows of 1 KiB (few to parse), compressed to ~190 KB: it arrives in a few reads
    await ws.send((b"x" * 1023 + b"\n") * (192 * 1024))
    await asyncio.wait_for(ws.wait_closed(), 60)
    assert ws.close_code == 1009  # a legacy file over the limit, as before
    # at its peak, not once it is over: inflated whole, it would hold the 128 MiB up to the
    # limit and more; a piece at a time, a few MiB, beside what the upload's columns take while
    # made (the views thread makes 4 MiB of blocks at a time: some 35-50 MiB at the peak, a
    # node's, whatever the upload's size; see tablecast.service.views.STREAM_BYTES)
    assert server.peak_rss() - before < 80 * 1024 * 1024


async def test_a_connection_inflates_no_faster_than_its_budget(server_factory):
    # compressed messages that inflate to the size limit, as fast as the client can send them:
    # each costs the server 4 MiB of work and the client ~4 KB
    server = server_factory()
    doc = new_document(server)
    opened_at = time.monotonic()
    ws = await connect(
        f"{server.ws_url}/parser/ws/{doc['id']}",
        subprotocols=[V1],  # type: ignore[list-item]
        max_size=None,
        compression="deflate",
    )
    await expect(ws, "page")
    bomb = " " * (4 * 1024 * 1024 - 16)  # not a message: each is answered bad_message
    for _ in range(24):
        await ws.send(bomb)
    for _ in range(24):
        await expect(ws, "error", timeout=60, code="bad_message")
    elapsed = time.monotonic() - opened_at
    _, metrics, _ = http("GET", f"{server.url}/metrics")
    inflated = float(re.search(r"^tablecast_inflated_bytes_total (\S+)", metrics, re.M).group(1))  # type: ignore[union-attr]
    assert inflated >= 24 * len(bomb)  # all of it, in the end
    # A bound that holds however slow the machine: never more than its burst, plus its rate
    # for as long as the connection has been open (the test's clock started before the
    # server's), plus the piece in hand. Unbudgeted, all 96 MiB went in a fraction of a
    # second. The figures are written out (web/connection.py: INFLATE_RATE, READ_PIECE): a
    # test that read the constants could not see them raised.
    rate, piece = 32 * 1024 * 1024, 1024 * 1024
    assert inflated <= rate * (1 + elapsed) + piece, (inflated, elapsed)
    await ws.close()


# Sockets: timeouts, per-address counts, running out of file descriptors


def test_a_request_whose_headers_never_finish_is_closed(server_factory):
    server = server_factory("--header-timeout", duration(2))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    assert read_until_closed(sock, limit=10) == b""  # closed unanswered (before: after 120 s)
    sock.close()


def test_an_address_holds_only_its_share_of_http_connections(server_factory):
    server = server_factory("--max-http-connections-per-ip", "5", "--header-timeout", "30s")
    held = []
    for _ in range(5):
        sock = socket.socket()
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", server.port))
        held.append(sock)
    time.sleep(0.3)
    extra = socket.socket()
    extra.bind(("127.0.0.2", 0))
    extra.connect(("127.0.0.1", server.port))
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_until_closed(extra, limit=10) == b""  # closed unanswered
    assert http("GET", f"{server.url}/healthz")[0] == 200  # another address: served
    for sock in held:
        sock.close()
    deadline = time.monotonic() + 10
    while True:  # once the server has seen them close, the address has its share again
        again = socket.socket()
        again.bind(("127.0.0.2", 0))
        again.connect(("127.0.0.1", server.port))
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_until_closed(again, limit=10)
        again.close()
        if answer.startswith(b"HTTP/1.1 200"):
            break
        assert answer == b"" and time.monotonic() < deadline, answer
        time.sleep(0.1)


def test_out_of_file_descriptors_the_server_pauses_and_says_so_once(server_factory):
    server = server_factory(
        "--header-timeout", duration(4), "--max-http-connections-per-ip", "0", open_files=80
    )
    flood = []
    for _ in range(150):  # more than the process may open: the kernel queues the rest
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", server.port))
        flood.append(sock)
    wait_for(lambda: server.logged("cannot accept connections"), what="it said so")
    time.sleep(4 * TIME)  # the subject: a while in which it says nothing more
    said = server.logged("cannot accept connections")
    assert 1 <= len(said) <= 2, said  # once per interval, not thousands of times a second
    for sock in flood:
        sock.close()
    deadline = time.monotonic() + 20
    while True:  # the held connections time out, and the server accepts again
        try:
            if http("GET", f"{server.url}/healthz")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_refused_handshake_is_answered_and_closed(server_factory):
    # a header timeout longer than the wait below: only the refusal may close the connection
    server = server_factory("--max-connections-per-ip", "1", "--header-timeout", "60s")
    doc = new_document(server)
    first = opened(server.port, f"/parser/ws/{doc['id']}")
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(handshake(server.port, f"/parser/ws/{doc['id']}"))
    data = read_until_closed(sock, limit=10)  # answered, then closed: it holds nothing of ours
    assert data.startswith(b"HTTP/1.1 429") and b"too_many_connections" in data
    sock.close()
    first.close()


async def test_simultaneous_handshakes_cannot_pass_the_per_address_limit(server_factory):
    server = server_factory("--max-connections-per-ip", "40")
    doc = new_document(server)

    async def one() -> bool:
        try:
            ws = await connect(f"{server.ws_url}/parser/ws/{doc['id']}", open_timeout=30)
        except InvalidStatus:
            return False
        clients.append(ws)
        return True

    clients: list = []
    results = await asyncio.gather(*(one() for _ in range(200)))
    assert sum(results) == 40  # before: counted only once each socket was taken over
    for ws in clients:
        await ws.close()


# Origins


async def refused_origin(server, origin: str, host: str, *extra: str) -> bool:
    """Whether a handshake from a page of ``origin``, for ``host``, is refused (403)."""
    path = f"/parser/ws/{new_document(server)['id']}"
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(handshake(server.port, path, host=host, origin=origin, extra=extra))
    sock.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    sock.close()
    if head.startswith(b"HTTP/1.1 101"):
        return False
    assert head.startswith(b"HTTP/1.1 403") and b"origin_not_allowed" in head, head
    return True


async def test_a_name_rebound_to_this_server_is_not_one_of_its_own(server_factory):
    server = server_factory()
    port = server.port
    assert await refused_origin(server, f"http://evil.example:{port}", f"evil.example:{port}")
    assert await refused_origin(server, f"https://127.0.0.1:{port}", f"127.0.0.1:{port}")
    assert await refused_origin(server, f"http://127.0.0.1:{port + 1}", f"127.0.0.1:{port}")
    assert not await refused_origin(server, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    assert not await refused_origin(server, f"http://localhost:{port}", f"localhost:{port}")
    assert not await refused_origin(server, f"http://[::1]:{port}", f"[::1]:{port}")


async def test_server_names_and_the_public_url_say_which_pages_are_ours(server_factory):
    named = server_factory("--server-name", "tables.test")
    port = named.port
    assert not await refused_origin(named, f"http://tables.test:{port}", f"tables.test:{port}")
    assert await refused_origin(named, f"http://other.test:{port}", f"other.test:{port}")
    public = server_factory("--public-url", "https://tables.example.com")
    port = public.port
    assert not await refused_origin(public, "https://tables.example.com", "tables.example.com")
    assert await refused_origin(public, f"http://evil.example:{port}", f"evil.example:{port}")
    assert await refused_origin(public, f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    assert await refused_origin(public, "http://tables.example.com", "tables.example.com")


async def test_behind_a_proxy_the_forwarded_host_decides(server_factory):
    plain = server_factory("--server-name", "tables.test")
    # a proxy that does not pass Host (the article's lines): the page's host is not seen
    upstream = f"127.0.0.1:{plain.port}"
    assert await refused_origin(plain, "http://tables.test", upstream)
    plain.caught_up()  # the line is written before the answer, and read a moment after
    assert plain.logged("refused .* code=origin_not_allowed")
    trusting = server_factory("--server-name", "tables.test", "--trust-proxy", "1")
    forwarded = ("X-Forwarded-Host: tables.test", "X-Forwarded-Proto: https")
    assert not await refused_origin(trusting, "https://tables.test", upstream, *forwarded)
    assert await refused_origin(trusting, "http://tables.test", upstream, *forwarded)
    assert await refused_origin(plain, "https://tables.test", upstream, *forwarded)  # untrusted


# A legacy client's way back to the document it made


async def test_the_browser_that_made_a_document_over_the_legacy_protocol_may_edit_it_again(
    server,
):
    creator = await legacy(server)
    first = await receive(creator)
    cookie = creator.response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert f"Path=/parser/ws/{first['uuid']}" in cookie
    await creator.send(table(10))
    assert (await receive(creator))["total_number"] == 11
    await creator.close()  # a reload, a dropped connection, a restart: the key is not known
    value = cookie.split(";")[0]
    back = await connect(
        f"{server.ws_url}/parser/ws/{first['uuid']}",
        max_size=None,
        additional_headers={"Cookie": value},
    )
    await receive(back)
    await back.send(table(20))
    page = await receive(back)
    assert "error" not in page and page["total_number"] == 21
    stranger = await legacy(server, first["uuid"])  # no cookie: a view link, as before
    await receive(stranger)
    await stranger.send(table(30))
    assert (await receive(stranger))["error"]["code"] == "edit_key_required"
    for ws in (back, stranger):
        await ws.close()
    # and a v1 joiner with the cookie is an editor too (the same browser)
    again = await v1_with_cookie(server, first["uuid"], value)
    assert (await expect(again, "hello"))["edit"] is True
    await again.close()


@pytest.mark.parametrize("cookie", ["tablecast_edit=WRONG", "tablecast_edit", '"', "a=b; c"])
async def test_a_wrong_or_broken_cookie_gives_no_edit_rights(server, cookie):
    ws = await v1_with_cookie(server, new_document(server)["id"], cookie)
    assert (await expect(ws, "hello"))["edit"] is False
    await ws.close()


async def v1_with_cookie(server, document_id: str, cookie: str):
    return await connect(
        f"{server.ws_url}/parser/ws/{document_id}",
        subprotocols=[V1],  # type: ignore[list-item]
        additional_headers={"Cookie": cookie},
    )


async def test_a_v1_viewer_still_joins_normally(server):
    doc = new_document(server)
    ws = await v1(server, doc["id"])
    await expect(ws, "page")
    await ws.close()


async def test_viewers_coming_and_changes_going_out_leave_no_cycles_to_collect(server):
    # What a viewer's handshake leaves in reference cycles waits for CPython's cycle collector,
    # whose full passes stop the whole server: with 10,000 viewers arriving, 110-270 ms, in
    # the middle of others' pages. Nothing of ours, or of Tornado's, is left to it.
    doc = create(server)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # (what the collector finds, kept to look at)
    sockets = []
    try:
        for i in range(20):
            sockets.append(await (v1 if i % 2 else legacy)(server, doc["id"]))
            await receive(sockets[-1])
        for i in range(3):  # changes going out to all of them
            cell = orjson.dumps([{"row": 3, "column": 1, "value": f"v{i}"}])
            url = f"{server.url}/parser/api/docs/{doc['id']}/cells"
            headers = {"Authorization": f"Bearer {doc['edit_key']}"}
            status, _, _ = await asyncio.to_thread(http, "PATCH", url, cell, headers)
            assert status == 200
            for ws in sockets:
                await receive(ws)
        gc.collect()
        left = Counter(
            f"{type(found).__module__}.{type(found).__qualname__}"
            for found in gc.garbage
            if type(found).__module__.startswith(("tablecast", "tornado"))
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        for ws in sockets:
            await ws.close()
    assert not left, left
