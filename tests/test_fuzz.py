"""Hostile clients against a live server. Whatever one client sends, it gets a typed error (or
the close code RFC 6455 asks for); everyone else watching is served as before, and the
document is exactly what it was."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import struct
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

import orjson
import pytest
from bench.load import handshake
from websockets.asyncio.client import ClientConnection

import support
from support import Server, expect, http, legacy, nothing_more, receive, table, upload_v1, v1
from tablecast.table.blocks import join_rows
from tablecast.wire import websocket as wsf

# what a v1 watcher may see while others misbehave: who is there, uploads' progress, and the
# version's column types, told once made if its first page went out before (a loaded machine)
SKIP = ("presence", "upload_progress", "types")
# the page is turned after every attack, faster than --page-rate allows (tested on its own)
LIMITS = ("--max-message-bytes", "64KiB", "--max-upload-bytes", "1MiB", "--page-rate", "1000")


@pytest.fixture
def server(server_factory: Any) -> Server:
    """Each test turns the page after every attack: faster than the default --page-rate."""
    return server_factory("--page-rate", "1000")


async def editor(server: Server, document_id: str, key: str) -> ClientConnection:
    """A v1 client that may upload to the document and turn its shared page."""
    ws = await support.editor(server, document_id, key)
    await expect(ws, "page")  # the join page comes first: auth is read once joined
    await expect(ws, "access", edit=True)
    return ws


def snapshot(server: Server, document_id: str) -> tuple[Any, ...]:
    """The document as the API shows it: its metadata and every page (not what followers
    see, which page turns change)."""
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200, meta
    del meta["shared_page"], meta["shared_view"]
    url = f"{server.url}/parser/api/docs/{document_id}/pages"
    return meta, [http("GET", f"{url}/{n}")[1] for n in range(1, meta["page_count"] + 1)]


@dataclass
class Scene:
    """A document with a committed version, watched by a legacy and a v1 viewer."""

    server: Server
    id: str
    key: str
    old: ClientConnection  # legacy watcher
    new: ClientConnection  # v1 watcher
    before: tuple[Any, ...]
    turner: ClientConnection | None = None  # an editor (v1) or the creator (legacy)
    turns: int = 0

    async def close(self, *others: ClientConnection) -> None:
        """Close every client, so that the server stops at once rather than wait for them."""
        clients = [self.old, self.new, *([self.turner] if self.turner else []), *others]
        await asyncio.gather(*(ws.close() for ws in clients))

    @property
    def shared_page(self) -> int:
        return 2 + self.turns % 2 if self.turns else 1

    async def served(self, what: str) -> None:
        """Both watchers got nothing wrong, still follow the shared page, and the document is
        intact: after ``what``."""
        assert snapshot(self.server, self.id) == self.before, what
        if self.turner is None:  # nobody may turn the page: see that nothing else came
            await asyncio.gather(nothing_more(self.old), nothing_more(self.new, skip=SKIP))
            return
        self.turns += 1
        page_no = self.shared_page
        legacy_turner = self.turner.subprotocol is None
        await self.turner.send(
            str(page_no) if legacy_turner else json.dumps({"type": "goto", "page": page_no})
        )
        for ws in (self.old, self.turner) if legacy_turner else (self.old,):
            page = await receive(ws)
            assert (page["page_no"], page.get("error")) == (page_no, None), (what, page)
        for ws in (self.new,) if legacy_turner else (self.new, self.turner):
            page = await next_page(ws)
            assert (page["page_no"], page["cause"]) == (page_no, "turn"), (what, page)
            assert page["version"] == self.before[0]["version"], what


async def next_page(ws: ClientConnection) -> dict[str, Any]:
    """The next v1 message but those in SKIP, which must be a page."""
    while (message := await receive(ws))["type"] in SKIP:
        pass
    assert message["type"] == "page", message
    return message


async def http_scene(server: Server) -> Scene:
    """A document made over HTTP (whose answer gives the edit key), with an editor to turn pages."""
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", table(250))
    assert status == 201, doc
    old, new = await legacy(server, doc["id"]), await v1(server, doc["id"])
    await receive(old)
    await expect(new, "page")
    scene = Scene(server, doc["id"], doc.get("edit_key", ""), old, new, snapshot(server, doc["id"]))
    scene.turner = await editor(server, scene.id, scene.key)
    await expect(new, "presence", viewers=3)
    return scene


async def legacy_scene(server: Server) -> Scene:
    """A document a legacy client made and uploaded to (so it may upload again), watched."""
    creator = await legacy(server)
    document_id = (await receive(creator))["uuid"]
    await creator.send(table(250))
    assert (await receive(creator))["total_number"] == 251
    old, new = await legacy(server, document_id), await v1(server, document_id)
    await receive(old)
    await expect(new, "page")
    await expect(new, "presence", viewers=3)
    before = snapshot(server, document_id)
    return Scene(server, document_id, "", old, new, before, turner=creator)


# Frames no library would send, on a bare socket


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
    length: int | None = None,
) -> bytes:  # fmt: skip
    """A client frame: ``rsv`` bits, unmasked, or announcing ``length`` bytes, as asked."""
    n = len(payload) if length is None else length
    first, bit = (0x80 if fin else 0) | rsv | opcode, 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    key = os.urandom(4) if mask else b""
    return head + key + (wsf.unmask(payload, key, 0) if mask else payload)


class Raw:
    """A WebSocket client on a bare socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(
        cls, server: Server, path: str = "/parser/ws", subprotocol: str | None = None,
        deflate: bool = False, headers: tuple[str, ...] = (),
    ) -> tuple[Raw, str]:  # fmt: skip
        """The connection and the server's answer to the handshake (status line and headers)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = handshake("127.0.0.1", server.port, path, deflate, subprotocol)[:-2]
        writer.write(request + "".join(h + "\r\n" for h in headers).encode("latin-1") + b"\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        return cls(reader, writer), answer.decode("latin-1")

    async def frame(self) -> tuple[int, bytes]:
        first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
        n = second & 0x7F
        if n >= 126:
            size = 2 if n == 126 else 8
            n = int.from_bytes(await self.reader.readexactly(size), "big")
        return first & 0x0F, await self.reader.readexactly(n)

    async def message(self) -> dict[str, Any]:
        opcode, payload = await self.frame()
        assert opcode == wsf.TEXT
        return orjson.loads(payload)  # type: ignore[no-any-return]

    async def close_code(self) -> int:
        """Skip to the server's close frame; its code, once the server has closed the socket."""
        while (found := await self.frame())[0] != wsf.CLOSE:
            pass
        with contextlib.suppress(ConnectionResetError):  # closed with bytes of ours unread
            assert await asyncio.wait_for(self.reader.read(), 10) == b""
        self.writer.close()
        return int.from_bytes(found[1][:2], "big")

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def vanish(self) -> None:
        """Gone without a close frame, as when a laptop lid shuts."""
        self.writer.transport.abort()


