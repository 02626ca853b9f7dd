"""An upload of a table the document already holds, most of it: the records the version
before has already are not stored again. Pure: runs of records in, the records to store and
the new version's pieces out; the version before is read through a function it is handed.

People change a table by uploading it again: a few cells fixed, a few rows inserted or
deleted, rows added at the end. Stored whole, each such upload costs the whole table again
(some 100 MiB for a million rows). Instead, as the upload's records are parsed (a run of some
thousands at a time, see tablecast.service.ingest), each run is compared with the records of
the version it replaces (the *base*) where they are expected: after the last record of the
base that matched, as many again and some (:data:`SLACK`) beyond, to find rows inserted or
deleted. Records found there are kept where the base keeps them (its pieces: see
tablecast.table.pieces), with their identity; the others are stored in the new version's own
blocks, and a row that stands where a row of the base stood, and shares cells with it, keeps
that row's identity too, as a cell edited in place would: what changed between the two
versions is then told by identity (tablecast.service.views), reading only those rows.

A run the same bytes as the records it meets (the common case) costs one comparison. Else
both are hashed and aligned as tablecast.table.diff aligns versions, and a hash never decides
alone: every pair it finds is confirmed byte for byte, run by run. A file that shares nothing
with the base is told after :data:`GIVE_UP` records found nowhere, and stored as it would have
been: the base is no longer read.

Rows deleted in a block longer than that: a run that finds none of its records where they
are expected, after earlier runs did, looks them up in the whole base, hashed once (up to
:data:`INDEX_ROWS` records), and the runs go on from where they are. What it does not find:
a row that moved further than a run, or back (stored anew: a base record is shared once).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import orjson

from .blocks import BLOCK_RECORDS, NO_RECORDS, Run, joined, run_from_blocks
from .diff import MAX_SHIFT, Changes, Hashes, align, alike, run_hashes
from .pieces import IDENT_SHIFT, IntArray, Pieces, merged

# Records of the base beyond a run's length looked at for the run's records: rows inserted or
# deleted up to this many at one place are found, and the base's records are read this far
# ahead; and these many bytes at most beyond the run's (long records: fewer rows)
SLACK = 4096
SLACK_BYTES = 4 << 20
# Blocks of the base read at a time
READ_BLOCKS = 16
# Records of the upload in a row found nowhere in the base after which it is stored as it is.
GIVE_UP = 16_384
# A base of up to this many records, where a run shares none of its records where they are
# expected after others did, is hashed whole once (16 bytes a record: a hash and its place) to
# find where the run's records are further on: a block of rows deleted longer than SLACK
INDEX_ROWS = 2_000_000
# Records of a run that must agree on where in the base it goes on, to look there
AGREEING = 4

# Blocks (number, records, offsets) of the base, from the first to the last number given.
ReadBlocks = Callable[[int, int], Iterable[tuple[int, bytes, bytes]]]


class Reuse:
    """An upload's records compared, a run at a time, with those of ``base`` (its pieces;
    ``read`` reads its blocks), the new records stored in ``owner``'s blocks."""

    def __init__(self, base: Pieces, read: ReadBlocks, owner: int) -> None:
        self.base = base
        self.owner = owner
        self._read = read
        self._next = 0  # the base record after the last that matched
        self._held = NO_RECORDS  # the base's records from _held_from on, as read
        self._held_from = 0
        self._block_bytes = 0  # the largest block read last: how many more fit (see _base_records)
        self._stored = 0  # records in the owner's blocks
        self._total = 0  # records of the upload so far
        self._unfound = 0  # records in a row found nowhere
        self._found_any = False
        self._index: tuple[Hashes, IntArray] | None = None  # the base's hashes sorted, and places
        self._parts: list[tuple[IntArray, ...]] = []

    @property
    def sharing(self) -> bool:
        """Whether runs are still compared with the base (False once they stopped matching)."""
        return self._unfound < GIVE_UP and self._next < self.base.total

    def add(self, run: Run, last: bool = False) -> Run:
        """The upload's next records (``last``: its last): those of them to store, in order,
        in the owner's blocks (the rest are the base's)."""
        count = len(run)
        if not count:
            return run
        source = np.full(count, -1, np.int64)  # the base's record each is, or -1
        like = np.full(count, -1, np.int64)  # the base's row each replaces, keeping its identity
        if self.sharing:
            self._compare(run, source, like, last)
            if self._found_any and not (source >= 0).any() and self._found_further(run):
                self._compare(run, source, like, last)
        found = int((source >= 0).sum())
        self._found_any = self._found_any or found > 0
        self._unfound = 0 if found else self._unfound + count
        self._parts.append(self._pieces(source, like))
        self._total += count
        if found == count:
            return NO_RECORDS
        if not found:
            return run
        return _picked(run, np.flatnonzero(source < 0))

    def pieces(self) -> Pieces | None:
        """Where the new version's records are; None if all are in its own blocks, in order
        (as an upload that shares nothing keeps them)."""
        pieces = merged(self._parts)
        if not len(pieces) or pieces.encode() == Pieces.whole(self.owner, pieces.total).encode():
            return None
        return pieces

    def _compare(self, run: Run, source: IntArray, like: IntArray, last: bool) -> None:
        """Which of ``run``'s records are the base's (``source``), and which replace a row of
        it (``like``), from the base's records after the last that matched. ``last``: no run
        follows, to match the base's records after the last that matches."""
        start = self._next
        old = self._base_records(start, start + len(run) + SLACK, len(run.data) + SLACK_BYTES)
        same = min(len(run), len(old))
        if same and _data(run, 0, same) == _data(old, 0, same):  # (one comparison: most runs)
            source[:same] = np.arange(start, start + same)
            self._next = start + same
            return
        a, b = run_hashes(old.data, old.starts), run_hashes(run.data, run.starts)
        # most runs that differ have rows changed in place, or a few inserted or deleted: as
        # many base records and MAX_SHIFT more are aligned first, without sorting (see
        # diff._shifted); the whole window where that pairs fewer than half the run's rows
        narrow = min(len(a), len(b) + MAX_SHIFT)
        alignment = align(a[:narrow], b)
        if narrow < len(a) and 2 * len(alignment.pairs_b) < len(b):
            alignment = align(a, b)
        pairs_a, pairs_b = alignment.matched()
        alignment.unmatch(_differing(old, pairs_a, run, pairs_b))
        kept = np.ones(len(pairs_a), bool)
        kept[list(alignment.unmatched)] = False
        if not kept.any():
            return
        kept_a, kept_b = pairs_a[kept], pairs_b[kept]
        source[kept_b] = kept_a + start
        end_a, end_b = int(kept_a[-1]), int(kept_b[-1])
        self._next = start + end_a + 1
        if last:
            end_a, end_b = len(old), len(run)

        def cells(old_rows: list[int], new_rows: list[int]) -> tuple[Any, Any]:
            return _cells(old, old_rows), _cells(run, new_rows)

        # rows between two that matched (not after the last, but in the last run: the base's
        # may match later runs): one on each side (a row changed in place) is that row; more,
        # paired by the cells they share (see diff.alike)
        edges_a = np.concatenate([[-1], kept_a, [end_a if last else kept_a[-1]]])
        edges_b = np.concatenate([[-1], kept_b, [end_b if last else kept_b[-1]]])
        gap_a, gap_b = np.diff(edges_a) - 1, np.diff(edges_b) - 1
        single = np.flatnonzero((gap_a == 1) & (gap_b == 1))
        like[edges_b[single] + 1] = edges_a[single] + 1 + start
        gaps = Changes()
        for gap in np.flatnonzero((gap_a > 0) & (gap_b > 0) & ~((gap_a == 1) & (gap_b == 1))):
            rows_a = list(range(int(edges_a[gap]) + 1, int(edges_a[gap + 1])))
            rows_b = list(range(int(edges_b[gap]) + 1, int(edges_b[gap + 1])))
            gaps.changed.extend(zip(rows_a, rows_b, strict=False))
            gaps.runs.append((rows_a, rows_b))
        for a_row, b_row in alike(gaps, cells).changed:
            like[b_row] = a_row + start

    def _found_further(self, run: Run) -> bool:
        """Whether the run's records were found further on in the base than expected (the
        rows between deleted): where most of those found agree the run goes on, the next
        run is compared from. Only forward: a base record is shared once at most."""
        if self.base.total > INDEX_ROWS:
            return False
        if self._index is None:
            self._index = self._indexed()
        hashes, places = self._index
        if not len(hashes):
            return False
        wanted = run_hashes(run.data, run.starts)
        at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
        hit = np.flatnonzero(hashes[at] == wanted)
        if not len(hit):
            return False
        goes_on = places[at[hit]] - hit  # where in the base the run would start, for each
        goes_on = goes_on[goes_on > self._next]
        if not len(goes_on):
            return False
        values, counts = np.unique(goes_on, return_counts=True)
        if int(counts.max()) < min(AGREEING, len(run)):
            return False
        self._next = int(values[int(np.argmax(counts))])
        return True

    def _indexed(self) -> tuple[Hashes, IntArray]:
        """Every base record's hash, sorted, and its place: read a few blocks at a time (as
        many as SLACK_BYTES holds, by the largest block read so far)."""
        parts = []
        last_block = (self.base.total - 1) // BLOCK_RECORDS
        first = 0
        while first <= last_block:
            count = SLACK_BYTES // self._block_bytes if self._block_bytes else 1
            last = min(first + min(max(count, 1), READ_BLOCKS) - 1, last_block)
            blocks = list(self._read(first, last))
            if blocks:
                self._block_bytes = max(len(records) for _, records, _ in blocks)
            read = run_from_blocks(blocks)
            parts.append(run_hashes(read.data, read.starts))
            first = last + 1
        hashes = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        order = np.argsort(hashes, kind="stable")
        return hashes[order], order.astype(np.int64)

    def _base_records(self, start: int, stop: int, size: int) -> Run:
        """The base's records ``start`` to ``stop`` (fewer at its end, or past ``size``
        bytes), read some blocks at a time as far as they are needed (as many as ``size``
        holds, by the blocks read so far: a base of long records is read a block at a time);
        those before ``start`` are let go."""
        stop = min(stop, self.base.total)
        held_to = self._held_from + len(self._held)
        if start > held_to or start < self._held_from:
            self._held, self._held_from = NO_RECORDS, start
            held_to = start
        self._held = self._held.after(start - self._held_from)
        self._held_from = start
        while held_to < stop and len(self._held.data) < size:
            first = held_to // BLOCK_RECORDS
            # (the first read, a block: how large the base's are is not known yet)
            room = (size - len(self._held.data)) // self._block_bytes if self._block_bytes else 1
            last = min((stop - 1) // BLOCK_RECORDS, first + min(max(room, 1), READ_BLOCKS) - 1)
            blocks = list(self._read(first, last))
            if not blocks:
                break
            self._block_bytes = max(len(records) for _, records, _ in blocks)
            read = run_from_blocks(blocks).after(held_to - first * BLOCK_RECORDS)
            if not len(read):
                break
            self._held = joined([self._held, read]) if len(self._held) else read
            held_to += len(read)
        return self._held.first(stop - start)

    def _pieces(self, source: IntArray, like: IntArray) -> tuple[IntArray, ...]:
        """The run's records as pieces (one a record, made one where they continue each
        other): the base's where they are the base's, else the owner's next."""
        count = len(source)
        ones = np.ones(count, np.int64)
        own = source < 0
        owners = np.where(own, self.owner, 0)
        starts = np.zeros(count, np.int64)
        idents = np.zeros(count, np.int64)
        places = self._stored + np.cumsum(own) - 1
        starts[own] = places[own]
        idents[own] = (self.owner << IDENT_SHIFT) | places[own]
        if not own.all():
            shared = source[~own]
            owners[~own], starts[~own] = self.base.places(shared)
            idents[~own] = self.base.identities(shared)
        replacing = own & (like >= 0)
        if replacing.any():
            idents[replacing] = self.base.identities(like[replacing])
        self._stored += int(own.sum())
        pieces = merged([(ones, owners, starts, idents)])  # (a few, kept until the end)
        return pieces.counts, pieces.owners, pieces.starts, pieces.idents


def _data(run: Run, first: int, stop: int) -> bytes:
    return run.data[int(run.starts[first]) : int(run.starts[stop])]


def _differing(old: Run, pairs_a: IntArray, new: Run, pairs_b: IntArray) -> list[int]:
    """Of pairs of records (indexes into ``pairs_a``, ``pairs_b``), those whose bytes differ:
    runs of pairs that follow each other compared in one go, a run that differs record by
    record."""
    differ: list[int] = []
    if not len(pairs_a):
        return differ
    breaks = np.flatnonzero((np.diff(pairs_a) != 1) | (np.diff(pairs_b) != 1)) + 1
    edges = [0, *breaks.tolist(), len(pairs_a)]
    for first, stop in itertools.pairwise(edges):
        a0, b0 = int(pairs_a[first]), int(pairs_b[first])
        size = stop - first
        if _data(old, a0, a0 + size) == _data(new, b0, b0 + size):
            continue
        differ.extend(
            first + i
            for i in range(size)
            if _data(old, a0 + i, a0 + i + 1) != _data(new, b0 + i, b0 + i + 1)
        )
    return differ


def _cells(run: Run, rows: list[int]) -> list[list[str]]:
    return [orjson.loads(_data(run, row, row + 1)) for row in rows]


def _picked(run: Run, rows: IntArray) -> Run:
    """These records of ``run``, in order, as one run."""
    starts, ends = run.starts[rows], run.starts[rows + 1]
    data = b"".join(run.data[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
    lengths = ends - starts
    return Run(data, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
