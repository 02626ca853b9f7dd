"""Ragged rows (issue 15, item 6): rows with more or fewer cells than the header are kept as they
are, counted with their version (``ragged_rows``), and columns past the header's end, or of a
file without one, are headed by a name no header would hold rather than a bare number."""

from __future__ import annotations

import re
import sqlite3
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import expect, feed_in_pieces, http, put, raw_text, sql, upload_v1, v1, write_version
from tablecast.errors import TablecastError
from tablecast.model import Version, VersionMeta
from tablecast.store.base import Store
from tablecast.store.sqlite import SCHEMA, SCHEMA_VERSION, SQLiteStore
from tablecast.table.blocks import encode_block, record_cells
from tablecast.table.parsing import ParseOptions, TableParser
from tablecast.wire import protocol

# a header of three, then rows of three, one, two, four and three cells: three do not fit
RAGGED = b"a\tb\tc\n1\t2\t3\n4\n5\t6\n7\t8\t9\t10\n11\t12\t13\n"
RAGGED_ROWS = [["1", "2", "3"], ["4"], ["5", "6"], ["7", "8", "9", "10"], ["11", "12", "13"]]


def counted(data: bytes, chunk: int, plain_lane: bool = True) -> tuple[list[list[str]], int]:
    parser = TableParser(ParseOptions(), plain_lane=plain_lane)
    records = feed_in_pieces(parser, data, list(range(chunk, len(data), chunk)))
    return [record_cells(r) for r in records], parser.ragged_records


# Columns past the header's end, or of a file without one


def version(width: int, has_header: bool = True) -> Version:
    meta = VersionMeta("t.tsv", "utf-8", "\t", has_header, 3, width, 10, ["a", "b"])
    return Version(1, "d", 1, 0.0, meta)


def test_made_up_column_names_cannot_pass_for_the_header():
    assert version(4).column_names == ["a", "b", "Column 3 (no header)", "Column 4 (no header)"]
    assert version(2).column_names == ["a", "b"]
    assert version(3, has_header=False).column_names == ["Column 1", "Column 2", "Column 3"]
    assert version(4).columns == ["a", "b", "3", "4"]  # what downloads write, as before


# The parser counts them


@pytest.mark.parametrize("plain_lane", [True, False])
@pytest.mark.parametrize("chunk", [1, 3, 7, len(RAGGED)])
def test_rows_wider_or_narrower_than_the_first_are_counted(plain_lane, chunk):
    rows, ragged = counted(RAGGED, chunk, plain_lane)
    assert rows == [["a", "b", "c"], *RAGGED_ROWS]  # nothing lost
    assert ragged == 3


def test_quoted_rows_are_counted_as_plain_ones():
    data = b'a,b\n"1,5",2\n"x\ny"\n3,4,5\n,\n'  # quoted: the CSV lane
    rows, ragged = counted(data, chunk=4)
    assert rows == [["a", "b"], ["1,5", "2"], ["x\ny"], ["3", "4", "5"], ["", ""]]
    assert ragged == 2


@settings(max_examples=300, deadline=None)
@given(
    text=raw_text,
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
    delimiter=st.sampled_from(["\t", ",", ";"]),
    sample_bytes=st.integers(min_value=1, max_value=40),
    plain_lane=st.booleans(),
)
def test_the_count_is_the_rows_that_do_not_fit_the_first_however_the_file_arrives(
    text, cuts, delimiter, sample_bytes, plain_lane
):
    parser = TableParser(
        ParseOptions(delimiter=delimiter), sample_bytes=sample_bytes, plain_lane=plain_lane
    )
    try:
        rows = [record_cells(r) for r in feed_in_pieces(parser, text.encode(), cuts)]
    except TablecastError:
        return  # no rows at all
    assert parser.ragged_records == sum(len(row) != len(rows[0]) for row in rows[1:])


# The store keeps the count