CONT, TEXT, BINARY, CLOSE, PING = 0, wsf.TEXT, wsf.BINARY, wsf.CLOSE, wsf.PING
CODE = struct.Struct("!H").pack
BROKEN_FRAMES = [  # (what, frame, the close code RFC 6455 asks for)
    ("invalid UTF-8", frame(TEXT, b'{"type": "ping", "x": "\xff"}'), 1007),
    ("invalid UTF-8 across continuation frames",
     frame(TEXT, b'{"type": "ping", "x": "\xe2\x82', fin=False) + frame(CONT, b'("}'), 1007),
    ("RSV2", frame(TEXT, b"{}", rsv=0x20), 1002),
    ("RSV3", frame(BINARY, b"a\tb\n", rsv=0x10), 1002),
    ("RSV1 without permessage-deflate", frame(TEXT, b"{}", rsv=0x40), 1002),
    ("an unmasked frame", frame(TEXT, b"{}", mask=False), 1002),
    ("opcode 3", frame(3), 1002),
    ("opcode 11", frame(11), 1002),
    ("close code 1005", frame(CLOSE, CODE(1005)), 1002),
    ("close code 999", frame(CLOSE, CODE(999)), 1002),
    ("close code 5000", frame(CLOSE, CODE(5000)), 1002),
    ("a one-byte close", frame(CLOSE, b"\x03"), 1002),
    ("a close reason not UTF-8", frame(CLOSE, CODE(1000) + b"\xc3("), 1007),
    ("a continuation of nothing", frame(CONT, b"x"), 1002),
    ("a new message inside a fragmented one", frame(TEXT, b"{", fin=False) + frame(TEXT, b"}"),
     1002),
    ("a 126-byte ping", frame(PING, b"x" * 126), 1002),
    ("a fragmented ping", frame(PING, b"x", fin=False), 1002),
    ("a 2**63-byte frame", bytes([0x82, 0xFF, 0x80]) + bytes(7) + b"mask", 1002),
    ("a text message over the limit, its header alone", frame(TEXT, length=65 * 1024 + 1), 1009),
    ("a text message over the limit in fragments",
     frame(TEXT, b"x" * 40_000, fin=False) + frame(CONT, b"x" * 40_000), 1009),
]  # fmt: skip


