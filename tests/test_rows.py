"""Rows added to a table (issue 18): what the stores keep. A version that adds rows stores
them alone and shares every other record with the version it adds to; every version, older
or newer, reads exactly its own records."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import orjson
import pytest

from support import (
    as_json,
    editor,
    expect,
    http,
    legacy,
    meta,
    put,
    receive,
    rows,
    v1,
    write_version,
)
from tablecast import tasks
from tablecast.errors import TablecastError
from tablecast.service import views as views_module
from tablecast.service.views import Views
from tablecast.store.base import Store
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.blocks import BLOCK_RECORDS, run_of
from tablecast.table.originals import Rebuilt
from tablecast.table.view import View
from tablecast.web import uploads


def records(store: Store, version_id: int, count: int) -> list[list[str]]:
    """Every record of a version, read every way the stores read them, the same each way."""
    whole: list[list[str]] = orjson.loads(store.read_rows(version_id, 0, count + 10))
    assert len(whole) == count
    every = [line for _, block, _ in store.read_all(version_id) for line in block.split(b"\n")]
    assert [orjson.loads(line) for line in every] == whole
    last = (count - 1) // BLOCK_RECORDS
    pieces = store.read_blocks(version_id, 0, last + 3)
    assert [orjson.loads(line) for _, b, _ in pieces for line in b.split(b"\n")] == whole
    picked = [count - 1, 0, count // 2]
    assert orjson.loads(store.read_picked(version_id, picked)) == [whole[i] for i in picked]
    return whole


def added(n: int, start: int, width: int = 2) -> tuple[list[list[str]], list[int]]:
    made = [[f"new{i}", *(["y"] * (width - 1))] for i in range(start, start + n)]
    return made, [width] * n


def append(store: Store, document_id: str, new: list[list[str]], widths: list[int]):
    run = run_of(as_json(new))
    document = store.append_rows(document_id, run, widths, len(run.data))
    assert document.version is not None
    return document.version


def test_added_rows_are_stored_alone_and_every_version_reads_its_own(open_store):
    store = open_store()
    document = store.create_document(None)
    pending = write_version(store, document.id, 300)
    store.write_blocks(pending, [], [(0, Rebuilt(record_count=300, end=10, eol="\n"))])
    original = [Rebuilt(record_count=300, end=10, eol="\n", going=False)]
    first = store.commit_version(pending, replace(meta(300), ragged_rows=0)).version
    assert first is not None
    before = store.usage().stored_bytes
    uploaded = records(store, first.id, 300)
    assert uploaded == rows(300)

    one, widths = added(1, 0)
    second = append(store, document.id, one, widths)
    assert (second.number, second.meta.record_count) == (2, 301)
    assert records(store, second.id, 301) == uploaded + one
    assert records(store, first.id, 300) == uploaded  # its last block grew: it reads its own
    assert 0 < store.usage().stored_bytes - before < 64 * 1024  # one row, not the table
    # a version that rows were added to has no file as uploaded; the upload keeps its own
    assert store.read_original(second.id, 0, 1) == []
    assert store.read_original(first.id, 0, 1) == original

    # a thousand more, past many blocks' ends, and a row wider than the rest
    many, widths = added(1000, 1)
    many[10].append("wider")
    widths[10] = 3
    third = append(store, document.id, many, widths)
    assert third.meta.record_count == 1301 and third.meta.width == 3
    sent = len(run_of(as_json(one)).data) + len(run_of(as_json(many)).data)
    assert third.meta.ragged_rows == 1 and third.meta.size == 100 + sent
    assert records(store, third.id, 1301) == uploaded + one + many
    assert records(store, second.id, 301) == uploaded + one
    assert records(store, first.id, 300) == uploaded


def test_rows_added_to_a_restored_version_start_a_series_of_their_own(open_store):
    store = open_store()
    document = store.create_document(None)
    first = store.commit_version(write_version(store, document.id, 256), meta(256)).version
    assert first is not None
    new, widths = added(5, 0)
    second = append(store, document.id, new, widths)  # version 1's blocks, and one more
    pending = store.begin_version(document.id)  # version 1 again: a restore
    store.share_blocks(first.id, pending)
    third = store.commit_version(pending, first.meta).version
    assert third is not None
    other, widths = added(3, 100)
    fourth = append(store, document.id, other, widths)  # not after version 2's rows
    assert records(store, fourth.id, 259) == rows(256) + other
    assert records(store, second.id, 261) == rows(256) + new
    assert records(store, third.id, 256) == rows(256)
    fifth = append(store, document.id, new, widths[:1] * 5)  # and on from there, shared
    assert records(store, fifth.id, 264) == rows(256) + other + new
    assert records(store, fourth.id, 259) == rows(256) + other


def test_rows_are_added_to_a_table_only(open_store):
    store = open_store()
    document = store.create_document(None)
    new, widths = added(1, 0)
    with pytest.raises(TablecastError) as refused:
        append(store, document.id, new, widths)
    assert refused.value.code == "version_not_found"
    assert store.get_document(document.id).version is None  # nothing left behind


# Over HTTP: POST /parser/api/docs/{id}/rows


def post_rows(server, doc, body: bytes, key: str | None = "") -> tuple[int, Any]:
    headers = (
        {"Authorization": f"Bearer {doc['edit_key'] if key == '' else key}"}
        if key is not None
        else {}
    )
    status, answer, _ = http("POST", f"{doc['api_url']}/rows", body, headers)
    return status, answer


def page_rows(server, doc, query: str = "") -> list[list[str]]:
    _, page, _ = http("GET", f"{doc['api_url']}/pages/1{query}")
    return page["data"]


PEOPLE = b"id\tname\tcity\n1\tAda\tLondon\n2\tAlan\tWilmslow\n"


async def test_rows_added_over_http_reach_every_viewer(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", PEOPLE)
    async with await v1(server, doc["id"]) as viewer, await legacy(server, doc["id"]) as article:
        await expect(viewer, "page")
        assert "data" in await receive(article)  # the article's page: no type
        # TSV with the table's header, which is skipped
        status, answer = post_rows(server, doc, b"id\tname\tcity\n3\tGrace\tArlington\n")
        assert status == 200
        assert (answer["version"], answer["total_number"], answer["filename"]) == (
            2,
            3,
            "people.tsv",
        )
        page = await expect(viewer, "page")
        assert (page["version"], page["total_number"]) == (2, 3)
        assert page["data"][-1] == ["3", "Grace", "Arlington"]
        legacy_page = await receive(article)  # the whole page, as ever
        while "data" not in legacy_page:
            legacy_page = await receive(article)
        assert legacy_page["data"][-1] == ["3", "Grace", "Arlington"]
    # CSV, and JSON Lines of arrays or of cells by column name
    assert post_rows(server, doc, b'4,"Edsger, W.",Nuenen\n')[0] == 200
    lines = b'["5", "Barbara", null]\n{"city": "Lima", "id": 6}\n'
    status, answer = post_rows(server, doc, lines)
    assert (status, answer["version"], answer["total_number"]) == (200, 4, 6)
    assert page_rows(server, doc)[2:] == [
        ["3", "Grace", "Arlington"],
        ["4", "Edsger, W.", "Nuenen"],
        ["5", "Barbara", ""],
        ["6", "", "Lima"],
    ]
    # every version as it was; what was added is what changed
    assert len(page_rows(server, doc, "?version=1")) == 2
    _, changes, _ = http("GET", f"{doc['api_url']}/diff?from=1&to=4")
    assert changes["counts"] == {"added": 4, "removed": 0, "changed": 0}
    status, original, _ = http("GET", f"{doc['api_url']}/download?version=4&format=original")
    assert status == 404 and original["error"]["code"] == "original_not_kept"
    _, tsv, _ = http("GET", f"{doc['api_url']}/download?format=tsv")
    assert tsv.splitlines()[-1] == "6\t\tLima"


def test_rows_that_cannot_be_added_change_nothing(server, monkeypatch):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    refusals = [
        (b"3\tGrace\n", None, 401, "edit_key_required"),
        (b"3\tGrace\n", "wrong", 403, "wrong_edit_key"),
        (b"", "", 400, "empty_file"),
        (b"id\tname\tcity\n", "", 400, "empty_file"),  # a header alone
        (b"3\tGr\x00ace\n", "", 400, "not_text"),
        (b'{"town": "Oslo"}\n', "", 400, "bad_option"),
        (b'["a", ["nested"]]\n', "", 400, "bad_table"),
        (b"[1, 2\n", "", 400, "bad_table"),
    ]
    for body, key, status, code in refusals:
        found, answer = post_rows(server, doc, body, key)
        assert (found, answer["error"]["code"]) == (status, code), body
    # the attack the limit is for: a body held whole while it is read, past its limit
    monkeypatch.setattr(uploads, "MAX_ROWS_BYTES", 1000)
    found, answer = post_rows(server, doc, b"3\tGrace\tArlington\n" * 100)
    assert (found, answer["error"]["code"]) == (413, "too_large")
    _, meta_now, _ = http("GET", doc["api_url"])
    assert (meta_now["version"], meta_now["total_number"]) == (1, 2)  # nothing changed


async def test_rows_added_on_one_node_reach_viewers_on_another(nodes):
    first, second = nodes(2)
    _, doc, _ = http("POST", f"{first.url}/parser/api/docs", PEOPLE)
    async with await v1(second, doc["id"]) as viewer:
        await expect(viewer, "page")
        status, _ = post_rows(first, doc, b"3\tGrace\tArlington\n")
        assert status == 200
        page = await expect(viewer, "page")
        assert (page["version"], page["total_number"]) == (2, 3)


async def test_a_documents_cache_keeps_its_newest_versions_only(tmp_path):
    # each version's columns are a file as large as its records, while a version that adds
    # rows stores only them: unbounded, rows added one at a time would fill the disk
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    first = store.commit_version(write_version(store, document.id, 300), meta(300)).version
    cache = tmp_path / "columns"
    views = Views(store, memory=10**9, cache=cache)
    try:
        made = [first]
        for i in range(7):
            new, widths = added(1, i)
            made.append(append(store, document.id, new, widths))
        for version in made:
            await views.types(version)
        await tasks.drain()
        held = {int(path.name.split(".")[0]) for path in (cache / document.id).iterdir()}
        assert held == {version.id for version in made[-views_module.CACHED_VERSIONS :]}
    finally:
        views.close()
    again = Views(store, memory=10**9, cache=cache)  # (as after a restart: nothing in memory)
    try:  # an older one is made again when asked for, and read right
        assert len(await again.rows(made[0], View(sort=0, descending=True))) == 300 - 1
        assert len(list((cache / document.id).glob(f"{made[0].id}.*"))) > 0
    finally:
        again.close()
        store.close()


async def test_columns_are_made_once_for_a_burst_of_versions(tmp_path):
    # each commit makes the new version's columns (a pass over the whole table): rows added
    # in a burst make the last version's, not each one's
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    made = [store.commit_version(write_version(store, document.id, 300), meta(300)).version]
    for i in range(7):
        new, widths = added(1, i)
        made.append(append(store, document.id, new, widths))
    cache = tmp_path / "columns"
    views = Views(store, memory=10**9, cache=cache)
    try:
        for version in made:  # as the hub tells them, one commit after another
            views.prepare(version)
        await tasks.drain()
        held = {int(path.name.split(".")[0]) for path in (cache / document.id).iterdir()}
        assert held == {made[-1].id}
        assert views.known_types(made[-1]) is not None
    finally:
        views.close()
        store.close()


async def test_the_group_stays_on_its_page_when_rows_are_added(server):
    table = b"n\n" + b"".join(f"{i}\n".encode() for i in range(250))
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table)
    async with await editor(server, doc["id"], doc["edit_key"]) as leader:
        await expect(leader, "page")
        await leader.send(json.dumps({"type": "goto", "page": 2}))
        await expect(leader, "page", page_no=2)
        async with await v1(server, doc["id"]) as follower:
            await expect(follower, "page", page_no=2)
            assert post_rows(server, doc, b"250\n251\n")[0] == 200
            for ws in (leader, follower):
                page = await expect(ws, "page", cause="version")
                assert (page["page_no"], page["version"], page["total_number"]) == (2, 2, 252)
            # a new upload is a new table: back to its first page, as ever
            assert put(server.url, doc, table)[0] == 200
            page = await expect(follower, "page", cause="version")
            assert (page["page_no"], page["version"]) == (1, 3)