def test_every_store_keeps_the_count_with_the_version_and_a_restore_of_it(open_store):
    store: Store = open_store()
    document = store.create_document(None)
    meta = VersionMeta("r.tsv", "utf-8", "\t", True, 6, 4, 100, ["a", "b", "c"], ragged_rows=3)
    store.commit_version(write_version(store, document.id, 6), meta)
    found = store.get_document(document.id)
    assert found is not None and found.version is not None
    assert found.version.meta.ragged_rows == 3
    assert store.versions(document.id, 10)[0].meta.ragged_rows == 3
    version = store.version(document.id, 1)
    assert version is not None and version.meta == meta
    pending = store.begin_version(document.id)  # a restore: the blocks shared, the meta copied
    store.share_blocks(version.id, pending)
    restored = store.commit_version(pending, version.meta).version
    assert restored is not None and (restored.number, restored.meta.ragged_rows) == (2, 3)
    again = open_store().version(document.id, 2)  # opened again, as after a restart
    assert again is not None and again.meta.ragged_rows == 3


SCHEMA_6 = re.sub(
    r"CREATE TABLE counters .*?\);\nINSERT INTO counters [^\n]*\n"
    r"|CREATE TABLE piece_chunks .*?\);\n",
    "",
    re.sub(
        r",(  --[^\n]*)\n    ragged_rows [^\n]*\n    blocks_of [^\n]*\n    pieces [^\n]*"
        r"\n +--[^\n]*\n    source [^\n]*",
        r"\1",
        SCHEMA,
    ),
    flags=re.S,
)


def schema_6_store(path: Path) -> str:
    """A SQLite file as schema 6 kept it, holding one document with one version of RAGGED."""
    assert "ragged_rows" not in SCHEMA_6 and "counters" not in SCHEMA_6
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_6)
    document_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO documents (id, created_at, updated_at) VALUES (?, 0, 0)", (document_id,)
    )
    conn.execute(
        "INSERT INTO versions (id, document_id, number, created_at, filename, encoding,"
        " delimiter, record_count, width, size, first_record)"
        " VALUES (1, ?, 1, 0, 'old.tsv', 'utf-8', ?, 6, 4, ?, '[\"a\",\"b\",\"c\"]')",
        (document_id, "\t", len(RAGGED)),
    )
    block = encode_block([r for r in RAGGED.decode().replace("\t", '","').splitlines()])
    conn.execute("INSERT INTO blocks VALUES (1, 0, ?, ?)", (block.records, block.offsets))
    conn.execute("UPDATE documents SET current_version = 1")
    conn.execute("PRAGMA user_version=6")
    conn.commit()
    conn.close()
    return document_id


def test_versions_of_a_schema_6_store_say_they_were_not_counted(tmp_path):
    path = tmp_path / "old.sqlite3"
    document_id = schema_6_store(path)
    store = SQLiteStore(path)
    assert store.read_rows(1, 0, 6) == orjson.dumps([["a", "b", "c"], *RAGGED_ROWS])
    assert store._connect().execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    document = store.get_document(document_id)
    assert document is not None and document.version is not None
    # not 0, which would say the version has no ragged rows: nobody counted them
    assert document.version.meta.ragged_rows is None
    assert protocol.document_fields(document)["ragged_rows"] is None
    assert protocol.version_fields(document.version)["ragged_rows"] is None
    meta = VersionMeta("new.tsv", "utf-8", "\t", True, 2, 2, 10, ["a", "b"], ragged_rows=1)
    store.commit_version(write_version(store, document_id, 2), meta)  # new versions count
    assert [v.meta.ragged_rows for v in store.versions(document_id, 10)] == [1, None]
    store.close()


def test_a_schema_4_postgresql_database_is_migrated(pg_url):
    from tablecast.store.postgres import SCHEMA_VERSION, PostgresStore

    store = PostgresStore(pg_url, 1)
    document = store.create_document(None)
    meta = VersionMeta("old.tsv", "utf-8", "\t", True, 6, 4, 10, ["a", "b", "c"], 3)
    store.commit_version(write_version(store, document.id, 6), meta)
    store.close()
    sql(pg_url, "ALTER TABLE versions DROP COLUMN ragged_rows")  # as schema 4 had it
    sql(pg_url, "ALTER TABLE versions DROP COLUMN blocks_of")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN pieces")
    sql(pg_url, "DROP TABLE piece_chunks")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN source")
    sql(pg_url, "UPDATE schema_version SET version = 4")
    store = PostgresStore(pg_url, 2)
    try:
        assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        old = store.version(document.id, 1)
        assert old is not None and old.meta.ragged_rows is None  # not counted
        new = VersionMeta("new.tsv", "utf-8", "\t", True, 2, 2, 10, ["a", "b"], ragged_rows=1)
        store.commit_version(write_version(store, document.id, 2), new)
        assert [v.meta.ragged_rows for v in store.versions(document.id, 10)] == [1, None]
    finally:
        store.close()


