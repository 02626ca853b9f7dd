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
TYPES = ("text", "integer", "decimal", "date")
_TYPE_NAMES = np.array(TYPES, dtype=object)

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
        self.is_escaped = np.zeros(self.records, dtype=bool)
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
    def records(self) -> int:
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
        if column is None and len(found) > self.records:
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
        first = np.empty(self.records, dtype=np.int64)
        for lo in range(0, self.records, LOOKUPS):
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

    def infer(self, number: int, rows: Array) -> str:
        """The column's type over ``rows`` (consecutive, to the last record): integer,
        decimal, date, or text (see classify). One column: :meth:`inferring` does them all."""
        matrix, lengths = self.keys(number, rows, INFER_BYTES)
        filled = lengths > 0
        kinds = classify(matrix[filled], lengths[filled])
        counts = [[filled.sum()], *([kinds[kind].sum()] for kind in TYPES[1:])]
        return _types_of(np.array(counts, dtype=np.int64))[0]

    def inferring(self, first: int, width: int) -> Iterator[list[str] | None]:
        """The type of each of ``width`` columns over the records from ``first`` on, in pieces
        (None after each), then the types.

        Every cell of the version at once, CHUNK_CELLS at a time: each chunk's cells are
        classified in one matrix and counted per column (how many are filled, integers,
        decimals, dates), so that the work is linear in cells however many columns there are.
        Lines holding a backslash are read apart, each parsed once."""
        yield from self._finding_separators()
        counts = np.zeros((len(TYPES), width), dtype=np.int64)
        total = self._line_cell(self.records)
        for lo in range(self._line_cell(min(first, self.records)), total, CHUNK_CELLS):
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
        yield _types_of(counts)

    def _line_cell(self, line: int) -> int:
        """The number of line ``line``'s first cell, counting every cell of the lines before
        (each line has one cell more than it has separators); for the line after the last,
        the number of cells."""
        separators, first = self._separators()
        return line + (int(first[line]) if line < self.records else len(separators))

    def _plain_cells(self, lo: int, hi: int) -> tuple[Array, Array, Array]:
        """Cells ``lo`` to ``hi`` (numbered as _line_cell does) of lines without a backslash:
        where each starts in the text, its length, its column."""
        separators, first = self._separators()
        lines = range(self.records + 1)
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

    def numbering(self, columns: Sequence[int], first: int) -> Iterator[bool | None]:
        """Read the values of these numeric columns' cells, over the records from ``first``
        on, and keep them: a column a piece (None after each), then True. Made with the
        types, so that a version's first sort by a number is a sort, not a parse as well."""
        rows = np.arange(first, self.records, dtype=np.int64)
        for number in columns:
            self._numbers(number, rows)
            yield None
        yield True

    def _numbers(self, number: int, rows: Array) -> npt.NDArray[np.float64]:
        key = (number, int(rows[0]) if len(rows) else 0)
        found = self._values.get(key)
        if found is not None and len(found) == len(rows):
            return found
        matrix, lengths = self.keys(number, rows, INFER_BYTES)
        filled = lengths > 0
        values = np.zeros(len(rows))
        values[filled] = numbers(matrix[filled], lengths[filled])
        if len(rows) and rows[-1] == self.records - 1:  # the rows to the end: a column's
            self._values[key] = values
            self._held += _held(values) + ENTRY_OVERHEAD
        return values

    def order(self, number: int, rows: Array, kind: str, descending: bool) -> Array:
        """``rows`` sorted by cell ``number`` as ``kind``, ties in row order, empty cells last
        either way."""
        if kind in ("integer", "decimal"):
            starts, ends = self.column(number)
            filled = ends[rows] > starts[rows]
            if len(self.escaped):  # their spans are not to be trusted: ask them one by one
                for i in np.flatnonzero(np.isin(rows, self.escaped)).tolist():
                    filled[i] = bool(self.cell(int(rows[i]), number))
            keys: npt.NDArray[np.generic] = self._numbers(number, rows)
            exact = np.ones(len(rows), dtype=bool)
        else:
            matrix, lengths = self.keys(number, rows, KEY_BYTES)
            filled = lengths > 0
            exact = lengths <= matrix.shape[1]
            if kind == "date" and matrix.shape[1] == 10:  # days only: as numbers, YYYYMMDD
                digits = matrix[:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int64) - 48
                keys = digits @ (10 ** np.arange(7, -1, -1, dtype=np.int64))
                kind = "integer"
            else:
                keys = matrix.view(f"S{matrix.shape[1]}").ravel()
        full = np.flatnonzero(filled)
        keys = keys[full]
        if exact[full].all():
            if not descending:  # a stable sort is the ascending order, ties in row order
                ordered = full[np.argsort(keys, kind="stable")]
                return np.concatenate((rows[ordered], rows[~filled])).astype(np.int64)
            numeric = kind in ("integer", "decimal")
            ranks = -keys.astype(np.float64) if numeric else -_ranks(keys)
        else:
            ranks = _ranks(keys)
            ranks = _refine(ranks, full, exact, lambda i: self.cell(int(rows[i]), number))
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


