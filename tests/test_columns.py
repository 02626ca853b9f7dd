"""A version's columns in Apache Arrow: what they hold (escaped cells, ragged records, a very wide
table), and their IPC file in a node's cache: written whole or not at all, reused by the next
process, made again when missing or unreadable, made right after a commit, removed with its
document."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import WIDE, http, store_table, text_of
from tablecast import tasks
from tablecast.service import views as views_module
from tablecast.service.limits import Limits
from tablecast.service.views import CACHE_FORMAT as FORMAT
from tablecast.service.views import Views
from tablecast.store.sqlite import SQLiteStore
from tablecast.table import columns
from tablecast.table.columns import TableText
from tablecast.table.view import View
from tablecast.web.server import Node


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "t.sqlite3")
    yield store
    store.close()


class Reads:
    """Counts the store's reads of a version from its first block on: each is a version's
    columns made from blocks (a piece at a time, see Views._building)."""

    def __init__(self, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.blocks = 0  # blocks read
        read_blocks = store.read_blocks

        def counted(version_id: int, first: int, last: int) -> Any:
            self.count += first == 0
            found = read_blocks(version_id, first, last)
            self.blocks += len(found)
            return found

        monkeypatch.setattr(store, "read_blocks", counted)


def files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


# What the columns hold


def test_escaped_cells_are_kept_exactly_and_searched_as_cells():
    records = [["a", "b"], ['say "hi"', "Tab\there"], ["x\u001fy", "back\\slash"], ["Plain", "7"]]
    text = text_of(records)
    assert text.column(0).to_pylist() == ["a", 'say "hi"', "x\u001fy", "Plain"]
    assert text.column(1).to_pylist() == ["b", "Tab\there", "back\\slash", "7"]
    assert text.search("hi", 1).tolist() == [1]
    assert text.search("\u001f", 1).tolist() == [2]  # the separator, as a cell holds it
    assert text.search("x\u001fy", 1).tolist() == [2]
    assert text.search("y\u001fback", 1).tolist() == []  # never across cells
    assert text.search("\t", 1, column=1).tolist() == [1]
    assert text.search("tab", 1, column=0).tolist() == []


def test_ragged_records_are_short_and_sort_their_missing_cells_last():
    records = [["n", "v", "w"], ["3", "c"], ["1", "a", "z"], ["2"], ['"q"', "b", "y"], [""]]
    text = text_of(records)
    assert text.record_count == 6
    assert text.column(0).to_pylist() == ["n", "3", "1", "2", '"q"', ""]
    assert text.column(1).to_pylist() == ["v", "c", "a", None, "b", None]
    assert text.column(2).to_pylist() == ["w", None, "z", None, "y", None]
    rows = np.arange(1, text.record_count)
    assert text.order(1, rows, "text", False).tolist() == [2, 4, 1, 3, 5]
    assert text.order(1, rows, "text", True).tolist() == [1, 4, 2, 3, 5]
    assert text.order(2, rows, "text", False).tolist() == [4, 2, 1, 3, 5]
    assert text.search("z", 1).tolist() == [2]


def held(text: TableText) -> dict[str, list[Any]]:
    return {name: text.table.column(name).to_pylist() for name in text.table.column_names}


def test_cells_are_read_exactly_as_written_whatever_commas_quotes_and_brackets_they_hold():
    # Arrow's CSV reader reads the JSON lines themselves (see columns.table_of): a quote
    # mid-cell, commas and brackets where the line's own are, a cell of one comma first
    records = [
        [",", "b", "c"],
        ["a", ",", ","],
        ['","', "x,y", "[z]"],
        ["[", "]", '"]\n["'],
        ['say "hi"', 'mid"dle', ""],
        ["", "", ""],
        [""],
        [",,", "a"],
        [",", "\r\n", "crlf\r\n"],
    ]
    records = [[cell.replace("\\r", "\r").replace("\\n", "\n") for cell in r] for r in records]
    text = text_of(records)
    for number in range(3):
        expected = [r[number] if number < len(r) else None for r in records]
        assert text.column(number).to_pylist() == expected
    plain = [all("\\" not in orjson.dumps(c).decode() for c in r) for r in records]
    searched = held(text)["search"]  # (a record read apart: empty cells in its line)
    assert [t for t, kept in zip(searched, plain, strict=True) if kept] == [
        search_text(r) for r, kept in zip(records, plain, strict=True) if kept
    ]
    assert {t for t, kept in zip(searched, plain, strict=True) if not kept} == {',"",\n'}
    assert held(text)["escaped"] == [
        not kept or len(r) < 3 for r, kept in zip(records, plain, strict=True)
    ]
    assert text.search(",", 1).tolist() == [1, 2, 7, 8]
    # what a line's text holds besides its cells is never found: a quote, a comma beside one
    assert text.search('"', 0).tolist() == [2, 3, 4]
    assert text.search('","', 0).tolist() == [2]
    assert text.search(',"', 0).tolist() == [2]
    assert text.search("b,", 0).tolist() == []
    assert text.search("\n", 0).tolist() == [3, 8]
    assert text.search("x,y", 0).tolist() == [2]


def search_text(cells: list[str]) -> str:
    """A plain record's search text: its line as stored, brackets made commas, case-folded."""
    return "," + orjson.dumps(cells).decode()[1:-1].casefold() + ",\n"


