"""The article's wire contract, end to end: an old client must keep working exactly."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from support import http, legacy, receive, table

LEGACY_KEYS = {"uuid", "page_no", "total_number", "data"}


def assert_legacy_page(message: dict, page_no: int, total: int) -> None:
    assert message.keys() >= LEGACY_KEYS
    assert "type" not in message  # a legacy client gets pages and nothing else
    assert message["page_no"] == page_no
    assert message["total_number"] == total
    assert isinstance(message["data"], list) and len(message["data"]) <= 100
    assert all(
        isinstance(row, list) and all(isinstance(c, str) for c in row) for row in message["data"]
    )


async def test_the_articles_flow(server):
    """Open /parser/ws, get the id at once, send the file as one binary frame, then page numbers
    as text, as the article's AngularJS code does."""
    ws = await legacy(server)
    first = await receive(ws)
    assert_legacy_page(first, 1, 0)
    assert first["data"] == []
    document_id = first["uuid"]
    assert str(uuid.UUID(document_id)) == document_id and uuid.UUID(document_id).version == 4

    await ws.send(table(250))  # bytes: a binary frame, like ws.send(arrayBuffer)
    page = await receive(ws)
    assert_legacy_page(page, 1, 251)  # the header line counts, as in the article
    assert page["uuid"] == document_id
    assert page["data"][0] == ["c0", "c1", "c2"]
    assert page["data"][99] == ["r98c0", "r98c1", "r98c2"]

    await ws.send("2")  # ws.send($scope.currentPage)
    page = await receive(ws)
    assert_legacy_page(page, 2, 251)
    assert page["data"][0] == ["r99c0", "r99c1", "r99c2"]

    await ws.send("3")
    page = await receive(ws)
    assert_legacy_page(page, 3, 251)
    assert len(page["data"]) == 51
    await ws.close()


async def three_on_page_4(
    server,
) -> tuple[str, ClientConnection, ClientConnection, ClientConnection]:
    """A document and three legacy clients on it: the owner uploads 500 rows, a viewer joins,
    the owner turns to page 4 (moving them both), and a late viewer joins on that page."""
    uploader = await legacy(server)
    document_id = (await receive(uploader))["uuid"]
    await uploader.send(table(500))
    await receive(uploader)

    viewer = await legacy(server, document_id)
    assert_legacy_page(await receive(viewer), 1, 501)

    await uploader.send("4")  # a page turn moves everyone
    for ws in (uploader, viewer):
        page = await receive(ws)
        assert_legacy_page(page, 4, 501)
        assert page["data"][0][0] == "r299c0"

    late = await legacy(server, document_id)  # joins on the shared page
    assert_legacy_page(await receive(late), 4, 501)
    return document_id, uploader, viewer, late


async def test_every_viewer_of_the_uuid_sees_the_same_page(server):
    """The owner (who opened /parser/ws) moves everyone; a joiner only views, as a view link."""
    document_id, uploader, viewer, late = await three_on_page_4(server)

    await viewer.send("2")  # a viewer's page request moves only itself
    assert_legacy_page(await receive(viewer), 2, 501)
    for ws in (uploader, late):
        with pytest.raises(TimeoutError):
            await receive(ws, timeout=0.3)

    await viewer.send(b"x\ty\n1\t2\n")  # and it may not upload
    refused = await receive(viewer)
    assert_legacy_page(refused, 4, 501)  # the shared page, the error riding along
    assert refused["error"]["code"] == "edit_key_required"
    await viewer.send("5")  # the connection goes on
    assert_legacy_page(await receive(viewer), 5, 501)
    for ws in (uploader, late):
        with pytest.raises(TimeoutError):
            await receive(ws, timeout=0.3)
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert meta["version"] == 1

    await uploader.send(b"x\ty\n1\t2\n")  # the owner's new version reaches everyone
    for ws in (uploader, viewer, late):
        page = await receive(ws)
        assert_legacy_page(page, 1, 2)
        assert page["data"] == [["x", "y"], ["1", "2"]]
    for ws in (uploader, viewer, late):
        await ws.close()


async def test_open_edit_restores_the_articles_rule(server_factory):
    """--open-edit: anyone with the link turns the page for all, and uploads."""
    server = server_factory("--open-edit", "true")
    _, uploader, viewer, late = await three_on_page_4(server)

    await viewer.send("2")  # any viewer can turn it
    for ws in (uploader, viewer, late):
        assert_legacy_page(await receive(ws), 2, 501)

    await viewer.send(b"x\ty\n1\t2\n")  # a new upload from anyone reaches everyone, on page 1
    for ws in (uploader, viewer, late):
        page = await receive(ws)
        assert_legacy_page(page, 1, 2)
        assert page["data"] == [["x", "y"], ["1", "2"]]
    for ws in (uploader, viewer, late):
        await ws.close()


async def test_joining_an_unknown_document_closes_with_4404(server):
    for document_id in (str(uuid.uuid4()), "not-a-uuid", str(uuid.uuid4()).upper()):
        ws = await legacy(server, document_id)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_page_numbers_out_of_range_are_clamped_and_bad_ones_answered(server):
    ws = await legacy(server)
    await receive(ws)
    await ws.send(table(150))  # 151 records: 2 pages
    await receive(ws)
    await ws.send("99999999999")
    assert_legacy_page(await receive(ws), 2, 151)
    for bad in ("abc", "-1", "0", "1.5", "1e309", ""):
        await ws.send(bad)
        page = await receive(ws)
        assert_legacy_page(page, 2, 151)  # the page stays; the error rides along
        assert page["error"]["code"] == "bad_page"
    await ws.send(" 1 ")
    assert_legacy_page(await receive(ws), 1, 151)
    await ws.close()


async def test_a_bad_upload_keeps_the_previous_version_for_everyone(server):
    uploader = await legacy(server)
    document_id = (await receive(uploader))["uuid"]
    await uploader.send(table(10))
    await receive(uploader)
    viewer = await legacy(server, document_id)
    await receive(viewer)

    await uploader.send(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    answer = await receive(uploader)
    assert_legacy_page(answer, 1, 11)
    assert answer["error"]["code"] == "not_text"
    with pytest.raises(TimeoutError):
        await receive(viewer, timeout=0.3)  # others are untouched
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] == 1
    await uploader.close()
    await viewer.close()


async def test_a_file_over_the_limit_is_refused_before_it_is_read(server_factory):
    server = server_factory("--max-upload-bytes", "64KiB")
    ws = await legacy(server)
    await receive(ws)
    await ws.send(b"a\tb\n" * 20000)  # 80 KB in one frame
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


async def test_many_viewers_all_receive_a_turn(server):
    uploader = await legacy(server)
    document_id = (await receive(uploader))["uuid"]
    await uploader.send(table(1000))
    await receive(uploader)
    viewers = await asyncio.gather(*(legacy(server, document_id) for _ in range(50)))
    await asyncio.gather(*(receive(v) for v in viewers))
    await uploader.send("7")
    pages = await asyncio.gather(*(receive(v) for v in viewers))
    assert {p["page_no"] for p in pages} == {7}
    assert {p["data"][0][0] for p in pages} == {"r599c0"}
    await asyncio.gather(*(v.close() for v in [*viewers, uploader]))
