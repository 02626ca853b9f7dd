"""What views of a version hold in memory (issue 17, a 1 GB table within 512 MiB of RSS): the
rows kept for each view as int32, not int64; the pages of a version's mapped columns file
that a pass reads given back as it goes, not left in the process's RSS; and sorts made a record
batch at a time ordering rows as a sort of the whole column does (ties in row order, the
missing last). Memory is counted (array sizes, RssFile in /proc/self/status), never timed."""

from __future__ import annotations

import mmap
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from support import store_table, text_of
from tablecast.service import views as views_module
from tablecast.service.views import Views
from tablecast.store.sqlite import SQLiteStore
from tablecast.table import columns, profiles
from tablecast.table.columns import MISSING, TableText
from tablecast.table.view import View


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "t.sqlite3")
    yield store
    store.close()


@contextmanager
def arrow_counted() -> Iterator[pa.MemoryPool]:
    """Arrow's memory pool while the block runs, counting what it holds (max_memory: at its
    peak); the default pool again after."""
    default = pa.default_memory_pool()
    counted = pa.proxy_memory_pool(default)
    pa.set_memory_pool(counted)
    try:
        yield counted
    finally:
        pa.set_memory_pool(default)


def rss_file() -> int:
    """Bytes of mapped files this process holds in RAM now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssFile in /proc/self/status")


# The rows kept for a view


async def test_the_rows_kept_for_each_view_are_int32(store, tmp_path):
    """Rows of a 13.7M-row version's view: 55 MB each as int32, 110 MB as int64, several of
    them kept within --view-memory."""
    version = store_table(store, 4, 3000)  # integer, decimal, date, text
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        shown = [
            View(),
            View(sort=0, descending=True),
            View(sort=1),
            View(sort=2),  # a repeating column: sorted by rank
            View(sort=3),
            View(q="w29"),
            View(q="w29", sort=0, descending=True),
            View(filters=((3, "w1"),)),
            View(facets=((2, ("2026-01-05",)),)),
        ]
        for view in shown:
            rows = await views.rows(version, view)
            assert rows.dtype == np.int32, view
        assert (await views.rows(version, View(q="w29", sort=0, descending=True))).tolist() == (
            [*range(3000, 2900, -1), *range(300, 290, -1), 30]
        )
        kept = [key for key in views._kept if key[0] in ("rows", "order", "matches")]
        assert kept and all(views._kept[key].dtype == np.int32 for key in kept)
        sorted_rows = views._kept[("rows", version.id, True, View(sort=0, descending=True))]
        assert views._sizes[("rows", version.id, True, View(sort=0, descending=True))] == (
            3000 * 4 + views_module.ARRAY_OVERHEAD
        )
        assert sorted_rows.tolist() == list(range(3000, 0, -1))
    finally:
        views.close()


async def test_a_search_or_a_sort_makes_no_array_of_every_row(store, tmp_path, monkeypatch):
    """A search's rows are its matches, in order: no array of every row of the version made
    to pick them from; a sort is told which rows it orders as a range (13.7M rows: 55 MB
    each, as int32)."""
    version = store_table(store, 4, 3000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    every_row = views_module._data_rows
    made: list[int] = []

    def counted(*args: object) -> object:
        rows = every_row(*args)  # type: ignore[arg-type]
        made.append(len(rows))
        return rows

    monkeypatch.setattr(views_module, "_data_rows", counted)
    try:
        assert (await views.rows(version, View(q="w29"))).tolist() == [
            30,
            *range(291, 301),
            *range(2901, 3001),
        ]
        assert (await views.rows(version, View(filters=((3, "w299"),)))).tolist() == [
            300,
            *range(2991, 3001),
        ]
        # nor does a sort, which orders every row (from the first, to the last)
        assert (await views.rows(version, View(q="w29", sort=0))).tolist()[:2] == [30, 291]
        assert made == []
    finally:
        views.close()


# Pages of the mapped columns file, given back


async def test_a_pass_over_a_mapped_columns_file_gives_its_pages_back(store, tmp_path, monkeypatch):
    """A search reads the whole search column (1 GB of a 13.7M-row version), a sort the whole
    column it sorts by, a profile or facet counts theirs: each page read stays in the
    process's RSS (RssFile) while the file is mapped, unless given back. Here about 8 MB of
    columns, written in record batches of about 1 MiB of blocks; what a pass leaves in RssFile
    is counted against a fraction of that."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", 1 << 20)
    small = store_table(store, 4, 200_000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        asked = [  # what is asked, and the column it reads (SEARCH: the search column)
            (lambda v: views.rows(v, View(q="w1999")), columns.SEARCH),
            (lambda v: views.rows(v, View(sort=1, descending=True)), "1"),  # distinct decimals
            (lambda v: views.rows(v, View(sort=2)), "2"),  # dates, repeating: by rank
            (lambda v: views.rows(v, View(sort=3)), "3"),  # distinct text
            (lambda v: views.rows(v, View(filters=((3, "w7"),))), "3"),
            (lambda v: views.profile(v, View(), [3]), "3"),
            (lambda v: views.facet_counts(v, View(sort=0), 2, 10), "2"),
            (lambda v: views.facet_counts(v, View(q="w1"), 2, 10), "2"),  # of matches
            (lambda v: views.profile(v, View(q="w2"), [1]), "1"),
        ]
        for ask, _ in asked:  # the code each runs, loaded (pages of libraries are RssFile too)
            await ask(small)
        for ask, name in asked:  # each of a version of its own, its file's pages not read yet
            version = store_table(store, 4, 200_000)
            before = rss_file()
            await ask(version)
            grown = rss_file() - before
            text = await views.text(version)
            assert text.mapped and text.mapping is not None
            assert text.table.column(name).num_chunks >= 3
            read = text.table.column(name).nbytes
            assert grown < read // 3, (name, grown, read)
    finally:
        views.close()


async def test_a_profile_gives_back_each_batch_of_its_column_as_it_passes(
    store, tmp_path, monkeypatch
):
    """A pass of a profile holds at most a record batch of the column's pages, not the whole
    column until it ends: each batch is given back as soon as the pass has read it, in each
    of the passes of a long column counted in parts, and of one counted by sorting."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", 1 << 18)
    monkeypatch.setattr(profiles, "PART_CELLS", 1 << 14)  # 50,000 cells: counted in 4 parts
    version = store_table(store, 4, 50_000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    given_back: list[int] = []
    let_go = TableText.let_go

    def counted(text: TableText, arrays: Any = None) -> None:
        given_back.append(-1 if arrays is None else len(arrays))
        let_go(text, arrays)

    monkeypatch.setattr(TableText, "let_go", counted)
    try:
        text = await views.text(version)
        for column in (3, 1):  # distinct text (in parts), distinct decimals (sorted)
            batches = text.table.column(str(column)).num_chunks
            assert batches >= 4
            given_back.clear()
            await views.profile(version, View(), [column])
            assert given_back.count(1) >= batches, (column, batches, given_back)
    finally:
        views.close()


async def test_an_export_of_a_sorted_view_reads_the_records_from_their_file(
    store, tmp_path, monkeypatch
):
    """A sorted download picks records from all over the version: they are read from the
    version's records file, made once from the store a piece at a time (never read whole),
    a record at a time: no page of it is held in the process (neither its heap nor mapped);
    exactly the records the store holds."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", 1 << 16)
    version = store_table(store, 4, 100_000)
    whole = store.read_all(version.id)
    read_all = store.read_all
    wholly: list[int] = []
    monkeypatch.setattr(store, "read_all", lambda *a: wholly.append(1) or read_all(*a))
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        blocks = await views.blocks(version)
        rng = np.random.default_rng(3)
        picked = rng.permutation(100_001)[:5000]
        expected = views_module.Blocks.of(whole)
        blocks.pick(np.array([0]))  # (the code it runs, loaded: its pages are RssFile too)
        before = rss_file()
        assert blocks.pick(picked) == expected.pick(picked)
        assert blocks.pick(np.arange(100_001)) == expected.pick(np.arange(100_001))
        assert rss_file() - before < 1 << 20  # (the file is 4 MB)
        assert wholly == [] and blocks.nbytes < 100_002 * 8 + 1024  # where records start
    finally:
        views.close()
    # a later process reads the same files; one cut short is made again
    files = sorted(path.name for path in (tmp_path / "columns" / version.document_id).iterdir())
    assert any(name.endswith(".records") for name in files), files
    starts = next((tmp_path / "columns" / version.document_id).glob("*.starts"))
    starts.write_bytes(starts.read_bytes()[:-8])
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        again = await views.blocks(version)
        assert again.pick(picked) == expected.pick(picked) and wholly == []
    finally:
        views.close()