# What clients see


def post(server, body: bytes, query: str = "") -> dict:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs{query}", body)
    assert status == 201, doc
    return doc


def test_the_document_says_how_many_rows_do_not_fit_the_header(server):
    doc = post(server, RAGGED, "?name=r.tsv")
    url = f"{server.url}/parser/api/docs/{doc['id']}"
    assert doc["ragged_rows"] == 3
    # the fourth column is only the longer row's: its name says so, and is no header's
    assert doc["columns"] == ["a", "b", "c", "Column 4 (no header)"]
    _, meta, _ = http("GET", url)
    assert (meta["ragged_rows"], meta["columns"]) == (3, doc["columns"])
    _, page, _ = http("GET", f"{url}/pages/1")
    assert (page["ragged_rows"], page["columns"]) == (3, doc["columns"])
    assert page["data"] == RAGGED_ROWS  # kept as they are
    # read without a header, the same rows do not fit the first: the same count
    _, page, _ = http("GET", f"{url}/pages/1?header=0")
    assert page["columns"] == ["Column 1", "Column 2", "Column 3", "Column 4"]
    assert page["ragged_rows"] == 3 and page["data"][0] == ["a", "b", "c"]

    assert put(server.url, doc, b"a\tb\n1\t2\n")[1]["ragged_rows"] == 0
    _, listed, _ = http("GET", f"{url}/versions")
    assert [(v["version"], v["ragged_rows"]) for v in listed["versions"]] == [(2, 0), (1, 3)]
    assert listed["versions"][1]["columns"] == doc["columns"]


def test_columns_of_a_file_without_a_header_are_named_not_numbered(server):
    doc = post(server, b"1,2\n3,4,5\n6\n", "?header=0")
    assert doc["columns"] == ["Column 1", "Column 2", "Column 3"]
    assert doc["ragged_rows"] == 2  # rows that do not fit the first


def test_downloads_write_the_header_as_before(server):
    """The names are for people: a download's header row is the file's header cells, and past
    its end each column's number, byte for byte as before."""
    doc = post(server, RAGGED, "?name=r.tsv")
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format="

    def download(fmt: str) -> bytes:
        with urllib.request.urlopen(url + fmt, timeout=30) as response:
            body: bytes = response.read()
            return body

    rows = b"".join("\t".join(row).encode() + b"\n" for row in RAGGED_ROWS)
    assert download("tsv") == b"a\tb\tc\t4\n" + rows
    # (the columns hold whole numbers: JSON Lines writes them as numbers)
    assert orjson.loads(download("jsonl").splitlines()[3]) == {"a": 7, "b": 8, "c": 9, "4": 10}
    assert download("original") == RAGGED


async def test_every_viewer_is_told_with_the_new_version(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    watcher = await v1(server, document_id)
    await expect(watcher, "page")
    await upload_v1(uploader, RAGGED, filename="r.tsv")
    for ws in (uploader, watcher):
        page = await expect(ws, "page", cause="version")
        assert (page["ragged_rows"], page["columns"][3]) == (3, "Column 4 (no header)")
        await ws.close()


def test_a_restored_version_keeps_its_count(server):
    doc = post(server, RAGGED, "?name=r.tsv")
    assert put(server.url, doc, b"a\tb\n1\t2\n")[0] == 200
    status, restored, _ = http(
        "POST",
        f"{server.url}/parser/api/docs/{doc['id']}/versions/1/restore",
        headers={"Authorization": f"Bearer {doc['edit_key']}"},
    )
    assert status == 200 and (restored["version"], restored["ragged_rows"]) == (3, 3)


def test_a_server_on_a_schema_6_store_says_its_versions_were_not_counted(server_factory, tmp_path):
    data = tmp_path / "old-data"
    data.mkdir()
    document_id = schema_6_store(data / "tablecast.sqlite3")
    server = server_factory(data_dir=data)
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200 and meta["version"] == 1 and meta["ragged_rows"] is None
