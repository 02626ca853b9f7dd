"""The store contract, run against every store implementation; and the ingest pipeline."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from support import feed_in_pieces, many_versions, meta, rows, write_version
from tablecast.errors import TablecastError
from tablecast.model import Usage
from tablecast.service.ingest import Ingest
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.blocks import BLOCK_RECORDS, record_cells
from tablecast.table.originals import Rebuilt
from tablecast.table.parsing import ParseOptions, TableParser


def test_a_new_store_uses_16_kib_pages(tmp_path):
    store = SQLiteStore(tmp_path / "t.sqlite3")
    store.create_document(None)
    assert store._connect().execute("PRAGMA page_size").fetchone() == (16384,)
    store.close()


def test_create_and_get(open_store):
    store = open_store()
    document = store.create_document(None)
    got = store.get_document(document.id)
    assert got is not None
    assert (got.id, got.version, got.shared_page) == (document.id, None, 1)
    assert store.get_document("00000000-0000-4000-8000-000000000000") is None


def test_a_version_is_invisible_until_committed(open_store):
    store = open_store()
    document = store.create_document(None)
    pending = write_version(store, document.id, 600)
    assert store.get_document(document.id).version is None  # type: ignore[union-attr]
    after = store.commit_version(pending, meta(600))
    assert after.version is not None
    assert (after.version.number, after.version.meta.record_count) == (1, 600)
    assert after.version.meta.first_record == ["h1", "h2"]
    assert store.get_document(document.id) == after


def test_versions_are_numbered_in_commit_order(open_store):
    store = open_store()
    document = store.create_document(None)
    first = write_version(store, document.id, 10)
    second = write_version(store, document.id, 20)
    assert store.commit_version(second, meta(20)).version.number == 1  # type: ignore[union-attr]
    latest = store.commit_version(first, meta(10))
    assert (latest.version.number, latest.version.meta.record_count) == (2, 10)  # type: ignore[union-attr]


def test_a_commit_resets_the_shared_page(open_store):
    store = open_store()
    document = store.create_document(None)
    store.commit_version(write_version(store, document.id, 10), meta(10))
    store.set_shared_page(document.id, 7)
    assert store.get_document(document.id).shared_page == 7  # type: ignore[union-attr]
    after = store.commit_version(write_version(store, document.id, 10), meta(10))
    assert after.shared_page == 1


@pytest.mark.parametrize(
    ("start", "stop"),
    [(0, 1), (0, 100), (250, 262), (255, 257), (0, 600), (512, 600), (599, 600), (5, 5)],
)
def test_read_records_across_blocks(open_store, start, stop):
    store = open_store()
    document = store.create_document(None)
    version = store.commit_version(write_version(store, document.id, 600), meta(600)).version
    assert version is not None
    assert orjson.loads(store.read_rows(version.id, start, stop)) == rows(stop - start, start)


def test_a_versions_blocks_are_read_a_range_at_a_time(open_store):
    """What a version's columns are made from, a piece at a time (see Views._building)."""
    store = open_store()
    document = store.create_document(None)
    version = store.commit_version(write_version(store, document.id, 600), meta(600)).version
    assert version is not None
    whole = store.read_all(version.id)
    assert len(whole) == 3
    assert store.read_blocks(version.id, 0, 1) == whole[:2]
    assert store.read_blocks(version.id, 1, 9) == whole[1:]  # fewer at the end
    assert store.read_blocks(version.id, 3, 4) == []


def test_abort_leaves_no_trace_and_the_old_version_stays(open_store):
    store = open_store()
    document = store.create_document(None)
    old = store.commit_version(write_version(store, document.id, 5), meta(5))
    pending = write_version(store, document.id, 1000)
    store.abort_version(pending)
    assert store.get_document(document.id) == old
    with pytest.raises(TablecastError):
        store.commit_version(pending, meta(1000))
    assert store.commit_version(write_version(store, document.id, 3), meta(3)).version.number == 2  # type: ignore[union-attr]


