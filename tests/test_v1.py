"""The tablecast.v1 protocol end to end: hello, pages, chunked uploads, follow mode, presence."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support import (
    V1,
    editor,
    expect,
    http,
    legacy,
    nothing_more,
    receive,
    table,
    upload_v1,
    v1,
)


async def test_hello_then_the_page(server):
    ws = await v1(server)
    assert ws.subprotocol == "tablecast.v1"
    hello = await receive(ws)
    assert hello["type"] == "hello"
    assert hello["protocol"] == "tablecast.v1"
    assert hello["url"] == f"{server.url}/parser/share/{hello['id']}"
    assert hello["uuid"] == hello["id"]
    assert hello["follow"] is True
    limits = hello["limits"]
    assert limits["max_upload_bytes"] == 2 * 1024**3
    assert limits["page_size"] == 100
    assert limits["chunk_bytes"] <= limits["max_message_bytes"]
    page = await receive(ws)
    assert page["type"] == "page"
    assert page["uuid"] == hello["id"]
    assert (page["page_no"], page["total_number"], page["data"]) == (1, 0, [])
    assert page["version"] is None and page["page_count"] == 1
    assert page["cause"] == "join"
    await ws.close()


async def test_chunked_upload_with_acknowledgements(server):
    ws = await v1(server)
    document_id = (await expect(ws, "hello"))["id"]
    await expect(ws, "page")
    data = table(5000, cols=4)  # over the 64 KiB sniffing sample, so records count up as it goes
    await ws.send(json.dumps({"type": "upload_begin", "filename": "big.tsv", "size": len(data)}))
    ready = await expect(ws, "upload_ready")
    assert ready["window"] >= 1 and ready["chunk_bytes"] > 0
    acks = []
    for i in range(0, len(data), 20_000):
        await ws.send(data[i : i + 20_000])
        acks.append(await expect(ws, "upload_ack"))
    assert [a["received"] for a in acks] == [
        min(len(data), i + 20_000) for i in range(0, len(data), 20_000)
    ]
    assert 0 < acks[-1]["records"] <= 5001
    await ws.send(json.dumps({"type": "upload_end"}))
    done = await expect(ws, "upload_done")
    assert done["version"] == 1 and done["total_number"] == 5000
    page = await expect(ws, "page", cause="version")
    assert page["version"] == 1
    assert page["filename"] == "big.tsv"
    assert page["columns"] == ["c0", "c1", "c2", "c3"]
    assert page["total_number"] == 5000  # data rows: the header is not counted in v1
    assert page["page_count"] == 50
    assert page["first_row"] == 1
    assert page["data"][0] == ["r0c0", "r0c1", "r0c2", "r0c3"]  # page 1 starts under the header
    assert page["encoding"] == "utf-8" and page["delimiter"] == "tab"
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] == 1 and meta["total_number"] == 5000
    await ws.close()


async def test_upload_without_a_header(server):
    ws = await v1(server)
    await expect(ws, "page")
    await upload_v1(ws, b"1,2,3\n4,5,6\n", filename="n.csv", header=False)
    page = await expect(ws, "page", cause="version")
    assert page["columns"] == ["Column 1", "Column 2", "Column 3"]
    assert page["total_number"] == 2
    assert page["data"] == [["1", "2", "3"], ["4", "5", "6"]]
    assert page["delimiter"] == "comma"
    await ws.close()


async def test_everyone_sees_progress_and_the_new_version(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    viewer = await v1(server, document_id)
    old_school = await legacy(server, document_id)
    await expect(viewer, "page")
    await receive(old_school)

    await upload_v1(uploader, table(5000), filename="five.tsv", chunk=16 * 1024)
    progress = await expect(viewer, "upload_progress", state="receiving")
    assert progress["filename"] == "five.tsv" and progress["size"] == len(table(5000))
    done = await expect(viewer, "upload_progress", state="done")
    assert done["received"] == len(table(5000))
    page = await expect(viewer, "page", cause="version")
    assert page["version"] == 1 and page["total_number"] == 5000
    legacy_page = await receive(old_school)  # the legacy viewer gets only the page
    assert legacy_page["total_number"] == 5001 and "type" not in legacy_page
    for ws in (uploader, viewer, old_school):
        await ws.close()


async def test_follow_mode_and_browsing_alone(server):
    a = await v1(server)
    hello = await expect(a, "hello")
    document_id = hello["id"]
    await upload_v1(a, table(1000))
    b = await editor(server, document_id, hello["edit_key"])
    c = await editor(server, document_id, hello["edit_key"])
    for ws in (b, c):
        await expect(ws, "page", cause="join")

    await a.send(json.dumps({"type": "goto", "page": 3}))  # a follower turns the shared page
    for ws in (a, b, c):
        page = await expect(ws, "page", cause="turn")
        assert page["page_no"] == 3 and page["shared"] is True
        assert page["data"][0][0] == "r200c0"

    await c.send(json.dumps({"type": "follow", "follow": False}))  # c browses alone
    await c.send(json.dumps({"type": "goto", "page": 7}))
    page = await expect(c, "page", cause="request")
    assert page["page_no"] == 7 and page["shared"] is False
    await nothing_more(a, skip=("presence",))  # the others stay where they are
    await nothing_more(b, skip=("presence",))

    await b.send(json.dumps({"type": "goto", "page": 5}))
    assert (await expect(a, "page", cause="turn"))["page_no"] == 5
    await nothing_more(c, skip=("presence",))  # not following: not moved

    await c.send(json.dumps({"type": "follow", "follow": True}))  # rejoin the group
    page = await expect(c, "page", cause="follow")
    assert page["page_no"] == 5 and page["shared"] is True
    for ws in (a, b, c):
        await ws.close()


async def test_a_new_version_moves_everyone_to_page_one_even_those_browsing_alone(server):
    a = await v1(server)
    document_id = (await expect(a, "hello"))["id"]
    await upload_v1(a, table(500))
    b = await v1(server, document_id)
    await expect(b, "page")
    await b.send(json.dumps({"type": "follow", "follow": False}))
    await b.send(json.dumps({"type": "goto", "page": 4}))
    await expect(b, "page", cause="request")
    await upload_v1(a, table(50, cols=2))
    page = await expect(b, "page", cause="version")
    assert page["page_no"] == 1 and page["version"] == 2 and page["shared"] is False
    for ws in (a, b):
        await ws.close()


async def test_presence_counts_viewers(server):
    a = await v1(server)
    document_id = (await expect(a, "hello"))["id"]
    assert (await expect(a, "presence"))["viewers"] == 1
    others = [await v1(server, document_id) for _ in range(3)]
    others.append(await legacy(server, document_id))  # legacy viewers count too
    await expect(a, "presence", viewers=5)
    for ws in others:
        await ws.close()
    await expect(a, "presence", viewers=1)
    await a.close()


async def test_typed_errors_keep_the_connection(server):
    ws = await v1(server)
    await expect(ws, "page")
    cases = [
        ("not json", "bad_message"),
        ("[1, 2]", "bad_message"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "goto", "page": "abc"}), "bad_page"),
        (json.dumps({"type": "goto", "page": -1}), "bad_page"),
        (json.dumps({"type": "goto", "page": 1.5}), "bad_page"),
        (json.dumps({"type": "upload_end"}), "no_upload"),
        (json.dumps({"type": "upload_cancel"}), "no_upload"),
        (json.dumps({"type": "upload_begin", "delimiter": "x"}), "bad_option"),
        (json.dumps({"type": "upload_begin", "size": 10**12}), "too_large"),
        (b"a\tb\n", "no_upload"),  # a chunk without a begin
    ]
    for message, code in cases:
        await ws.send(message)
        err = await expect(ws, "error")
        assert err["code"] == code, message
        assert err["message"]
    await ws.send(json.dumps({"type": "ping"}))
    assert (await expect(ws, "pong"))["type"] == "pong"
    await ws.close()


async def test_upload_errors_keep_the_previous_version(server):
    a = await v1(server)
    document_id = (await expect(a, "hello"))["id"]
    await upload_v1(a, table(20))
    watcher = await v1(server, document_id)
    await expect(watcher, "page")

    await a.send(json.dumps({"type": "upload_begin", "filename": "x.bin"}))
    await expect(a, "upload_ready")
    await a.send(b"\x00\x01\x02" * 30000)  # over the sniffing sample: the parser decides now
    err = await expect(a, "error")
    assert err["code"] == "not_text" and err["request"] == "upload_chunk"
    await a.send(b"more of the same file, still in flight")  # dropped quietly
    await a.send(json.dumps({"type": "upload_end"}))  # the client was told; no second error
    failed = await expect(watcher, "upload_progress", state="failed")
    assert failed["error"]["code"] == "not_text"

    await a.send(json.dumps({"type": "upload_begin", "filename": "e.tsv", "size": 3}))
    await expect(a, "upload_ready")
    await a.send(b"\n\n\n")
    await expect(a, "upload_ack")
    await a.send(json.dumps({"type": "upload_end"}))
    assert (await expect(a, "error"))["code"] == "empty_file"

    await nothing_more(watcher, skip=("upload_progress", "presence"))
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] == 1 and meta["total_number"] == 20
    done = await upload_v1(a, table(30))  # and the connection still works
    assert done["version"] == 2
    for ws in (a, watcher):
        await ws.close()


async def test_size_mismatch_and_cancel(server):
    ws = await v1(server)
    document_id = (await expect(ws, "hello"))["id"]
    await ws.send(json.dumps({"type": "upload_begin", "size": 100}))
    await expect(ws, "upload_ready")
    await ws.send(b"a\tb\n")
    await expect(ws, "upload_ack")
    await ws.send(json.dumps({"type": "upload_end"}))
    assert (await expect(ws, "error"))["code"] == "upload_size_mismatch"

    await ws.send(json.dumps({"type": "upload_begin"}))
    ready = await expect(ws, "upload_ready")
    await ws.send(json.dumps({"type": "upload_begin"}))
    assert (await expect(ws, "error"))["code"] == "upload_in_progress"
    await ws.send(b"a\tb\n")
    await expect(ws, "upload_ack")
    await ws.send(json.dumps({"type": "upload_cancel"}))
    assert (await expect(ws, "upload_cancelled"))["upload"] == ready["upload"]
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] is None
    await ws.close()


async def test_an_abandoned_upload_leaves_the_old_version_intact(server):
    a = await v1(server)
    hello = await expect(a, "hello")
    document_id = hello["id"]
    await upload_v1(a, table(100))
    watcher = await v1(server, document_id)
    await expect(watcher, "page")

    quitter = await editor(server, document_id, hello["edit_key"])
    await quitter.send(json.dumps({"type": "upload_begin", "filename": "half.tsv"}))
    await expect(quitter, "upload_ready")
    for _ in range(10):
        await quitter.send(table(2000))
        await expect(quitter, "upload_ack")
    await quitter.close()  # the tab is closed mid-upload

    cancelled = await expect(watcher, "upload_progress", state="cancelled")
    assert cancelled["filename"] == "half.tsv"
    await nothing_more(watcher, skip=("presence", "upload_progress"))
    fresh = await v1(server, document_id)
    page = await expect(fresh, "page")
    assert page["version"] == 1 and page["total_number"] == 100
    server.caught_up()
    assert server.logged("upload abandoned")
    for ws in (a, watcher, fresh):
        await ws.close()


async def test_a_chunk_over_the_message_limit_closes_with_1009(server_factory):
    server = server_factory("--max-message-bytes", "64KiB")
    ws = await v1(server)
    assert (await expect(ws, "hello"))["limits"]["max_message_bytes"] == 64 * 1024
    await ws.send(json.dumps({"type": "upload_begin"}))
    await expect(ws, "upload_ready")
    await ws.send(b"x" * (65 * 1024))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_v1_unknown_document_closes_with_4404(server):
    ws = await v1(server, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_concurrent_uploads_to_one_document_both_land(server):
    a = await v1(server)
    hello = await expect(a, "hello")
    document_id = hello["id"]
    b = await editor(server, document_id, hello["edit_key"])
    await expect(b, "page")
    done = await asyncio.gather(upload_v1(a, table(3000)), upload_v1(b, table(2000)))
    assert sorted(d["version"] for d in done) == [1, 2]
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] == 2
    for ws in (a, b):
        await ws.close()


async def test_compressed_pages_reach_compressing_and_plain_clients_alike(server_factory):
    server = server_factory("--compression", "1")
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    assert uploader.response is not None
    extensions = uploader.response.headers["Sec-WebSocket-Extensions"]
    assert "server_no_context_takeover" in extensions  # so one compressed frame serves all
    await upload_v1(uploader, table(3000, cols=8))
    plain = await connect(
        f"{server.ws_url}/parser/ws/{document_id}", subprotocols=[V1], compression=None
    )
    assert plain.response is not None
    assert "Sec-WebSocket-Extensions" not in plain.response.headers
    old = await legacy(server, document_id)  # compresses, by the library's default
    await expect(plain, "page")
    await receive(old)
    for page_no in (2, 7, 30):
        await uploader.send(json.dumps({"type": "goto", "page": page_no}))
        for ws in (uploader, plain):
            page = await expect(ws, "page", cause="turn")
            assert page["data"][0][0] == f"r{(page_no - 1) * 100}c0"
        page = await receive(old)
        while page["page_no"] == 1:  # joined as version 1 landed: page 1 came twice
            page = await receive(old)
        assert page["page_no"] == page_no
    for ws in (uploader, plain, old):
        await ws.close()


async def test_pings_never_come_ahead_of_the_handshake(server_factory):
    # A ping sweep ten times a second while hundreds of clients connect: each must get its 101
    # before anything else, or the client fails the handshake. (Only the handshakes are
    # judged: under a loaded machine a client may miss a 100 ms pong deadline afterwards.)
    server = server_factory("--ping-interval", "0.1", "--max-connections-per-ip", "0")
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(10))
    assert status == 201
    for _ in range(3):
        clients = await asyncio.gather(*(v1(server, doc["id"]) for _ in range(200)))
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
