"""A version's cells as arrays: type inference, sorting and searching. Pure: bytes in, arrays out.

A version's records are stored as JSON arrays of strings, one per line (see tablecast.store.base).
Turning a million of them back into Python lists takes seconds, so nothing here does: a
:class:`TableText` holds the records lower-cased (searches and sorts ignore case) in one numpy
byte array, with where each line starts, and the work is done by numpy over whole columns.

Two facts about that text make it tractable. A line is ``["cell","cell",...]``; a cell's ``"``
is written ``\\"``, so outside the lines that hold a backslash, every ``","`` is a boundary
between cells and a search needle without ``"`` or ``\\`` cannot match across one. The few
lines holding a backslash (escaped quotes, control characters) are parsed and checked one by
one.

Whatever a version is asked, the work is linear in its cells and done in bounded pieces
(:meth:`TableText.building`, :meth:`TableText.inferring`): a caller runs them one at a time,
and can run other work in between, so that a huge or very wide table never holds its thread
for long.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import orjson

Array = npt.NDArray[np.int64]

KEY_BYTES = 64  # a text sort compares this much of each cell at once; longer ties are re-sorted
INFER_BYTES = 40  # a cell longer than this is text (no number or date is this long)
CHUNK_ROWS = 65536  # rows gathered into a matrix at a time: bounded temporary memory
CHUNK_CELLS = 65536  # cells whose types are inferred in one piece of work (a matrix of 2.5 MiB)
PIECE_BYTES = 8 * 1024 * 1024  # bytes of text scanned in one piece of work
LOOKUPS = 1024 * 1024  # positions (or lines) looked up in another array in one piece of work
# What an array takes beyond its data (the object, its shape and strides), and a dict entry
# holding a column's arrays: counted, so that memory held by many small arrays is not missed.
ARRAY_OVERHEAD = sys.getsizeof(np.empty(0)) + 32
ENTRY_OVERHEAD = 256
TYPES = ("text", "integer", "decimal", "date")  # a column's type, as clients are told it
# What a column is read as, for its sorts: its type, or a decimal whose point is a comma (shown
# as a decimal). KINDS[1:] are also what classify tells of each cell.
DECIMAL_COMMA = "decimal comma"
KINDS = (*TYPES, DECIMAL_COMMA)
_KIND_NAMES = np.array(KINDS, dtype=object)
NUMERIC = ("integer", "decimal", DECIMAL_COMMA)
# Cells that say a value is missing: what pandas.read_csv reads as missing by default
# (pandas 2.x's na_values: "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
# "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"), and a
# lone dash. The text is lower-cased, so "Null" and "NONE" are missing too. An empty cell is.
MISSING = (
    "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>",
    "n/a", "na", "null", "nan", "none", "-",
)  # fmt: skip
MISSING_BYTES = 8  # no marker is longer: a cell's first 8 bytes, as one uint64, tell


def shown(kinds: list[str]) -> list[str]:
    """Column kinds as clients are told their types: a decimal comma is a decimal."""
    if DECIMAL_COMMA not in kinds:
        return kinds
    return ["decimal" if kind == DECIMAL_COMMA else kind for kind in kinds]


T = TypeVar("T")

_QUOTE, _COMMA, _BACKSLASH, _NEWLINE = 34, 44, 92, 10


def lowered(block: bytes) -> bytes:
    """A block's records lower-cased. JSON escapes are already lower case (orjson writes
    ``\\u001f``), so this is the encoding of the lower-cased cells."""
    return block.lower() if block.isascii() else block.decode().lower().encode()


@dataclass(eq=False)
class TableText:
    """Every record of a version, lower-cased: line ``i`` is record ``i``."""

    text: npt.NDArray[np.uint8]
    starts: Array  # where each line starts, then where one after the last would (the
    # text is padded past it with zeros)
    escaped: Array  # lines holding a backslash, in order
    is_escaped: npt.NDArray[np.bool_] = field(init=False, repr=False)  # the same, line by line
    _boundaries: tuple[Array, Array] | None = field(default=None, repr=False)
    _cells: dict[int, tuple[Array, Array]] = field(default_factory=dict, repr=False)
    # numeric columns' values by (column, first row), for their sorts (see numbering)
    _values: dict[tuple[int, int], npt.NDArray[np.float64]] = field(
        default_factory=dict, repr=False
    )
    _held: int = field(default=0, repr=False)  # bytes held, counted as arrays are kept

    def __post_init__(self) -> None:
        self.is_escaped = np.zeros(self.record_count, dtype=bool)
        self.is_escaped[self.escaped] = True
        self._held = _held(self.text, self.starts, self.escaped, self.is_escaped)

    @classmethod
    def build(cls, blocks: Iterable[bytes]) -> TableText:
        """From the version's blocks' records, in order."""
        return finished(cls.building(list(blocks)))

    @classmethod
    def building(cls, blocks: Sequence[bytes]) -> Iterator[TableText | None]:
        """:meth:`build` in pieces of about PIECE_BYTES each: None after each piece, then the
        text."""
        lowered_blocks: list[bytes | None] = []
        done = 0
        for block in blocks:
            lowered_blocks.append(lowered(block))
            done += len(block)
            if done >= PIECE_BYTES:
                done = 0
                yield None
        size = sum(len(block or b"") for block in lowered_blocks) + max(len(blocks) - 1, 0)
        # padded, so that a cell's first KEY_BYTES can be read wherever it starts
        text = np.zeros(size + KEY_BYTES, dtype=np.uint8)
        at = done = 0
        for i, piece in enumerate(lowered_blocks):
            assert piece is not None
            text[at : at + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            at += len(piece)
            lowered_blocks[i] = None  # copied: let it go
            if at < size:
                text[at] = _NEWLINE
                at += 1
            done += len(piece)
            if done >= PIECE_BYTES:
                done = 0
                yield None
        newlines: list[Array] = [np.zeros(1, dtype=np.int64)]
        backslashes: list[Array] = []
        for lo in range(0, size, PIECE_BYTES):
            part = text[lo : min(lo + PIECE_BYTES, size)]
            newlines.append(np.flatnonzero(part == _NEWLINE) + lo + 1)  # a line starts after
            backslashes.append(np.flatnonzero(part == _BACKSLASH) + lo)
            yield None
        newlines.append(np.array([size + 1], dtype=np.int64))
        starts = yield from _concatenated(newlines)
        escaped: list[Array] = [np.zeros(0, dtype=np.int64)]
        for found in backslashes:
            for lo in range(0, len(found), LOOKUPS):
                escaped.append(_lines_of(starts, found[lo : lo + LOOKUPS]))
                yield None
        # a line may hold backslashes on both sides of a piece's edge
        yield cls(text, starts, _distinct((yield from _concatenated(escaped))))

    @property
    def record_count(self) -> int:
        return len(self.starts) - 1

    @property
    def nbytes(self) -> int:
        """What it holds now, array overheads included. Read from the event loop while the
        views thread may add to it: a count kept as arrays are added, not a walk over them."""
        return self._held

    def line(self, number: int) -> bytes:
        return self.text[self.starts[number] : self.starts[number + 1] - 1].tobytes()

    def cells(self, number: int) -> list[str]:
        """One record's cells, lower-cased."""
        cells: list[str] = orjson.loads(self.line(number))
        return cells

    # Searching

    def search(self, needle: str, first: int, column: int | None = None) -> Array:
        """Records from ``first`` on with a cell (or cell ``column``) containing ``needle``,
        case-insensitively, in order."""
        needle = needle.lower()
        encoded = orjson.dumps(needle)[1:-1]
        found = _find_all(self.text, encoded)
        if column is None and len(found) > self.record_count:
            # more matches than lines: marking them and asking each line if it holds one
            # beats looking up the line of each
            where = found
            anywhere = self._lines_holding(found)
        else:
            where = np.searchsorted(self.starts, found, side="right") - 1
            anywhere = _distinct(where)
        anywhere = anywhere[anywhere >= first]
        if column is None:
            lines = anywhere
        else:
            starts, ends = self.column(column)
            inside = (found >= starts[where]) & (found + len(encoded) <= ends[where])
            lines = _distinct(where[inside])
            lines = lines[lines >= first]
        # Lines with a backslash may hold false matches (inside an escape) or, for a needle
        # with a quote or backslash, be the only true ones: they are checked cell by cell.
        if b"\\" in encoded:
            suspects = anywhere
        else:
            suspects = (
                anywhere[np.isin(anywhere, self.escaped)] if len(self.escaped) else anywhere[:0]
            )
        if not len(suspects):
            return lines.astype(np.int64)
        holding = np.array(
            [n for n in suspects.tolist() if _holds(self.cells(n), needle, column)], dtype=np.int64
        )
        lines = lines[~np.isin(lines, suspects)]
        return np.insert(lines, np.searchsorted(lines, holding), holding).astype(np.int64)

    def _lines_holding(self, positions: Array) -> Array:
        marked = np.zeros(len(self.text), dtype=bool)
        marked[positions] = True
        return np.flatnonzero(np.logical_or.reduceat(marked, self.starts[:-1])).astype(np.int64)

    # Columns

    def column(self, number: int) -> tuple[Array, Array]:
        """Where cell ``number`` of each record starts and ends in the text (start == end:
        empty or missing). Wrong for escaped lines, which callers handle apart. Kept: only
        columns sorted or filtered by ask for these."""
        found = self._cells.get(number)
        if found is None:
            found = self._column(number)
            self._held += _held(*found) + ENTRY_OVERHEAD
            self._cells[number] = found
        return found

    def _column(self, number: int) -> tuple[Array, Array]:
        separators, first = self._separators()
        count = np.diff(np.append(first, len(separators)))  # separators on each line
        bounds = separators if len(separators) else np.zeros(1, dtype=np.int64)
        top = len(bounds) - 1
        if number == 0:
            starts = self.starts[:-1] + 2  # after '["'
        else:
            starts = bounds[np.minimum(first + number - 1, top)] + 3  # after '","'
        # up to the next '","', or the line's closing '"]'
        ends = np.where(
            count > number, bounds[np.minimum(first + number, top)], self.starts[1:] - 3
        )
        missing = count < number  # a short record
        return np.where(missing, 0, starts), np.where(missing, 0, ends)

    def _separators(self) -> tuple[Array, Array]:
        """Every ``","`` in the text, and the first one at or after each line's start."""
        for _ in self._finding_separators():
            pass
        assert self._boundaries is not None
        return self._boundaries

    def _finding_separators(self) -> Iterator[None]:
        """_separators, a piece of the text at a time (None after each)."""
        if self._boundaries is not None:
            return
        text, found = self.text, [np.zeros(0, dtype=np.int64)]
        for lo in range(1, len(text) - 1, PIECE_BYTES):
            commas = np.flatnonzero(text[lo : min(lo + PIECE_BYTES, len(text) - 1)] == _COMMA)
            commas += lo
            commas = commas[(text[commas - 1] == _QUOTE) & (text[commas + 1] == _QUOTE)]
            found.append(commas - 1)
            yield None
        separators = yield from _concatenated(found)
        first = np.empty(self.record_count, dtype=np.int64)
        for lo in range(0, self.record_count, LOOKUPS):
            lines = slice(lo, lo + LOOKUPS)
            first[lines] = np.searchsorted(separators, self.starts[:-1][lines])
            yield None
        if self._boundaries is None:  # (unless another inference found them meanwhile)
            self._boundaries = (separators, first)
            self._held += _held(separators, first)

    def keys(self, number: int, rows: Array, width: int) -> tuple[npt.NDArray[np.uint8], Array]:
        """Cell ``number`` of ``rows`` as a matrix, a row per cell, zero-padded and cut at
        ``width`` bytes (or the longest cell, if shorter), and each cell's whole length."""
        starts, ends = self.column(number)
        starts, lengths = starts[rows], ends[rows] - starts[rows]
        # escaped lines' spans are not to be trusted: their cells are read, and measured,
        # before the width is chosen
        escaped = np.flatnonzero(np.isin(rows, self.escaped)) if len(self.escaped) else rows[:0]
        cells = {i: self.cell(int(rows[i]), number).encode() for i in escaped.tolist()}
        for i, cell in cells.items():
            lengths[i] = len(cell)
        width = max(1, min(width, int(lengths.max(initial=0))))
        # each row a copy of ``width`` bytes from where its cell starts (the text is padded
        # past its end), then what lies past the cell's end is zeroed
        windows = np.lib.stride_tricks.sliding_window_view(self.text, width)
        matrix = np.empty((len(rows), width), dtype=np.uint8)
        offsets = np.arange(width)
        for lo in range(0, len(rows), CHUNK_ROWS):
            part = slice(lo, lo + CHUNK_ROWS)
            block = windows[starts[part]]
            block[offsets >= lengths[part, None]] = 0
            matrix[part] = block
        for i, cell in cells.items():
            matrix[i] = 0
            cut = cell[:width]
            matrix[i, : len(cut)] = np.frombuffer(cut, dtype=np.uint8)
        return matrix, lengths

    def cell(self, row: int, number: int) -> str:
        """One cell, lower-cased ('' when the record is shorter)."""
        if self.is_escaped[row]:
            cells = self.cells(row)
            return cells[number] if number < len(cells) else ""
        starts, ends = self.column(number)
        return self.text[starts[row] : ends[row]].tobytes().decode()

    # Types and order

    def infer(self, number: int, rows: Array, *, delimiter: str) -> str:
        """The column's kind over ``rows`` (consecutive, to the last record): integer,
        decimal, date, decimal comma or text (see classify, _types_of). ``delimiter``: the
        version's (a decimal comma is read only where the delimiter is no comma). One
        column: :meth:`inferring` does them all."""
        matrix, lengths = self.keys(number, rows, INFER_BYTES)
        filled = ~missing(matrix, lengths)
        kinds = classify(matrix[filled], lengths[filled])
        counts = [[filled.sum()], *([kinds[kind].sum()] for kind in KINDS[1:])]
        return _types_of(np.array(counts, dtype=np.int64), delimiter != ",")[0]

    def inferring(self, first: int, width: int, *, delimiter: str) -> Iterator[list[str] | None]:
        """The kind of each of ``width`` columns over the records from ``first`` on, in pieces
        (None after each), then the kinds (see infer).

        Every cell of the version at once, CHUNK_CELLS at a time: each chunk's cells are
        classified in one matrix and counted per column (how many hold a value, and how many
        of those are integers, decimals, dates, numbers read with a decimal comma), so that
        the work is linear in cells however many columns there are. Lines holding a
        backslash are read apart, each parsed once."""
        yield from self._finding_separators()
        counts = np.zeros((len(KINDS), width), dtype=np.int64)
        total = self._line_cell(self.record_count)
        for lo in range(self._line_cell(min(first, self.record_count)), total, CHUNK_CELLS):
            _count_cells(counts, self.text, *self._plain_cells(lo, min(lo + CHUNK_CELLS, total)))
            yield None
        columns: list[int] = []
        lengths: list[int] = []
        cut: list[bytes] = []
        for line in self.escaped[self.escaped >= first].tolist():
            cells = [cell.encode() for cell in self.cells(line)]
            columns.extend(range(len(cells)))
            lengths.extend(map(len, cells))
            cut.extend(cell[:INFER_BYTES].ljust(INFER_BYTES, b"\0") for cell in cells)
            if len(columns) >= CHUNK_CELLS:
                _count_cells(counts, *_escaped_cells(columns, lengths, cut))
                columns, lengths, cut = [], [], []
                yield None
        if columns:
            _count_cells(counts, *_escaped_cells(columns, lengths, cut))
        yield _types_of(counts, delimiter != ",")

    def _line_cell(self, line: int) -> int:
        """The number of line ``line``'s first cell, counting every cell of the lines before
        (each line has one cell more than it has separators); for the line after the last,
        the number of cells."""
        separators, first = self._separators()
        return line + (int(first[line]) if line < self.record_count else len(separators))

    def _plain_cells(self, lo: int, hi: int) -> tuple[Array, Array, Array]:
        """Cells ``lo`` to ``hi`` (numbered as _line_cell does) of lines without a backslash:
        where each starts in the text, its length, its column."""
        separators, first = self._separators()
        lines = range(self.record_count + 1)
        low = bisect.bisect_right(lines, lo, key=self._line_cell) - 1
        high = bisect.bisect_right(lines, hi - 1, key=self._line_cell)  # one past the last
        # the first cell of each line they are in, and of the line after
        line_cells = np.arange(low, high + 1, dtype=np.int64)
        line_cells[:-1] += first[low:high]
        line_cells[-1] = self._line_cell(high)
        cells = np.arange(lo, hi, dtype=np.int64)
        local = np.searchsorted(line_cells, cells, side="right") - 1
        line = local + low
        column = cells - line_cells[local]
        last = cells + 1 == line_cells[local + 1]
        bounds = separators if len(separators) else np.zeros(1, dtype=np.int64)
        top = len(bounds) - 1
        # a line's first cell starts after its '["', the others after the '","' before them;
        # each ends at the '","' after it, or the line's closing '"]'
        starts = np.where(
            column == 0, self.starts[line] + 2, bounds[np.clip(cells - line - 1, 0, top)] + 3
        )
        ends = np.where(last, self.starts[line + 1] - 3, bounds[np.clip(cells - line, 0, top)])
        kept = ~self.is_escaped[line]
        return starts[kept], (ends - starts)[kept], column[kept]

    def numbering(self, kinds: Sequence[str], first: int) -> Iterator[bool | None]:
        """Read the values of the numeric columns' cells (``kinds``: each column's, as
        inferred), over the records from ``first`` on, and keep them: a column a piece (None
        after each), then True. Made with the types, so that a version's first sort by a
        number is a sort, not a parse as well."""
        rows = np.arange(first, self.record_count, dtype=np.int64)
        for number, kind in enumerate(kinds):
            if kind in NUMERIC:
                self._numbers(number, rows, kind)
                yield None
        yield True

    def _numbers(self, number: int, rows: Array, kind: str) -> npt.NDArray[np.float64]:
        """The value of each cell, read as ``kind``; NaN where it is missing (see MISSING).
        Kept by (column, first row): over the same rows a column is always the same kind."""
        key = (number, int(rows[0]) if len(rows) else 0)
        found = self._values.get(key)
        if found is not None and len(found) == len(rows):
            return found
        matrix, lengths = self.keys(number, rows, INFER_BYTES)
        filled = ~missing(matrix, lengths)
        values = np.full(len(rows), np.nan)
        values[filled] = numbers(matrix[filled], lengths[filled], kind == DECIMAL_COMMA)
        if len(rows) and rows[-1] == self.record_count - 1:  # the rows to the end: a column's
            self._values[key] = values
            self._held += _held(values) + ENTRY_OVERHEAD
        return values

    def order(self, number: int, rows: Array, kind: str, descending: bool) -> Array:
        """``rows`` sorted by cell ``number`` read as ``kind``, ties in row order, missing
        values (empty cells and the markers in MISSING, whatever the kind) last either way.
        Dates sort by the instant they name (see instants)."""
        if kind in NUMERIC:
            values = self._numbers(number, rows, kind)
            filled = ~np.isnan(values)
            full = np.flatnonzero(filled)
            keys: npt.NDArray[np.generic] = values[full]
            exact = True
            numeric = True
        else:
            matrix, lengths = self.keys(number, rows, KEY_BYTES)
            filled = ~missing(matrix, lengths)
            full = np.flatnonzero(filled)
            cut = lengths[full] > matrix.shape[1]
            exact = not cut.any()
            numeric = kind == "date"
            if kind == "date" and matrix.shape[1] == 10:  # days only: as numbers, YYYYMMDD
                digits = matrix[full][:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int64) - 48
                keys = digits @ (10 ** np.arange(7, -1, -1, dtype=np.int64))
            elif kind == "date":
                seconds, nanos = instants(matrix[full], lengths[full])
                # a fraction of a second is a second key, rarely needed
                keys = _ranks_of_pairs(seconds, nanos) if nanos.any() else seconds
            else:
                keys = matrix[full].view(f"S{matrix.shape[1]}").ravel()
        if exact:
            if not descending:  # a stable sort is the ascending order, ties in row order
                ordered = full[np.argsort(keys, kind="stable")]
                return np.concatenate((rows[ordered], rows[~filled])).astype(np.int64)
            ranks = -keys.astype(np.float64) if numeric else -_ranks(keys)
        else:
            ranks = _ranks(keys)
            exact_full = np.ones(len(rows), dtype=bool)
            exact_full[full[cut]] = False
            ranks = _refine(ranks, full, exact_full, lambda i: self.cell(int(rows[i]), number))
            ranks = -ranks if descending else ranks
        ordered = full[np.argsort(ranks, kind="stable")]
        return np.concatenate((rows[ordered], rows[~filled])).astype(np.int64)