def test_everything_survives_reopening_and_pending_uploads_are_forgotten(open_store):
    store = open_store()
    document = store.create_document(None)
    committed = store.commit_version(write_version(store, document.id, 300), meta(300))
    store.set_shared_page(document.id, 2)
    write_version(store, document.id, 900)  # the process dies mid-upload
    store.close()
    again = open_store()
    got = again.get_document(document.id)
    assert got is not None and got.version == committed.version and got.shared_page == 2
    assert len(orjson.loads(again.read_rows(got.version.id, 0, 300))) == 300  # type: ignore[union-attr]
    next_version = again.commit_version(write_version(again, document.id, 1), meta(1))
    assert next_version.version.number == 2  # type: ignore[union-attr]


def test_empty_documents_are_removed_unless_kept_or_used(open_store):
    store = open_store()
    old_empty = store.create_document(None)
    kept = store.create_document(None)
    used = store.create_document(None)
    store.commit_version(write_version(store, used.id, 1), meta(1))
    uploading = store.create_document(None)
    write_version(store, uploading.id, 1)  # an upload in progress counts as use
    removed = store.remove_empty_documents(time.time() + 1, keep={kept.id})
    assert removed == [old_empty.id]
    assert store.get_document(old_empty.id) is None
    for document in (kept, used, uploading):
        assert store.get_document(document.id) is not None
    young = store.create_document(None)
    assert store.remove_empty_documents(time.time() - 3600, keep=()) == []  # none old enough
    assert store.get_document(young.id) is not None


def test_remove_document_if_empty(open_store):
    store = open_store()
    empty, used = store.create_document(None), store.create_document(None)
    store.commit_version(write_version(store, used.id, 1), meta(1))
    store.remove_document_if_empty(empty.id)
    store.remove_document_if_empty(used.id)
    assert store.get_document(empty.id) is None
    assert store.get_document(used.id) is not None


def test_readers_on_other_threads_see_committed_versions_while_a_writer_writes(open_store):
    store = open_store()
    document = store.create_document(None)
    store.commit_version(write_version(store, document.id, 100), meta(100))
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                got = store.get_document(document.id)
                assert got is not None and got.version is not None
                records = store.read_rows(got.version.id, 0, got.version.meta.record_count)
                assert len(orjson.loads(records)) == got.version.meta.record_count
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for n in range(2, 12):
        store.commit_version(write_version(store, document.id, n * 100), meta(n * 100))
    stop.set()
    for t in readers:
        t.join()
    assert not errors


# Ingest: parser, blocks and store together


@pytest.mark.parametrize("records", [1, BLOCK_RECORDS - 1, BLOCK_RECORDS, BLOCK_RECORDS + 1, 1000])
def test_ingest_stores_every_record_once(open_store, records):
    store = open_store()
    document = store.create_document(None)
    data = "".join(f"r{i}\tv{i}\n" for i in range(records)).encode()
    ingest = Ingest(
        store,
        document.id,
        filename="f.tsv",
        has_header=False,
        options=ParseOptions(),
        max_bytes=10**9,
    )
    for i in range(0, len(data), 777):
        ingest.feed(data[i : i + 777])
    version = ingest.finish().version
    assert version is not None
    assert (version.meta.record_count, version.meta.size, version.meta.width) == (
        records,
        len(data),
        2,
    )
    got = orjson.loads(store.read_rows(version.id, 0, records))
    assert got == [[f"r{i}", f"v{i}"] for i in range(records)]


def test_ingest_refuses_bytes_past_the_limit(open_store):
    store = open_store()
    document = store.create_document(None)
    ingest = Ingest(
        store,
        document.id,
        filename="",
        has_header=True,
        options=ParseOptions(),
        max_bytes=100,
    )
    ingest.feed(b"a\tb\n" * 25)
    with pytest.raises(TablecastError) as err:
        ingest.feed(b"x")
    assert err.value.code == "too_large"
    ingest.abort()
    assert store.get_document(document.id).version is None  # type: ignore[union-attr]