# The server reads out (and throws away) what a client sends after the close frame that
# fails it, until the client closes: a socket closed with input unread is reset, and the
# reset can overtake the close frame (see wire/session.py, Session.fail)
async def test_broken_frames_close_with_the_right_code_and_harm_no_one(server_factory):
    server = server_factory(*LIMITS)
    scene = await http_scene(server)
    v1_only = [
        ("a chunk over the message limit", frame(BINARY, length=65 * 1024 + 1), 1009),
    ]
    legacy_only = [
        ("a page number not UTF-8", frame(TEXT, b"\xff3"), 1007),
        ("a file over the upload limit, its header alone", frame(BINARY, length=2 << 20), 1009),
    ]
    path = f"/parser/ws/{scene.id}"
    for subprotocol, cases in ((None, legacy_only), ("tablecast.v1", v1_only)):
        for what, data, code in BROKEN_FRAMES + cases:
            attacker, answer = await Raw.open(server, path, subprotocol)
            assert answer.startswith("HTTP/1.1 101"), answer
            attacker.send(data)
            assert await attacker.close_code() == code, (subprotocol, what)
            await scene.served(f"{subprotocol}: {what}")
    # With permessage-deflate agreed: deflate garbage, and a bomb past the message limit
    for what, data, code in [
        ("deflate garbage", frame(TEXT, b"\xff\xfe garbage", rsv=0x40), 1002),
        ("a deflate bomb", frame(TEXT, wsf.deflate(b" " * (1 << 20)), rsv=0x40), 1009),
    ]:
        attacker, answer = await Raw.open(server, path, "tablecast.v1", deflate=True)
        assert "permessage-deflate" in answer
        attacker.send(data)
        assert await attacker.close_code() == code, what
        await scene.served(what)
    await scene.close()


async def test_hostile_handshakes_are_refused_with_a_status(server):
    scene = await http_scene(server)
    path = f"/parser/ws/{scene.id}"
    for headers, status in [
        (("Origin: http://[",), "403"),  # not even a URL: no site we serve
        (("Origin: null",), "403"),
        # "²" passes str.isdigit: the offer is passed over, the connection is uncompressed
        (("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\xb2",), "101"),
        (("Sec-WebSocket-Protocol: \xff, tablecast.v1",), "101"),
    ]:
        attacker, answer = await Raw.open(server, path, headers=headers)
        assert answer.split(" ")[1] == status, (headers, answer)
        assert "permessage-deflate" not in answer
        if status == "101":
            assert (await attacker.message())["uuid"] == scene.id
            attacker.send(frame(CLOSE, CODE(1000)))
            assert await attacker.close_code() == 1000
        else:
            attacker.writer.close()
        await scene.served(str(headers))
    await scene.close()


def begin(**fields: Any) -> str:
    return json.dumps({"type": "upload_begin", "filename": "x.tsv", **fields})


