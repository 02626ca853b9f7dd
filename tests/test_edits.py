"""Rows changed where they are (issue 18): cells set, rows upserted by a key, rows deleted.
A version that changes rows stores those alone and says where every other row is (its
pieces); rows keep their identity, so a change made against an older version changes the row
it meant. The pieces' maths alone, then both stores, then HTTP and live viewers."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest

from support import as_json, editor, expect, http, legacy, meta, rows, v1, write_version
from tablecast.errors import TablecastError
from tablecast.service.views import Views
from tablecast.store.base import Store
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.blocks import run_of
from tablecast.table.changes import Change
from tablecast.table.columns import TableText
from tablecast.table.pieces import CHUNK_MOST, CHUNKED, PIECE_BYTES, Pieces, ident
from tablecast.table.view import View
from tablecast.web import uploads
from test_rows import append, post_rows, records

# The pieces alone


def positions(pieces: Pieces) -> list[tuple[int, int, int]]:
    """Each row as (owner, place, identity)."""
    found = []
    for count, owner, start, first in zip(
        pieces.counts, pieces.owners, pieces.starts, pieces.idents, strict=True
    ):
        found += [(int(owner), int(start) + i, int(first) + i) for i in range(int(count))]
    return found


def test_pieces_follow_every_change_as_a_list_of_rows_would():
    rng = random.Random(7)
    pieces = Pieces.whole(1, 50)
    model = [(1, i, ident(1, i)) for i in range(50)]
    for owner in range(2, 60):
        replaced = sorted(rng.sample(range(len(model)), rng.randint(0, 3)))
        deleted = sorted(set(rng.sample(range(len(model)), rng.randint(0, 3))) - set(replaced))
        added = rng.randint(0, 2)
        pieces = pieces.changed(
            owner, np.asarray(replaced, np.int64), np.asarray(deleted, np.int64), added
        )
        for place, record in enumerate(replaced):
            model[record] = (owner, place, model[record][2])
        model = [row for i, row in enumerate(model) if i not in set(deleted)]
        model += [(owner, len(replaced) + i, ident(owner, len(replaced) + i)) for i in range(added)]
        assert positions(pieces) == model
        assert pieces.total == len(model)
        # neighbours that continue each other are one piece: no piece grows the map for nothing
        assert len(pieces) <= 2 * 60 * 6
        identities = np.asarray([row[2] for row in model], np.int64)
        where = np.arange(len(model))
        assert pieces.identities(where).tolist() == identities.tolist()
        assert pieces.records_of(identities).tolist() == where.tolist()
        assert pieces.records_of(np.asarray([ident(999, 0)])).tolist() == [-1]
        assert positions(Pieces.decode(pieces.encode())) == model
        start, stop = sorted(rng.sample(range(len(model) + 1), 2))
        read = [(o, p + i) for o, p, n in pieces.segments(start, stop) for i in range(n)]
        assert read == [row[:2] for row in model[start:stop]]


def test_one_cell_changed_is_three_pieces_and_one_record():
    pieces = Pieces.whole(1, 1_000_000).changed(2, np.asarray([500]), np.zeros(0, np.int64), 0)
    assert len(pieces) == 3 and pieces.total == 1_000_000
    assert pieces.segments(499, 502) == [(1, 499, 1), (2, 0, 1), (1, 501, 1)]


# Both stores


def committed(store: Store, n: int):
    document = store.create_document(None)
    version = store.commit_version(write_version(store, document.id, n), meta(n)).version
    assert version is not None
    return document, version


def change(store: Store, document_id: str, made: Change):
    document, changed = store.change_rows(document_id, made, 0)
    assert document.version is not None
    return document.version, changed


def test_cells_set_and_rows_deleted_store_only_what_changed(open_store):
    store = open_store()
    document, first = committed(store, 20_000)
    table = rows(20_000)
    before = store.usage().stored_bytes
    second, changed = change(store, document.id, Change(first.id, cells=[(5, 0, "five")]))
    assert (changed.updated, changed.deleted, changed.added) == (1, 0, 0)
    table[5][0] = "five"
    assert records(store, second.id, 20_000) == table
    assert records(store, first.id, 20_000) == rows(20_000)  # as it was
    one_cell = store.usage().stored_bytes - before
    assert 0 < one_cell < 1024  # one record and three pieces, not a block, not the table

    third, changed = change(store, document.id, Change(second.id, deleted=[3, 300, 19_999]))
    assert changed.deleted == 3 and third.meta.record_count == 19_997
    del table[19_999], table[300], table[3]
    assert records(store, third.id, 19_997) == table
    # a row added to an edited version goes where its last piece's blocks end: the upload's
    fourth = append(store, document.id, [["new", "row"]], [2])
    table.append(["new", "row"])
    assert records(store, fourth.id, 19_998) == table

    # a restore of an edited version shares its pieces: the same rows, nothing stored
    pending = store.begin_version(document.id)
    store.share_blocks(third.id, pending)
    before = store.usage().stored_bytes
    restored = store.commit_version(pending, third.meta).version
    assert records(store, restored.id, 19_997) == table[:-1]
    assert store.usage().stored_bytes - before < 1024
    assert store.read_original(third.id, 0, 1) == []  # an edited version has no file


def test_a_much_changed_table_stores_what_a_change_changes_not_all_that_changed_before(
    open_store,
):
    # pieces kept whole grow with every scattered change, and each change stored them all
    # again; past CHUNKED they are kept in chunks the versions share
    store = open_store()
    document, first = committed(store, 20_000)
    table = rows(20_000)
    spread = [(row, 1, f"changed {row}") for row in range(10, 20_000, 25)]  # 800 cells
    many, _ = change(store, document.id, Change(first.id, cells=spread))
    for row, _, value in spread:
        table[row][1] = value
    as_many = [list(row) for row in table]
    whole = len(store.read_pieces(many.id)) * PIECE_BYTES
    assert len(store.read_pieces(many.id)) >= CHUNKED
    version = many
    for i, row in enumerate((12_345, 77, 19_001, 5_432, 12_346)):
        before = store.usage().stored_bytes
        version, _ = change(store, document.id, Change(version.id, cells=[(row, 0, f"x{i}")]))
        table[row][0] = f"x{i}"
        stored = store.usage().stored_bytes - before
        # a chunk or two, their list and the record: not every piece again
        assert stored < min(whole / 2, 2 * CHUNK_MOST * PIECE_BYTES + 4096), (stored, whole)
    assert records(store, version.id, 20_000) == table
    assert records(store, many.id, 20_000) == as_many
    # read back whole by another store (nothing kept in memory), the same pieces
    again = open_store()
    assert again.read_pieces(version.id).encode() == store.read_pieces(version.id).encode()
    assert records(again, version.id, 20_000) == table
    # a restore shares the list, rows added to it read through it too
    pending = again.begin_version(document.id)
    again.share_blocks(many.id, pending)
    restored = again.commit_version(pending, many.meta).version
    assert records(again, restored.id, 20_000) == records(again, many.id, 20_000)
    added = append(again, document.id, [["new", "row"]], [2])
    assert records(again, added.id, 20_001)[-1] == ["new", "row"]
    # and they go with their document
    assert again.remove_unused(time.time() + 60, None, None, []) == [document.id]
    if isinstance(again, SQLiteStore):
        assert again._connect().execute("SELECT count(*) FROM piece_chunks").fetchone() == (0,)


def test_a_change_made_on_an_older_version_changes_the_row_it_meant(open_store):
    store = open_store()
    document, first = committed(store, 1000)
    table = rows(1000)
    # someone deletes rows above, and another adds rows, after the editor loaded version 1
    second, _ = change(store, document.id, Change(first.id, deleted=[1, 2, 3]))
    third = append(store, document.id, [["late", "row"]], [2])
    fourth, changed = change(store, document.id, Change(first.id, cells=[(700, 1, "mine")]))
    table = [table[0], *table[4:], ["late", "row"]]
    table[697][1] = "mine"  # row 700 of version 1 is row 697 now
    assert records(store, fourth.id, 998) == table
    assert changed.overwritten == []
    assert (second.number, third.number, fourth.number) == (2, 3, 4)

    # two edits of one cell: the later wins, and says whose value it replaced
    _, theirs = change(store, document.id, Change(fourth.id, cells=[(10, 0, "theirs")]))
    fifth, mine = change(store, document.id, Change(fourth.id, cells=[(10, 0, "later")]))
    assert theirs.overwritten == [] and mine.overwritten == [(10, 0, "theirs", "later")]
    table[10][0] = "later"
    assert records(store, fifth.id, 998) == table

    # a row deleted since cannot be set: nothing changes
    with pytest.raises(TablecastError) as refused:
        change(store, document.id, Change(first.id, cells=[(2, 0, "gone")]))
    assert refused.value.code == "row_not_found"
    assert store.get_document(document.id).version.number == 6
    with pytest.raises(TablecastError) as refused:
        change(store, document.id, Change(first.id, cells=[(5000, 0, "past the end")]))
    assert refused.value.code == "row_not_found"
    # deleting a row deleted since: already gone
    sixth, changed = change(store, document.id, Change(first.id, deleted=[2, 5]))
    assert changed.deleted == 1 and sixth.meta.record_count == 997


def test_replaced_rows_keep_their_place_and_count_their_cells(open_store):
    store = open_store()
    document, first = committed(store, 300)
    first = store.commit_version(  # counted: rows of two cells, as the header
        write_version(store, document.id, 300), replace(meta(300), ragged_rows=0)
    ).version
    table = rows(300)
    made = Change(
        first.id,
        replaced=[(7, as_json([['"seven"', "x", "wider"]])[0]), (0, 'h1","h2')],
        added=as_json([["a", "b"], ["c"]]),
    )
    second, changed = change(store, document.id, made)
    assert (changed.updated, changed.added) == (2, 2)
    table[7] = ['"seven"', "x", "wider"]
    table[0] = ["h1", "h2"]
    table += [["a", "b"], ["c"]]
    assert records(store, second.id, 302) == table
    assert second.meta.first_record == ["h1", "h2"]
    assert second.meta.width == 3
    # record 0 changed: the rows are not counted against it any more
    assert second.meta.ragged_rows is None
    third, _ = change(store, document.id, Change(second.id, replaced=[(7, 'back","x')]))
    assert third.meta.ragged_rows is None


def test_many_small_changes_read_as_a_list_would(open_store):
    store = open_store()
    document, version = committed(store, 600)
    table = rows(600)
    rng = random.Random(3)
    for step in range(120):
        roll = rng.random()
        if roll < 0.4:
            row = rng.randrange(len(table))
            version, _ = change(
                store, document.id, Change(version.id, cells=[(row, 0, f"s{step}")])
            )
            table[row][0] = f"s{step}"
        elif roll < 0.7 and len(table) > 1:
            row = rng.randrange(len(table))
            version, _ = change(store, document.id, Change(version.id, deleted=[row]))
            del table[row]
        else:
            new = [[f"a{step}", "b"] for _ in range(rng.randint(1, 300))]
            version = append(store, document.id, new, [2] * len(new))
            table += new
        assert version.meta.record_count == len(table)
    assert records(store, version.id, len(table)) == table


def test_a_change_that_fails_leaves_nothing(open_store):
    store = open_store()
    document = store.create_document(None)
    with pytest.raises(TablecastError) as refused:
        store.change_rows(document.id, Change(0, deleted=[1]), 0)
    assert refused.value.code == "version_not_found"
    assert store.get_document(document.id).version is None


# Over HTTP


PEOPLE = b"id\tname\tcity\n1\tAda\tLondon\n2\tAlan\tWilmslow\n3\tGrace\tArlington\n"


def send(doc: dict[str, Any], method: str, path: str, body: Any = None, key: str | None = ""):
    headers = {"Authorization": f"Bearer {doc['edit_key'] if key == '' else key}"}
    if key is None:
        headers = {}
    data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
    status, answer, _ = http(method, f"{doc['api_url']}/{path}", data, headers)
    return status, answer


def page(doc: dict[str, Any], query: str = "") -> list[list[str]]:
    _, found, _ = http("GET", f"{doc['api_url']}/pages/1{query}")
    return found["data"]


async def test_cells_set_over_http_reach_every_viewer(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", PEOPLE)
    async with await v1(server, doc["id"]) as viewer, await legacy(server, doc["id"]) as article:
        await expect(viewer, "page")
        assert "data" in json.loads(await article.recv())
        status, answer = send(
            doc, "PATCH", "cells", [{"row": 2, "column": "city", "value": "Bletchley"}]
        )
        assert status == 200, answer
        assert (answer["version"], answer["total_number"]) == (2, 3)
        assert answer["changed"] == {"updated": 1, "deleted": 0, "added": 0, "overwritten": []}
        found = await expect(viewer, "page", cause="version")
        assert found["data"][1] == ["2", "Alan", "Bletchley"]
        legacy_page = json.loads(await article.recv())
        while "data" not in legacy_page:
            legacy_page = json.loads(await article.recv())
        assert legacy_page["data"][2] == ["2", "Alan", "Bletchley"]
    # by column number, a number as JSON writes it, rows as an older version numbered them
    assert send(doc, "DELETE", "rows?row=1")[0] == 200
    status, answer = send(doc, "PATCH", "cells?version=2", {"row": 3, "column": 0, "value": 30})
    assert status == 200 and answer["changed"]["updated"] == 1
    assert page(doc) == [["2", "Alan", "Bletchley"], ["30", "Grace", "Arlington"]]
    # the same cell set against version 2 again: the later wins, and says what it replaced
    status, answer = send(doc, "PATCH", "cells?version=2", {"row": 3, "column": 0, "value": "3"})
    assert answer["changed"]["overwritten"] == [{"row": 2, "column": 0, "was": "30", "value": "3"}]
    # every version as it was, and the diff says what changed
    assert page(doc, "?version=1")[0] == ["1", "Ada", "London"]
    _, changes, _ = http("GET", f"{doc['api_url']}/diff?from=1&to=2")
    assert changes["counts"] == {"added": 0, "removed": 0, "changed": 1}


def test_rows_upserted_by_a_key_and_deleted_by_a_key(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    body = b"id\tname\tcity\n2\tAlan\tManchester\n4\tEdsger\tNuenen\n"
    status, answer = send(doc, "PATCH", "rows?key=id", body)
    assert status == 200, answer
    assert answer["changed"] == {"updated": 1, "deleted": 0, "added": 1, "overwritten": []}
    assert page(doc) == [
        ["1", "Ada", "London"],
        ["2", "Alan", "Manchester"],
        ["3", "Grace", "Arlington"],
        ["4", "Edsger", "Nuenen"],
    ]
    # JSON Lines by column name, the key by its number
    status, answer = send(
        doc, "PATCH", "rows?key=0", b'{"id": 1, "name": "Ada", "city": "Paris"}\n'
    )
    assert answer["changed"]["updated"] == 1 and page(doc)[0] == ["1", "Ada", "Paris"]
    # what is there already changes nothing: no version
    status, answer = send(doc, "PATCH", "rows?key=id", body)
    assert (status, answer["version"], answer["changed"]["updated"]) == (200, 3, 0)
    status, answer = send(doc, "PATCH", "cells", {"row": 1, "column": 2, "value": "Paris"})
    assert (answer["version"], answer["changed"]["updated"]) == (3, 0)
    status, answer = send(doc, "DELETE", "rows?key=city&value=Paris&value=Nowhere")
    assert (status, answer["changed"]["deleted"], answer["total_number"]) == (200, 1, 3)
    status, answer = send(doc, "DELETE", "rows?key=id", ["3", 4])  # values in the body
    assert answer["changed"]["deleted"] == 2 and page(doc) == [["2", "Alan", "Manchester"]]


def test_an_upsert_finds_its_keys_again_if_the_table_changed_meanwhile(server, monkeypatch):
    # a row with the key an upsert found nowhere is added by someone else before it commits:
    # the upsert replaces that row, it does not add a second one with the same key
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    looked_up = Views.keyed_rows
    meanwhile = []

    async def racing(self: Views, version: Any, key: int, values: list[str]) -> Any:
        found = await looked_up(self, version, key, values)
        if not meanwhile:  # the first time: another change commits between lookup and commit
            meanwhile.append(
                self.store.append_rows(doc["id"], run_of(['4","Edsger","Delft']), [3], 0)
            )
        return found

    monkeypatch.setattr(Views, "keyed_rows", racing)
    status, answer = send(doc, "PATCH", "rows?key=id", b"id\tname\tcity\n4\tEdsger\tNuenen\n")
    assert status == 200, answer
    assert answer["changed"] == {"updated": 1, "deleted": 0, "added": 0, "overwritten": []}
    assert page(doc)[3:] == [["4", "Edsger", "Nuenen"]]
    # a table that keeps changing before it commits: told to send it again, nothing changed
    meanwhile.clear()

    async def stormy(self: Views, version: Any, key: int, values: list[str]) -> Any:
        found = await looked_up(self, version, key, values)
        self.store.append_rows(doc["id"], run_of(['5","Barbara","Boston']), [3], 0)
        return found

    monkeypatch.setattr(Views, "keyed_rows", stormy)
    status, answer = send(doc, "DELETE", "rows?key=id&value=1")
    assert (status, answer["error"]["code"]) == (409, "edit_conflict")
    assert page(doc)[0] == ["1", "Ada", "London"]


def test_changes_that_cannot_be_made_change_nothing(server, monkeypatch):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    cell = [{"row": 1, "column": 1, "value": "x"}]
    refusals = [
        ("PATCH", "cells", cell, None, 401, "edit_key_required"),
        ("PATCH", "cells", cell, "wrong", 403, "wrong_edit_key"),
        ("PATCH", "cells", [{"row": 9, "column": 1, "value": "x"}], "", 404, "row_not_found"),
        ("PATCH", "cells", [{"row": 0, "column": 1, "value": "x"}], "", 404, "row_not_found"),
        ("PATCH", "cells", [{"row": 1, "column": "town", "value": "x"}], "", 400, "bad_option"),
        ("PATCH", "cells", [{"row": 1, "column": 1, "value": [1]}], "", 400, "bad_request"),
        ("PATCH", "cells", [{"row": 1}], "", 400, "bad_request"),
        ("PATCH", "cells", b"not json", "", 400, "bad_request"),
        ("PATCH", "cells", [], "", 400, "bad_request"),
        ("PATCH", "cells?version=7", cell, "", 404, "version_not_found"),
        ("DELETE", "rows?row=4", None, "", 404, "row_not_found"),
        ("DELETE", "rows?row=x", None, "", 400, "bad_request"),
        ("DELETE", "rows", None, "", 400, "bad_request"),  # which rows?
        ("DELETE", "rows?key=id", None, "", 400, "bad_request"),
        ("DELETE", "rows?key=town&value=x", None, "", 400, "bad_option"),
        ("PATCH", "rows?key=town", b"1\tx\ty\n", "", 400, "bad_option"),
        ("PATCH", "rows", b"1\tx\ty\n", "", 400, "bad_option"),
    ]
    for method, path, body, key, status, code in refusals:
        found, answer = send(doc, method, path, body, key)
        assert (found, answer["error"]["code"]) == (status, code), (method, path, body)
    # the attack the limit is for: a body held whole while it is read, past its limit
    monkeypatch.setattr(uploads, "MAX_ROWS_BYTES", 1000)
    found, answer = send(doc, "PATCH", "cells", cell * 100)
    assert (found, answer["error"]["code"]) == (413, "too_large")
    _, now, _ = http("GET", doc["api_url"])
    assert (now["version"], now["total_number"]) == (1, 3)  # nothing changed


async def test_a_sorted_view_is_right_after_each_change(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    send(doc, "PATCH", "cells", {"row": 1, "column": "name", "value": "Zed"})
    send(doc, "DELETE", "rows?row=2")
    post_rows(server, doc, b"4\tBarbara\tBoston\n")
    assert page(doc, "?sort=1") == [
        ["4", "Barbara", "Boston"],
        ["3", "Grace", "Arlington"],
        ["1", "Zed", "London"],
    ]
    assert page(doc, "?q=zed") == [["1", "Zed", "London"]]


async def test_cells_set_on_one_node_reach_viewers_on_another(nodes):
    first, second = nodes(2)
    _, doc, _ = http("POST", f"{first.url}/parser/api/docs", PEOPLE)
    async with await v1(second, doc["id"]) as viewer:
        await expect(viewer, "page")
        status, _ = send(doc, "PATCH", "cells", {"row": 3, "column": 2, "value": "Lima"})
        assert status == 200
        found = await expect(viewer, "page", cause="version")
        assert found["data"][2] == ["3", "Grace", "Lima"]
    doc2 = {**doc, "api_url": doc["api_url"].replace(first.url, second.url)}
    assert send(doc2, "DELETE", "rows?row=1")[0] == 200  # and the other way
    _, now, _ = http("GET", doc["api_url"])
    assert (now["version"], now["total_number"]) == (3, 2)


# The views of a changed version


async def test_a_changed_versions_columns_are_made_from_the_version_before(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    first = store.commit_version(write_version(store, document.id, 2000), meta(2000)).version
    made = [first]
    version, _ = change(store, document.id, Change(first.id, cells=[(700, 0, "a changed cell")]))
    made.append(version)
    version, _ = change(store, document.id, Change(version.id, deleted=[5, 1999]))
    made.append(version)
    made.append(append(store, document.id, [["zz", "new"], ["aa", "new"]], [2, 2]))
    cache = tmp_path / "columns"
    views = Views(store, memory=10**9, cache=cache)
    built = []
    building = views._building

    def counted(version):
        built.append(version.id)
        return building(version)

    views._building = counted
    try:
        derived = [await views.text(version) for version in made]
        for version in made:
            await views.types(version)
        sorted_rows = [await views.rows(version, View(sort=0)) for version in made]
    finally:
        views.close()
    assert built == [first.id]  # each later one from the one before: no pass over its blocks
    fresh = Views(store, memory=10**9, cache=None)  # the same, made from the blocks
    try:
        for version, text, rows_seen in zip(made, derived, sorted_rows, strict=True):
            whole = await fresh.text(version)
            assert text.table.to_pylist() == whole.table.to_pylist()
            assert (await fresh.rows(version, View(sort=0))).tolist() == rows_seen.tolist()
    finally:
        fresh.close()
        store.close()


# Nobody moves when rows change


async def test_a_viewer_browsing_alone_stays_on_its_page_when_rows_change(nodes):
    first, second = nodes(2)
    table = b"n\tname\n" + b"".join(f"{i}\tname {i}\n".encode() for i in range(250))
    _, doc, _ = http("POST", f"{first.url}/parser/api/docs", table)
    viewers = [await v1(first, doc["id"]), await v1(second, doc["id"])]
    try:
        for viewer in viewers:  # each browses alone, on page 2
            await expect(viewer, "page")
            await viewer.send(json.dumps({"type": "follow", "follow": False}))
            await viewer.send(json.dumps({"type": "goto", "page": 2}))
            await expect(viewer, "page", page_no=2)
        async with await v1(first, doc["id"]) as follower:
            await expect(follower, "page", page_no=1)
            status, _ = send(doc, "PATCH", "cells", {"row": 150, "column": 1, "value": "edited"})
            assert status == 200
            found = await expect(follower, "page", cause="version")
            assert (found["page_no"], found["version"]) == (1, 2)
            for viewer in viewers:  # on this node and on the other
                found = await expect(viewer, "page", cause="version")
                assert (found["page_no"], found["version"]) == (2, 2)
                assert found["data"][49] == ["149", "edited"]
            # an upload is a new table: page 1 for everyone, as ever
            put = {"Authorization": f"Bearer {doc['edit_key']}"}
            assert http("PUT", doc["api_url"], table, put)[0] == 200
            for viewer in viewers:
                found = await expect(viewer, "page", cause="version")
                assert (found["page_no"], found["version"]) == (1, 3)
    finally:
        for viewer in viewers:
            await viewer.close()


def test_a_version_that_changed_rows_is_announced_so():
    from tablecast.bus.events import VersionCommitted, decode, encode

    for event in (VersionCommitted("d", 1, 7), VersionCommitted("d", 1, 8, edited=True)):
        assert decode(encode(event)) == event


async def test_a_diff_of_changed_rows_follows_their_identity(tmp_path, monkeypatch):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    first = store.commit_version(write_version(store, document.id, 3000), meta(3000)).version
    second, _ = change(store, document.id, Change(first.id, cells=[(10, 0, "ten")]))
    third, _ = change(
        store, document.id, Change(second.id, deleted=[20, 21], cells=[(2999, 1, "last")])
    )
    same, _ = change(store, document.id, Change(third.id, cells=[(30, 0, "x")]))
    fourth, _ = change(store, document.id, Change(same.id, cells=[(30, 0, "r32")]))  # back
    fifth = append(store, document.id, [["new", "row"]], [2])
    views = Views(store, memory=10**9, cache=tmp_path / "columns")

    async def never(version):
        raise AssertionError("a diff by identity reads no whole version")

    monkeypatch.setattr(views, "blocks", never)
    try:
        answer = await views.diff(first, fifth, None, 1)
        assert answer["counts"] == {"added": 1, "removed": 2, "changed": 2}
        assert answer["truncated"] is True  # one row of each kind listed
        assert answer["removed"] == [{"row": 20, "cells": ["r20", "x\ny"]}]
        assert answer["added"] == [{"row": 2998, "cells": ["new", "row"]}]
        assert answer["changed"] == [
            {
                "row": 10,
                "from_row": 10,
                "cells": {"0": ["r10", "ten"]},
                "new_cells": ["ten", "x\ny"],
            }
        ]
        # a cell set and set back is no change; the other way round, the same rows
        answer = await views.diff(fourth, third, None, 10)
        assert answer["counts"] == {"added": 0, "removed": 0, "changed": 0}
        answer = await views.diff(fifth, first, None, 10)
        assert answer["counts"] == {"added": 2, "removed": 1, "changed": 2}
        # by a key column: a row whose key changed is another row (r10 gone, ten added)
        answer = await views.diff(first, fifth, 0, 10)
        assert answer["counts"] == {"added": 2, "removed": 3, "changed": 1}
        assert [row["cells"][0] for row in answer["added"]] == ["ten", "new"]
        assert answer["changed"][0]["cells"] == {
            "1": [answer["changed"][0]["cells"]["1"][0], "last"]
        }
    finally:
        views.close()
        store.close()


async def test_the_group_on_the_last_page_follows_the_rows_as_they_come(nodes):
    first, second = nodes(2)
    table = b"n\n" + b"".join(f"{i}\n".encode() for i in range(250))
    _, doc, _ = http("POST", f"{first.url}/parser/api/docs", table)
    async with await editor(first, doc["id"], doc["edit_key"]) as leader:
        await expect(leader, "page")
        await leader.send(json.dumps({"type": "goto", "page": 3}))  # the last page
        await expect(leader, "page", page_no=3)
        async with await v1(second, doc["id"]) as follower, await v1(first, doc["id"]) as alone:
            await expect(follower, "page", page_no=3)
            await expect(alone, "page")
            await alone.send(json.dumps({"type": "follow", "follow": False}))
            await alone.send(json.dumps({"type": "goto", "page": 3}))
            await expect(alone, "page", page_no=3)
            more = b"".join(f"{i}\n".encode() for i in range(250, 350))
            assert post_rows(first, doc, more)[0] == 200
            for ws in (leader, follower, alone):  # the new last page, on either node
                page = await eventually_page(ws, 4)
                assert page["data"][-1] == ["349"]
            # off the last page, the group stays where it is
            await leader.send(json.dumps({"type": "goto", "page": 2}))
            await expect(follower, "page", page_no=2)
            assert post_rows(first, doc, b"350\n")[0] == 200
            page = await expect(follower, "page", cause="version")
            assert page["page_no"] == 2


async def eventually_page(ws, page_no: int) -> dict[str, Any]:
    """The first page message showing ``page_no`` (a version's page, then a turn to it)."""
    while True:
        page = await expect(ws, "page")
        if page["page_no"] == page_no:
            return page


async def test_the_types_of_rows_added_are_counted_alone(tmp_path, monkeypatch):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    numbers = [[str(i), f"{i}.5"] for i in range(1, 3000)]
    pending = store.begin_version(document.id)
    run = run_of(as_json([["n", "x"], *numbers]))
    store.write_blocks(pending, list(enumerate(run.blocks(len(run)))))
    first = store.commit_version(pending, replace(meta(3000), first_record=["n", "x"])).version
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        assert await views.types(first) == ["integer", "decimal"]
        counted = []
        counting = TableText.counting

        def spied(self, first_record, width, found_text=()):
            counted.append(self.record_count)
            return counting(self, first_record, width, found_text)

        monkeypatch.setattr(TableText, "counting", spied)
        second = append(store, document.id, [["3000", "7"]], [2])
        assert await views.types(second) == ["integer", "decimal"]
        third = append(store, document.id, [["many", "8"]], [2])  # a word: text now
        assert await views.types(third) == ["text", "decimal"]
        assert counted == [1, 1]  # the rows added, not the table
        # the word set back to a number: the column's one value of no kind is gone, which the
        # merged counts cannot say (one says text): counted again whole, it is integers again
        fourth, _ = change(store, document.id, Change(third.id, cells=[(3001, 0, "3001")]))
        assert await views.types(fourth) == ["integer", "decimal"]
        assert counted == [1, 1, 1]
        # and as a count of the whole table says
        fresh = Views(store, memory=10**9, cache=None)
        try:
            assert await fresh.types(third) == ["text", "decimal"]
            assert await fresh.types(fourth) == ["integer", "decimal"]
        finally:
            fresh.close()
    finally:
        views.close()
        store.close()


# Patches: a new version's page as the rows of it that changed


def test_a_patch_holds_the_rows_that_changed_and_every_other_field():
    from tablecast.wire.protocol import v1_patch

    rows_before = [[str(i), f"name {i}"] for i in range(100)]
    page = {"type": "page", "version": 3, "page_no": 2, "view": {}, "total_number": 250}
    before = orjson.dumps({**page, "data": rows_before})
    after_rows = [list(row) for row in rows_before]
    after_rows[7][1] = "changed"
    after = orjson.dumps({**page, "version": 4, "total_number": 251, "data": after_rows})
    patch = orjson.loads(v1_patch(before, after))
    assert patch == {
        **page,
        "type": "patch",
        "version": 4,
        "base": 3,
        "total_number": 251,
        "length": 100,
        "changes": {"7": ["7", "changed"]},
    }
    # another page, or a page whose every row changed, goes whole
    assert v1_patch(before, orjson.dumps({**page, "page_no": 3, "data": after_rows})) is None
    moved = [[str(i + 1), f"name {i + 1}"] for i in range(100)]
    assert v1_patch(before, orjson.dumps({**page, "version": 4, "data": moved})) is None


async def test_viewers_that_ask_for_patches_get_the_rows_that_changed(server):
    table = b"n\tname\n" + b"".join(f"{i}\tname {i}\n".encode() for i in range(250))
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table)
    async with await v1(server, doc["id"]) as patched, await v1(server, doc["id"]) as whole:
        await patched.send(json.dumps({"type": "patches", "patches": True}))
        for viewer in (patched, whole):
            await expect(viewer, "page", page_no=1)
        send(doc, "PATCH", "cells", {"row": 5, "column": 1, "value": "edited"})
        patch = await expect(patched, "patch")
        assert (patch["base"], patch["version"], patch["page_no"]) == (1, 2, 1)
        assert patch["changes"] == {"4": ["4", "edited"]} and patch["length"] == 100
        assert "data" not in patch and patch["cause"] == "version"
        page = await expect(whole, "page", cause="version")  # a viewer that did not ask
        assert page["data"][4] == ["4", "edited"]
        # rows added past the page: nothing of it changed but its count
        assert post_rows(server, doc, b"250\tname 250\n")[0] == 200
        patch = await expect(patched, "patch")
        assert (patch["changes"], patch["total_number"]) == ({}, 251)
        # another table uploaded: every row changed, so the page goes whole
        put = {"Authorization": f"Bearer {doc['edit_key']}"}
        assert http("PUT", doc["api_url"], table.replace(b"name", b"other"), put)[0] == 200
        page = await expect(patched, "page", cause="version")
        assert page["version"] == 4
        # a viewer browsing alone gets its own page as a patch too
        await patched.send(json.dumps({"type": "follow", "follow": False}))
        await patched.send(json.dumps({"type": "goto", "page": 2}))
        await expect(patched, "page", page_no=2)
        send(doc, "PATCH", "cells", {"row": 105, "column": 1, "value": "mine"})
        patch = await expect(patched, "patch")
        assert (patch["base"], patch["version"], patch["page_no"]) == (4, 5, 2)
        assert patch["changes"] == {"4": ["104", "mine"]}, patch
        await expect(whole, "page", cause="version")  # (the group, on page 1)