SCHEMA_1 = """
CREATE TABLE documents (id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    current_version INTEGER, shared_page INTEGER NOT NULL DEFAULT 1);
CREATE TABLE versions (id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE, number INTEGER,
    created_at REAL NOT NULL, filename TEXT NOT NULL DEFAULT '', encoding TEXT NOT NULL DEFAULT '',
    delimiter TEXT NOT NULL DEFAULT '', has_header INTEGER NOT NULL DEFAULT 1,
    record_count INTEGER NOT NULL DEFAULT 0, width INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0, first_record TEXT NOT NULL DEFAULT '[]');
CREATE UNIQUE INDEX versions_by_number ON versions(document_id, number);
CREATE TABLE blocks (version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    block INTEGER NOT NULL, records BLOB NOT NULL, PRIMARY KEY (version_id, block));
PRAGMA user_version=1;
"""


def test_a_schema_1_store_is_migrated(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_1)
    old.execute("INSERT INTO documents VALUES ('d', 0, 0, 1, 3)")
    old.execute(
        "INSERT INTO versions (id, document_id, number, created_at, record_count, width,"
        " first_record) VALUES (1, 'd', 1, 0, 300, 2, '[\"r0\",\"x\\\\ny\"]')"
    )
    for block in range(2):  # schema 1 kept records one per line, and nothing else
        lines = rows(min(256, 300 - block * 256), block * 256)
        old.execute(
            "INSERT INTO blocks VALUES (1, ?, ?)",
            (block, b"\n".join(orjson.dumps(r) for r in lines)),
        )
    old.commit()
    old.close()
    store = SQLiteStore(path)
    document = store.get_document("d")
    assert document is not None and document.version is not None and document.shared_page == 3
    assert orjson.loads(store.read_rows(document.version.id, 250, 300)) == rows(50, 250)
    # shared before edit keys: it keeps no key, so anyone with the link may still edit it
    assert document.edit_key_hash is None
    assert document.shared_view == ""  # followers see it plain, as they did
    assert store.usage().stored_bytes > 0  # its blocks are counted against the storage limit
    assert store.read_original(document.version.id, 0, 1) == []  # not kept before schema 5
    pending = store.begin_version("d")  # and new versions keep theirs
    store.write_blocks(pending, [], [(0, Rebuilt(record_count=2, end=8, eol="\n")), (1, b"x\ty\n")])
    assert store.read_original(pending, 0, 2) == [
        Rebuilt(record_count=2, end=8, eol="\n", going=False),
        b"x\ty\n",
    ]
    store.close()


def test_a_store_from_a_newer_tablecast_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(RuntimeError, match="upgrade tablecast"):
        SQLiteStore(path)


def test_usage_counts_documents_and_every_committed_versions_bytes(open_store):
    store = open_store()
    assert store.usage() == Usage(0, 0)
    document = store.create_document(b"k" * 32)
    assert store.get_document(document.id).edit_key_hash == b"k" * 32  # type: ignore[union-attr]
    pending = write_version(store, document.id, 600)
    # an upload in progress is counted by Documents, by the bytes it has received
    assert store.usage() == Usage(1, 0)
    store.commit_version(pending, meta(600))
    one = store.usage().stored_bytes
    assert one > 600 * 10
    store.commit_version(write_version(store, document.id, 600), meta(600))
    assert store.usage() == Usage(1, 2 * one)


def test_remove_unused_goes_least_recently_used_first_and_spares_the_kept(open_store):
    store = open_store()
    docs = [store.create_document(None) for _ in range(5)]
    for document in docs:  # used in this order: docs[0] longest ago
        store.commit_version(write_version(store, document.id, 300), meta(300))
    store.touch({docs[2].id: time.time() + 60})  # docs[2] was viewed just now: the newest
    uploading = write_version(store, docs[1].id, 10)  # an upload in progress: never removed
    per_document = store.usage().stored_bytes // 5
    removed = store.remove_unused(0.0, 4, None, keep={docs[0].id})  # docs[0] has viewers
    assert removed == [docs[3].id]
    removed = store.remove_unused(0.0, None, 3 * per_document + 1000, keep={docs[0].id})
    assert removed == [docs[4].id]  # bytes: docs[0], [1] (+ its upload) and [2] are left
    assert store.remove_unused(0.0, None, None, keep=()) == []  # within limits: nothing
    assert store.remove_unused(time.time() + 1, None, None, keep=()) == [docs[0].id]  # TTL
    store.abort_version(uploading)
    assert {d.id for d in docs if store.get_document(d.id)} == {docs[1].id, docs[2].id}