# Cells whose case Arrow's utf8_lower (a character at a time) and Python's str.lower and
# str.casefold treat differently: a Turkish dotted capital I, a Kelvin sign, Greek sigmas (a
# final one), a German sharp s
UNICODE_CASES = [
    ["ΟΔΟΣ", "İstanbul", "\u212aelvin"],
    ["ÄÖÜ", "Σ", "MiXeD ascii"],
    ["A\u0001B", "é", "ΣΑΣ"],  # (read apart: a control character)
    ["Ä\u001fΣ", "ΑΣ", "Straße"],  # (read apart)
    ["ΣΣ", "ΑΣ Β", "Ωmega"],
    ["İzmir", "STRASSE", "ΟΔΟΣΑ"],
]


def test_the_search_column_is_case_folded_as_python_folds_case():
    """A search compares the needle and the cells case-folded as Python's str.casefold does
    (see columns.fold), not lower-cased a character at a time as Arrow's utf8_lower does. A
    record set apart (its control character) has none of its cells in its search text."""
    text = text_of(UNICODE_CASES)
    assert held(text)["search"] == [
        ',"",\n' if i in (2, 3) else search_text(r) for i, r in enumerate(UNICODE_CASES)
    ]
    assert text.column(0).to_pylist() == [r[0] for r in UNICODE_CASES]
    assert held(text)["search"][0] == ',"οδοσ","i̇stanbul","kelvin",\n'
    assert text.search("οδος", 0).tolist() == [0, 5]  # (a final sigma is a sigma)


@pytest.mark.parametrize(
    "needle, rows",
    [
        ("İstanbul", [0]),
        ("istanbul", []),  # (a dotted capital I folds to i and a dot)
        ("izmir", []),
        ("İZMIR", [5]),  # (an I without a dot is an i)
        ("ΑΣ", [2, 3, 4]),  # a final sigma in the needle, inside a word in a cell
        ("οδος", [0, 5]),
        ("strasse", [3, 5]),  # ß folds to ss
        ("STRAßE", [3, 5]),
        ("kelvin", [0]),  # the Kelvin sign folds to k
        ("σς", [4]),
    ],
)
def test_a_search_and_a_filter_find_what_case_folding_matches(needle, rows):
    """Alike in the lines' search text, in records read apart and in a column's filter."""
    text = text_of(UNICODE_CASES)
    expected = [
        i for i, r in enumerate(UNICODE_CASES) if any(needle.casefold() in c.casefold() for c in r)
    ]
    assert expected == rows
    assert text.search(needle, 0).tolist() == rows
    for column in range(3):
        found = [
            i for i, r in enumerate(UNICODE_CASES) if needle.casefold() in r[column].casefold()
        ]
        assert text.search(needle, 0, column).tolist() == found