def finished(pieces: Iterator[T | None]) -> T:
    """What work done in pieces (see TableText.building) comes to, done all at once."""
    for result in pieces:
        if result is not None:
            return result
    raise ValueError("the work ended without a result")


def _concatenated(parts: list[Array]) -> Generator[None, None, Array]:
    """np.concatenate, about PIECE_BYTES at a time (None after each piece)."""
    joined = np.empty(sum(len(part) for part in parts), dtype=np.int64)
    at = done = 0
    for part in parts:
        joined[at : at + len(part)] = part
        at += len(part)
        done += part.nbytes
        if done >= PIECE_BYTES:
            done = 0
            yield None
    return joined


def _held(*arrays: npt.NDArray[np.generic]) -> int:
    return sum(array.nbytes + ARRAY_OVERHEAD for array in arrays)


def _types_of(counts: npt.NDArray[np.int64], decimal_comma: bool) -> list[str]:
    """Each column's kind from how many of its cells hold a value, and how many of those are
    integers, decimals, dates and numbers with a decimal comma (the rows of ``counts``): the
    first kind all of them are, else text (and text if none holds one: nothing to go by).
    A decimal comma is read only where ``decimal_comma`` (the delimiter is no comma); a
    column of ``1,234``-style cells, numbers both ways, is integer."""
    filled, integers, decimals, dates, commas = counts
    some = filled > 0
    kind = np.select(
        [
            some & (integers == filled),
            some & (decimals == filled),
            some & (dates == filled),
            some & (commas == filled) & decimal_comma,
        ],
        [1, 2, 3, 4],
        0,
    )
    types: list[str] = _KIND_NAMES[kind].tolist()
    return types


