"""A version's cells as Apache Arrow columns: type inference, sorting and searching. Pure:
blocks in, Arrow arrays and record numbers out (writing and mapping the Arrow IPC file that
keeps them is tablecast.service.views's).

A :class:`TableText` is an Arrow table of every record of a version (record ``i`` is row ``i``,
the header too, as pages number them): one string column per column of the widest record
(a shorter record's missing cells are null), cells exactly as written, and a ``search``
column: each record's line as stored, case-folded, what a search scans at once. Typed values
are derived from the cells when a sort asks (see :func:`numbers`), never stored in their place.

It is made from the stored blocks without parsing a record in Python: a block line is
``["cell","cell",...]``, JSON escapes quotes and every control character, so outside the lines
holding a backslash every quote opens or closes a cell. Arrow's CSV
reader reads those lines, in C, as string columns (see table_of); the few lines holding a
backslash (escaped quotes, control characters) and ragged records are parsed apart (orjson)
and put in their place.

Work on a version is linear in its cells. Inference runs in pieces of about CHUNK_CELLS cells
(:meth:`TableText.inferring`) over all cells at once, not column by column, so that a very wide
table costs what a tall one of as many cells does, and the views thread can run other work
between pieces.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product, repeat
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

# Arrow's default allocator (mimalloc) keeps what it freed for later arrays: a million-row
# version's build left some 250 MiB more in the process's RSS for good, although its columns
# then live in a memory-mapped file. jemalloc, told to give freed memory back within a second
# (its background thread does), builds as fast (cold first sorts 1.8-2.0 s against mimalloc's
# 1.6-2.1 s; glibc's allocator took 4.4-6.1 s) and keeps nothing for long. Not at once: then
# each piece of an upload's columns faulted its pages in again (0.2-0.3 s of system time a
# million rows; bench ingest 1.54-1.60 s against 1.43-1.44). Arrow's own
# ARROW_DEFAULT_MEMORY_POOL, when set, still chooses.
FREED_MS = 1000
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    try:
        pa.jemalloc_set_decay_ms(FREED_MS)
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())

# Record numbers. A view's rows, kept, are int32 (half the memory: a 13.7M-row version's
# order is 55 MB, not 110; a version has fewer than 2**31 records); work in between is int64.
Array = npt.NDArray[np.signedinteger[Any]]
ROWS = np.int32  # what a view's rows are kept as
Counts = npt.NDArray[np.int64]  # per kind of cell (see TableText.counting), per column

INFER_CHARS = 40  # a cell longer than this is text (no number or date is this long)
CHUNK_CELLS = 1 << 20  # cells whose types are inferred in one piece of work
NARROW = 64  # columns up to which types are inferred a column at a time
# A column's first cells, which tell a sort whether it repeats its values (a column of 5,000
# days over a million rows does: 16,384 of them hold fewer than half as many distinct ones)
SORT_SAMPLE = 1 << 14
SAMPLE = 1024  # a column's first cells, which rule out the kinds they are not at once
# A column's type, as clients are told it. The kinds after "text" are in order of precedence:
# a column is the first of them that every one of its values is (see _types_of), else text.
# Kinds nest, so order matters: every integer is a decimal (and, without separators, a decimal
# comma), every day alone a date-time (its midnight UTC, so that a column mixing days and
# date-times is a datetime column); a boolean is none of the others.
TYPES = ("text", "integer", "decimal", "date", "datetime", "boolean")
# What a column is read as, for its sorts: its type, or a decimal whose point is a comma (shown
# as a decimal), last: read only where the delimiter is no comma. KINDS[1:] are also what
# classify tells of each cell, and the rows of a column's counts after the first.
DECIMAL_COMMA = "decimal comma"
KINDS = (*TYPES, DECIMAL_COMMA)
_KIND_NAMES = np.array(KINDS, dtype=object)
NUMERIC = ("integer", "decimal", DECIMAL_COMMA)


def _both_cases(character: str) -> set[str]:
    return {character.lower(), character.upper()}


# Cells that say a value is missing: what pandas.read_csv reads as missing by default
# (pandas 2.x's na_values: "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
# "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"), and a
# lone dash, in any case ("Null" and "NONE" are missing too). An empty cell is.
MISSING = (
    "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
    "n/a", "na", "null", "nan", "none", "-", "",
)  # fmt: skip
_MISSING = pa.array(MISSING)
# every marker in every mix of case (some 140 spellings): what "in any case" means, as written
# (the only other character that lower-cases to an ASCII letter, the Kelvin sign, is a "k")
_CASED_MISSING = pa.array(
    sorted({"".join(cased) for marker in MISSING for cased in product(*map(_both_cases, marker))})
)
SEARCH = "search"  # the search column's name; cell columns are named by their number
# What no cell of a plain record (one whose line holds no backslash) holds: a JSON string
# escapes a quote, a backslash and every control character with a backslash.
_NEVER_PLAIN = re.compile(r'["\\\x00-\x1f]')

# What each kind of cell is, read from its lower-cased text (see classify)
_INTEGER = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)$"
_DECIMAL = r"^[+-]?((\d+|\d{1,3}(,\d{3})+)(\.\d+)?|\.\d+)$"  # integers too
_COMMA = r"^[+-]?((\d*|\d{1,3}(\.\d{3})+),\d+|\d+)$"
_DAY = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_DATE = rf"^{_DAY}$"
# a day alone too; a time without an offset is UTC, and so are ` UTC` and ` GMT`
_DATETIME = (
    rf"^{_DAY}"
    r"([tT ]([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d+)?)?"
    r"([zZ]|[+-]([01]\d|2[0-3])(:?[0-5]\d)?| (?i:utc|gmt))?)?$"
)
_BOOLEAN = r"^(?i:true|false|yes|no)$"  # not 0 and 1: those are integers
_TRUE = pa.array(["true", "yes"])
_DATE_FIELDS = (
    r"^(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)"
    r"(?:[tT ](?P<hour>\d\d):(?P<minute>\d\d)(?::(?P<second>\d\d)(?:\.(?P<fraction>\d+))?)?"
    r"(?:[zZ]|(?P<sign>[+-])(?P<zone_hour>\d\d):?(?P<zone_minute>\d\d)?| (?i:utc|gmt))?)?$"
)


def mostly_distinct(cells: Any) -> bool:
    """Whether a column's first SORT_SAMPLE cells hold more than half as many values as
    cells. If not, it repeats its values: a sort ranks its distinct values once, and a profile
    hashes them (a hash table of a few thousand values is filled in 10-30 ms for a million
    cells); if so, both read every cell's value (a hash table of a million took 200-250 ms)."""
    sample = cells.slice(0, SORT_SAMPLE)
    return len(pc.unique(sample)) > len(sample) // 2


def shown(kinds: list[str]) -> list[str]:
    """Column kinds as clients are told their types: a decimal comma is a decimal."""
    if DECIMAL_COMMA not in kinds:
        return kinds
    return ["decimal" if kind == DECIMAL_COMMA else kind for kind in kinds]


T = TypeVar("T")


def finished(pieces: Iterator[T | None]) -> T:
    """What work done in pieces (see TableText.inferring) comes to, done all at once."""
    for result in pieces:
        if result is not None:
            return result
    raise ValueError("the work ended without a result")


def give_back(mapping: mmap.mmap, address: int, size: int) -> None:
    """This process's pages of the ``size`` bytes at ``address`` given back, if they lie in
    ``mapping`` (a shared, read-only mapping of a file: the data stays in the OS's page
    cache, and a later read faults it in again)."""
    start = address - pa.py_buffer(mapping).address
    if 0 <= start < len(mapping):
        aligned = start - start % mmap.PAGESIZE  # (madvise takes whole pages)
        end = min(start + size, len(mapping))
        mapping.madvise(mmap.MADV_DONTNEED, aligned, end - aligned)