def test_a_change_of_too_many_rows_is_refused_before_it_holds_the_writer(server, monkeypatch):
    # each row a change touches is read and followed in the commit's transaction, which every
    # upload and change waits for: one request may not hold it for seconds
    from tablecast.table import changes

    monkeypatch.setattr(changes, "MAX_CHANGED_ROWS", 2)
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", PEOPLE)
    status, answer = send(doc, "DELETE", "rows", [1, 2, 3])
    assert (status, answer["error"]["code"]) == (413, "too_large")
    cells = [{"row": row, "column": 0, "value": "x"} for row in (1, 2, 3)]
    status, answer = send(doc, "PATCH", "cells", cells)
    assert (status, answer["error"]["code"]) == (413, "too_large")
    _, now, _ = http("GET", doc["api_url"])
    assert (now["version"], now["total_number"]) == (1, 3)
    assert send(doc, "DELETE", "rows", [1, 2])[0] == 200  # within it


def test_rows_sent_are_read_with_the_delimiter_given(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", b"a;b\n1;2\n")
    # one line alone says little of its delimiter: the sender says it, as an upload may
    status, _ = send(doc, "POST", "rows?delimiter=semicolon", b"3;4\n")
    assert status == 200
    status, answer = send(doc, "PATCH", "rows?key=a&delimiter=semicolon", b"3;5\n")
    assert (status, answer["changed"]["updated"]) == (200, 1)
    assert page(doc) == [["1", "2"], ["3", "5"]]
    status, answer = send(doc, "POST", "rows?delimiter=colon", b"5:6\n")
    assert (status, answer["error"]["code"]) == (400, "bad_option")


def test_no_version_id_is_given_twice(tmp_path):
    # SQLite gives the id of the newest row deleted to the next one: what is kept by version
    # id (pages, columns, a version's pieces) would be read for another version
    import time

    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        document, first = committed(store, 300)
        edited, _ = change(store, document.id, Change(first.id, deleted=[1, 2, 3]))
        assert len(orjson.loads(store.read_rows(edited.id, 0, 1000))) == 297
        store.abort_version(store.begin_version(document.id))  # an upload given up
        assert store.remove_unused(time.time() + 60, None, None, ()) == [document.id]
        other, _ = committed(store, 10)
        again = store.commit_version(write_version(store, other.id, 20), meta(20)).version
        assert again.id > edited.id + 1
        assert len(orjson.loads(store.read_rows(again.id, 0, 1000))) == 20
    finally:
        store.close()
    reopened = SQLiteStore(tmp_path / "s.sqlite3")  # (the counter is kept)
    try:
        assert reopened.begin_version(other.id) > again.id
    finally:
        reopened.close()


def test_chunks_of_one_name_but_other_bytes_keep_the_pieces_whole(open_store, monkeypatch):
    # a chunk's name is a hash of its bytes: two chunks of one name (made so here) are told
    # apart by their bytes, never one read for the other
    from tablecast.store import sql

    store = open_store()
    document, first = committed(store, 20_000)
    spread = [(row, 1, f"changed {row}") for row in range(10, 20_000, 25)]
    monkeypatch.setattr(sql, "chunk_id", lambda chunk: b"samename")
    many, _ = change(store, document.id, Change(first.id, cells=spread))
    table = rows(20_000)
    for row, _, value in spread:
        table[row][1] = value
    assert records(open_store(), many.id, 20_000) == table


def test_the_pieces_a_store_keeps_in_memory_are_bounded_in_bytes(tmp_path, monkeypatch):
    # a much changed table's pieces are some MiB a version: kept for every version read, a
    # reader walking its history would hold them all
    from tablecast.store import sql

    monkeypatch.setattr(sql, "PIECES_KEPT_BYTES", 80 * PIECE_BYTES)
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        document, version = committed(store, 3000)
        versions = []
        for row in range(10, 3000, 100):  # each version's pieces a few more than the last
            version, _ = change(store, document.id, Change(version.id, cells=[(row, 0, "x")]))
            versions.append(version)
        for each in versions:
            store.read_rows(each.id, 0, 1)
        reads = store._reads
        assert 0 < reads._kept_bytes <= 80 * PIECE_BYTES
        assert reads._kept_bytes == sum(
            len(pieces) * PIECE_BYTES for pieces in reads._kept.values() if pieces is not None
        )
    finally:
        store.close()