async def test_a_wide_tables_columns_go_through_their_file(store, tmp_path):
    version = store_table(store, WIDE, 3)
    views = Views(store, memory=10**9, cache=tmp_path / "columns")
    try:
        await views.text(version)
        await tasks.drain()
        text = await views.text(version)
        assert text.mapped and text.width == WIDE and text.record_count == 4
        last = WIDE - 1  # column kinds go round: integer, decimal, date, text
        kinds = await views.types(version)
        assert kinds[last - 3 :] == ["integer", "decimal", "date", "text"]
        rows = await views.rows(version, View(sort=last - 3, descending=True))
        assert rows.tolist() == [3, 2, 1]
        assert (await views.rows(version, View(q="w1"))).tolist() == [2]
    finally:
        views.close()


# The file


async def test_the_columns_file_is_written_once_and_reused_by_the_next_process(
    store, tmp_path, monkeypatch
):
    version = store_table(store, 4, 3000)
    cache = tmp_path / "columns"
    reads = Reads(store, monkeypatch)
    first = Views(store, memory=10**9, cache=cache)
    try:
        made = await first.text(version)
        kinds = await first.types(version)
        ordered = await first.rows(version, View(sort=0, descending=True))
        assert made.mapped  # written to their file as they were made, and mapped from it
        assert first._used == sum(first._sizes.values())
        assert first._sizes[("text", version.id)] == views_module.MAPPED_BYTES
    finally:
        first.close()
    assert reads.count == 1
    doc = version.document_id
    assert files(cache) == [
        f"{doc}/{version.id}.{FORMAT}.1.counts",
        f"{doc}/{version.id}.{FORMAT}.arrow",
    ]
    again = Views(store, memory=10**9, cache=cache)  # a restarted node
    try:
        text = await again.text(version)
        assert text.mapped and text.table.equals(made.table)
        assert await again.types(version) == kinds
        assert (await again.rows(version, View(sort=0, descending=True))).tolist() == (
            ordered.tolist()
        )
    finally:
        again.close()
    assert reads.count == 1  # neither the columns nor their types were made again


async def test_a_missing_or_unreadable_file_is_made_again(store, tmp_path, monkeypatch):
    version = store_table(store, 4, 300)
    cache = tmp_path / "columns"
    reads = Reads(store, monkeypatch)
    path = cache / version.document_id / f"{version.id}.{FORMAT}.arrow"
    for damage in (None, path.unlink, lambda: path.write_bytes(b"ARROW1" + bytes(100))):
        if damage is not None:
            damage()
        views = Views(store, memory=10**9, cache=cache)
        try:
            await views.text(version)
            await tasks.drain()
            text = await views.text(version)
            assert text.mapped and text.record_count == 301
            assert (await views.rows(version, View(q="w29"))).tolist()[:1] == [30]
        finally:
            views.close()
    assert reads.count == 3
    assert path.exists()


async def test_a_write_cut_short_leaves_no_file_under_its_name(store, tmp_path, monkeypatch):
    """A crash (here, a full disk) mid-write: nothing half written is ever read as the
    version's columns; they are served from memory, and written by the next process."""
    version = store_table(store, 4, 300)
    cache = tmp_path / "columns"
    write_piece = views_module._write_piece

    path = cache / version.document_id / f"{version.id}.{FORMAT}.arrow"
    seen: list[bool] = []

    def cut_short(writer: Any, table: pa.Table) -> None:
        write_piece(writer, table.slice(0, 10))
        seen.append(path.exists())  # what a crash here would leave under the file's name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(views_module, "_write_piece", cut_short)
    views = Views(store, memory=10**9, cache=cache)
    try:
        await views.text(version)
        await tasks.drain()
        text = await views.text(version)
        assert not text.mapped and text.record_count == 301
        assert (await views.rows(version, View(sort=0))).tolist()[:2] == [1, 2]
    finally:
        views.close()
    assert seen == [False]
    # neither the half file nor its temporary name (the types, written whole, are kept)
    assert files(cache) == [f"{version.document_id}/{version.id}.{FORMAT}.1.counts"]
    monkeypatch.setattr(views_module, "_write_piece", write_piece)
    views = Views(store, memory=10**9, cache=cache)
    try:
        await views.text(version)
        await tasks.drain()
        assert (await views.text(version)).mapped
    finally:
        views.close()
    assert f"{version.document_id}/{version.id}.{FORMAT}.arrow" in files(cache)