def _escaped_cells(
    columns: list[int], lengths: list[int], cut: list[bytes]
) -> tuple[npt.NDArray[np.uint8], Array, Array, Array]:
    """Cells parsed from escaped lines, each cut (or padded) to INFER_BYTES, as _count_cells
    takes them: in a byte array of their own, where each starts, its length, its column."""
    # padded: room for the last cell's window
    source = np.frombuffer(b"".join([*cut, bytes(INFER_BYTES)]), dtype=np.uint8)
    starts = np.arange(len(columns), dtype=np.int64) * INFER_BYTES
    return source, starts, np.array(lengths, dtype=np.int64), np.array(columns, dtype=np.int64)


def _count_cells(
    counts: npt.NDArray[np.int64],
    source: npt.NDArray[np.uint8],
    starts: Array,
    lengths: Array,
    columns: Array,
) -> None:
    """Count cells (at ``starts`` in ``source``, which is padded past the last by at least
    INFER_BYTES) by column: those holding a value (neither empty nor a marker of MISSING), and
    the integers, decimals, dates and numbers with a decimal comma among them (see
    classify)."""
    filled = (lengths > 0) & (columns < counts.shape[1])  # (a record is never wider)
    starts, lengths, columns = starts[filled], lengths[filled], columns[filled]
    if not len(columns):
        return
    # counted over the range of columns these cells are in, not over every column: a chunk
    # of a very wide table's cells is in a part of them
    low = int(columns.min())
    columns = columns - low
    counts = counts[:, low : low + int(columns.max()) + 1]
    width = counts.shape[1]
    counts[0] += np.bincount(columns, minlength=width)
    # No number or date is longer than INFER_BYTES, or opens with a letter, say: most text is
    # ruled out before any matrix is made. The others are classified in matrices no wider
    # than their longest cell, short cells apart from long ones.
    opening = source[starts]
    maybe = (lengths <= INFER_BYTES) & _OPENING[opening]
    # A marker of a missing value is not counted: short cells opening as one does are looked
    # up among them (the byte after a cell exists: a quote, or the padding)
    two = opening.astype(np.uint16) | (source[starts + 1].astype(np.uint16) << 8)
    suspects = np.flatnonzero((lengths <= MISSING_BYTES) & _MARKER_OPENINGS[two])
    if len(suspects):
        head = np.lib.stride_tricks.sliding_window_view(source, MISSING_BYTES)[starts[suspects]]
        head[np.arange(MISSING_BYTES) >= lengths[suspects, None]] = 0
        absent = suspects[_markers(head, lengths[suspects])]
        counts[0] -= np.bincount(columns[absent], minlength=width)
        maybe[absent] = False
    starts, lengths, columns = starts[maybe], lengths[maybe], columns[maybe]
    for shortest, longest in ((1, 8), (9, 16), (17, INFER_BYTES)):
        these = (lengths >= shortest) & (lengths <= longest)
        if not these.any():
            continue
        cut = int(lengths[these].max())
        matrix = np.lib.stride_tricks.sliding_window_view(source, cut)[starts[these]]
        matrix[np.arange(cut) >= lengths[these, None]] = 0
        kinds = classify(matrix, lengths[these])
        for i, kind in enumerate(KINDS[1:], 1):
            counts[i] += np.bincount(columns[these][kinds[kind]], minlength=width)