END = json.dumps({"type": "upload_end"})
V1_MESSAGES: list[tuple[list[str | bytes], str]] = [  # (what an editor sends, the error code)
    *(([text], "bad_message") for text in [
        "not json", '{"type": "goto", "page": 2', "[1, 2]", "null", '"goto"',
        "[" * 3000 + "]" * 3000, '{"type": "goto", "page": NaN}', '{"type": "goto", "page": 1e309}',
        '{"type": "upload_begin", "size": 1e309}', json.dumps({"type": "follow", "follow": "yes"}),
        begin(size=-1), begin(size="x"), begin(size=1.5), begin(size=True), begin(filename=["a"]),
        begin(header="yes"),
    ]),
    *(([text], "unknown_type") for text in [
        '{"type": "dance"}', '{"type": null}', '{"type": {"a": 1}}',
        '{"type": "' + "x" * 60_000 + '"}',
    ]),
    *(([json.dumps({"type": "goto", "page": page})], "bad_page")
      for page in ["abc", "-1", -1, 0, 1.5, "1.5", "1e309", {"a": 1}, [2], True, None, ""]),
    *(([begin(**option)], "bad_option") for option in [
        {"delimiter": ":"}, {"encoding": "base64"}, {"encoding": "\x00"}, {"encoding": "klingon"}
    ]),
    ([END], "no_upload"),
    ([json.dumps({"type": "upload_cancel"})], "no_upload"),
    ([b"a\tb\n"], "no_upload"),  # a binary chunk without a begin
    ([begin(size=10**12)], "too_large"),
    ([begin(), b"\x00\x01\x02" * 20_000, b"\x00" * 60_000, b"in flight", END], "not_text"),
    ([begin(encoding="utf-32"), b"a\tb\n", END], "bad_option"),  # no byte order mark
    ([begin(encoding="idna"), b"a\tb\n", END], "bad_option"),
    ([begin(size=3), b"a\tb\n", END], "upload_size_mismatch"),
    ([begin(), b"\n\r\n  \n", END], "empty_file"),
    ([begin(), END], "empty_file"),
    ([begin(), b"a," * 16_384 + b"b\n", END], "too_many_columns"),  # one column past Excel's
    ([begin(), begin()], "upload_in_progress"),
    # past --max-upload-bytes, in chunks within the message limit
    ([json.dumps({"type": "upload_cancel"}), begin(), *[b"a" * 60_000] * 18], "too_large"),
]  # fmt: skip


async def test_hostile_v1_messages_get_typed_errors_and_harm_no_one(server_factory):
    server = server_factory(*LIMITS)
    scene = await http_scene(server)
    attacker = await editor(server, scene.id, scene.key)
    for messages, code in V1_MESSAGES:
        for message in messages:
            await attacker.send(message)
        error = await expect(attacker, "error")
        what = str(messages)[:100]
        assert error["code"] == code and error["message"], (what, error)
        assert len(error["message"]) < 300, what
        await scene.served(what)
    await attacker.send(json.dumps({"type": "upload_cancel"}))  # the too_large upload failed:
    await attacker.send(json.dumps({"type": "ping"}))  # no second error, and it still talks
    assert (await expect(attacker, "pong"))["type"] == "pong"
    await nothing_more(attacker, skip=(*SKIP, "page"))
    # A page past the last is no error: the shared page goes to the last one, for everyone
    await attacker.send(json.dumps({"type": "goto", "page": 99999999999}))
    for ws in (attacker, scene.new):
        assert (await expect(ws, "page", cause="turn"))["page_no"] == 3
    assert (await receive(scene.old))["page_no"] == 3
    # Lone surrogates from a codec that makes them are stored as U+FFFD, not a crash
    done = await upload_v1(attacker, b"+2AA-\tx\n", encoding="utf-7", header=False)
    assert done["version"] == 2
    _, page, _ = http("GET", f"{server.url}/parser/api/docs/{scene.id}/pages/1")
    assert page["data"] == [["\ufffd", "x"]]
    await scene.close(attacker)


async def test_hostile_legacy_messages_get_error_pages_and_harm_no_one(server):
    scene = await legacy_scene(server)
    attacker = scene.turner
    assert attacker is not None
    texts = ["abc", "-1", "0", "1e309", "1.5", "", " ", "+3", "3 4", "٣", "1" * 19, "\x00",
             '{"type": "goto", "page": 2}', "[" * 3000, "x" * 60_000]  # fmt: skip
    files = [(b"\x00\x01\x02" * 30_000, "not_text"), (b"", "empty_file"), (b"\n \n", "empty_file")]
    for message, code in [(t, "bad_page") for t in texts] + files:
        await attacker.send(message)
        page = await receive(attacker)
        what = repr(message[:40])
        assert page["error"]["code"] == code, (what, page)
        assert (page["page_no"], page["total_number"]) == (scene.shared_page, 251), what
        await scene.served(what)
    await attacker.send("99999999999")  # past the last page: no error, the last page
    for ws in (attacker, scene.old):
        page = await receive(ws)
        assert (page["page_no"], page.get("error")) == (3, None)
    assert (await expect(scene.new, "page", cause="turn"))["page_no"] == 3
    await scene.close()


