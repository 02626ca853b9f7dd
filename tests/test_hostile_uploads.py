"""Issue 14, "nobody loses a table to someone else": what one client can do with uploads and
new documents, and what it must not cost anyone else. Each test is an attack at a small scale."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from support import (
    TIME,
    duration,
    eventually,
    expect,
    http,
    legacy,
    put,
    receive,
    table,
    upload_v1,
    v1,
    wait_for,
)


def raw(port: int, request: bytes, source: str = "127.0.0.1") -> socket.socket:
    """A socket that has sent ``request`` (headers, maybe part of a body) and waits."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(15)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def post_head(port: int, length: int | None, path: str = "/parser/api/docs") -> bytes:
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{size}\r\n\r\n".encode()


def answer(sock: socket.socket) -> tuple[int, dict[str, object], bytes]:
    """The HTTP answer on a raw socket: status, JSON body, and whatever followed."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no answer within {sock.gettimeout()} s") from None
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(head.split()[1]), json.loads(rest[:length]), rest[length:]


def closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reading nothing more from it) within the
    socket's timeout; one left open fails the test."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError("the server left the connection open") from None
    return True


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def documents(server) -> int:
    _, text, _ = http("GET", f"{server.url}/metrics")
    return int(float(re.search(r"^tablecast_documents (\S+)", text, re.M).group(1)))  # type: ignore[union-attr]


def uploads_in_progress(server) -> int:
    _, text, _ = http("GET", f"{server.url}/metrics")
    found = re.search(r"^tablecast_uploads_in_progress (\S+)", text, re.M)
    return int(float(found.group(1)))  # type: ignore[union-attr]


def alive(server, docs: list[dict[str, object]]) -> list[int]:
    return [http("GET", f"{server.url}/parser/api/docs/{d['id']}")[0] for d in docs]


# Nothing is deleted to make room unless the operator says so


def test_at_the_document_limit_a_new_table_is_refused_and_none_is_deleted(server_factory):
    server = server_factory("--max-documents", "3")
    docs = [http("POST", f"{server.url}/parser/api/docs", table(5))[1] for _ in range(3)]
    status, refused, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    assert (status, refused["error"]["code"]) == (507, "storage_full")
    assert alive(server, docs) == [200, 200, 200]
    assert put(server.url, docs[0], table(6))[0] == 200  # new versions of kept tables: fine
    server.caught_up()
    assert not server.logged("removed")


def test_at_the_byte_limit_uploads_are_refused_and_nothing_is_deleted(server_factory):
    server = server_factory("--max-stored-bytes", "400KiB")
    big = table(4000)  # ~90 KB of file, ~140 KB stored
    docs = [http("POST", f"{server.url}/parser/api/docs", big)[1] for _ in range(2)]
    statuses = [http("POST", f"{server.url}/parser/api/docs", big)[0] for _ in range(3)]
    assert 507 in statuses  # refused once full, whether at its start or as it crossed the line
    assert alive(server, docs) == [200, 200]
    status, answer_, _ = put(server.url, docs[0], table(40_000))
    assert (status, answer_["error"]["code"]) == (507, "storage_full")
    assert http("GET", f"{server.url}/parser/api/docs/{docs[0]['id']}")[1]["version"] == 1
    server.caught_up()
    assert not server.logged("removed")


@pytest.mark.parametrize("eviction", ["none", "lru"])
@pytest.mark.parametrize("announced", [64 * 1024 * 1024, 600 * 1024])
def test_an_announced_size_removes_nothing(server_factory, eviction, announced):
    # the attack: one POST announcing 64 MiB, sending nothing, evicted every unviewed table
    server = server_factory(
        "--max-stored-bytes", "1MiB", "--max-upload-bytes", "64MiB", "--eviction", eviction
    )
    docs = [http("POST", f"{server.url}/parser/api/docs", table(2000))[1] for _ in range(5)]
    # 600 KiB: its records (~1.5 times a file) fit an empty store, not the room left
    sock = raw(server.port, post_head(server.port, announced))
    if eviction == "none" or announced > 1024 * 1024:
        # refused at once, from its size: it does not fit in the room left (none), or would
        # not fit even in an empty store (lru)
        status, body, _ = answer(sock)
        assert (status, body["error"]["code"]) == (507, "storage_full")  # type: ignore[index]
    else:  # lru: room is made for bytes stored, never for bytes announced
        wait_for(lambda: uploads_in_progress(server) == 1)  # it has started, with its size
    assert alive(server, docs) == [200] * 5
    server.caught_up()
    assert not server.logged("removed")
    sock.close()


def test_an_upload_of_unknown_size_is_refused_as_it_crosses_the_byte_limit(server_factory):
    server = server_factory("--max-stored-bytes", "400KiB")
    kept = http("POST", f"{server.url}/parser/api/docs", table(4000))[1]  # ~140 KB stored
    # ~320 KB, chunked (no Content-Length): less than the limit, more than the room left
    status, code = urllib_post(f"{server.url}/parser/api/docs", iter([table(12_000)]))
    assert (status, code) == (507, "storage_full")
    assert alive(server, [kept]) == [200]
    assert documents(server) == 1  # the new document that got no file is not kept either
    server.caught_up()
    assert not server.logged("removed")


def test_under_lru_an_upload_larger_than_the_store_is_refused_and_removes_nothing(
    server_factory,
):
    # kept, it would make every other table go; refused as it crosses the limit
    server = server_factory("--max-stored-bytes", "1MiB", "--eviction", "lru")
    docs = [http("POST", f"{server.url}/parser/api/docs", table(2000))[1] for _ in range(5)]
    status, code = urllib_post(f"{server.url}/parser/api/docs", iter([table(60_000)]))  # ~1.6 MB
    assert (status, code) == (507, "storage_full")
    assert alive(server, docs) == [200] * 5
    server.caught_up()
    assert not server.logged("removed")


def test_a_limit_lowered_below_what_is_stored_deletes_nothing(server_factory):
    first = server_factory()
    docs = [http("POST", f"{first.url}/parser/api/docs", table(5))[1] for _ in range(3)]
    first.stop()
    server = server_factory("--max-documents", "2")  # the same data, a lower limit
    assert http("POST", f"{server.url}/parser/api/docs", table(5))[0] == 507
    # a new version makes room if the operator asked for eviction: here, nothing may go. The
    # writer takes that room-making before the second upload's writes, so it is done by then.
    for _ in range(2):
        assert put(server.url, docs[0], table(6))[0] == 200
    assert alive(server, docs) == [200, 200, 200]
    server.caught_up()
    assert not server.logged("removed")


def test_lru_eviction_is_the_operators_choice(server_factory):
    server = server_factory("--max-documents", "3", "--eviction", "lru")
    docs = [http("POST", f"{server.url}/parser/api/docs", table(5))[1] for _ in range(3)]
    time.sleep(0.05)
    assert put(server.url, docs[0], table(6))[0] == 200  # docs[0] is used again: docs[1] is oldest
    assert http("POST", f"{server.url}/parser/api/docs", table(5))[0] == 201
    assert alive(server, docs) == [200, 404, 200]
    server.caught_up()
    assert server.logged("removed 1 unused documents")


# New documents: a rate per client address


async def test_new_documents_are_rate_limited_per_address(server_factory):
    server = server_factory("--create-rate", "3")
    docs = [http("POST", f"{server.url}/parser/api/docs", table(5)) for _ in range(3)]
    assert [status for status, _, _ in docs] == [201] * 3
    status, refused, headers = http("POST", f"{server.url}/parser/api/docs", table(5))
    assert (status, refused["error"]["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1
    with pytest.raises(InvalidStatus) as opened:
        await v1(server)  # opening /parser/ws makes a document too
    assert opened.value.response.status_code == 429
    assert json.loads(opened.value.response.body)["error"]["code"] == "rate_limited"
    joined = await v1(server, docs[0][1]["id"])  # joining is not creating
    await expect(joined, "page")
    await joined.close()


async def test_another_address_keeps_its_own_share_of_new_documents(server_factory):
    server = server_factory("--create-rate", "2")
    head = post_head(server.port, len(table(5)))
    for _ in range(2):
        assert answer(raw(server.port, head + table(5)))[0] == 201
    assert answer(raw(server.port, head + table(5)))[0] == 429
    assert answer(raw(server.port, head + table(5), source="127.0.0.2"))[0] == 201


# Unfinished uploads: bounded per address and in all, and ended when they go quiet


def test_an_upload_held_open_is_bounded_per_address(server_factory):
    server = server_factory("--max-uploading-bytes-per-ip", "1MiB")
    sock = raw(server.port, post_head(server.port, None))
    piece = chunk(table(3000))  # ~50 KB a chunk
    status = None
    for _ in range(40):  # 2 MB, past its share
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (429, "too_many_uploads")  # type: ignore[index]
    assert uploads_in_progress(server) == 0
    # another address, and this one once its upload is gone, upload as usual
    assert http("POST", f"{server.url}/parser/api/docs", table(3000))[0] == 201


async def test_unfinished_uploads_are_bounded_in_all(server_factory):
    server = server_factory("--max-uploading-bytes", "1MiB")
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    watcher = await v1(server, doc["id"])  # to know when the held upload's bytes are in
    await expect(watcher, "page")
    head = (
        f"PUT /parser/api/docs/{doc['id']} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {doc['edit_key']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    held = raw(server.port, head + chunk(b"a\tb\n" * 200_000), source="127.0.0.2")
    await expect(watcher, "upload_progress", received=800_000)  # 800 KB held, unfinished
    other = raw(server.port, post_head(server.port, None), source="127.0.0.3")
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        other.sendall(chunk(b"a\tb\n" * 100_000))
    status, body, _ = answer(other)
    assert (status, body["error"]["code"]) == (429, "too_many_uploads")  # type: ignore[index]
    held.sendall(b"0\r\n\r\n")  # the first one finishes: room again
    assert answer(held)[0] == 200
    assert http("POST", f"{server.url}/parser/api/docs", table(100))[0] == 201
    await watcher.close()


def test_an_http_upload_that_goes_quiet_is_ended(server_factory):
    server = server_factory("--upload-idle-timeout", duration(2))
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    head = (
        f"PUT /parser/api/docs/{doc['id']} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {doc['edit_key']}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    sock = raw(server.port, head + table(50))  # then nothing more
    status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (408, "upload_timeout")  # type: ignore[index]
    assert closed(sock)
    assert uploads_in_progress(server) == 0
    assert http("GET", f"{server.url}/parser/api/docs/{doc['id']}")[1]["version"] == 1
    # a new document that never got its file is not left behind
    sock = raw(server.port, post_head(server.port, 100000) + table(50))
    assert answer(sock)[0] == 408
    assert documents(server) == 1


def test_an_upload_that_trickles_past_the_upload_timeout_is_ended(server_factory):
    server = server_factory("--upload-timeout", duration(4), "--upload-idle-timeout", "60s")
    sock = raw(server.port, post_head(server.port, None))
    deadline = time.monotonic() + 30
    try:  # a little, often, never idle, until the server says something (or closes)
        while time.monotonic() < deadline and not select.select([sock], [], [], 0.2)[0]:
            sock.sendall(chunk(b"a\tb\n"))
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (408, "upload_timeout")  # type: ignore[index]
    assert "took longer" in body["error"]["message"]  # type: ignore[index]
    assert uploads_in_progress(server) == 0


async def test_a_v1_upload_that_goes_quiet_is_ended_and_the_viewer_stays(server_factory):
    # long enough for the upload after it, which goes quiet only between its messages
    server = server_factory("--upload-idle-timeout", duration(4))
    ws = await v1(server)
    await expect(ws, "hello")
    await ws.send(json.dumps({"type": "upload_begin", "filename": "t.tsv"}))
    await expect(ws, "upload_ready")
    await ws.send(table(10))
    await expect(ws, "upload_ack")
    error = await expect(ws, "error", timeout=10)
    assert (error["code"], error["request"]) == ("upload_timeout", "upload_chunk")
    await ws.send(json.dumps({"type": "upload_end"}))  # its end is not answered twice
    done = await upload_v1(ws, table(20))  # the connection is still good for a new upload
    assert done["version"] == 1
    await ws.close()


async def test_a_legacy_upload_that_goes_quiet_is_ended(server_factory):
    server = server_factory("--upload-idle-timeout", duration(2))
    ws = await legacy(server)
    await receive(ws)
    transport = ws.transport  # a frame begun and never finished: the header and a little
    header = bytes([0x82, 0xFE]) + (50_000).to_bytes(2, "big") + b"\x00" * 4
    transport.write(header + table(20)[:200])
    close = await eventually(lambda: ws.protocol.close_rcvd, what="the server's close frame")
    assert close.code == 1008
    assert uploads_in_progress(server) == 0
    # and the socket's end: the server reads our answer to its close as more of the unfinished
    # frame, so it closes the socket when tired of waiting for one (CLOSE_WAIT, 5 s)
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1008


# Refusals a client can read: answered first, the body drained a while, then closed


def urllib_post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="PUT" if headers else "POST")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())["id"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())["error"]["code"]


def test_an_over_limit_upload_gets_its_413_not_a_reset(server_factory):
    server = server_factory("--max-upload-bytes", "1MiB")
    body = b"a\tb\n" * (2 * 1024 * 1024)  # 8 MiB: still being sent when the answer comes
    for _ in range(3):
        assert urllib_post(f"{server.url}/parser/api/docs", body) == (413, "too_large")
    no_length = iter([body])  # no Content-Length: refused as it crosses the limit
    request = urllib.request.Request(f"{server.url}/parser/api/docs", data=no_length, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413


def test_a_wrong_key_gets_its_403_not_a_reset(server_factory):
    server = server_factory()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    url = f"{server.url}/parser/api/docs/{doc['id']}"
    body = b"a\tb\n" * (2 * 1024 * 1024)
    assert urllib_post(url, body, {"Authorization": "Bearer WRONG"}) == (403, "wrong_edit_key")
    assert urllib_post(url, body, {"X-None": "1"}) == (401, "edit_key_required")


def test_the_cli_prints_the_refusal_of_a_file_it_is_still_sending(server_factory, tmp_path):
    big = tmp_path / "big.tsv"
    big.write_bytes(b"a\tb\n" * (10 * 1024 * 1024))  # 40 MiB: more than is drained

    def cli(server, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tablecast", "upload", str(big), "--server", server.url, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    server = server_factory()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    wrong = cli(server, "--doc", doc["id"], "--key", "WRONG")
    assert wrong.returncode == 1
    assert "wrong_edit_key" in wrong.stderr, wrong.stderr
    too_big = cli(server_factory("--max-upload-bytes", "1MiB"))
    assert too_big.returncode == 1
    assert "too_large" in too_big.stderr, too_big.stderr


def test_a_refusal_reads_only_so_much_of_the_body_before_it_closes(server_factory):
    # the answer is out at once; what the client sends after it is read and dropped up to a
    # point (DRAIN_BYTES, 16 MiB: written out, so that raising it is caught), not for as long
    # as the client goes on
    server = server_factory("--max-upload-bytes", "1MiB")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    announced = 1024 * 1024 * 1024
    sock.sendall(post_head(server.port, announced))
    status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (413, "too_large")  # type: ignore[index]
    piece, sent = bytes(64 * 1024), 0
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while sent < announced:
            sock.sendall(piece)
            sent += len(piece)
    # what was drained, and what the kernel held for it on either side when it closed
    held = tcp_receive_buffer_limit() + sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert sent <= 16 * 1024 * 1024 + held + len(piece), sent  # before: all of the 1 GiB
    sock.close()


def test_a_refused_upload_that_sends_nothing_more_is_closed_after_a_while(server_factory):
    server = server_factory()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    head = (
        f"PUT /parser/api/docs/{doc['id']} HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer WRONG\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    sock = raw(server.port, head)  # and then nothing
    status, body, _ = answer(sock)
    assert (status, body["error"]["code"]) == (403, "wrong_edit_key")  # type: ignore[index]
    sock.settimeout(30)  # the drain lasts DRAIN_SECONDS (5 s); the body's own timeout, an hour
    assert closed(sock)


def tcp_receive_buffer_limit() -> int:
    """The most the kernel lets a TCP socket hold unread (its autotuning ceiling)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 32 * 1024 * 1024