def _lines_of(starts: Array, positions: Array) -> Array:
    """The lines holding these positions (in order), each once, in order."""
    return _distinct(np.searchsorted(starts, positions, side="right") - 1)


def _distinct(ordered: Array) -> Array:
    """An ordered array without its repeats (np.unique, without sorting again)."""
    if not len(ordered):
        return ordered.astype(np.int64)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep].astype(np.int64)


def _find_all(text: npt.NDArray[np.uint8], needle: bytes) -> Array:
    """Where ``needle`` starts in ``text``, every occurrence (overlapping ones too)."""
    if not needle:
        return np.arange(0, dtype=np.int64)
    # anchor on the needle's rarest kind of byte: a letter is rarer than a space or a quote
    anchor = max(range(len(needle)), key=lambda i: (needle[i] not in b' "0123456789', -i))
    found = np.flatnonzero(text == needle[anchor]) - anchor
    found = found[(found >= 0) & (found <= len(text) - len(needle))]
    for i, byte in enumerate(needle):
        if i != anchor and len(found):
            found = found[text[found + i] == byte]
    return found.astype(np.int64)


def _holds(cells: list[str], needle: str, column: int | None) -> bool:
    if column is not None:
        return column < len(cells) and needle in cells[column]
    return any(needle in cell for cell in cells)