def test_sqlite_finds_versions_by_document_and_number_through_the_index(tmp_path):
    """One version, or a page of them, is a search of versions_by_number that stops at the
    rows it returns: never a scan of the document's versions, nor a sort of them."""
    from tablecast.store import sqlite

    store = SQLiteStore(tmp_path / "t.sqlite3")
    document = store.create_document(None)
    many_versions(store, document.id, 5000)
    conn = store._connect()
    conn.execute("ANALYZE")
    search = "SEARCH v USING INDEX versions_by_number (document_id=? AND "
    for query, args, bounds in (
        (sqlite.VERSION_QUERY, (document.id, 1), "number=?)"),
        (sqlite.VERSIONS_QUERY, (document.id, 10), "number>?)"),  # > NULL: committed
        (sqlite.VERSIONS_BEFORE_QUERY, (document.id, 2500, 10), "number>? AND number<?)"),
    ):
        # one step, no "USE TEMP B-TREE FOR ORDER BY": the index gives them newest first
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query, args)]
        assert plan == [search + bounds]
    assert store.version(document.id, 1).number == 1  # type: ignore[union-attr]
    assert [v.number for v in store.versions(document.id, 3, 2500)] == [2499, 2498, 2497]
    store.close()


def stored_blocks(records: list[str]) -> list[tuple[int, bytes, bytes]]:
    """The blocks records are stored in, as tablecast wrote them before runs (issue 17): each
    256 records' JSON arrays one per line, and where each starts as little-endian uint32s."""
    blocks = []
    for number, first in enumerate(range(0, len(records), BLOCK_RECORDS)):
        lines = [f'["{record}"]'.encode() for record in records[first : first + BLOCK_RECORDS]]
        starts, at = [], 0
        for line in lines:
            starts.append(at)
            at += len(line) + 1
        offsets = b"".join(start.to_bytes(4, "little") for start in starts)
        blocks.append((number, b"\n".join(lines), offsets))
    return blocks


@pytest.mark.parametrize("chunk", [1000, 4096, 65536])
def test_ingest_stores_the_same_blocks_whichever_lane_read_each_chunk(tmp_path, chunk):
    """A file whose chunks are plain (no quotes) and quoted by turns: the blocks stored are the
    bytes the CSV lane's records make, record for record, across block boundaries."""
    lines = []
    for i in range(3000):
        if i // 400 % 2:
            lines.append(f'q{i}\t"a\tb ""{i}"""\tnaïve\r\n')  # the CSV lane
        elif i % 97 == 0:
            lines.append("\r\n" if i % 2 else "  \n")  # blank lines, left out
        elif i % 89 == 0:
            lines.append(f"ragged\t{i}\n")
        else:
            lines.append(f"p{i}\tvalue {i}\t日本 {i % 7}\n")
    data = "".join(lines).encode()
    reference = TableParser(ParseOptions(), plain_lane=False)
    records = feed_in_pieces(reference, data, [])
    store = SQLiteStore(tmp_path / "t.sqlite3")
    document = store.create_document(None)
    ingest = Ingest(
        store, document.id, filename="", has_header=False, options=ParseOptions(), max_bytes=10**9
    )
    for i in range(0, len(data), chunk):
        ingest.feed(data[i : i + chunk])
    version = ingest.finish().version
    assert version is not None
    assert store.read_blocks(version.id, 0, len(records)) == stored_blocks(records)
    meta = version.meta
    assert (meta.record_count, meta.width, meta.ragged_rows) == (
        reference.record_count,
        reference.max_width,
        reference.ragged_records,
    )
    assert meta.first_record == record_cells(records[0])
    store.close()