def test_wrong_keys_over_http_are_rate_limited_per_address(server_factory):
    server = server_factory("--page-rate", "2")  # bursts of 4
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    wrong = {**doc, "edit_key": "WRONG"}
    codes = [put(server.url, wrong, table(5))[1]["error"]["code"] for _ in range(6)]
    assert codes[:4] == ["wrong_edit_key"] * 4
    assert codes[4:] == ["rate_limited"] * 2
    # while limited, even the right key waits: a guesser cannot tell it found one
    assert put(server.url, doc, table(5))[0] == 429
    # the bucket refills (a refused request takes nothing from it): the right key is served
    wait_for(lambda: put(server.url, doc, table(5))[0] == 200, what="served once refilled")


def test_a_key_in_the_query_string_stays_out_of_the_log(server_factory):
    server = server_factory("--log-level", "debug")
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    url = f"{server.url}/parser/api/docs/{doc['id']}?edit_key={doc['edit_key']}&key=k2"
    assert http("PUT", url, table(5))[0] == 401
    # a refused upload is answered at once and its access line written once its body is
    # drained, which may be after the client has read the answer and asked again
    wait_for(lambda: server.logged(r"401 PUT"), what="the PUT's access line")
    assert server.logged(r"edit_key=\*\*\*&key=\*\*\*")
    server.caught_up()
    assert not server.logged(re.escape(doc["edit_key"]))
    assert not server.logged("k2")