async def test_hostile_http_requests_get_typed_errors_and_harm_no_one(server):
    scene = await http_scene(server)
    docs = f"{server.url}/parser/api/docs"
    doc, pages = f"{docs}/{scene.id}", f"{docs}/{scene.id}/pages"
    auth = {"Authorization": f"Bearer {scene.key}"}
    for method, url, body, status, code in [
        *(("PUT", f"{doc}?{query}", table(5), 400, "bad_option")
          for query in ["encoding=base64", "encoding=undefined", "encoding=rot13", "delimiter=%3A",
                        "delimiter=tabs", "header=maybe"]),
        ("PUT", f"{doc}?encoding=utf-32", b"a\tb\n", 400, "bad_option"),  # no byte order mark
        ("PUT", f"{doc}?name=%ff", table(5), 400, "bad_request"),  # not UTF-8
        ("PUT", doc, b"\x00\x01" * 40_000, 400, "not_text"),
        ("PUT", doc, b"", 400, "empty_file"),
        ("PUT", doc, b"a\t" * 16_384 + b"b\n", 400, "too_many_columns"),
        ("PUT", f"{docs}/00000000-0000-4000-8000-000000000000", table(5), 404, "not_found"),
        ("PUT", f"{docs}/..%2F..%2Fetc", table(5), 404, "not_found"),
        ("POST", f"{docs}?encoding=base64", table(5), 400, "bad_option"),
        ("DELETE", doc, None, 405, "method_not_allowed"),
        *(("GET", f"{pages}/{n}", None, 404, "page_not_found") for n in ["0", "4", "99999999999"]),
        *(("GET", f"{pages}/{n}", None, 404, "not_found")
          for n in ["abc", "-1", "1.5", "1e309", "9" * 30, "%00"]),
    ]:  # fmt: skip
        answer = http(method, url, body, auth)
        assert answer[:2] == (status, {"error": answer[1].get("error")}), (method, url, answer)
        assert answer[1]["error"]["code"] == code, (method, url, answer)
        await scene.served(f"{method} {url}")
    await scene.close()


