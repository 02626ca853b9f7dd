"""How a version's records are kept: in blocks of :data:`BLOCK_RECORDS` records, each record
already encoded as a JSON array, one per line, with the offset where each starts. A page is
then one slice of a block or two, its line breaks turned into commas: no parsing, no per-record
work. Pure: the stores keep blocks, ingest makes them, pages and views read them.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import numpy.typing as npt
import orjson

BLOCK_RECORDS = 256


@dataclass(frozen=True, slots=True)
class Block:
    records: bytes  # JSON arrays, one per line (orjson escapes line breaks inside cells)
    offsets: bytes  # where each record starts in ``records``, little-endian uint32s


@dataclass(frozen=True, slots=True, eq=False)  # (its arrays have no one truth value)
class Run:
    """Records in a row, as blocks hold them but each followed by its line break, and where
    each starts: what parsing hands on, so that blocks are cut from it with a slice and a
    subtraction each, whichever records make them."""

    data: bytes  # '["a","b"]\n["c"]\n'
    starts: npt.NDArray[np.int64]  # each record's start in ``data``, then len(data)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def records(self) -> list[str]:
        """The records in :mod:`tablecast.table.parsing`'s form (see :func:`encode_block`)."""
        return [line[2:-2] for line in self.data.decode().split("\n")[:-1]]

    def first_cells(self) -> list[str]:
        cells: list[str] = orjson.loads(self.data[: self.starts[1] - 1])
        return cells

    def blocks(self, count: int, size: int = BLOCK_RECORDS) -> list[Block]:
        """The first ``count`` records as blocks of ``size`` (the last may hold fewer)."""
        if not count:
            return []
        starts = self.starts[: count + 1]
        firsts = starts[:-1:size]  # where each block starts
        within = starts[:-1] - np.repeat(firsts, size)[:count]
        offsets = within.astype("<u4").tobytes()  # every block's, one after the other
        ends = [*starts[size:-1:size].tolist(), int(starts[-1])]
        data = self.data
        return [
            # each block without its last record's line break
            Block(data[first : end - 1], offsets[i * 4 * size : (i + 1) * 4 * size])
            for i, (first, end) in enumerate(zip(firsts.tolist(), ends, strict=True))
        ]

    def first(self, count: int) -> Run:
        """The first ``count`` records."""
        if count >= len(self):
            return self
        return Run(self.data[: self.starts[count]], self.starts[: count + 1])

    def after(self, first: int) -> Run:
        """The records from ``first`` on."""
        start = self.starts[first]
        return Run(self.data[start:], self.starts[first:] - start)


NO_RECORDS = Run(b"", np.zeros(1, np.int64))


def run_of(records: Sequence[str]) -> Run:
    """A run from records as :mod:`tablecast.table.parsing` gives them: each the inside of a
    JSON array of strings, without its ``["`` and ``"]``."""
    if not records:
        return NO_RECORDS
    text = '["' + '"]\n["'.join(records) + '"]\n'
    data = text.encode()
    # In ASCII text a character is a byte: the offsets come from the lengths we already have.
    lengths = map(len, records if len(data) == len(text) else map(str.encode, records))
    # each record takes its length, plus 5 for '["', '"]' and the line break
    starts = np.fromiter(accumulate(map((5).__add__, lengths), initial=0), np.int64)
    return Run(data, starts)


def joined(runs: Sequence[Run]) -> Run:
    """Runs one after the other, as one."""
    if len(runs) == 1:
        return runs[0]
    if not runs:
        return NO_RECORDS
    shifts = np.cumsum([0] + [len(run.data) for run in runs[:-1]])
    starts = np.concatenate(
        [run.starts[:-1] + shift for run, shift in zip(runs, shifts, strict=True)]
        + [runs[-1].starts[-1:] + shifts[-1]]
    )
    return Run(b"".join(run.data for run in runs), starts)


def encode_block(records: Sequence[str]) -> Block:
    """A block from records as :mod:`tablecast.table.parsing` gives them (see :func:`run_of`)."""
    if not records:
        return Block(b"", b"")
    return run_of(records).blocks(len(records), len(records))[0]


def record_cells(record: str) -> list[str]:
    """A record's cells, from its form in :func:`encode_block`."""
    cells: list[str] = orjson.loads('["' + record + '"]')
    return cells


def _starts(offsets: bytes) -> Sequence[int]:
    if sys.byteorder == "little":
        return memoryview(offsets).cast("I")  # no copy: read where SQLite put it
    starts = array("I")
    starts.frombytes(offsets)
    starts.byteswap()
    return starts


def block_range(start: int, stop: int) -> tuple[int, int]:
    """The first and last block holding records ``start`` to ``stop`` (exclusive)."""
    return start // BLOCK_RECORDS, (stop - 1) // BLOCK_RECORDS