async def test_a_views_many_rows_are_kept_in_a_mapped_file_not_the_heap(
    store, tmp_path, monkeypatch
):
    """A 13.7M-row version's order (55 MB) was kept in the heap beside the next sort's work:
    the 1 GB run peaked at 515 MiB of RSS. Rows of a view from SPILL_BYTES on are kept in a
    file of the node's cache, mapped, and the file removed at once (nothing to tidy); where
    the node keeps no files, or the file cannot be written, in the heap as before."""
    monkeypatch.setattr(views_module, "SPILL_BYTES", 1 << 12, raising=False)
    version = store_table(store, 4, 20_000)
    sort, search = View(sort=1, descending=True), View(q="w1")
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    heap = Views(store, memory=10**9)
    try:
        kept = await views.rows(version, sort)
        assert mapped(kept) and not kept.flags.writeable
        assert np.array_equal(kept, await heap.rows(version, sort))
        assert not mapped(await heap.rows(version, sort))
        found = await views.rows(version, search)
        assert mapped(found) and np.array_equal(found, await heap.rows(version, search))
        small = await views.rows(version, View(q="w19999"))  # (a few rows: in the heap)
        assert not mapped(small) and len(small)
        both = await views.rows(version, View(sort=1, q="w1"))
        assert np.array_equal(both, await heap.rows(version, View(sort=1, q="w1")))
        folder = tmp_path / "columns" / version.document_id
        assert not [path.name for path in folder.iterdir() if "rows" in path.name]
        # a file that cannot be written (its folder is a file here; a full disk likewise)
        (tmp_path / "a-file").write_bytes(b"")
        monkeypatch.setattr(views_module, "_temporary", lambda path: tmp_path / "a-file" / "x")
        other = await views.rows(version, View(sort=2))
        assert not mapped(other) and len(other) == 20_000
    finally:
        views.close()
        heap.close()