def _ranks(keys: npt.NDArray[np.generic]) -> Array:
    """Dense ranks: equal keys share one, in key order."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    step = np.empty(len(keys), dtype=np.int64)
    step[0] = 0
    step[1:] = keys[order][1:] != keys[order][:-1]
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.cumsum(step) * 2  # even: room to split a tie (see _refine)
    return ranks


def _ranks_of_pairs(high: Array, low: Array) -> Array:
    """Dense ranks of (high, low) pairs, in their order."""
    order = np.lexsort((low, high))
    step = np.empty(len(order), dtype=np.int64)
    step[:1] = 0
    step[1:] = (np.diff(high[order]) != 0) | (np.diff(low[order]) != 0)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.cumsum(step)
    return ranks


def _refine(
    ranks: Array, full: Array, exact: npt.NDArray[np.bool_], cell: Callable[[int], str]
) -> Array:
    """Cells longer than the key tie on their first KEY_BYTES: order each such tie by the
    whole cells, and give the result fresh dense ranks."""
    cut = np.flatnonzero(~exact[full])
    ranks = ranks.copy()
    sub_ranks: dict[int, int] = {}
    for rank in np.unique(ranks[cut]).tolist():
        members = np.flatnonzero(ranks == rank)
        if len(members) < 2:
            continue
        texts = {int(m): cell(int(full[m])) for m in members.tolist()}
        distinct = sorted(set(texts.values()))
        position = {text: i for i, text in enumerate(distinct)}
        for m, text in texts.items():
            sub_ranks[m] = position[text]
    if not sub_ranks:
        return ranks
    # rank, then the place among the tie's whole cells: ranked again densely
    sub = np.zeros(len(ranks), dtype=np.int64)
    members = np.array(list(sub_ranks), dtype=np.int64)
    sub[members] = np.array(list(sub_ranks.values()), dtype=np.int64)
    combined = ranks * (len(ranks) + 1) + sub
    return _ranks(combined)


# Cells as numbers and dates, a whole column at a time


def missing(matrix: npt.NDArray[np.uint8], lengths: Array) -> npt.NDArray[np.bool_]:
    """Which cells (rows of ``matrix``, zero past each cell's end) hold no value: empty, or
    one of the markers in MISSING."""
    found: npt.NDArray[np.bool_] = lengths == 0
    # only short cells opening as a marker does are looked up
    two = matrix[:, 0].astype(np.uint16)
    if matrix.shape[1] > 1:
        two |= matrix[:, 1].astype(np.uint16) << 8
    suspects = np.flatnonzero(_MARKER_OPENINGS[two] & (lengths <= MISSING_BYTES))
    if len(suspects):
        found[suspects] = _markers(matrix[suspects], lengths[suspects])
    return found


def _markers(matrix: npt.NDArray[np.uint8], lengths: Array) -> npt.NDArray[np.bool_]:
    """Which cells are a marker of MISSING: each one's first MISSING_BYTES as one number,
    looked up among the markers', and its length checked (a cell may hold a NUL)."""
    head = np.zeros((len(lengths), MISSING_BYTES), dtype=np.uint8)
    cut = min(matrix.shape[1], MISSING_BYTES)
    head[:, :cut] = matrix[:, :cut]
    keys = head.view("<u8").ravel()
    at = np.minimum(np.searchsorted(_MARKER_KEYS, keys), len(_MARKER_KEYS) - 1)
    found: npt.NDArray[np.bool_] = (_MARKER_KEYS[at] == keys) & (lengths == _MARKER_LENGTHS[at])
    return found


def _marker_key(marker: str) -> int:
    return int.from_bytes(marker.encode().ljust(MISSING_BYTES, b"\0"), "little")


_MARKER_KEYS = np.array(sorted(map(_marker_key, MISSING)), dtype=np.uint64)
_MARKER_LENGTHS = np.array([len(m) for m in sorted(MISSING, key=_marker_key)], dtype=np.int64)


def classify(matrix: npt.NDArray[np.uint8], lengths: Array) -> dict[str, npt.NDArray[np.bool_]]:
    """Which cells (rows of ``matrix``, cut at its width) are integers, decimals, dates, or
    numbers read with a decimal comma.

    Integers: ``-12``, ``+7``, ``1,234,567`` (thousands separated by commas, in threes).
    Decimals: integers or ``-1,234.50``, ``.5``. Dates: ISO 8601, ``2026-11-24``, with an
    optional time (``2026-11-24T10:30``, ``2026-11-24 10:30:00``, ``2026-11-24T10:30:00.5``)
    and an optional offset (``Z``, ``+01:00``, ``+0100``, ``-05``; see _read_dates). Decimal
    comma: integers without a separator, or numbers whose one comma is the decimal point,
    points grouping thousands in threes (``3,50``, ``-1.234,5``, ``,5``).

    A cell is each row's own: what a cell is does not depend on the others, nor on the
    matrix's width as long as it holds the cell (or INFER_BYTES of it: no longer cell is a
    number or a date).
    """
    none = np.zeros(len(lengths), dtype=bool)
    integer, decimal, dates, comma = none, none.copy(), none.copy(), none.copy()
    # a byte no number (or date) holds, a letter say, rules a cell out at once: most text
    maybe = _NUMERIC.take(matrix).all(axis=1)
    if maybe.any():
        which = np.flatnonzero(maybe)
        integer[which], decimal[which], comma[which] = _number_kinds(matrix[which], lengths[which])
    maybe = _DATELIKE.take(matrix).all(axis=1) & (lengths >= 10)
    if maybe.any():
        which = np.flatnonzero(maybe)
        dates[which] = _read_dates(matrix[which], lengths[which])[0]
    return {"integer": integer, "decimal": decimal, "date": dates, DECIMAL_COMMA: comma}


def _number_kinds(
    matrix: npt.NDArray[np.uint8], lengths: Array
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which cells, holding only digits, signs, points and commas, are integers, which
    decimals, and which numbers as a decimal comma reads them."""
    integer, decimal, commas = _point_reading(matrix, lengths)
    comma = integer & (commas == 0)  # no separator: the same number either way
    one = np.flatnonzero(commas == 1)
    if len(one):
        # a comma is the decimal point where the cell, commas and points swapped, is a
        # decimal with a point
        swapped = matrix[one]
        was_comma = swapped == 44
        swapped[swapped == 46] = 44
        swapped[was_comma] = 46
        comma[one] = _point_reading(swapped, lengths[one])[1]
    return integer, decimal, comma


def _point_reading(
    matrix: npt.NDArray[np.uint8], lengths: Array
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], Array]:
    """Which cells are integers and which decimals, read with a decimal point (commas group
    thousands), and how many commas each holds."""
    width = matrix.shape[1]
    pos = np.arange(width)
    inside = pos < lengths[:, None]
    fits = lengths <= width
    digit = (matrix >= 48) & (matrix <= 57)
    dot = matrix == 46
    comma = matrix == 44
    sign = ((matrix == 45) | (matrix == 43)) & (pos == 0)
    plain = ((digit | dot | comma | sign) | ~inside).all(axis=1)
    has_dot = dot.any(axis=1)
    dot_at = np.where(has_dot, dot.argmax(axis=1), lengths)
    before = pos < dot_at[:, None]
    int_digits = (digit & before).sum(axis=1)
    frac_digits = (digit & ~before).sum(axis=1)
    commas = comma.sum(axis=1)
    commas_placed = (~comma | (((dot_at[:, None] - pos) % 4 == 0) & before)).all(axis=1)
    commas_ok = (commas == 0) | (
        commas_placed & (commas == (int_digits - 1) // 3) & (int_digits >= 4)
    )
    number = fits & plain & (dot.sum(axis=1) <= 1) & commas_ok
    integer = number & ~has_dot & (int_digits >= 1)
    decimal = integer | (number & has_dot & (frac_digits >= 1))
    return integer, decimal, np.where(plain, commas, -1)


def _bytes_table(allowed: bytes) -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=bool)
    table[list(allowed)] = True
    table[0] = True  # padding past a cell's end
    return table


_NUMERIC = _bytes_table(b"0123456789.,+-")
_OPENING = _bytes_table(b"0123456789.,+-")  # what a number or a date may begin with


def _marker_openings() -> npt.NDArray[np.bool_]:
    """The first two bytes of each marker of MISSING, as one little-endian uint16, marked. A
    lone "-" is followed by a quote (closing it, in the text) or a zero (in a matrix)."""
    table = np.zeros(1 << 16, dtype=bool)
    for marker in (*MISSING, '-"', "-\0"):
        if len(marker) > 1:
            table[ord(marker[0]) | ord(marker[1]) << 8] = True
    return table


_MARKER_OPENINGS = _marker_openings()
_DATELIKE = _bytes_table(b"0123456789-:.+tz ")


def _read_dates(
    matrix: npt.NDArray[np.uint8], lengths: Array, fields: bool = False
) -> tuple[npt.NDArray[np.bool_], tuple[Array, Array] | None]:
    """Which cells are dates, and with ``fields`` the instant each names (see instants).

    A day ``YYYY-MM-DD`` (month 01-12, day 01-31); or a day, ``T`` or a space, and a time
    ``hh:mm`` (hours 00-23, minutes 00-59), seconds ``:ss`` (00-60) with an optional
    fraction ``.f`` of any number of digits, then an optional offset: ``Z``, or a sign and
    ``hh``, ``hh:mm`` or ``hhmm``. Lower-cased, as the text is: ``t`` and ``z``."""
    count, width = matrix.shape
    if width < 10:
        return np.zeros(count, dtype=bool), None
    rows = np.arange(count)
    zero = np.zeros(count, dtype=np.uint8)

    def at(i: int | Array) -> npt.NDArray[np.uint8]:
        """The byte at ``i`` (one place, or one for each cell); 0 past the matrix."""
        if isinstance(i, int):
            return matrix[:, i] if i < width else zero
        return np.where(i < width, matrix[rows, np.minimum(i, width - 1)], 0).astype(np.uint8)

    def digits(*places: int | Array) -> npt.NDArray[np.bool_]:
        found = np.ones(count, dtype=bool)
        for i in places:
            found &= (at(i) - np.uint8(48)) <= 9  # (below "0" wraps around, past 9)
        return found

    def number(*places: int | Array) -> npt.NDArray[np.int16]:
        value = np.zeros(count, dtype=np.int16)
        for i in places:
            value = value * 10 + at(i) - 48
        return value

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    valid = (
        digits(0, 1, 2, 3, 5, 6, 8, 9)
        & (at(4) == 45)
        & (at(7) == 45)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= 31)
        & (lengths <= width)
    )
    days_only = lengths == 10
    if days_only.all():
        if not fields:
            return valid, None
        timed = has_seconds = has_offset = fraction = np.zeros(count, dtype=bool)
        hours = minutes = seconds = zone_hours = zone_minutes = np.zeros(count, dtype=np.int16)
        sign, end, stop, zone = zero, np.zeros(count, dtype=np.int64), None, None
    else:
        hours, minutes = number(11, 12), number(14, 15)
        timed = (
            ((at(10) == 116) | (at(10) == 32))
            & digits(11, 12, 14, 15)
            & (at(13) == 58)
            & (hours <= 23)
            & (minutes <= 59)
        )
        seconds = number(17, 18)
        has_seconds = timed & (at(16) == 58) & digits(17, 18) & (seconds <= 60)
        end = np.where(has_seconds, 19, 16)  # where the time's fraction or offset starts
        fraction = has_seconds & (at(end) == 46)
        stop = end + 1  # one past the fraction's last digit
        if fraction.any():
            beyond = ((matrix - np.uint8(48)) > 9) & (np.arange(width) >= stop[:, None])
            stop = np.where(beyond.any(axis=1), beyond.argmax(axis=1), width)
            fraction &= stop > end + 1
        zone = np.where(fraction, stop, end)
        sign = at(zone)
        zone_hours = np.zeros(count, dtype=np.int16)
        zone_minutes = np.zeros(count, dtype=np.int16)
        has_offset = np.zeros(count, dtype=bool)
        signed = np.flatnonzero(timed & ((sign == 43) | (sign == 45)))
        if len(signed):  # few cells name an offset: read only where one does
            places, ends = zone[signed], lengths[signed]
            after = places[:, None] + np.arange(6)  # the sign and what may follow it
            got = matrix[signed[:, None], np.minimum(after, width - 1)]
            got[after >= width] = 0
            digit = (got - np.uint8(48)) <= 9
            value = got.astype(np.int16) - 48
            colon = got[:, 3] == 58
            hours_only = places + 3 == ends
            with_colon = colon & digit[:, 4] & digit[:, 5] & (places + 6 == ends)
            without = ~colon & digit[:, 3] & digit[:, 4] & (places + 5 == ends)
            zone_hours[signed] = value[:, 1] * 10 + value[:, 2]
            zone_minutes[signed] = np.select(
                [with_colon, without],
                [value[:, 4] * 10 + value[:, 5], value[:, 3] * 10 + value[:, 4]],
            )
            has_offset[signed] = (
                digit[:, 1]
                & digit[:, 2]
                & (hours_only | with_colon | without)
                & (zone_hours[signed] <= 23)
                & (zone_minutes[signed] <= 59)
            )
        zone_ok = (zone == lengths) | ((sign == 122) & (zone + 1 == lengths)) | has_offset
        valid &= days_only | (timed & zone_ok)
        if not fields:
            return valid, None
    # days since 1970-01-01 of a proleptic Gregorian day (Howard Hinnant's days_from_civil)
    month64 = month.astype(np.int64)
    y = year.astype(np.int64) - (month64 <= 2)
    era = y // 400
    of_era = y - era * 400
    of_year = (153 * (month64 + np.where(month64 > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468
    clock = hours.astype(np.int64) * 3600 + minutes.astype(np.int64) * 60
    clock = np.where(timed, clock + np.where(has_seconds, seconds, 0), 0)
    offset = zone_hours.astype(np.int64) * 3600 + zone_minutes.astype(np.int64) * 60
    offset = np.where(has_offset, np.where(sign == 45, -offset, offset), 0)
    instant = days * 86400 + clock - offset
    nanos = np.zeros(count, dtype=np.int64)
    if fraction.any():
        assert stop is not None
        digits_of = np.minimum(stop - end - 1, 9)  # nanoseconds: what a finer fraction adds
        for k in range(9):
            place = at(end + 1 + k).astype(np.int64) - 48
            nanos = nanos * 10 + np.where(fraction & (k < digits_of), place, 0)
    return valid, (instant, nanos)


def instants(matrix: npt.NDArray[np.uint8], lengths: Array) -> tuple[Array, Array]:
    """The instant each date (as classify calls one) names: seconds since
    1970-01-01T00:00:00Z, and the nanoseconds past them. An offset counts; a time without
    one is read as UTC, a day alone as its midnight in UTC."""
    _, found = _read_dates(matrix, lengths, fields=True)
    assert found is not None or matrix.shape[1] < 10
    if found is None:
        empty = np.zeros(len(lengths), dtype=np.int64)
        return empty, empty.copy()
    return found


def numbers(
    matrix: npt.NDArray[np.uint8], lengths: Array, decimal_comma: bool = False
) -> npt.NDArray[np.float64]:
    """The value of each cell that :func:`classify` calls a number (``decimal_comma``: a
    number read with a decimal comma), correctly rounded."""
    group, point = (46, 44) if decimal_comma else (44, 46)
    value = matrix - np.uint8(48)
    digit = value <= 9
    digits = digit.sum(axis=1)
    if (digits > EXACT_DIGITS).any():  # (rare) read as text is: see _read_floats
        return _read_floats(matrix, lengths, group, point)
    # Most numbers have at most 15 digits: their digits make an integer, exactly, a column at
    # a time (signs and separators skipped), divided by a power of ten for the fraction
    # digits: one correctly rounded division, as reading the text would round it
    whole = np.zeros(len(lengths), dtype=np.int64)
    fraction = np.zeros(len(lengths), dtype=np.int64)
    has_point = bool((matrix == point).any())
    after = np.zeros(len(lengths), dtype=bool)
    for at in range(matrix.shape[1]):
        here = digit[:, at]
        whole = np.where(here, whole * 10 + value[:, at], whole)
        if has_point:
            after |= matrix[:, at] == point
            fraction += here & after
    values: npt.NDArray[np.float64] = whole / _POWERS_OF_TEN[fraction]
    return np.where(matrix[:, 0] == 45, -values, values)


EXACT_DIGITS = 15  # digits a double holds exactly: an integer of them, and 10**15
_POWERS_OF_TEN = 10.0 ** np.arange(EXACT_DIGITS + 1)


def _read_floats(
    matrix: npt.NDArray[np.uint8], lengths: Array, group: int, point: int
) -> npt.NDArray[np.float64]:
    """numbers, read as text: thousands separators squeezed out (digits closing up to the
    left), the point made ".", and each row read by numpy as a float, in C."""
    grouping = matrix == group
    if grouping.any():
        matrix = np.take_along_axis(matrix, np.argsort(grouping, axis=1, kind="stable"), axis=1)
        lengths = lengths - grouping.sum(axis=1)
        matrix[np.arange(matrix.shape[1]) >= lengths[:, None]] = 0
    if point != 46:
        matrix = np.where(matrix == point, np.uint8(46), matrix)
    # What is left ("-12", "+7", "1234.50", ".5") is what a float is written as: numpy reads
    # each row as one, correctly rounded (the zeros after a cell end its string)
    rows = np.ascontiguousarray(matrix).view(f"S{matrix.shape[1]}").ravel()
    values: npt.NDArray[np.float64] = rows.astype(np.float64)
    return values
