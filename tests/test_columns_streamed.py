"""A version's columns made a piece at a time: while it is uploaded (so that the first sort or
search of a fresh version waits for nothing made after its commit), and from its blocks when
they must be made again (holding about one piece, whatever the version's size); and what a
build cut short leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from support import store_table
from tablecast import tasks
from tablecast.errors import TablecastError
from tablecast.service import ingest as ingest_module
from tablecast.service import upload as upload_module
from tablecast.service import views as views_module
from tablecast.service.limits import Limits
from tablecast.service.upload import Announced
from tablecast.service.views import SHARED, Demand, Views
from tablecast.store.base import Store
from tablecast.store.postgres import PostgresStore
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.columns import TableText
from tablecast.web.server import Node

PIECE = 16 * 1024  # STREAM_BYTES in these tests: a few hundred records a piece


@pytest.fixture(autouse=True)
def blocks_written_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """These small uploads' blocks reach the store (and their columns) as they are parsed, a
    block at a time, as a large upload's do 16 at a time."""
    monkeypatch.setattr(ingest_module, "WRITE_BLOCKS", 1)


class Work:
    """Counts what making columns does: reads of a version from its first block (a build
    from the store), pieces made, and counts by kind run over a table."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = self.pieces = self.countings = 0
        read_blocks = store.read_blocks
        table_of = views_module.table_of
        table_of_lines = views_module.table_of_lines
        counting = TableText.counting

        def read(version_id: int, first: int, last: int) -> Any:
            self.reads += first == 0
            return read_blocks(version_id, first, last)

        def piece(*args: Any) -> Any:
            self.pieces += 1
            return table_of(*args)

        def piece_of_lines(*args: Any) -> Any:
            self.pieces += 1
            return table_of_lines(*args)

        def count(text: TableText, *args: Any) -> Any:
            self.countings += 1
            return counting(text, *args)

        monkeypatch.setattr(store, "read_blocks", read)
        monkeypatch.setattr(views_module, "table_of", piece)
        monkeypatch.setattr(views_module, "table_of_lines", piece_of_lines)
        monkeypatch.setattr(TableText, "counting", count)


def files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def csv_of(rows: int, wide_at: int | None = None) -> bytes:
    """A header and ``rows`` rows: an integer column, one of integers then decimals (its
    pieces disagree), one of integers that turns to text, dates, and names. ``wide_at``: the
    row given two more cells than the others (a ragged file)."""
    lines = ["id,amount,code,day,name"]
    for i in range(rows):
        amount = str(i) if i < rows // 2 else f"{i}.25"
        code = str(i) if i < rows - 5 else f"x{i}"
        cells = [str(i), amount, code, f"2026-01-{i % 28 + 1:02d}", f'"Name {i}, Jr"']
        if i == wide_at:
            cells += ["extra", "more"]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


async def upload(node: Node, data: bytes, *, finish: bool = True) -> Any:
    document, _ = await node.documents.create()
    sent = await node.in_progress.start(document.id, Announced("t.csv"))
    for at in range(0, len(data), 8192):  # as a client sends it, a chunk at a time
        await sent.feed(data[at : at + 8192])
    if not finish:
        return sent
    document = await node.uploads.finish(sent)
    return document.version


def assemble(tmp_path: Path, name: str = "s") -> tuple[SQLiteStore, Node, Path]:
    store = SQLiteStore(tmp_path / f"{name}.sqlite3")
    cache = tmp_path / f"{name}-columns"
    node = Node.assemble(
        store, Limits(max_upload_bytes=10**9), page_size=100, legacy_page_size=100, columns=cache
    )
    return store, node, cache


async def made_from_blocks(store: Store, version: Any, cache: Path) -> tuple[Any, Any]:
    """The version's columns and types as a node that never saw its upload makes them."""
    views = Views(store, memory=10**9, cache=cache)
    try:
        text = await views.text(version)
        return text.table, await views.types(version)
    finally:
        views.close()


async def test_an_uploads_columns_and_types_are_made_while_it_is_ingested(tmp_path, monkeypatch):
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    store, node, cache = assemble(tmp_path)
    work = Work(store, monkeypatch)
    try:
        version = await upload(node, csv_of(3000))
        types = await node.pages.types(version)  # what a first sort waits for
        text = await node.views.text(version)
        assert text.mapped and text.record_count == 3001
    finally:
        await node.close()
    assert work.reads == 0  # nothing made from the store after the commit...
    assert work.pieces >= 3 and work.countings == work.pieces  # ...nor counted over it all
    assert types == ["integer", "decimal", "text", "date", "text"]
    doc = version.document_id
    assert files(cache) == [
        f"{doc}/{version.id}.{views_module.CACHE_FORMAT}.1.counts",
        f"{doc}/{version.id}.{views_module.CACHE_FORMAT}.arrow",
    ]
    # exactly what a node that did not see the upload makes from the version's blocks
    table, kinds = await made_from_blocks(store, version, tmp_path / "elsewhere")
    assert text.table.equals(table) and kinds == types
    store.close()