async def test_a_committed_versions_columns_are_made_before_anyone_asks(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    cache = tmp_path / "columns"
    node = Node.assemble(store, Limits(), page_size=100, legacy_page_size=100, columns=cache)
    try:
        version = store_table(store, 4, 300)
        document = await node.documents.get(version.document_id)
        assert document is not None and node.views.known_types(version) is None
        await node.hub.version_committed(document)
        await tasks.drain()
        assert node.views.known_types(version) == ["integer", "decimal", "date", "text"]
        assert files(cache) == [
            f"{version.document_id}/{version.id}.{FORMAT}.1.counts",
            f"{version.document_id}/{version.id}.{FORMAT}.arrow",
        ]
    finally:
        await node.close()


async def test_a_removed_documents_files_are_removed_with_it(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    cache = tmp_path / "columns"
    node = Node.assemble(
        store,
        Limits(document_ttl=1e-6),  # unused, once made
        page_size=100,
        legacy_page_size=100,
        columns=cache,
    )
    try:
        old = store_table(store, 4, 300)
        await node.views.types(old)
        assert files(cache)
        assert await node.capacity.make_room() == [old.document_id]
        assert files(cache) == []
    finally:
        await node.close()


async def test_a_document_removed_by_another_node_loses_its_files_here_too(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    cache = tmp_path / "columns"
    node = Node.assemble(store, Limits(), page_size=100, legacy_page_size=100, columns=cache)
    try:
        gone, kept = store_table(store, 4, 300), store_table(store, 3, 200)
        await node.views.types(gone)
        await node.views.types(kept)
        # another node's capacity removes it: this node's Capacity is not told
        assert store.remove_unused(time.time() + 1, None, None, {kept.document_id}) == [
            gone.document_id
        ]
        await node.views.forget_removed()
        assert files(cache) == [
            f"{kept.document_id}/{kept.id}.{FORMAT}.1.counts",
            f"{kept.document_id}/{kept.id}.{FORMAT}.arrow",
        ]
    finally:
        await node.close()


def test_columns_made_a_piece_at_a_time_are_those_made_at_once(monkeypatch):
    rng = random.Random(5)
    cells = ["a", "B", "", "NA", 'q"t', "back\\slash", "tab\there", "ünï", "12", "x\u001fy"]
    records = [[rng.choice(cells) for _ in range(rng.randint(1, 4))] for _ in range(700)]
    whole = text_of(records)
    monkeypatch.setattr(columns, "PIECE_BYTES", 50)
    pieces = text_of(records)
    assert pieces.table.equals(whole.table)
    for number in range(4):
        expected = [r[number] if number < len(r) else None for r in records]
        assert pieces.column(number).to_pylist() == expected
    found = [i for i, r in enumerate(records) if any("t" in c.lower() for c in r)]
    assert pieces.search("t", 0).tolist() == found


def test_a_search_reads_records_parsed_apart_a_column_at_a_time(monkeypatch):
    """A file quoting most of its cells escapes most lines: searching them one record at a
    time (a row made into Python objects each) took seconds on a million of them."""
    records = [["q", "r"], *([f'"{i}"', f"Row {i}"] for i in range(600))]
    text = text_of(records)
    assert len(text.escaped) == 600

    def one_by_one(*args: Any) -> Any:
        raise AssertionError("a record read on its own")

    monkeypatch.setattr(TableText, "cells", one_by_one)
    assert text.search("row 59", 1).tolist() == [60, *range(591, 601)]
    assert text.search('"7"', 1).tolist() == [8]
    assert text.search("7", 1, column=1).tolist() == [i + 1 for i in range(600) if "7" in str(i)]


# Sorting a column that repeats its values: by each distinct value's rank

REPEATING = {
    "text": ["Ada", "ada", "Bob", "", "NA", "zoë", "Zed", "b"],
    "integer": ["12", "1,200", "1200", "-3", "", "n/a", "7"],
    "decimal comma": ["3,5", "-1.234,5", ",5", "12", "", "NULL"],
    "date": ["2024-01-02", "1999-12-31", "2024-01-02", "", "-"],
    "datetime": ["2013-01-01 05:00 UTC", "2013-01-01T04:00:00Z", "2013-01-01", "", "NA"],
    "boolean": ["yes", "No", "TRUE", "false", "", "NA"],
}


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("kind", sorted(REPEATING))
def test_a_repeating_column_sorts_by_rank_as_it_sorts_directly(monkeypatch, kind, descending):
    # 3,000 rows of a few values, some rows too short to have the column (null there): the
    # order by ranks of distinct values is the order sorting every cell gives, ties and
    # missing values (empty, markers, past a short row's end) in row order, last both ways
    rng = random.Random(17)
    pool = REPEATING[kind]
    records = [["h", "column"]] + [
        [str(i), rng.choice(pool)] if rng.random() > 0.05 else [str(i)] for i in range(3000)
    ]
    text = text_of(records)
    rows = np.arange(1, text.record_count)
    monkeypatch.setattr(columns, "SORT_SAMPLE", 1024)  # 3,000 rows: a sample of them
    by_rank = text.order(1, rows, kind, descending)
    monkeypatch.setattr(columns, "SORT_SAMPLE", 10**9)  # no sample repeats enough: every cell
    direct = text.order(1, rows, kind, descending)
    assert by_rank.tolist() == direct.tolist()
    # a type set: what does not read as it sorts with the missing
    direct = text.order(1, rows, "integer", descending, strict=True)
    monkeypatch.setattr(columns, "SORT_SAMPLE", 1024)
    assert text.order(1, rows, "integer", descending, strict=True).tolist() == direct.tolist()


NEEDLE_ALPHABET = "ab\\.*+?()[]{}|^$-\t\n\x00\x1f é\u212a_"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=NEEDLE_ALPHABET, max_size=12)), max_size=20),
    st.text(alphabet=NEEDLE_ALPHABET, max_size=4),
)
def test_a_search_by_re2_finds_what_a_plain_substring_match_does(cells, needle):
    # every character RE2 could read as syntax, controls, non-ASCII: each read literally
    array = pa.array(cells, pa.string())
    expected = pc.match_substring(array, needle)
    assert columns.contains(array, needle).to_pylist() == expected.to_pylist()