def records_json(blocks: Iterable[tuple[int, bytes, bytes]], records: Sequence[int]) -> bytes:
    """From (block number, records, offsets) holding them, the stored records ``records``, in
    that order, as one JSON array: the one way blocks become records again. Neighbours in a
    block are cut as one slice, so a range (a page) costs a slice a block, not one a record.
    Records past those the blocks hold are left out."""
    found = {number: (data, _starts(offsets)) for number, data, offsets in blocks}
    is_range = isinstance(records, range) and records.step == 1
    pieces = []
    i, count = 0, len(records)
    while i < count:
        record = records[i]
        number, first = divmod(record, BLOCK_RECORDS)
        block = found.get(number)
        if block is None or first >= len(block[1]):
            break
        data, starts = block
        if is_range:
            last = min(len(starts), first + count - i)
        else:
            last = first + 1
            while last < len(starts) and i + last - first < count:
                if records[i + last - first] != record + last - first:
                    break
                last += 1
        end = starts[last] - 1 if last < len(starts) else len(data)
        pieces.append(data[starts[first] : end])
        i += last - first
    return b"[" + b",".join(pieces).replace(b"\n", b",") + b"]"


def join_rows(blocks: Iterable[tuple[int, bytes, bytes]], start: int, stop: int) -> bytes:
    """Records ``start`` to ``stop`` (see records_json)."""
    return records_json(blocks, range(start, stop))


def pick_rows(blocks: Iterable[tuple[int, bytes, bytes]], picked: Sequence[int]) -> bytes:
    """Records ``picked``, in that order (see records_json)."""
    return records_json(blocks, picked)


def blocks_of(picked: Iterable[int]) -> list[int]:
    """The blocks holding these records, each once."""
    return sorted({record // BLOCK_RECORDS for record in picked})


def cut(records: bytes, offsets: bytes, keep: int) -> tuple[bytes, bytes]:
    """A block's first ``keep`` records (as records and offsets): what a version reads of the
    last block of its records, which later versions may have added to (see Store.append_rows)."""
    if keep * 4 >= len(offsets):
        return records, offsets
    starts = np.frombuffer(offsets, dtype="<u4")
    return records[: int(starts[keep]) - 1], offsets[: keep * 4]


def extended(records: bytes, offsets: bytes, run: Run, count: int) -> Block:
    """A block's records followed by the first ``count`` records of ``run``."""
    if not count:
        return Block(records, offsets)
    data = run.data[: int(run.starts[count]) - 1]  # (without the last one's line break)
    if not offsets:
        return Block(data, run.starts[:count].astype("<u4").tobytes())
    shift = len(records) + 1
    more = (run.starts[:count] + shift).astype("<u4").tobytes()
    return Block(records + b"\n" + data, offsets + more)


def run_from_blocks(blocks: Iterable[tuple[int, bytes, bytes]]) -> Run:
    """Blocks (number, records, offsets), one after the other, as one run of their records."""
    kept = {(0, number): (bytes(records), offsets) for number, records, offsets in blocks}
    whole = [
        (0, number * BLOCK_RECORDS, len(offsets) // 4)
        for (_, number), (_, offsets) in kept.items()
        if offsets
    ]
    return gathered(whole, kept)


def gathered(
    segments: Iterable[tuple[int, int, int]], blocks: dict[tuple[int, int], tuple[bytes, bytes]]
) -> Run:
    """The records of ``segments`` (owner, place, count: see tablecast.table.pieces), one
    after the other, from their owners' blocks ((owner, number) -> (records, offsets)), as
    one run: what a version that changed rows reads, wherever its records are kept."""
    # A much changed version's segments are many, most of a record or two of the same few
    # blocks: each block's starts are made once, and each segment is a slice and its lengths
    data: list[bytes] = []
    lengths: list[npt.NDArray[np.int64]] = []
    made: dict[tuple[int, int], tuple[list[int], npt.NDArray[np.int64]]] = {}
    for owner, place, count in segments:
        stop = place + count
        for number in range(place // BLOCK_RECORDS, (stop - 1) // BLOCK_RECORDS + 1):
            records, offsets = blocks[(owner, number)]
            found = made.get((owner, number))
            if found is None:  # (and where a record after the last would start: past a "\n")
                every = np.frombuffer(offsets, dtype="<u4").astype(np.int64)
                every = np.append(every, len(records) + 1)
                found = made[(owner, number)] = (every.tolist(), np.diff(every))
            starts, sizes = found
            base = number * BLOCK_RECORDS
            first, last = max(place - base, 0), min(stop - base, len(starts) - 1)
            data.append(records[starts[first] : starts[last] - 1] + b"\n")
            lengths.append(sizes[first:last])
    if not data:
        return NO_RECORDS
    every = np.concatenate(lengths)
    return Run(b"".join(data), np.concatenate([[0], np.cumsum(every)]).astype(np.int64))