def stored(server: Server, document_id: str) -> dict[int, list[list[str]]]:
    """Every committed version's records, read from the store (the API shows the current one)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'tablecast.sqlite3'}?mode=ro", uri=True)
    found = {}
    for version_id, number, count in db.execute(
        "SELECT id, number, record_count FROM versions WHERE document_id = ? AND number > 0",
        (document_id,),
    ):
        blocks = db.execute(
            "SELECT block, records, offsets FROM blocks WHERE version_id = ? ORDER BY block",
            (version_id,),
        )
        found[number] = orjson.loads(join_rows(blocks, 0, count))
    db.close()
    return found


async def nothing_pending(server: Server) -> None:
    """Every upload that was begun has been committed or rolled back, within a few seconds."""
    db = sqlite3.connect(f"file:{server.data_dir / 'tablecast.sqlite3'}?mode=ro", uri=True)
    query = "SELECT COUNT(*) FROM versions WHERE number IS NULL"
    for _ in range(50):
        if not (pending := db.execute(query).fetchone()[0]):
            break
        await asyncio.sleep(0.1)
    db.close()
    assert not pending, f"{pending} uploads left pending"


def rows(data: bytes) -> list[list[str]]:
    return [line.split("\t") for line in data.decode().splitlines()]


async def test_two_editors_uploading_at_once_both_land_intact(server):
    scene = await http_scene(server)
    a, b = scene.turner, await editor(server, scene.id, scene.key)
    assert a is not None
    files = {"a.tsv": table(3000, cols=4), "b.tsv": table(2000, cols=2).replace(b"r", b"s")}
    for ws, name in ((a, "a.tsv"), (b, "b.tsv")):
        await ws.send(begin(filename=name, size=len(files[name])))
        await expect(ws, "upload_ready")
    pieces = [[data[i : i + 4096] for i in range(0, len(data), 4096)] for data in files.values()]
    for chunk_a, chunk_b in zip_longest(*pieces):  # interleaved, each paced by its acks
        for ws, chunk in ((a, chunk_a), (b, chunk_b)):
            if chunk is not None:
                await ws.send(chunk)
        for ws, chunk in ((a, chunk_a), (b, chunk_b)):
            if chunk is not None:
                await expect(ws, "upload_ack")
    await asyncio.gather(a.send(END), b.send(END))
    done = await asyncio.gather(expect(a, "upload_done"), expect(b, "upload_done"))
    assert sorted(d["version"] for d in done) == [2, 3]
    last = "a.tsv" if done[0]["version"] == 3 else "b.tsv"
    for ws in (scene.new, a, b):  # everyone ends on the last version
        assert (await expect(ws, "page", version=3))["filename"] == last
    while (await receive(scene.old))["total_number"] != len(rows(files[last])):
        pass
    await nothing_more(scene.old)
    versions = stored(server, scene.id)
    assert versions == {
        1: rows(table(250)),
        done[0]["version"]: rows(files["a.tsv"]),
        done[1]["version"]: rows(files["b.tsv"]),
    }
    await nothing_pending(server)
    await scene.close(b)


async def progress_ends(watcher: ClientConnection, *, some: bool = True) -> dict[str, str]:
    """Each upload's last state as a v1 watcher sees it, once every upload it saw has ended
    (or 5 s have passed) and nothing came for 0.3 s; with ``some``, once it has seen one at
    least (under load the first word of an upload may take longer than 0.3 s)."""
    states: dict[str, str] = {}
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        try:
            message = await receive(watcher, 0.3)
        except TimeoutError:
            ended = "receiving" not in states.values() and (bool(states) or not some)
            if ended or asyncio.get_running_loop().time() > deadline:
                return states
            continue
        if message["type"] == "upload_progress":
            states[message["upload"]] = message["state"]
        else:
            assert message["type"] in ("presence", "types"), message


async def test_uploaders_vanishing_mid_upload_change_nothing(server):
    scene = await http_scene(server)
    data = table(20_000)
    # a v1 editor: half the chunks, acknowledged, then gone
    quitter = await editor(server, scene.id, scene.key)
    await quitter.send(begin(filename="half.tsv", size=len(data)))
    await expect(quitter, "upload_ready")
    for i in range(0, len(data) // 2, 64 * 1024):
        await quitter.send(data[i : i + 64 * 1024])
        await expect(quitter, "upload_ack")
    quitter.transport.abort()
    assert set((await progress_ends(scene.new)).values()) == {"cancelled"}
    await scene.served("a v1 uploader vanished")
    # a v1 editor gone right after its upload_begin, while the upload is being set up
    for _ in range(5):
        quitter = await editor(server, scene.id, scene.key)
        await quitter.send(begin(filename="gone.tsv"))
        quitter.transport.abort()
    assert set((await progress_ends(scene.new, some=False)).values()) <= {"cancelled"}
    await scene.served("v1 uploaders vanished at once")
    # an HTTP PUT whose connection is cut mid-body, with and without a Content-Length
    for length in (f"Content-Length: {len(data)}", "Transfer-Encoding: chunked"):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"PUT /parser/api/docs/{scene.id}?name=cut.tsv HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {scene.key}\r\n{length}\r\n\r\n".encode()
        )
        for i in range(0, len(data) // 2, 64 * 1024):
            piece = data[i : i + 64 * 1024]
            chunk = b"%x\r\n%s\r\n" % (len(piece), piece) if "chunked" in length else piece
            writer.write(chunk)
            await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
        assert set((await progress_ends(scene.new)).values()) == {"cancelled"}, length
        await scene.served(f"a PUT with {length} was cut")
    await nothing_pending(server)
    await scene.close()


async def test_legacy_uploaders_vanishing_mid_file_change_nothing(server):
    # the legacy creator of a document uploads its file over a bare socket, so it can vanish
    creator, _ = await Raw.open(server)
    document_id = (await creator.message())["uuid"]
    creator.send(frame(BINARY, table(250)))
    assert (await creator.message())["total_number"] == 251
    old, new = await legacy(server, document_id), await v1(server, document_id)
    await receive(old)
    await expect(new, "page")
    scene = Scene(server, document_id, "", old, new, snapshot(server, document_id))
    data = table(20_000)
    creator.send(frame(BINARY, data[: len(data) // 2], length=len(data)))  # half of the file
    await asyncio.sleep(0.3)
    creator.vanish()
    assert set((await progress_ends(new)).values()) == {"cancelled"}
    await scene.served("the legacy creator vanished mid-file")
    for _ in range(5):  # and others gone while their upload is being set up
        creator, _ = await Raw.open(server)
        await creator.message()
        creator.send(frame(BINARY, b"a\tb\n" * 10, length=1000))
        creator.vanish()
    for _ in range(5):
        joiner, _ = await Raw.open(server, f"/parser/ws/{document_id}")
        joiner.send(frame(BINARY, b"a\tb\n" * 10, length=1000))
        joiner.vanish()
    assert set((await progress_ends(new, some=False)).values()) <= {"cancelled"}
    await scene.served("legacy uploaders vanished at once")
    await nothing_pending(server)
    await scene.close()