def test_a_first_cell_of_one_comma_is_a_facet_value_as_written(server):
    body = b'a,b\n",",x\n",",y\n"1,",z\n'
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=c.csv", body)
    assert status == 201, doc
    status, facets, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/facets/0")
    assert status == 200, facets
    assert [(v["value"], v["count"]) for v in facets["values"]] == [(",", 2), ("1,", 1)]
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?q=x")
    assert status == 200, page
    assert page["data"] == [[",", "x"]]


def test_a_column_a_piece_found_text_is_not_counted_again_and_stays_text(monkeypatch):
    """An upload's pieces are counted one after the other (see StreamedColumns): a column of
    words in one piece is text whatever the next hold, so the next leave it out. A column
    without a value in a piece (all empty) says nothing yet, and is counted on."""
    counted = []
    column_counts = columns._column_counts

    def counting(cells: Any) -> Any:
        counted.append(len(cells))
        return column_counts(cells)

    monkeypatch.setattr(columns, "_column_counts", counting)
    words_first = [["word", "", "1", "x"]] * 40
    numbers_after = [["5", "7", "2", "3"]] * 40
    first = columns.piece_counts(columns.table_of(block_lines(words_first)), 0, 4)
    assert columns.text_columns(first) == [0, 3] and len(counted) == 4
    counted.clear()
    text = set(columns.text_columns(first))
    second = columns.piece_counts(columns.table_of(block_lines(numbers_after)), 0, 4, text)
    assert len(counted) == 2  # the empty column and the numbers: not the two of words
    counts, recount = columns.merged_counts([first, second], "\t")
    assert columns.kinds_of(counts, "\t") == ["text", "integer", "integer", "text"]
    assert not recount
    # as the version's cells counted at once say
    whole = columns.table_of(block_lines(words_first + numbers_after))
    assert columns.kinds_of(columns.piece_counts(whole, 0, 4), "\t") == columns.kinds_of(
        counts, "\t"
    )


def block_lines(records: list[list[str]]) -> list[bytes]:
    return [b"\n".join(orjson.dumps(record) for record in records)]