def _types_of(counts: npt.NDArray[np.int64]) -> list[str]:
    """Each column's type from how many of its cells are filled, and how many of those are
    integers, decimals and dates (the rows of ``counts``): the first kind all of them are,
    else text (and text if none is filled: nothing to go by)."""
    filled, integers, decimals, dates = counts
    some = filled > 0
    kind = np.select(
        [some & (integers == filled), some & (decimals == filled), some & (dates == filled)],
        [1, 2, 3],
        0,
    )
    types: list[str] = _TYPE_NAMES[kind].tolist()
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
    INFER_BYTES) by column: filled ones, and integers, decimals and dates among them (see
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
    maybe = (lengths <= INFER_BYTES) & _OPENING[source[starts]]
    starts, lengths, columns = starts[maybe], lengths[maybe], columns[maybe]
    for shortest, longest in ((1, 8), (9, 16), (17, INFER_BYTES)):
        these = (lengths >= shortest) & (lengths <= longest)
        if not these.any():
            continue
        cut = int(lengths[these].max())
        matrix = np.lib.stride_tricks.sliding_window_view(source, cut)[starts[these]]
        matrix[np.arange(cut) >= lengths[these, None]] = 0
        kinds = classify(matrix, lengths[these])
        for i, kind in enumerate(TYPES[1:], 1):
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


def classify(matrix: npt.NDArray[np.uint8], lengths: Array) -> dict[str, npt.NDArray[np.bool_]]:
    """Which cells (rows of ``matrix``, cut at its width) are integers, decimals or dates.

    Integers: ``-12``, ``+7``, ``1,234,567`` (thousands separated by commas, in threes).
    Decimals: integers or ``-1,234.50``, ``.5``. Dates: ISO 8601, ``2026-11-24``, with an
    optional time (``2026-11-24T10:30``, ``2026-11-24 10:30:00.5+01:00``).

    A cell is each row's own: what a cell is does not depend on the others, nor on the
    matrix's width as long as it holds the cell (or INFER_BYTES of it: no longer cell is a
    number or a date).
    """
    none = np.zeros(len(lengths), dtype=bool)
    integer, decimal, dates = none, none.copy(), none.copy()
    # a byte no number (or date) holds, a letter say, rules a cell out at once: most text
    maybe = _NUMERIC.take(matrix).all(axis=1)
    if maybe.any():
        which = np.flatnonzero(maybe)
        integer[which], decimal[which] = _number_kinds(matrix[which], lengths[which])
    maybe = _DATELIKE.take(matrix).all(axis=1) & (lengths >= 10)
    if maybe.any():
        which = np.flatnonzero(maybe)
        cells = matrix[which]
        dates[which] = _dates(cells, lengths[which], (cells >= 48) & (cells <= 57))
    return {"integer": integer, "decimal": decimal, "date": dates}


def _number_kinds(
    matrix: npt.NDArray[np.uint8], lengths: Array
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which cells, holding only digits, signs, points and commas, are integers and which
    decimals."""
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
    return integer, decimal


def _bytes_table(allowed: bytes) -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=bool)
    table[list(allowed)] = True
    table[0] = True  # padding past a cell's end
    return table


_NUMERIC = _bytes_table(b"0123456789.,+-")
_OPENING = _bytes_table(b"0123456789.,+-")  # what a number or a date may begin with
_DATELIKE = _bytes_table(b"0123456789-:.+tz ")


def _dates(
    matrix: npt.NDArray[np.uint8], lengths: Array, digit: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    width = matrix.shape[1]
    if width < 10:
        return np.zeros(len(lengths), dtype=bool)

    def at(i: int, chars: bytes) -> npt.NDArray[np.bool_]:
        return np.isin(matrix[:, i], list(chars))

    day = (
        digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1)
        & (matrix[:, 4] == 45)
        & (matrix[:, 7] == 45)
        & at(5, b"01")
        & at(8, b"0123")
    )
    if width < 16:
        short: npt.NDArray[np.bool_] = day & (lengths == 10)
        return short
    clock = at(10, b"t ") & digit[:, [11, 12, 14, 15]].all(axis=1) & (matrix[:, 13] == 58)
    rest_ok = (
        np.isin(matrix[:, 16:], list(b"0123456789:.+-z"))
        | (np.arange(16, width) >= lengths[:, None])
    ).all(axis=1)
    timed = clock & rest_ok & (lengths >= 16) & (lengths <= width)
    dates: npt.NDArray[np.bool_] = day & ((lengths == 10) | timed)
    return dates


def numbers(matrix: npt.NDArray[np.uint8], lengths: Array) -> npt.NDArray[np.float64]:
    """The value of each cell that :func:`classify` calls a number."""
    comma = matrix == 44
    if comma.any():  # thousands separators: squeezed out, digits closing up to the left
        matrix = np.take_along_axis(matrix, np.argsort(comma, axis=1, kind="stable"), axis=1)
        lengths = lengths - comma.sum(axis=1)
        matrix[np.arange(matrix.shape[1]) >= lengths[:, None]] = 0
    # What is left ("-12", "+7", "1234.50", ".5") is what a float is written as: numpy reads
    # each row as one, correctly rounded, in C (the zeros after a cell end its string)
    rows = np.ascontiguousarray(matrix).view(f"S{matrix.shape[1]}").ravel()
    values: npt.NDArray[np.float64] = rows.astype(np.float64)
    return values