async def test_on_postgresql_the_node_ingesting_makes_them_and_another_from_the_blocks(
    tmp_path, pg_url, monkeypatch
):
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    here, there = PostgresStore(pg_url, 1), PostgresStore(pg_url, 2)
    node = Node.assemble(
        here, Limits(max_upload_bytes=10**9), page_size=100, legacy_page_size=100,
        columns=tmp_path / "here",
    )  # fmt: skip
    work = Work(here, monkeypatch)
    try:
        version = await upload(node, csv_of(3000))
        types = await node.pages.types(version)
        text = await node.views.text(version)
        assert work.reads == 0 and text.mapped
        table, kinds = await made_from_blocks(there, version, tmp_path / "there")
    finally:
        await node.close()
        here.close()
        there.close()
    assert text.table.equals(table) and kinds == types
    assert types == ["integer", "decimal", "text", "date", "text"]


async def pieces_written_then_held(
    node: Node, cache: Path, gate: threading.Event
) -> tuple[Any, asyncio.Future[Any]]:
    """An upload of 3,000 rows, not finished, its columns' pieces so far written; then the
    views thread held by other work until ``gate`` is set (that work, waited for)."""
    views = node.views
    entered = threading.Event()

    def held() -> None:
        entered.set()
        assert gate.wait(30)

    sent = await upload(node, csv_of(3000), finish=False)
    await views.scheduler.submit(Demand(SHARED, sent.document_id, views.scheduler), list)
    assert [name for name in files(cache) if name.endswith(".tmp")]  # pieces written
    holding = views.scheduler.submit(Demand(SHARED, "other", views.scheduler), held)
    assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
    return sent, holding


async def test_a_versions_page_one_goes_out_once_its_columns_are_made(tmp_path, monkeypatch):
    """The views thread may still be making an upload's last pieces at its commit: the commit
    waits for them (so that the version's first sort, search or profile finds them made), but
    not longer than COLUMNS_WAIT, when the views thread is held by other work."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    monkeypatch.setattr(upload_module, "COLUMNS_WAIT", 0.5)
    table_of_lines = views_module.table_of_lines

    def slow(*args: Any) -> Any:  # a piece takes a while: some are left at the commit
        time.sleep(0.02)
        return table_of_lines(*args)

    monkeypatch.setattr(views_module, "table_of_lines", slow)
    store, node, cache = assemble(tmp_path)
    gate = threading.Event()
    try:
        version = await upload(node, csv_of(3000))
        doc = version.document_id
        assert f"{doc}/{version.id}.{views_module.CACHE_FORMAT}.arrow" in files(cache)
        assert not [name for name in files(cache) if name.endswith(".tmp")]
        sent, holding = await pieces_written_then_held(node, cache, gate)
        began = time.monotonic()
        document = await node.uploads.finish(sent)  # its last piece waits behind the work held
        assert 0.5 <= time.monotonic() - began < 5
        assert document.version is not None and document.version.id == sent.pending_id
        assert [name for name in files(cache) if name.endswith(".tmp")]  # not made yet
        gate.set()
        await holding
    finally:
        gate.set()
        await node.close()
        store.close()


async def test_columns_that_cannot_be_written_are_made_from_the_blocks_when_asked(
    tmp_path, monkeypatch
):
    """A piece of an upload's columns that fails (its file cannot be written: a full disk)
    gives the streamed file up: the commit does not wait for it, nothing of it is left, and
    the version's first sort makes its columns from the blocks."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    monkeypatch.setattr(upload_module, "COLUMNS_WAIT", 30)
    written = views_module.ColumnsFile.write

    def failing(file: Any, table: Any) -> None:
        if file.temporary.exists():  # the second piece
            raise OSError(28, "No space left on device")
        written(file, table)

    monkeypatch.setattr(views_module.ColumnsFile, "write", failing)
    store, node, cache = assemble(tmp_path)
    work = Work(store, monkeypatch)
    try:
        began = time.monotonic()
        version = await upload(node, csv_of(3000))
        assert time.monotonic() - began < 10
        assert files(cache) == []
        monkeypatch.setattr(views_module.ColumnsFile, "write", written)
        types = await asyncio.wait_for(node.pages.types(version), 30)
        assert types == ["integer", "decimal", "text", "date", "text"]
        assert work.reads == 1  # made from the store
    finally:
        await node.close()
        store.close()


