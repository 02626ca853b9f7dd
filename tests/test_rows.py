"""Rows added to a table (issue 18): what the stores keep. A version that adds rows stores
them alone and shares every other record with the version it adds to; every version, older
or newer, reads exactly its own records."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from support import as_json, meta, rows, write_version
from tablecast.errors import TablecastError
from tablecast.store.base import Store
from tablecast.table.blocks import BLOCK_RECORDS, run_of
from tablecast.table.originals import Rebuilt


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