def held_of_mapped_rows() -> int:
    """Bytes of the mapped files of rows (see Views._spilled) in this process's RSS."""
    held, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's first line
                inside = ".rows." in line
            elif inside and first == "Rss:":
                held += int(line.split()[1]) * 1024
    return held


def mapped(rows: Any) -> bool:
    """Whether ``rows`` are (a slice of) an array over a memory mapping."""
    while rows is not None and not isinstance(rows, mmap.mmap):
        rows = rows.obj if isinstance(rows, memoryview) else getattr(rows, "base", None)
    return rows is not None


async def test_a_sorted_download_gives_back_the_pages_of_the_mapped_order_it_read(
    store, tmp_path, monkeypatch
):
    """Read from end to end, a 13.7M-row version's mapped order stayed in RssFile (55 MB):
    each slice picked is given back once its records are read."""
    monkeypatch.setattr(views_module, "SPILL_BYTES", 1 << 12)
    version = store_table(store, 4, 300_000)  # (an order of 1.2 MB)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        rows = await views.rows(version, View(sort=1, descending=True))
        blocks = await views.blocks(version)
        assert mapped(rows)
        assert int(rows.sum()) and held_of_mapped_rows() >= len(rows) * 4 - 8192  # all read
        for start in range(0, len(rows), 4096):
            blocks.pick(rows[start : start + 4096])
        assert held_of_mapped_rows() <= 8192, held_of_mapped_rows()
        # rows of other memory are left as they are (an array over bytes: its base has none)
        views_module._given_back(np.frombuffer(b"\x01\x00\x00\x00" * 4, np.int32))
    finally:
        views.close()