async def test_an_upload_rolled_back_answers_once_its_columns_file_is_gone(tmp_path, monkeypatch):
    """An upload refused for a full disk must give back the room its columns' file took
    before it answers (the next write checks the disk's room): its abort waits for the views
    thread, busy here with other work, to delete the file."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    store, node, cache = assemble(tmp_path)
    gate = threading.Event()
    try:
        sent, holding = await pieces_written_then_held(node, cache, gate)
        aborting = asyncio.ensure_future(sent.abort())
        await asyncio.sleep(0.3)
        assert not aborting.done()  # (its file is still there: the views thread is held)
        gate.set()
        await aborting
        assert files(cache) == []  # at once
        await holding
    finally:
        gate.set()
        await node.close()
        store.close()


async def test_an_aborted_upload_leaves_no_columns_file(tmp_path, monkeypatch):
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    store, node, cache = assemble(tmp_path)
    try:
        sent = await upload(node, csv_of(3000), finish=False)
        streamed = sent._ingest.columns
        assert streamed is not None
        # work of its document's after the pieces handed over: run once they are made
        views = node.views
        await views.scheduler.submit(Demand(SHARED, sent.document_id, views.scheduler), list)
        assert [name for name in files(cache) if name.endswith(".tmp")]  # pieces written
        await sent.abort()
        assert await asyncio.wrap_future(streamed.done) is False
        assert files(cache) == []
    finally:
        await node.close()
        store.close()


async def test_an_uploads_columns_cut_short_by_a_shutdown_leave_no_file(tmp_path, monkeypatch):
    """The server stops right after a commit, the last pieces still waiting for the views
    thread (held here by other work): they never run, and leave no temporary file."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    monkeypatch.setattr(upload_module, "COLUMNS_WAIT", 0.1)
    store, node, cache = assemble(tmp_path)
    views = node.views
    gate = threading.Event()
    try:
        sent, holding = await pieces_written_then_held(node, cache, gate)
        await node.uploads.finish(sent)  # its last piece waits behind the work held
        closing = asyncio.ensure_future(node.close())
        while not views._closed:
            await asyncio.sleep(0.01)
    finally:
        gate.set()
    await closing
    with contextlib.suppress(TablecastError):
        await holding
    store.close()
    assert files(cache) == []


async def test_a_record_wider_than_the_first_pieces_makes_them_from_the_blocks(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(views_module, "STREAM_BYTES", PIECE)
    store, node, _ = assemble(tmp_path)
    work = Work(store, monkeypatch)
    try:
        version = await upload(node, csv_of(3000, wide_at=2500))
        assert version.meta.width == 7
        types = await node.pages.types(version)
        text = await node.views.text(version)
        assert text.mapped and text.width == 7
    finally:
        await node.close()
    assert work.reads == 1  # given up as it came, made from the blocks after the commit
    assert text.column(6).to_pylist()[2501] == "more"
    table, kinds = await made_from_blocks(store, version, tmp_path / "elsewhere")
    assert text.table.equals(table) and kinds == types
    assert types == ["integer", "decimal", "text", "date", "text", "text", "text"]
    store.close()


async def test_columns_made_from_blocks_hold_about_one_piece(tmp_path, monkeypatch):
    """A version's columns made again from its blocks (another node's, a deleted cache) are
    written to their file a piece at a time: what the build holds at most, in Arrow's memory
    and in Python's, is a few pieces' worth, not the version's."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    version = store_table(store, 8, 60_000)
    monkeypatch.setattr(views_module, "STREAM_BYTES", 64 * 1024)
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    default = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    tracemalloc.start()
    try:
        text = await views.text(version)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(default)
        views.close()
        store.close()
    whole = text.nbytes
    assert text.mapped and whole > 9_000_000
    assert pool.max_memory() < whole / 8  # (made at once: more than the whole)
    assert python_peak < whole / 5  # (made at once: the blocks, about half the whole)


async def test_temporary_files_a_crash_left_and_older_formats_are_removed_at_start(tmp_path):
    cache = tmp_path / "columns"
    (cache / "doc").mkdir(parents=True)
    ended = subprocess.Popen(["true"])
    ended.wait()
    running = subprocess.Popen(["sleep", "60"])
    try:
        names = {
            "dead": f".7.c1.arrow.{ended.pid}.140.tmp",
            "mine": f".8.c1.arrow.{os.getpid()}.140.tmp",  # a predecessor's of the same pid
            "alive": f".9.c1.1.counts.{running.pid}.140.tmp",  # another process's, at work
        }
        for name in names.values():
            (cache / "doc" / name).write_bytes(b"ARROW1")
        kept = f"7.{views_module.CACHE_FORMAT}.arrow"
        (cache / "doc" / kept).write_bytes(b"kept")
        (cache / "doc" / "6.c0.arrow").write_bytes(b"an older format's, never read")
        store = SQLiteStore(tmp_path / "s.sqlite3")
        views = Views(store, memory=10**9, cache=cache)
        views.close()
        store.close()
        assert files(cache) == ["doc/" + names["alive"], f"doc/{kept}"]
    finally:
        running.kill()
        running.wait()
    await tasks.drain()