@dataclass(eq=False)
class TableText:
    """Every record of a version as Arrow columns: row ``i`` is record ``i``."""

    table: pa.Table  # the cell columns "0", "1"..., SEARCH, ESCAPED
    mapped: bool = False  # read from its file, memory-mapped
    # the file's mapping, if its columns are read from one (see let_go)
    mapping: mmap.mmap | None = field(default=None, repr=False)
    _escaped: Array | None = field(default=None, repr=False)

    def let_go(self, arrays: Sequence[pa.Array] | None = None) -> None:
        """Give back this process's pages of the mapped file that ``arrays`` (all of it: None)
        were read from. Each page of the file a pass reads stays in the process's RSS
        (RssFile) while it is mapped: a search reads the whole search column, 1 GB of a
        13.7M-row version. On a shared read-only mapping this only drops the process's page
        table entries: the data stays in the OS's page cache, and a later read faults it back
        in (minor faults, no disk read, while the OS keeps it cached)."""
        mapping = self.mapping
        if mapping is None or mapping.closed:
            return
        if arrays is None:
            mapping.madvise(mmap.MADV_DONTNEED)
            return
        for array in arrays:
            for buffer in array.buffers():
                if buffer is not None:
                    give_back(mapping, buffer.address, buffer.size)

    @classmethod
    def build(cls, blocks: Sequence[bytes], width: int | None = None) -> TableText:
        """From the version's blocks' records (JSON lines), in order; ``width``: cells in its
        widest record, if known."""
        return cls(table_of(blocks, width))

    @property
    def record_count(self) -> int:
        return int(self.table.num_rows)

    @property
    def width(self) -> int:
        return int(self.table.num_columns) - 2

    @property
    def nbytes(self) -> int:
        """What its columns take: in memory if built here; in the OS's page cache if mapped
        from its file (see tablecast.service.views)."""
        return int(self.table.get_total_buffer_size())

    @property
    def escaped(self) -> Array:
        """Records holding a backslash or ragged: their search text is checked cell by cell."""
        if self._escaped is None:
            mask = self.table.column(ESCAPED)
            self._escaped = np.asarray(pc.indices_nonzero(mask).to_numpy(), dtype=np.int64)
        return self._escaped

    def column(self, number: int) -> pa.ChunkedArray:
        """Cell ``number`` of each record (null past a short record's end)."""
        return self.table.column(number)

    def picked(self, number: int, rows: Array) -> pa.ChunkedArray:
        """Cell ``number`` of ``rows`` (record numbers, ascending), taken a record batch at a
        time, each batch's pages given back once read. (Arrow's take from a column of many
        chunks first joins them into one array: 112 MB of a 13.7M-row column, in the heap, and
        every page of it read.)"""
        column = self.column(number)
        ends = np.cumsum([len(chunk) for chunk in column.chunks], dtype=np.int64)
        cuts = np.searchsorted(rows, ends)  # how many of the rows are before each batch's end
        taken, done = [], 0
        for chunk, end, cut in zip(column.chunks, ends.tolist(), cuts.tolist(), strict=True):
            if cut > done:
                these = rows[done:cut] - (end - len(chunk))
                taken.append(chunk.take(pa.array(these)))
                self.let_go([chunk])
                done = cut
        return pa.chunked_array(taken, column.type)

    def records(self, start: int, stop: int, width: int) -> list[pa.Array]:
        """The first ``width`` cells of records ``start`` to ``stop``, a column each (slices
        of the columns, nothing copied)."""
        piece = self.table.slice(start, stop - start)
        return [piece.column(number).combine_chunks() for number in range(width)]

    def let_go_records(self, start: int, stop: int, width: int) -> None:
        """Give back the pages of the mapped file that ``records(start, stop, width)`` read
        (see let_go): the chunks it read from, whether or not it copied them, but the last,
        which the records after may read too (given back then, it would be read again)."""
        piece = self.table.slice(start, stop - start)
        self.let_go([chunk for n in range(width) for chunk in piece.column(n).chunks[:-1]])

    def taken(self, rows: Array, width: int) -> list[pa.Array]:
        """The first ``width`` cells of ``rows`` (record numbers in any order, as a sorted
        view's), a column each, in that order: each column's taken in ascending order a
        record batch at a time (see picked), then put in the rows' order."""
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        where = pa.array(back)
        return [
            self.picked(number, ascending).combine_chunks().take(where) for number in range(width)
        ]

    def cells(self, number: int) -> list[str]:
        """One record's cells, lower-cased (a short record's missing ones left out)."""
        row = self.table.slice(number, 1).drop_columns([SEARCH, ESCAPED]).to_pylist()[0]
        return [str(cell).lower() for cell in row.values() if cell is not None]

    # Searching

    def search(self, needle: str, first: int, column: int | None = None) -> Array:
        """Records from ``first`` on with a cell (or cell ``column``) containing ``needle``,
        case-insensitively (both case-folded, see fold), in order (as ROWS)."""
        needle = needle.casefold()
        if column is None and _NEVER_PLAIN.search(needle):  # only a record read apart can
            rows = np.zeros(0, dtype=ROWS)
        elif column is None and needle != ",":
            # (any other needle that matches a line's text matches inside one cell: a comma
            # between cells is between quotes, and a needle quoted is never plain)
            rows = self._matching([SEARCH], first, lambda c: contains(c[0], needle))
        else:  # cell by cell: a lone comma is also each line's between its cells
            numbers = list(range(self.width)) if column is None else [column]

            def match(cells: list[pa.Array]) -> Any:
                found = None
                for these in cells:
                    hit = _folded_match(these, needle)
                    found = hit if found is None else pc.or_(found, hit)
                return found

            if not numbers:
                return np.zeros(0, dtype=ROWS)
            rows = self._matching(numbers, first, match)
        suspects = self.escaped[self.escaped >= first]
        if not len(suspects):
            return rows
        # their cells, a column at a time (a file quoting most of its cells escapes most lines)
        picked = pa.array(suspects)
        hit = None
        for number in range(self.width) if column is None else (column,):
            these = _folded_match(self.column(number).take(picked), needle)
            hit = these if hit is None else pc.or_(hit, these)
        holding = suspects[_indices(hit)] if hit is not None else suspects[:0]
        rows = rows[~np.isin(rows, suspects)]
        return np.insert(rows, np.searchsorted(rows, holding), holding).astype(ROWS)

    def _matching(self, columns: list[Any], first: int, match: Any) -> Array:
        """Records from ``first`` on where ``match`` (of the columns' cells, a piece each, in
        that order) is true, in order, as ROWS: a record batch at a time, its pages of the
        file given back once read (see let_go), so that a pass over a column a gigabyte long
        holds a piece of it, not all."""
        found = [np.zeros(0, dtype=ROWS)]
        at = first
        for batch in self.table.select(columns).slice(first).to_batches():
            hits = _indices(match(batch.columns)) + at
            found.append(hits.astype(ROWS))
            at += batch.num_rows
            self.let_go(batch.columns)
        return np.concatenate(found)

    # Types

    def infer(self, number: int, rows: Array, *, delimiter: str) -> str:
        """The column's kind over ``rows`` (consecutive, to the last record): one of KINDS
        (see classify, _types_of)."""
        first = int(rows[0]) if len(rows) else self.record_count
        cells = pc.utf8_lower(self.column(number).slice(first))
        counts = np.zeros((len(KINDS), 1), dtype=np.int64)
        _count_cells(counts, cells, np.zeros(len(cells), dtype=np.int64))
        return _types_of(counts, delimiter != ",")[0]

    def inferring(self, first: int, width: int, *, delimiter: str) -> Iterator[list[str] | None]:
        """The kind of each of ``width`` columns over the records from ``first`` on, in pieces
        (None after each), then the kinds (see counting, infer)."""
        for counts in self.counting(first, width):
            yield None if counts is None else kinds_of(counts, delimiter)

    def counting(
        self, first: int, width: int, found_text: Collection[int] = ()
    ) -> Iterator[Counts | None]:
        """How many cells of each of ``width`` columns, over the records from ``first`` on,
        hold a value, and how many of those are of each kind of KINDS[1:] (one row each, in
        that order: see kinds_of), in pieces (None after
        each, then the counts). A kind that is not every value of a column may be counted
        short (see _column_counts): what decides a column's kind is which kinds all its
        values are.

        Up to NARROW columns, a column a piece (see _column_counts). Wider tables are counted
        every cell at once, about CHUNK_CELLS a piece: a piece's records' search text is split
        into its cells, which are classified together and counted per column, so that the work
        is linear in cells however many columns there are. Records read apart (see escaped) are
        read from their columns.

        ``found_text``: columns known to be text (see text_columns), which a narrow table's
        counting leaves out (counts of 0: see merged_counts)."""
        counts = np.zeros((len(KINDS), width), dtype=np.int64)
        if width <= NARROW:
            done = 0  # cells counted since the last piece ended
            for number in range(min(width, self.width)):
                if number in found_text:
                    continue
                counts[:, number] = _column_counts(self.column(number).slice(first))
                done += self.record_count - first
                if done >= CHUNK_CELLS and number + 1 < width:
                    done = 0
                    yield None
            yield counts
            return
        text = self.table.column(SEARCH)
        escaped = self.table.column(ESCAPED)
        step = max(1, CHUNK_CELLS // max(width, 1))
        for lo in range(first, self.record_count, step):
            count = min(step, self.record_count - lo)
            plain = pc.invert(escaped.slice(lo, count))
            lines = pc.filter(text.slice(lo, count), plain).combine_chunks()
            # each line's text is ,"a","b",\n (see _search_text): the cells between ","
            inside = pc.binary_slice(lines.view(pa.large_binary()), 2, -3)
            split = pc.split_pattern(inside.view(pa.large_string()), '","')
            cells = split.flatten()
            sizes = np.asarray(pc.list_value_length(split).to_numpy(), dtype=np.int64)
            starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
            columns = np.arange(len(cells), dtype=np.int64) - starts
            _count_cells(counts, cells, columns)
            if lo + step < self.record_count:
                yield None
        for row in self.escaped[self.escaped >= first].tolist():
            cells = self.cells(row)
            _count_cells(counts, pa.array(cells, pa.string()), np.arange(len(cells)))
        yield counts

    # Order

    def order(
        self, number: int, rows: Array | range, kind: str, descending: bool, strict: bool = False
    ) -> Array:
        """``rows`` (consecutive, to the last record) sorted by cell ``number`` read as
        ``kind``, ties in row order, missing values (empty cells and the markers in MISSING,
        whatever the kind) last either way. Date-times sort by the instant they name, booleans
        false before true. ``strict``: the column's values may not all read as ``kind`` (it is
        a type a person set, not the one inferred): those that do not sort with the missing.

        As ROWS. Keys are read a record batch at a time (its pages of a mapped file given back
        once read, see let_go), into one array: what a sort holds at its peak is about its
        keys and its order, not copies of the column's text."""
        first = int(rows[0]) if len(rows) else self.record_count
        cells = self.column(number).slice(first)
        if len(cells) > SORT_SAMPLE and not mostly_distinct(cells):
            # a column repeating its values: each distinct one read once, and the rows
            # sorted by its rank (see _by_rank)
            order = _stable_order(self._ranked(cells, kind, descending, strict))
        elif kind in NUMERIC:
            order = self._by_number(cells, kind, descending, strict)
        elif kind == "text":
            order = self._by_text(number, first, cells, descending, strict)
        else:
            if kind in ("date", "datetime"):  # (a piece's keys may differ from another's)
                keys = _sort_keys(cells, kind, strict)
            else:
                pieces = list(self._keys(cells, kind, strict))
                keys = [pa.chunked_array(pieces) if pieces else pa.chunked_array([], pa.string())]
                del pieces
            table = pa.table({str(i): key for i, key in enumerate(keys)})
            del keys
            direction = "descending" if descending else "ascending"
            sort_keys = [(str(i), direction, "at_end") for i in range(table.num_columns)]
            indices = pc.sort_indices(table, sort_keys=sort_keys)
            del table
            order = np.asarray(indices.to_numpy()).astype(ROWS)
            del indices
        self.let_go()  # (what else the sort read, too)
        order += ROWS(first)
        return order

    def _keys(self, cells: pa.ChunkedArray, kind: str, strict: bool) -> Iterator[Any]:
        """Each record batch's sort key (of kinds with one key of one type: not dates), read a
        batch at a time."""
        for chunk in cells.chunks:
            yield _sort_keys(chunk, kind, strict)[0]
            self.let_go([chunk])

    def _by_number(
        self, cells: pa.ChunkedArray, kind: str, descending: bool, strict: bool
    ) -> Array:
        """Positions in ``cells`` sorted by their numbers (a numeric ``kind``), stably, the
        missing last: float64 keys read a batch at a time into one array (NaN where missing,
        which numpy sorts last), sorted by numpy. Descending: by the negated keys (NaN stays
        NaN, so missing stays last, and ties stay in row order)."""
        keys = np.empty(len(cells), dtype=np.float64)
        at = 0
        for key in self._keys(cells, kind, strict):
            # (nulls made NaN by Arrow, whose memory is given back as it is freed: the
            # process's heap, which keeps what it frees, is not used for a batch's keys)
            filled = pc.fill_null(key, pa.scalar(np.nan, pa.float64()))
            keys[at : at + len(key)] = filled.to_numpy()
            at += len(key)
        if kind == "integer" and _beyond_float(keys):
            exact = self._integers(cells, strict, np.isnan(keys))
            if exact is not None:
                present = np.flatnonzero(~np.isnan(keys))
                values = exact[present]
                if descending:
                    np.invert(values, out=values)
                order: Array = np.r_[
                    present[np.argsort(values, kind="stable")], np.flatnonzero(np.isnan(keys))
                ]
                return order.astype(ROWS)
        if descending:
            np.negative(keys, out=keys)
        return _stable_order(keys)

    def _integers(
        self, cells: pa.ChunkedArray, strict: bool, absent: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.uint64] | None:
        """Each cell's integer as a uint64 in the order of the integers (0 where ``absent``),
        read a batch at a time; None if one is beyond int64. (Integers of more than 15
        digits, ids often, which float64 keys would leave in row order.)"""
        keys = np.empty(len(cells), dtype=np.uint64)
        at = 0
        for chunk in cells.chunks:
            mask = pa.array(absent[at : at + len(chunk)])
            written = pc.if_else(mask, pa.scalar(None, pa.string()), chunk)
            try:
                values = pc.cast(pc.replace_substring(written, ",", ""), pa.int64())
            except pa.ArrowInvalid:  # (beyond int64: their float64 keys it is)
                return None
            self.let_go([chunk])
            ordered = np.asarray(pc.fill_null(values, -1).to_numpy()).view(np.uint64)
            keys[at : at + len(chunk)] = ordered ^ np.uint64(1 << 63)  # (sign bit: order)
            at += len(chunk)
        return keys

    def _by_text(
        self, number: int, first: int, cells: pa.ChunkedArray, descending: bool, strict: bool
    ) -> Array:
        """Positions in ``cells`` (cell ``number`` from record ``first`` on) sorted by their
        lower-cased text, stably, the missing last: sorted by each one's first bytes (see
        _prefixes), made a batch at a time into one array of 8 bytes a row, then the rows whose
        first bytes tie but whose text may differ ordered by their whole text (see
        _TextTies). Descending: by the prefixes inverted (the missing kept last)."""
        keys = np.empty(len(cells), dtype=np.uint64)
        at = 0
        for lowered in self._keys(cells, "text", strict):
            keys[at : at + len(lowered)] = _prefixes(lowered)
            at += len(lowered)
        if descending:
            np.invert(keys, out=keys, where=keys != _NO_TEXT)
        return _stable_order(keys, _TextTies(self, number, first, descending))

    def _ranked(
        self, cells: pa.ChunkedArray, kind: str, descending: bool, strict: bool
    ) -> npt.NDArray[np.unsignedinteger[Any]]:
        """Each cell's rank (see _ranks), as uint32 (uint64 past 2**32 values), in two passes
        of a record batch at a time (each batch's pages given back once read): its distinct
        values, ranked once; then each cell's, looked up. (Codes of every cell kept from the
        first pass to the second would be 4 bytes a cell more, held at once.)"""
        distinct = []
        for chunk in cells.chunks:
            distinct.append(pc.unique(chunk))
            self.let_go([chunk])
        values = pc.unique(pa.chunked_array(distinct, cells.type)).drop_null()
        del distinct
        ranks, missing = _ranks(_sort_keys(values, kind, strict), descending)
        narrow = np.uint32 if missing < 1 << 32 else np.uint64  # (half the memory)
        # a cell past a short record's end (null) holds no value either: last, as the missing
        of_value = np.append(np.asarray(ranks.to_numpy()).astype(narrow), narrow(missing))
        out: npt.NDArray[np.unsignedinteger[Any]] = np.empty(len(cells), dtype=narrow)
        at = 0
        for chunk in cells.chunks:
            found = pc.fill_null(pc.index_in(chunk, value_set=values), len(values))
            np.take(of_value, found.to_numpy(), out=out[at : at + len(chunk)])
            at += len(chunk)
            self.let_go([chunk])
        return out


# Keys a sort orders at once (see _stable_order): about 36 MB of work beside the keys
SORT_PIECE = 1 << 20


def _stable_order(keys: npt.NDArray[Any], ties: Any = None) -> Array:
    """Positions 0..n-1 of ``keys`` (floats, or unsigned ranks) in ascending order of their
    keys, ties in position order, NaN last, as ROWS.

    Up to SORT_PIECE keys are sorted at once. More are first split into ranges of values,
    at values of a sample of them, about SORT_PIECE keys each, and each range's keys sorted in
    turn into its place: what the sort holds beside its keys and their order is one range's
    work, not an int64 position for every key and a buffer to merge them (numpy's argsort of
    13.7M keys: 165 MB more). ``ties``, if given, is told each range's positions in order and
    their keys, and orders again those whose keys tie (see _TextTies)."""
    count = len(keys)
    floats = keys.dtype.kind == "f"
    if count <= SORT_PIECE:
        positions = _piece_order(keys)
        if ties is not None:
            positions = ties(positions, keys[positions])
        return positions.astype(ROWS)
    sample = np.sort(keys[:: max(1, count // 4096)])
    if floats:
        sample = sample[~np.isnan(sample)]
    ranges = count // SORT_PIECE + 1
    bounds = np.unique(sample[np.arange(1, ranges) * len(sample) // ranges])
    # each key's range (NaN: one past the last)
    where = np.empty(count, dtype=np.uint8 if len(bounds) + 2 <= 256 else np.uint16)
    for lo in range(0, count, SORT_PIECE):
        these = keys[lo : lo + SORT_PIECE]
        where[lo : lo + SORT_PIECE] = np.searchsorted(bounds, these, side="right")
        if floats:
            where[lo : lo + SORT_PIECE][np.isnan(these)] = len(bounds) + 1
    order = np.empty(count, dtype=ROWS)
    at = 0
    for number in range(len(bounds) + 2):
        inside = np.flatnonzero(where == number)
        positions = inside[_piece_order(keys[inside])]
        del inside
        if ties is not None:
            positions = ties(positions, keys[positions])
        order[at : at + len(positions)] = positions
        at += len(positions)
    return order


EXACT = 2.0**53  # integers up to which float64 tells each from the next


def _beyond_float(keys: npt.NDArray[np.float64]) -> bool:
    """Whether some of float64 ``keys`` may stand for several integers."""
    return bool(len(keys)) and bool(np.nanmax(np.abs(keys), initial=0.0) >= EXACT)


# A missing text's sort key (see _prefixes): above any text's, whose first byte, UTF-8's, is
# never 0xff
_NO_TEXT = np.uint64(2**64 - 1)
PREFIX = 7  # bytes of a text its sort key holds


def leading_bytes(cells: pa.Array, size: int = 8) -> npt.NDArray[np.uint64]:
    """Each text's first ``size`` (at most 8) bytes as one big-endian number, padded with zero
    bytes (a null's: 0): equal texts have equal numbers, and texts whose numbers differ are
    ordered as their bytes (and so their code points) are. One unaligned 8-byte read a cell,
    not one a byte: 13 ms for a million cells, against 80."""
    return _eight_bytes(cells, size, last=False)


def trailing_bytes(cells: pa.Array) -> npt.NDArray[np.uint64]:
    """Each text's last 8 bytes (all of a shorter one's) as one number (a null's: 0): equal
    texts have equal numbers, and texts that begin alike (URLs, paths) mostly do not."""
    return _eight_bytes(cells, 8, last=True)


def _eight_bytes(cells: pa.Array, size: int, *, last: bool) -> npt.NDArray[np.uint64]:
    count = len(cells)
    if cells.type != pa.string():
        cells = cells.cast(pa.string())
    _, offsets_buffer, data_buffer = cells.buffers()
    if offsets_buffer is None:  # (no cell at all)
        return np.zeros(count, dtype=np.uint64)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[cells.offset :][: count + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    # the texts' bytes, and 8 more (before them, for the last bytes), so that every read of
    # 8 bytes stays inside
    data = np.zeros(end - start + 8, dtype=np.uint8)
    if data_buffer is not None:
        at = 8 if last else 0
        data[at : at + end - start] = np.frombuffer(data_buffer, dtype=np.uint8)[start:end]
    words = np.ndarray((end - start + 1,), dtype=">u8", buffer=data, strides=(1,))
    keys: npt.NDArray[np.uint64] = words[(offsets[1:] if last else offsets[:-1]) - start]
    keys = keys.astype(np.uint64)
    # the bits of bytes not the text's (or past ``size``) cleared, in two shifts each way (a
    # shift by 64 is no shift in numpy's uint64): the last bytes' at the top, the first's at
    # the bottom
    kept = np.minimum(np.diff(offsets), size).astype(np.uint64)
    dropped = (np.uint64(8) - kept) * np.uint64(8)
    half = dropped >> np.uint64(1)
    rest = dropped - half
    away, back = (np.left_shift, np.right_shift) if last else (np.right_shift, np.left_shift)
    for move in (away, back):
        move(keys, half, out=keys)
        move(keys, rest, out=keys)
    return keys


def _prefixes(lowered: Any) -> npt.NDArray[np.uint64]:
    """Each text's sort key (_NO_TEXT where it is null): its first PREFIX bytes (see
    leading_bytes), and a last byte of 1 if that may not be all of it (it is longer, or holds
    a zero byte, which the padding would not tell apart): keys order texts as their bytes do,
    equal keys are equal texts but where that byte is 1."""
    count = len(lowered)
    keys = np.full(count, _NO_TEXT, dtype=np.uint64)
    if not count or lowered.null_count == count:
        return keys
    if lowered.type != pa.string():
        lowered = lowered.cast(pa.string())
    prefix = leading_bytes(lowered, PREFIX)
    _, offsets_buffer, data_buffer = lowered.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[lowered.offset :][: count + 1]
    more = np.diff(offsets) > PREFIX
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, dtype=np.uint8)[start:end] if data_buffer else None
    if data is not None and not data.all():  # some text holds a zero byte (seldom)
        zeros = np.concatenate(([0], np.cumsum(data == 0)))
        more |= zeros[offsets[1:] - start] > zeros[offsets[:-1] - start]
    prefix |= more.astype(np.uint64)
    valid = np.asarray(lowered.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    keys[valid] = prefix[valid]
    return keys


class _TextTies:
    """Orders again, by their whole lower-cased text, rows of a text sort whose keys (see
    _prefixes) tie and say the text goes on: ``__call__`` takes a range's positions in order
    and their keys (see _stable_order)."""

    def __init__(self, text: TableText, number: int, first: int, descending: bool) -> None:
        self.text, self.number, self.first, self.descending = text, number, first, descending

    def __call__(self, positions: npt.NDArray[Any], keys: npt.NDArray[np.uint64]) -> Any:
        if len(keys) < 2:
            return positions
        # (descending, the keys were inverted: their last bit too)
        goes_on = (keys & np.uint64(1)) == np.uint64(0 if self.descending else 1)
        goes_on &= keys != _NO_TEXT
        same = keys[1:] == keys[:-1]
        tied = np.zeros(len(keys), dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        at = np.flatnonzero(tied & goes_on)
        if not len(at):
            return positions
        # runs of equal keys: where the key changes, or a position between is not one of them
        starts = np.ones(len(at), dtype=bool)
        starts[1:] = (keys[at[1:]] != keys[at[:-1]]) | (at[1:] != at[:-1] + 1)
        runs = np.cumsum(starts)
        rows = positions[at]
        ascending = np.argsort(rows, kind="stable")
        picked = self.text.picked(self.number, rows[ascending] + self.first)
        back = np.empty(len(ascending), dtype=np.int64)
        back[ascending] = np.arange(len(ascending))
        texts = pc.utf8_lower(picked.combine_chunks().take(pa.array(back)))
        table = pa.table({"run": runs, "text": texts, "row": rows})
        direction = "descending" if self.descending else "ascending"
        sort_keys = [("run", "ascending"), ("text", direction), ("row", "ascending")]
        again = np.asarray(pc.sort_indices(table, sort_keys=sort_keys).to_numpy())
        positions = positions.copy()
        positions[at] = rows[again]
        return positions


def _piece_order(keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Positions of ``keys`` sorted, stably: ranks by _by_rank, floats by numpy's argsort."""
    if keys.dtype.kind == "u":
        return _by_rank(keys.astype(np.uint64))
    return np.argsort(keys, kind="stable")


def _by_rank(ranks: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Positions 0..n-1 in the order of their ranks, ties in position order: each rank and its
    position made one 64-bit number, sorted (numpy sorts those in SIMD: 1,000,000 in some
    15 ms, where a stable sort by rank took 120 ms). In place: ``ranks`` is used up."""
    bits = max(len(ranks).bit_length(), 1)
    if len(ranks) and int(ranks.max()).bit_length() + bits > 64:
        return np.argsort(ranks, kind="stable")
    ranks <<= np.uint64(bits)
    ranks |= np.arange(len(ranks), dtype=np.uint64)
    ranks.sort()
    ranks &= np.uint64((1 << bits) - 1)
    return ranks.view(np.int64)


def _sort_keys(cells: Any, kind: str, strict: bool) -> list[Any]:
    """What cells sort by, read as ``kind``, in order of precedence: null where a cell holds no
    value (or, ``strict``, none of that kind: see TableText.order)."""
    # (cells lower-cased only where the keys are: finding the missing among numbers or dates
    # so took 100-150 ms of a million cells' 200)
    lowered = pc.utf8_lower(cells) if kind in ("text", "boolean") else None
    absent = missing(cells) if lowered is None else _absent(lowered)
    if strict:
        absent = pc.or_(absent, pc.invert(reads_as(cells, kind)))
    if kind in NUMERIC:
        return [numbers(cells, kind == DECIMAL_COMMA, absent)]
    if kind in ("date", "datetime"):
        return _instant_keys(cells, absent)
    if kind == "boolean":
        true = pc.is_in(lowered, value_set=_TRUE)
        return [pc.if_else(absent, pa.scalar(None, pa.bool_()), true)]
    return [pc.if_else(absent, pa.scalar(None, pa.string()), lowered)]


def _ranks(keys: list[Any], descending: bool) -> tuple[pa.Array, int]:
    """Each value's rank in the order its keys give (equal keys, equal ranks), as uint64, the
    missing (null keys) last, all of the same rank; and that rank."""
    order = "descending" if descending else "ascending"
    table = pa.table({str(i): key for i, key in enumerate(keys)})
    sort_keys = [(str(i), order, "at_end") for i in range(len(keys))]
    ordered = pc.sort_indices(table, sort_keys=sort_keys)
    sorted_keys = table.take(ordered)
    changes = np.zeros(len(ordered), dtype=bool)
    for column in sorted_keys.columns:  # where a value's keys differ from the one before
        values = column.combine_chunks()
        if len(values) > 1:
            before, after = values.slice(0, len(values) - 1), values.slice(1)
            differ = pc.fill_null(pc.not_equal(before, after), False)
            differ = pc.or_(differ, pc.xor(pc.is_null(before), pc.is_null(after)))
            changes[1:] |= np.asarray(differ.to_numpy(zero_copy_only=False), dtype=bool)
    dense = np.cumsum(changes, dtype=np.uint64)
    ranks = np.empty(len(ordered), dtype=np.uint64)
    ranks[np.asarray(ordered.to_numpy(), dtype=np.int64)] = dense
    present = len(ordered) - sorted_keys.column(0).null_count  # (all keys null together)
    return pa.array(ranks), int(dense[present - 1]) + 1 if present else 0


ESCAPED = "escaped"  # the column telling which records were parsed apart


def table_of(blocks: Sequence[bytes], width: int | None = None) -> pa.Table:
    """The Arrow table of records given as block lines (see TableText), PIECE_BYTES of them
    at a time (see table_of_lines). ``width``: cells in the widest record, if known (the
    version's)."""
    pieces = (bytearray(b"\n").join([*piece, b""]) for piece in _pieces(blocks))
    return table_of_lines([(text, None) for text in pieces], width)


def table_of_lines(
    pieces: list[tuple[bytearray, Array | None]], width: int | None = None
) -> pa.Table:
    """The Arrow table of records given as lines, a piece's text at a time: block lines, each
    followed by a line break, and where each break is if known (the text is taken, and
    changed). ``width``: cells in the widest record, if known (the version's).

    Arrow's CSV reader reads the lines as they are, a comma-delimited record of quoted cells
    each, once each line's brackets are made commas (an empty field before and after its
    cells: see _bracketed). The search column is the lines themselves, case-folded (see
    _search_text). It is done a piece at a time: each step a C call that lets go of the GIL or
    a short one holding it, so that the event loop is not kept waiting while a version's
    columns are made on the views thread."""
    texts: list[tuple[bytearray, Array]] = []  # each piece's, and its line breaks
    parsed: dict[int, list[str]] = {}
    line = 0  # the first line of the piece
    for text, breaks in pieces:
        if b"\\" in text:  # each such line made empty cells here, put in its place after
            text = _set_apart(text, line, parsed, width or 1)
            breaks = None
        breaks = _bracketed(text, breaks)
        line += len(breaks)
        texts.append((text, breaks))
    if not texts:
        return _table([], pa.array([], pa.large_string()), pa.array([], pa.bool_()))
    count = line
    if width is None:
        width = max(max(map(len, parsed.values()), default=1), *(_widest(t) for t, _ in texts))
    width = max(width, 1)
    chunks: list[list[pa.Array]] = [[] for _ in range(width)]
    search: list[pa.Array] = []
    ragged: dict[int, list[str]] = {}
    line = 0
    while texts:
        text, breaks = texts.pop(0)
        for number, cells in enumerate(_read(text, width, line, ragged)):
            chunks[number] += cells.chunks
        search.append(_search_text(text, breaks))  # (the reader copied the cells)
        line += len(breaks)
        del text
    columns = [pa.chunked_array(cells, pa.string()) for cells in chunks]
    apart = np.zeros(count, dtype=bool)
    apart[list(parsed)] = True
    apart[list(ragged)] = True
    if parsed or ragged:
        columns = _patched(columns, count, parsed, ragged)
    return _table(columns, pa.chunked_array(search, pa.large_string()), pa.array(apart))


def piece_counts(
    table: pa.Table, first: int, width: int, found_text: Collection[int] = ()
) -> Counts:
    """Counts by kind (see TableText.counting) of one piece of a version's records, made by
    table_of, over its records from ``first`` on: what merged_counts merges. ``found_text``:
    columns an earlier piece found text, not counted again (see text_columns)."""
    return finished(TableText(table).counting(first, width, found_text))


def text_columns(counts: Counts) -> list[int]:
    """The columns that counts (of a piece, or any records) say are text whatever the file's
    delimiter and whatever other records hold: a value of no kind at all (see _types_of).
    Every piece after can leave them out: the version's counts say text all the same (see
    merged_counts). (Half of what counting a million rows took, in a table of numbers, dates
    and words: the sample that rules out the kinds of a column of words is not free.)"""
    filled = counts[0]
    return np.flatnonzero((filled > 0) & (counts[1:] < filled).all(axis=0)).tolist()


def merged_counts(pieces: Sequence[Counts], delimiter: str) -> tuple[Counts, list[int]]:
    """A version's counts by kind from its pieces' (see piece_counts), and the columns whose
    pieces disagree, which must be counted again over the whole version.

    Counts are not simply additive: a piece's count of a kind its column is not may be short
    (see _column_counts). What each piece does tell exactly is its verdict: the first of KINDS
    all its values are. Where every piece holding a value says the same kind, or one says
    text (no kind holds all of its values, so none holds all of the version's), the sum says
    it too: each piece's count of that kind is its values, and of every kind before it (every
    kind, for text) short of them. Where they name different kinds (integers in one piece,
    decimals in another), only a count over the whole column knows. (A piece that left out a
    column an earlier one found text, see text_columns, counts none of its values: it says
    nothing of it.)"""
    total = np.sum(np.stack(pieces), axis=0) if pieces else np.zeros((len(KINDS), 0), np.int64)
    verdicts = [kinds_of(counts, delimiter) for counts in pieces]
    recount = []
    for column in range(total.shape[1]):
        said = {kinds[column] for counts, kinds in zip(pieces, verdicts, strict=True)
                if counts[0, column] > 0}  # fmt: skip
        if len(said) > 1 and KINDS[0] not in said:
            recount.append(column)
    return total.astype(np.int64), recount


def column_counts(table: pa.Table, number: int, first: int) -> npt.NDArray[np.int64]:
    """One column's counts by kind over the records from ``first`` on (see merged_counts)."""
    return _column_counts(table.column(number).slice(first))


PIECE_BYTES = 4 << 20


def _pieces(blocks: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    """The blocks in runs of about PIECE_BYTES."""
    start = size = 0
    for i, block in enumerate(blocks):
        size += len(block)
        if size >= PIECE_BYTES:
            yield blocks[start : i + 1]
            start, size = i + 1, 0
    if start < len(blocks):
        yield blocks[start:]


def _set_apart(text: bytearray, first: int, parsed: dict[int, list[str]], width: int) -> bytearray:
    """The text (each line followed by its break) with each line holding a backslash made
    ``width`` empty cells (which the CSV reader reads as any line: a file quoting most of its
    cells escapes most lines; no needle finds a cell in their search text, see
    TableText.search), its cells parsed into ``parsed`` by line number (the text's first line
    is line ``first``)."""
    empty = b"[" + b",".join([b'""'] * width) + b"]"
    lines = _line_starts(text)
    positions = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 92)
    which = _distinct(np.searchsorted(lines, positions, side="right") - 1)
    starts, ends = lines[which].tolist(), (lines[which + 1] - 1).tolist()
    pieces: list[bytes | bytearray] = []
    at = 0
    for line, start, end in zip(which.tolist(), starts, ends, strict=True):
        parsed[first + line] = orjson.loads(text[start:end])
        pieces += [text[at:start], empty]
        at = end
    pieces.append(text[at:])
    return bytearray().join(pieces)


def _bracketed(text: bytearray, breaks: Array | None = None) -> Array:
    """Each line's ``[`` and ``]`` made a comma, in place: ``,"a","b",``, what the CSV reader
    reads as an empty field, the cells, an empty field (cells hold no raw line break, nor, on
    a line without a backslash, a quote: every quote is a cell's first or last). Each line is
    followed by its break; where each is (found, unless given: a pass over the text)."""
    data = np.frombuffer(text, dtype=np.uint8)
    if breaks is None:
        breaks = np.flatnonzero(data == 10)
    data[breaks - 1] = data[breaks[:-1] + 1] = data[0] = ord(",")
    return breaks


def _search_text(text: bytearray, breaks: Array) -> pa.Array:
    """Each line of the bracketed text (see _bracketed), case-folded (see fold), with its
    break: a search finds a needle in a line's text where a cell holds it (see
    TableText.search). (Some 45 ms a million ASCII records, where joining their cells
    lower-cased took 150.)"""
    lowered: pa.Buffer
    if text.isascii():  # in Arrow's memory pool, which keeps its pages for the next piece
        whole = pa.LargeStringArray.from_buffers(
            1, pa.py_buffer(np.array([0, len(text)], dtype=np.int64)), pa.py_buffer(text)
        )
        lowered = pc.ascii_lower(whole).buffers()[2]
    else:  # (a character's folded case may be longer: ß is ss)
        lowered = pa.py_buffer(text.decode().casefold().encode())
        breaks = np.flatnonzero(np.frombuffer(lowered, dtype=np.uint8) == 10)
    offsets = np.zeros(len(breaks) + 1, dtype=np.int64)
    offsets[1:] = breaks + 1
    return pa.LargeStringArray.from_buffers(len(breaks), pa.py_buffer(offsets), lowered)


def _table(columns: list[Any], search: Any, escaped: Any) -> pa.Table:
    names = list(map(str, range(len(columns))))
    return pa.table([*columns, search, escaped], names=[*names, SEARCH, ESCAPED])


def _line_starts(text: bytes | bytearray) -> Array:
    """Where each line starts, then where one after the last would (each line followed by its
    break: where a line after the last break would start, and one past it)."""
    newlines = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
    return np.concatenate(([0], newlines + 1, [len(text) + 1])).astype(np.int64)


def _widest(text: bytearray) -> int:
    """Cells in the widest record of bracketed lines (see _bracketed), none holding a
    backslash: two quotes a cell."""
    data = np.frombuffer(text, dtype=np.uint8)
    quotes = np.flatnonzero(data == 34)
    if not len(quotes):
        return 1
    per_line = np.bincount(np.searchsorted(np.flatnonzero(data == 10), quotes))
    return max(1, int(per_line.max()) // 2)


def _read(
    text: bytearray, width: int, first: int, ragged: dict[int, list[str]]
) -> list[pa.ChunkedArray]:
    """Arrow's CSV reader on bracketed lines (see _bracketed; the first is line ``first``):
    each a record of ``width`` cells, as strings, exactly as written (a quote closes a cell),
    nothing converted. Ragged records (fewer cells) are skipped by it and put in ``ragged``
    by line, with their cells."""
    names = ["before", *map("f{}".format, range(width)), "after"]
    convert = pcsv.ConvertOptions(
        column_types=dict(zip(names, repeat(pa.string()), strict=False)),
        include_columns=names[1:-1],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
        true_values=[],
        false_values=[],
        check_utf8=False,  # JSON made by orjson, cut at quotes
    )

    def skip(row: Any) -> str:
        line = row.text
        ragged[first + int(row.number) - 1] = orjson.loads("[" + line[1:-1] + "]")
        return "skip"

    table = pcsv.read_csv(
        pa.py_buffer(text),
        # one thread: a piece is a few MiB, and the views thread takes at most a core
        # from the upload it is made beside (see tablecast.service.views)
        read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 23),
        parse_options=pcsv.ParseOptions(
            delimiter=",",
            quote_char='"',
            double_quote=False,
            escape_char=False,
            ignore_empty_lines=False,
            invalid_row_handler=skip,
        ),
        convert_options=convert,
    )
    return list(table.columns)


def _patched(
    columns: list[pa.ChunkedArray],
    count: int,
    parsed: dict[int, list[str]],
    ragged: dict[int, list[str]],
) -> list[pa.ChunkedArray]:
    """Columns with the records read apart in their lines: the ragged ones (which the reader
    skipped) and those parsed from JSON (whose placeholder it read, or skipped)."""
    kept = np.ones(count, dtype=bool)
    kept[list(ragged)] = False
    index = np.zeros(count, dtype=np.int64)
    index[kept] = np.arange(int(kept.sum()))
    records = {**ragged, **parsed}
    lines = np.array(sorted(records), dtype=np.int64)
    index[lines] = int(kept.sum()) + np.arange(len(lines))
    ordered = [records[int(line)] for line in lines]
    take = pa.array(index)
    out = []
    for number, cells in enumerate(columns):
        extra = pa.array([r[number] if number < len(r) else None for r in ordered], pa.string())
        out.append(pa.chunked_array([*cells.chunks, extra], pa.string()).take(take))
    return out


def _distinct(ordered: Array) -> Array:
    """An ordered array without its repeats."""
    if not len(ordered):
        return ordered.astype(np.int64)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep].astype(np.int64)


def _folded_match(cells: pa.ChunkedArray, needle: str) -> pa.ChunkedArray:
    """Which cells contain ``needle`` (case-folded), the cells case-folded (see fold)."""
    return pc.fill_null(contains(fold(cells), needle), False)


def fold(cells: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Cells case-folded as Python's ``str.casefold`` does, what a search compares (a needle
    too): Arrow's ``utf8_lower`` maps a character at a time, so ``İ`` is ``i`` (Python's
    ``i̇``), and a final ``ς`` and ``ß`` stay as they are, which a needle lower-cased in Python
    would not find. ASCII cells are lower-cased in Arrow (folding is lowering there); the
    others in Python, joined into one string to fold at once, split again after (one cell
    at a time only if a cell holds the separator)."""
    if isinstance(cells, pa.ChunkedArray):  # (a chunk at a time: what is held stays small)
        return pa.chunked_array([fold(chunk) for chunk in cells.chunks], cells.type)
    lowered = pc.ascii_lower(cells)
    other = pc.invert(pc.fill_null(pc.string_is_ascii(cells), True))
    if not pc.any(other).as_py():
        return lowered
    these = pc.filter(cells, other)
    if pc.any(pc.match_substring(these, _FOLD_SEPARATOR)).as_py():
        folded = pa.array([cell.casefold() for cell in these.to_pylist()], pa.string())
    else:
        whole = pa.ListArray.from_arrays(pa.array([0, len(these)], pa.int32()), these)
        text = pc.binary_join(whole, _FOLD_SEPARATOR)[0].as_py()
        folded = pc.split_pattern(pa.array([text.casefold()], pa.string()), _FOLD_SEPARATOR)
        folded = folded.flatten()
    return pc.replace_with_mask(lowered, other, folded.cast(lowered.type))


# Between cells folded together (see fold): no letter, and nothing folding changes or joins
_FOLD_SEPARATOR = "\x1f"


def contains(cells: Any, needle: str) -> Any:
    """Which cells contain ``needle``, as pc.match_substring tells, but by RE2 (Arrow's
    match_substring_regex) with the needle as a literal: RE2 skips ahead to the needle's
    first byte with memchr where match_substring steps through every byte; on the search
    column of a million rows, 70-90 ms against 140-160."""
    if not needle:
        return pc.match_substring(cells, needle)
    return pc.match_substring_regex(cells, "".join(map(_literal, needle)))


def _literal(character: str) -> str:
    """A character as RE2 reads it literally: letters, digits and what is not ASCII as
    themselves, the rest by code point (no character of an RE2 pattern is special then)."""
    if character.isalnum() or not character.isascii():
        return character
    return f"\\x{{{ord(character):x}}}"


def _indices(mask: Any) -> Array:
    found = pc.indices_nonzero(pc.fill_null(mask, False))
    return np.asarray(found.to_numpy(), dtype=np.int64)


# What cells are


def classify(cells: Any) -> dict[str, Any]:
    """Which cells (none missing) are of each kind of KINDS[1:], as boolean arrays, a kind
    each.

    Integers: ``-12``, ``+7``, ``1,234,567`` (thousands separated by commas, in threes).
    Decimals: integers or ``-1,234.50``, ``.5``. Dates: a day alone, ISO 8601,
    ``2026-11-24``. Date-times: days, or a day and a time (``2026-11-24T10:30``,
    ``2026-11-24 10:30:00``, ``2026-11-24T10:30:00.5``) with an optional offset (``Z``,
    ``+01:00``, ``+0100``, ``-05``, `` UTC``, `` GMT``). Booleans: ``true``, ``false``,
    ``yes``, ``no``. Decimal comma: integers without a separator, or numbers whose one comma
    is the decimal point, points grouping thousands in threes (``3,50``, ``-1.234,5``,
    ``,5``). Case does not matter. No cell longer than INFER_CHARS is any of them.

    Cells that are all of one plain form are told without the patterns, each a pass of some
    75 ns a cell (a column's sample is classified in each piece of an upload): numbers of
    digits and at most one point, days Arrow reads (see _surely), cells no pattern matches
    (names, words: those whose first character could begin a match, in one pass of them all).
    """
    kinds = _classified(cells)
    if kinds is None:
        short = pc.less_equal(pc.utf8_length(cells), INFER_CHARS)  # (null where a cell is)
        return dict.fromkeys(_PATTERNS, pc.and_(short, pa.scalar(False)))
    return kinds


def _classified(cells: Any) -> dict[str, Any] | None:
    """What classify says, or None where no cell is of any kind."""
    short = pc.less_equal(pc.utf8_length(cells), INFER_CHARS)
    values = pc.filter(cells, pc.is_valid(cells))
    first = values[0].as_py() if len(values) else ""  # which plain form to try, if one
    if first[:1].isascii() and first.replace(".", "", 1).isdigit() and first[-1:] != ".":
        if pc.all(_surely(values, "decimal")).as_py():
            digits = pc.and_(short, pc.ascii_is_decimal(cells))  # the others have a point
            plain = {"integer": digits, "decimal": short, DECIMAL_COMMA: digits}
            return {kind: plain.get(kind, pc.and_(short, pa.scalar(False))) for kind in _PATTERNS}
    elif len(first) == 10 and first[:4].isdigit():
        days = _surely(values, "date")
        if days is not None and pc.all(days).as_py():
            dates = {"date": short, "datetime": short}
            return {kind: dates.get(kind, pc.and_(short, pa.scalar(False))) for kind in _PATTERNS}
    initial = pc.utf8_slice_codeunits(values, 0, 1)
    could = pc.or_(pc.is_in(initial, value_set=_INITIALS), pc.invert(pc.string_is_ascii(initial)))
    if not pc.any(pc.match_substring_regex(pc.filter(values, could), _ANY)).as_py():
        return None
    return {
        kind: pc.and_(short, pc.match_substring_regex(cells, pattern))
        for kind, pattern in _PATTERNS.items()
    }


# Each kind's pattern, matching cells as written or lower-cased alike
_PATTERNS = {
    "integer": _INTEGER,
    "decimal": _DECIMAL,
    "date": _DATE,
    "datetime": _DATETIME,
    "boolean": _BOOLEAN,
    DECIMAL_COMMA: _COMMA,
}
assert tuple(_PATTERNS) == KINDS[1:]
_ANY = "|".join(f"(?:{pattern})" for pattern in _PATTERNS.values())  # a cell of any kind
# The characters a cell of any kind may begin with (or one beyond ASCII, which may fold to
# one of them where case does not matter)
_INITIALS = pa.array(list("+-.,0123456789tfynTFYN"))


def reads_as(cells: Any, kind: str) -> Any:
    """Which cells (as written, none missing) read as ``kind`` (every cell reads as text): a
    column's values that do not read as the type a person set for it are invalid, and sort
    with the missing ones."""
    if kind == "text":
        return pc.is_valid(cells)
    short = pc.less_equal(pc.utf8_length(cells), INFER_CHARS)
    return pc.fill_null(pc.and_(short, pc.match_substring_regex(cells, _PATTERNS[kind])), False)


def _column_counts(cells: Any) -> Counts:
    """One column's counts (see TableText.counting), with as few passes over it as its kind
    takes. Its first SAMPLE cells rule out the kinds they are not (a column of names: no pass
    at all); then each kind left, in order, is one pass over the cells as written (see
    _matching), until one is all the values: the cells it does not match, few in a column of
    that kind, are checked for being missing."""
    counts = np.zeros(len(KINDS), dtype=np.int64)
    sample = cells.slice(0, SAMPLE)
    filled = pc.invert(_absent(pc.utf8_lower(sample)))
    values = pc.filter(sample, filled)
    kinds = _classified(values)
    if kinds is None and len(values):  # none of any kind (names, words): text
        counts[0] = len(values)
        return counts
    kinds = kinds or classify(values)
    left = [kind for kind in KINDS[1:] if pc.all(kinds[kind]).as_py() is not False]
    counts[0] = len(values)
    if len(sample) == len(cells) or (len(values) and not left):
        for i, kind in enumerate(KINDS[1:], 1):
            counts[i] = pc.sum(kinds[kind]).as_py() or 0
        return counts
    for kind in left:
        matched, others = _matching(cells, kind)
        # (cells past a short record's end are null: taken off once, not again as missing)
        missing = pc.sum(_absent(pc.utf8_lower(pc.drop_null(others)))).as_py() or 0
        counts[0] = len(cells) - cells.null_count - missing
        counts[KINDS.index(kind)] = matched
        if counts[KINDS.index(kind)] == counts[0]:
            break
    return counts


def _matching(cells: Any, kind: str) -> tuple[int, Any]:
    """How many cells are of ``kind`` (see classify), and the others (nulls too). A check in C
    far cheaper than the kind's pattern settles most cells of a column of that kind (see
    _surely); the pattern reads the rest."""
    sure = _surely(cells, kind)
    if sure is not None:
        settled = pc.fill_null(sure, False)
        count = pc.sum(settled).as_py() or 0
        cells = pc.filter(cells, pc.invert(settled))
    else:
        count = 0
    short = pc.less_equal(pc.utf8_length(cells), INFER_CHARS)
    matched = pc.fill_null(pc.and_(short, pc.match_substring_regex(cells, _PATTERNS[kind])), False)
    return count + (pc.sum(matched).as_py() or 0), pc.filter(cells, pc.invert(matched))


_BOOLEANS = pa.array(["true", "false", "yes", "no"])
_POINT = pa.array(["", "."])  # what is left of a number of digits and a point without them


def _surely(cells: Any, kind: str) -> Any:
    """Cells certainly of ``kind`` (what classify says of them), found without its pattern: a
    pass of a cheap kernel (some 5 ms a million cells, where a pattern takes 40-50) that says
    yes to the plain form of the kind (digits; digits with a point; a day Arrow reads; a
    boolean in ASCII), never to a cell the pattern refuses. None where there is no such check.
    """
    if kind in ("integer", DECIMAL_COMMA):
        digits = pc.ascii_is_decimal(cells)
    elif kind == "decimal":
        # digits around one point, not at the end: ".5", "1.5" (digits alone are decimals too)
        inside = pc.ascii_trim(cells, "0123456789")
        digits = pc.and_(
            pc.and_(pc.is_in(inside, value_set=_POINT), pc.invert(pc.ends_with(cells, "."))),
            pc.greater(pc.binary_length(cells), pc.binary_length(inside)),
        )
    elif kind in ("date", "datetime"):
        days = pc.equal(pc.binary_length(cells), 10)
        try:  # YYYY-MM-DD, a day of the calendar (the pattern takes a few more: 2023-02-29)
            pc.cast(pc.filter(cells, pc.fill_null(days, False)), pa.date32())
        except pa.ArrowInvalid:
            return None
        return days
    elif kind == "boolean":
        return pc.is_in(pc.ascii_lower(cells), value_set=_BOOLEANS)
    else:
        return None
    return pc.and_(digits, pc.less_equal(pc.binary_length(cells), INFER_CHARS))


def missing(cells: Any) -> Any:
    """Which cells (as written) hold no value: see _absent. (One lookup of each cell among
    the markers' every spelling in upper and lower case, not a lower-cased copy of the
    column: 15 ms against 150 for a million cells.)"""
    return pc.or_(pc.is_null(cells), pc.is_in(cells, value_set=_CASED_MISSING))


def _absent(lowered: Any) -> Any:
    """Which cells (lower-cased) hold no value: null (past a short record's end), empty, or a
    marker of MISSING."""
    return pc.or_(pc.is_null(lowered), pc.is_in(lowered, value_set=_MISSING))


def _count_cells(counts: npt.NDArray[np.int64], cells: Any, columns: Array) -> None:
    """Count cells (lower-cased) by column: those holding a value (neither null, empty nor a
    marker of MISSING), and those of each kind of KINDS[1:] among them (see classify)."""
    width = counts.shape[1]
    inside = columns < width  # (a record is never wider)
    filled = pc.invert(_absent(cells))
    filled_mask = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool) & inside
    if not filled_mask.any():
        return
    where = np.flatnonzero(filled_mask)
    columns = columns[where]
    values = pc.take(cells, pa.array(where))
    counts[0] += np.bincount(columns, minlength=width)
    kinds = classify(values)
    for i, kind in enumerate(KINDS[1:], 1):
        mask = np.asarray(kinds[kind].to_numpy(zero_copy_only=False), dtype=bool)
        counts[i] += np.bincount(columns[mask], minlength=width)


def kinds_of(counts: npt.NDArray[np.int64], delimiter: str) -> list[str]:
    """Each column's kind from its counts (see TableText.counting) in a file with this
    delimiter."""
    return _types_of(counts, delimiter != ",")


def _types_of(counts: npt.NDArray[np.int64], decimal_comma: bool) -> list[str]:
    """Each column's kind from how many of its cells hold a value (the first row of
    ``counts``) and how many of those are of each kind of KINDS[1:] (the other rows): the first
    kind, in KINDS's order of precedence, that all of them are, else text (and text if none
    holds one: nothing to go by). A decimal comma is read only where ``decimal_comma`` (the
    delimiter is no comma); a column of ``1,234``-style cells, numbers both ways, is integer.
    """
    filled = counts[0]
    some = filled > 0
    conditions = [some & (counts[i] == filled) for i in range(1, len(KINDS))]
    if not decimal_comma:
        conditions[KINDS.index(DECIMAL_COMMA) - 1] = np.zeros_like(some)
    kind = np.select(conditions, list(range(1, len(KINDS))), 0)
    types: list[str] = _KIND_NAMES[kind].tolist()
    return types


# Values, as sorts read them


def numbers(cells: Any, decimal_comma: bool = False, absent: Any = None) -> Any:
    """The value of each cell that :func:`classify` calls a number (``decimal_comma``: read
    with a decimal comma), correctly rounded, as float64; null where ``absent`` says a cell
    holds no value."""
    if decimal_comma:
        cells = pc.replace_substring(pc.replace_substring(cells, ".", ""), ",", ".")
    else:
        cells = pc.replace_substring(cells, ",", "")
    if absent is not None:
        cells = pc.if_else(absent, pa.scalar(None, pa.string()), cells)
    return pc.cast(cells, pa.float64())


def seconds(cells: Any) -> pa.Array:
    """Seconds since 1970-01-01T00:00:00Z of the instant each date or date-time (as
    :func:`classify` reads them) names, its fraction of a second too, as float64 (null where a
    cell is): what a profile's least, greatest and histogram measure."""
    keys = _instant_keys(cells, pc.is_null(cells))
    if keys[0].type == pa.date32():  # days alone
        days = pc.cast(keys[0], pa.int32())
        whole = pc.multiply(pc.cast(days, pa.float64()), 86400.0)
    elif len(keys) == 1:  # nanoseconds (see _instant_keys), to a tenth of a microsecond
        whole = pc.divide(pc.cast(keys[0], pa.float64(), safe=False), 1e9)
    else:
        whole = pc.add(
            pc.cast(keys[0], pa.float64()), pc.multiply(pc.cast(keys[1], pa.float64()), 1e-9)
        )
    return whole.combine_chunks() if isinstance(whole, pa.ChunkedArray) else whole


# Values, as typed files (Parquet, Arrow, XLSX) hold them: what each kind is written as
INTEGERS = pa.int64()
DECIMALS = pa.float64()
DAYS = pa.date32()
INSTANTS = pa.timestamp("us", tz="UTC")  # a date-time is an instant (see _instant_keys)
_INT64_DIGITS = 18  # an integer of at most this many digits fits int64 whatever they are


def value_type(kind: str) -> pa.DataType:
    """What a column of ``kind`` (one of KINDS) is written as in a typed file: integers as
    int64, decimals (either point) as float64, dates as days, date-times as UTC instants to
    the microsecond; booleans and text as their text."""
    if kind == "integer":
        return INTEGERS
    if kind in NUMERIC:
        return DECIMALS
    if kind == "date":
        return DAYS
    if kind == "datetime":
        return INSTANTS
    return pa.string()


def typed_values(cells: Any, kind: str, strict: bool = False) -> pa.Array:
    """Each cell's value as ``kind`` reads it (see value_type), read as sorts read it (see
    _sort_keys): null where a cell holds no value (empty, a marker of MISSING, past a short
    record's end) or, ``strict`` (a type a person set, which not every cell need read as), is
    not of that kind, and where a value has no place in the type (an integer beyond int64; a
    day no calendar has, 2023-02-30). Text and booleans: the cells as written, the empty ones
    null."""
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    if value_type(kind) == pa.string():
        return pc.if_else(pc.equal(cells, ""), pa.scalar(None, pa.string()), cells)
    absent = missing(cells)
    if strict:
        absent = pc.or_(absent, pc.invert(reads_as(cells, kind)))
    present = pc.if_else(absent, pa.scalar(None, pa.string()), cells)
    if kind == "integer":
        with contextlib.suppress(pa.ArrowInvalid):  # (most: no sign, no commas)
            return pc.cast(present, INTEGERS)
        return _integer_values(pc.replace_substring(present, ",", ""))
    if kind in NUMERIC:
        if kind == "decimal":
            with contextlib.suppress(pa.ArrowInvalid):  # (most: no thousands' commas)
                return pc.cast(present, DECIMALS)
        try:
            return numbers(cells, kind == DECIMAL_COMMA, absent)
        except pa.ArrowInvalid:  # a cell of another kind (not strict): what reads as one
            return typed_values(cells, kind, strict=True)
    if kind == "date":
        try:  # YYYY-MM-DD, days of the calendar: Arrow reads them all at once
            return pc.cast(present, DAYS)
        except pa.ArrowInvalid:  # a day no calendar has: null, not the day after
            parsed = pc.strptime(present, format="%Y-%m-%d", unit="s", error_is_null=True)
            real = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), present)
            return pc.cast(pc.if_else(real, parsed, pa.scalar(None, parsed.type)), DAYS)
    keys = _instant_keys(cells, absent)
    if keys[0].type == DAYS:
        return pc.cast(keys[0], INSTANTS)
    if len(keys) == 1:  # nanoseconds since the epoch (see _instant_keys)
        return pc.cast(pc.cast(keys[0], pa.timestamp("ns", tz="UTC")), INSTANTS, safe=False)
    micros = pc.add(pc.multiply(keys[0], 1_000_000), pc.divide(keys[1], 1000))
    return pc.cast(micros, INSTANTS)


def _integer_values(written: Any) -> pa.Array:
    """Integers (their thousands' commas taken out) as int64; null beyond it."""
    try:
        return pc.cast(written, INTEGERS)
    except pa.ArrowInvalid:  # "+7" (Arrow reads no plus), or beyond int64
        pass
    unsigned = pc.utf8_ltrim(written, characters="+")
    short = pc.less_equal(pc.utf8_length(pc.utf8_ltrim(unsigned, characters="-")), _INT64_DIGITS)
    result = pc.cast(pc.if_else(short, unsigned, pa.scalar(None, pa.string())), INTEGERS)
    long = np.flatnonzero(np.asarray(pc.invert(pc.fill_null(short, True)).to_numpy(False)))
    if not len(long):
        return result
    # the few of 19 digits or more: those int64 holds, read one by one
    cells = pc.take(unsigned, pa.array(long)).to_pylist()
    fitting = [n if -(2**63) <= (n := int(cell)) < 2**63 else None for cell in cells]
    read = result.to_pylist()
    for at, value in zip(long.tolist(), fitting, strict=True):
        read[at] = value
    return pa.array(read, INTEGERS)


def _instant_keys(cells: Any, absent: Any) -> list[Any]:
    """Keys that sort dates and date-times by the instant each names (an offset counts; a time
    without one, or with `` UTC`` or `` GMT``, is read as UTC, a day alone as its midnight in
    UTC). A column of days alone is read as days (Arrow's date32, parsed in C). One whose
    values all have an offset (or all have none) is read by Arrow's ISO 8601 parser, in C, as
    nanoseconds since 1970-01-01T00:00:00Z: one key. Any other (offsets and none mixed, more
    than nine digits of a fraction, years outside 1678-2261 that nanoseconds cannot count, a
    leap second, a day no calendar has) is read by the pattern: seconds since the epoch, then
    the nanoseconds past them, two keys."""
    present = pc.if_else(absent, pa.scalar(None, pa.string()), cells)
    lengths = pc.min_max(pc.utf8_length(present))
    if lengths["min"].as_py() in (None, 10) and lengths["max"].as_py() in (None, 10):
        with contextlib.suppress(pa.ArrowInvalid):  # (a day Arrow reads not: 2024-02-30)
            return [pc.cast(present, pa.date32())]  # YYYY-MM-DD: days since the epoch
    else:
        parsed = _parsed(present)
        if parsed is not None:
            return [parsed]
    fields = pc.extract_regex(present, _DATE_FIELDS)
    if isinstance(fields, pa.ChunkedArray):
        fields = fields.combine_chunks()
    mask = np.asarray(pc.is_null(fields).to_numpy(zero_copy_only=False), dtype=bool)

    def part(name: str) -> npt.NDArray[np.int64]:
        digits = pc.replace_substring_regex(fields.field(name), "^$", "0")  # (not there)
        values = pc.fill_null(pc.cast(digits, pa.int64()), 0)
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)

    year, month, day = part("year"), part("month"), part("day")
    # days since 1970-01-01 of a proleptic Gregorian day (Howard Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    of_era = y - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468
    clock = part("hour") * 3600 + part("minute") * 60 + part("second")
    offset = part("zone_hour") * 3600 + part("zone_minute") * 60
    sign = pc.fill_null(pc.equal(fields.field("sign"), "-"), False)
    west = np.asarray(sign.to_numpy(zero_copy_only=False), dtype=bool)
    seconds = days * 86400 + clock - np.where(west, -offset, offset)
    # nanoseconds: the fraction's first nine digits (what a finer one adds ties)
    digits = pc.utf8_slice_codeunits(pc.fill_null(fields.field("fraction"), ""), 0, 9)
    padded = pc.utf8_rpad(digits, width=9, padding="0")
    nanos = np.asarray(pc.cast(padded, pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    return [pa.array(seconds, pa.int64(), mask=mask), pa.array(nanos, pa.int64(), mask=mask)]


def _parsed(present: Any) -> Any:
    """Nanoseconds since the epoch of valid dates and date-times (null where none), read by
    Arrow's ISO 8601 parser: as UTC if none has an offset, as zoned if all have one (``z``, ``
    UTC`` and `` GMT`` read as ``Z``); None if it reads them not (see _instant_keys)."""
    try:
        return pc.cast(pc.cast(present, pa.timestamp("ns")), pa.int64())
    except pa.ArrowInvalid:
        pass
    zoned = pc.replace_substring_regex(present, r"(?i)z$| utc$| gmt$", "Z")
    try:
        return pc.cast(pc.cast(zoned, pa.timestamp("ns", tz="UTC")), pa.int64())
    except pa.ArrowInvalid:
        return None
