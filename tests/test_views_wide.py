"""Very wide tables: inferring column types costs work linear in cells, the memory it keeps is
counted, and one table's long inference never stalls another table's sort."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import orjson
import pytest

from support import WIDE, record, store_table
from tablecast.errors import TablecastError
from tablecast.service.limits import Limits
from tablecast.service.views import Views
from tablecast.store.sqlite import SQLiteStore
from tablecast.table import columns
from tablecast.table.blocks import encode_block
from tablecast.table.columns import TableText
from tablecast.table.view import View
from tablecast.web.server import Node


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "t.sqlite3")
    yield store
    store.close()


async def calls_made(version: Any, store: SQLiteStore) -> int:
    """Python and C function calls the engine (tablecast.table.columns) makes on the views
    thread to read a version's text and infer its column types: a count of work that does not
    depend on the machine's speed, and that grows with every step taken per column. (Not the
    scheduler's: how often it wakes between pieces depends on the machine's load.)"""
    counted = 0
    engine = columns.__file__

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal counted
        # a Python call's frame is the callee's; a C call's is its caller's
        if event in ("call", "c_call") and frame.f_code.co_filename == engine:
            counted += 1

    threading.setprofile(count)  # for threads started from now on: the views thread is
    try:
        views = Views(store, memory=10**9)
        try:
            assert len(await views.types(version)) == version.meta.width
        finally:
            views.close()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    return counted


async def test_type_inference_is_linear_in_cells_not_in_columns(store):
    """As many cells, as wide or as tall: about the same work. Inferring types column by column
    made a pass over every record per column, a dozen numpy calls each: 1,000,000 columns of 3
    rows took 279 s."""
    wide = await calls_made(store_table(store, WIDE, 3), store)
    tall = await calls_made(store_table(store, 3, WIDE), store)
    assert wide < 2 * tall, (wide, tall)


def text_of(rows: list[list[str]]) -> TableText:
    return TableText.build([encode_block([orjson.dumps(r).decode()[2:-2] for r in rows]).records])


@pytest.mark.parametrize("chunk", [1, 5, 64, 65536])
def test_types_inferred_at_once_are_those_column_by_column(chunk, monkeypatch):
    monkeypatch.setattr(columns, "CHUNK_CELLS", chunk, raising=False)
    rows = [record(r, 9) for r in range(40)]
    rows[3] = ['say "hi"', *rows[3][1:]]  # a line holding a backslash: parsed apart
    rows[7] = rows[7][:5]  # a short record
    rows[9][2] = ""
    text = text_of(rows)
    expected = [
        text.infer(column, np.arange(1, text.record_count), delimiter="\t") for column in range(9)
    ]
    assert expected == [
        "text", "decimal", "date", "text", "integer", "decimal", "date", "text", "integer"
    ]  # fmt: skip
    assert columns.finished(text_of(rows).inferring(1, 9, delimiter="\t")) == expected


def test_a_line_with_a_backslash_does_not_make_its_column_text():
    # the quote in 'x",' makes its JSON line hold '\\","', which looks like a boundary
    # between cells: such lines' cells are read apart, and a column's width must come from
    # them, not from the boundaries they seem to have
    text = text_of([["h", "n"], ['x",', "12"], ["a", "7"]])
    assert text.infer(1, np.arange(1, 3), delimiter="\t") == "integer"
    assert columns.finished(text.inferring(1, 2, delimiter="\t")) == ["text", "integer"]
    assert text.order(1, np.arange(1, 3), "integer", False).tolist() == [2, 1]


async def test_what_inferring_a_wide_table_keeps_is_counted_within_the_budget(store):
    """Views keeps within --view-memory what it says it keeps: measured, not estimated. Per
    column arrays, each with numpy's overhead and not counted, kept 1,000,000 columns' types
    825 MiB above the budget."""
    version = store_table(store, WIDE, 3)
    budget = 8 * 1024 * 1024
    views = Views(store, memory=budget)
    try:
        await views.text(version)  # the text is counted as it was before
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            counted_before = views._used
            assert len(await views.types(version)) == WIDE
            await views.rows(version, View(sort=WIDE - 1))  # one column's spans, kept
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        counted = views._used - counted_before
        assert views._used == sum(views._sizes.values()) <= budget
        assert held <= counted + 64 * 1024, (held, counted)  # what it holds, it counts
    finally:
        views.close()


async def test_another_tables_sort_is_not_held_behind_a_wide_tables_inference(store, monkeypatch):
    wide = store_table(store, WIDE, 24)  # its inference: a piece a record (CHUNK_CELLS)
    small = store_table(store, 4, 50)
    # the wide table's inference, in many pieces, held at its first until the test says
    monkeypatch.setattr(columns, "CHUNK_CELLS", 512, raising=False)
    gate, entered = threading.Event(), threading.Event()
    classify = columns.classify

    def held_classify(*args: Any) -> Any:
        if not entered.is_set():
            entered.set()
            assert gate.wait(30)
        return classify(*args)

    monkeypatch.setattr(columns, "classify", held_classify)
    views = Views(store, memory=10**9)
    try:
        await views.text(wide)
        await views.text(small)
        finished: list[str] = []

        async def infer_wide() -> None:
            await views.types(wide)
            finished.append("wide types")

        async def sort_small() -> None:
            await views.rows(small, View(sort=0, descending=True))
            finished.append("small sort")

        inferring = asyncio.ensure_future(infer_wide())
        assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
        sorting = asyncio.ensure_future(sort_small())
        for _ in range(20):  # let the sort ask for its work while the inference is held
            await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(inferring, sorting)
        assert finished == ["small sort", "wide types"]
    finally:
        gate.set()
        views.close()


async def test_the_store_closes_only_after_the_views_work_reading_it(tmp_path, monkeypatch):
    # a shutdown during a version's first sort: the views thread was still reading the store
    # when it was closed, and logged a ProgrammingError as a bug
    store = SQLiteStore(tmp_path / "c.sqlite3")
    version = store_table(store, 4, 500)
    node = Node.assemble(store, Limits(), page_size=100, legacy_page_size=100)
    reading, release = threading.Event(), threading.Event()
    read_blocks = store.read_blocks

    def held_read(version_id: int, first: int, last: int) -> Any:
        reading.set()
        assert release.wait(30)
        return read_blocks(version_id, first, last)

    monkeypatch.setattr(store, "read_blocks", held_read)
    types = asyncio.ensure_future(node.pages.types(version))
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, reading.wait, 30)
    closing = asyncio.ensure_future(node.close())
    await asyncio.sleep(0.3)
    assert not closing.done()  # it waits for the read in progress...
    release.set()
    await closing  # ...which ends on an open store: no error but shutting_down
    with pytest.raises(TablecastError) as err:
        await types
    assert err.value.code == "shutting_down"