def test_the_log_is_written_in_full_elsewhere(tmp_path: Path):
    from tablecast.web.server import redacted_uri

    assert redacted_uri("/parser/api/docs/x/pages/2?sort=1") == "/parser/api/docs/x/pages/2?sort=1"
    assert redacted_uri("/a?key=s3cret") == "/a?key=***"
    assert redacted_uri("/a?q=1&edit_key=s&x=2") == "/a?q=1&edit_key=***&x=2"
    assert redacted_uri("/a?access_token=t#f") == "/a?access_token=***#f"


def test_an_upload_that_drags_on_while_still_sending_reads_its_408(server_factory):
    # the client is still sending when its time is up: it reads the answer, not a reset
    server = server_factory("--upload-timeout", duration(4), "--upload-idle-timeout", "30s")

    def slowly() -> Iterator[bytes]:  # for three times the upload timeout, within the drain
        for _ in range(30):
            yield b"a\tb\n" * 100
            time.sleep(0.4 * TIME)  # the subject: a slow client

    request = urllib.request.Request(f"{server.url}/parser/api/docs", data=slowly(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 408
    assert json.loads(refused.value.read())["error"]["code"] == "upload_timeout"


def test_the_store_stays_within_its_byte_limit(server_factory):
    # a version takes more room as records than as a file: what an upload writes counts
    server = server_factory("--max-stored-bytes", "400KiB")
    for _ in range(8):
        if http("POST", f"{server.url}/parser/api/docs", table(3000))[0] == 507:
            break
    _, text, _ = http("GET", f"{server.url}/metrics")
    stored = float(re.search(r"^tablecast_stored_bytes (\S+)", text, re.M).group(1))  # type: ignore[union-attr]
    assert stored <= 400 * 1024, stored