async def test_where_records_start_is_read_a_piece_at_a_time_four_bytes_a_record(
    store, tmp_path, monkeypatch
):
    """Reading the starts file whole, then narrowing it, held 12 bytes a record at once (110
    MB more for a moment for 13.7M records, beside what else a sorted download holds)."""
    import tracemalloc

    version = store_table(store, 4, 100_000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        made = await views.blocks(version)
    finally:
        views.close()
    folder = tmp_path / "columns" / version.document_id
    text, starts = next(folder.glob("*.records")), next(folder.glob("*.starts"))
    monkeypatch.setattr(views_module, "STARTS_READ", 4096, raising=False)
    tracemalloc.start()
    try:
        opened = views_module.Blocks.opened(text, starts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert opened is not None and opened.starts.dtype == np.uint32
    assert np.array_equal(opened.starts, made.starts)
    assert peak < 100_002 * 4 + 4096 * 8 + (64 << 10), peak


# Sorts made a record batch at a time order as a sort of the whole column does


def batches(records: list[list[str]], size: int) -> TableText:
    """The records' columns in record batches of ``size`` records (as a version's columns
    file holds them)."""
    parts = [text_of(records[i : i + size]).table for i in range(0, len(records), size)]
    return TableText(pa.concat_tables(parts))


def expected_order(cells: list[str | None], value, descending: bool) -> list[int]:
    """Positions sorted by ``value`` of each cell, stably, the missing last either way."""

    def key(i: int):
        cell = cells[i]
        if cell is None or cell.lower() in MISSING:
            return (1, 0)
        v = value(cell)
        return (
            0,
            tuple(-x for x in v)
            if descending and isinstance(v, tuple)
            else -v
            if descending
            else v,
        )

    return sorted(range(len(cells)), key=key)


@pytest.mark.parametrize("piece", [10**9, 300])  # keys sorted at once, or range by range
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("repeating", [False, True])
def test_a_sort_a_batch_at_a_time_orders_as_a_sort_of_the_whole_column(
    monkeypatch, descending, repeating, piece
):
    rng = random.Random(3)
    if repeating:
        pool = ["12", "1,200", "1200", "-3", "", "n/a", "7", "0", "-0", "2.5"]
    else:
        pool = [f"{rng.randint(-999, 999)}.{rng.randint(0, 9)}" for _ in range(2000)]
        pool += ["", "NA", "-", "1,234.5", "0", "-0.0"]
    records = [["h", "amount"]] + [
        [str(i), rng.choice(pool)] if rng.random() > 0.05 else [str(i)] for i in range(4000)
    ]
    text = batches(records, 700)
    assert text.column(1).num_chunks > 5
    monkeypatch.setattr(columns, "SORT_SAMPLE", 1024 if repeating else 10**9)
    monkeypatch.setattr(columns, "SORT_PIECE", piece)
    rows = np.arange(1, text.record_count)
    cells = [r[1] if len(r) > 1 else None for r in records[1:]]
    number = lambda cell: float(cell.replace(",", ""))  # noqa: E731
    order = text.order(1, rows, "decimal", descending)
    assert order.dtype == np.int32
    assert (order - 1).tolist() == expected_order(cells, number, descending)
    lowered = lambda cell: cell.lower()  # noqa: E731
    text_order = text.order(1, rows, "text", descending)
    if not descending:
        assert (text_order - 1).tolist() == expected_order(cells, lowered, False)
    else:  # (a string is not negated: reversed, the present ones, ties in row order)
        present = [
            i for i in range(len(cells)) if cells[i] is not None and cells[i].lower() not in MISSING
        ]
        absent = [i for i in range(len(cells)) if i not in set(present)]
        by = sorted(present, key=lambda i: cells[i].lower(), reverse=True)
        assert (text_order - 1).tolist() == by + absent


def test_cells_picked_a_batch_at_a_time_are_those_of_the_rows_in_order():
    rng = random.Random(8)
    records = [[str(i), rng.choice(["a", "B", "", "NA"])] for i in range(3000)]
    records[1000] = [records[1000][0]]  # too short: its cell is null
    text = batches(records, 700)
    assert text.column(1).num_chunks > 3
    for rows in ([], [0], [2999], [699, 700], sorted(rng.sample(range(3000), 900))):
        picked = text.picked(1, np.array(rows, dtype=np.int32))
        assert picked.to_pylist() == [records[r][1] if len(records[r]) > 1 else None for r in rows]


async def test_facets_under_a_search_take_their_cells_a_batch_at_a_time(
    store, tmp_path, monkeypatch
):
    """Arrow's take from a column of many record batches first joins them into one array (a
    13.7M-row column's 112 MB, in the heap, and every page of it read): the matches' cells are
    taken a batch at a time. Counted as Arrow's own memory pool counts what it holds at its
    peak (its data lives there, not in Python's heap)."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", 1 << 20)
    version = store_table(store, 4, 200_000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        text = await views.text(version)
        await views.types(version)
        await views.rows(version, View(q="w19"))  # the matches, made and kept
        column = text.table.column("2")
        assert column.num_chunks >= 3
        with arrow_counted() as counted:
            facets = await views.facet_counts(version, View(q="w19"), 2, 10)
            profile = (await views.profile(version, View(q="w19"), [2]))[0]
        assert facets["total_number"] == profile["count"] == 11_111
        assert counted.max_memory() < column.nbytes // 4, (counted.max_memory(), column.nbytes)
    finally:
        views.close()


TEXTS = [
    "Lovelace", "lovelace", "LOVELACE, Ada", "lovelacE, ada", "lovelaces", "love", "lovelac",
    "Ünïcode", "ünï", "zoë", "Zoe", "a\u0000", "a", "a\u0000b", "", "NA", "null", "-",
    "https://example.com/a", "https://example.com/b", "https://example.com/a",
    "1234567", "12345678", "123456", "\U0001f600 smile", "tab\there", 'say "hi"', "back\\slash",
]  # fmt: skip


@pytest.mark.parametrize("piece", [10**9, 50])
@pytest.mark.parametrize("descending", [False, True])
def test_distinct_text_sorts_by_its_whole_lower_cased_text(monkeypatch, descending, piece):
    """Sorted by each text's first bytes, then rows whose first bytes tie by the whole text:
    the order a sort of the whole text gives (code point order, lower-cased), ties in row
    order, the missing last either way."""
    rng = random.Random(11)
    made = [
        f"{rng.choice(['x', 'X', 'xy'])}{rng.randint(0, 10 ** rng.randint(0, 12))}"
        for _ in range(400)
    ]
    records = [["h", "t"]] + [
        [str(i), rng.choice(TEXTS + made)] if rng.random() > 0.05 else [str(i)] for i in range(1500)
    ]
    text = batches(records, 400)
    monkeypatch.setattr(columns, "SORT_SAMPLE", 10**9)  # never by rank: by the text
    monkeypatch.setattr(columns, "SORT_PIECE", piece)
    cells = [r[1] if len(r) > 1 else None for r in records[1:]]
    present = [i for i, c in enumerate(cells) if c is not None and c.lower() not in MISSING]
    absent = [i for i, c in enumerate(cells) if c is None or c.lower() in MISSING]
    expected = sorted(present, key=lambda i: cells[i].lower(), reverse=descending) + absent
    if descending:  # (reverse=True keeps ties in row order too)
        pass
    order = text.order(1, np.arange(1, text.record_count), "text", descending)
    assert order.dtype == np.int32
    assert (order - 1).tolist() == expected


async def test_a_sort_reads_its_keys_a_batch_at_a_time(store, tmp_path, monkeypatch):
    """A sort's keys are made a record batch at a time into one array, not from copies of the
    whole column's text (lower-cased, then its separators taken out, then its missing values
    nulled: each as large as the column, in Arrow's memory). Counted as Arrow's memory pool
    counts what it holds at its peak: a batch's keys, and what tells whether a column repeats
    its values (the distinct values of its first SORT_SAMPLE cells, some 3 MB), whatever
    the column's size."""
    monkeypatch.setattr(views_module, "STREAM_BYTES", 1 << 18)  # batches of some 6,000 rows
    version = store_table(store, 4, 400_000)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        text = await views.text(version)
        await views.types(version)
        for column, descending in ((1, True), (2, False), (3, False), (3, True)):
            cells = text.table.column(str(column))
            assert cells.num_chunks >= 20
            with arrow_counted() as counted:
                rows = await views.rows(version, View(sort=column, descending=descending))
            assert len(rows) == 400_000
            assert counted.max_memory() < cells.nbytes * 3 // 4, (column, counted.max_memory())
        # (the order, as a sort of the whole column gives it: see the tests above)
        assert (await views.rows(version, View(sort=3)))[:3].tolist() == [1, 2, 11]
        assert cells.nbytes > 4_000_000
    finally:
        views.close()
