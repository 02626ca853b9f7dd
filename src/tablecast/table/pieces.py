"""Which stored records a version's rows are, in order: its *pieces*, as an editor's piece
table keeps a text. Pure: arrays in, arrays out; the stores keep them (see
:mod:`tablecast.store.sql`).

An upload stores its records in blocks of its own (see :mod:`tablecast.table.blocks`), and a
version that only adds rows shares them (``blocks_of``). A version that changes rows (cells
set, rows replaced or deleted) stores only the records it changes, and says where each of
its rows is: runs of consecutive records of some version's blocks, each a piece
``(count, owner, start, ident)``. One cell changed in a million rows is three pieces (the
rows before, the changed row in the new version's own blocks, the rows after) and one record.

Every row has an **identity** that survives edits, for edits made against an older version
(an edit names a row as that version numbered it; the row may have moved since) and for
telling what changed. A record is given one where it is first stored: its owner's id and its
place in the owner's blocks, ``owner << 32 | place``; a changed row keeps its identity in its
new place, so a piece says the identity of its first row, and the rest follow it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

IDENT_SHIFT = 32  # a record's identity: its first owner's id, then its place there
FIELDS = 4  # count, owner, start, ident: each a little-endian int64 as kept
PIECE_BYTES = FIELDS * 8


def ident(owner: int, place: int) -> int:
    """The identity of a record first stored at ``place`` in ``owner``'s blocks."""
    return (owner << IDENT_SHIFT) | place


@dataclass(frozen=True, eq=False)  # (its arrays have no one truth value)
class Pieces:
    """A version's rows, as runs of stored records; every record once, no piece empty."""

    counts: IntArray  # records in each piece
    owners: IntArray  # the version whose blocks hold them
    starts: IntArray  # where in the owner's blocks the first one is
    idents: IntArray  # the first one's identity; the others' follow it

    @classmethod
    def whole(cls, owner: int, count: int) -> Pieces:
        """Records 0 to ``count`` of ``owner``'s blocks: an upload, or what shares its blocks
        (a restore, rows added in place)."""
        if not count:
            return cls.of([])
        return cls.of([(count, owner, 0, ident(owner, 0))])

    @classmethod
    def of(cls, pieces: Sequence[tuple[int, int, int, int]]) -> Pieces:
        table = np.asarray(pieces, dtype=np.int64).reshape(-1, FIELDS)
        return cls(*(np.ascontiguousarray(table[:, i]) for i in range(FIELDS)))

    @classmethod
    def decode(cls, data: bytes) -> Pieces:
        table = np.frombuffer(data, dtype="<i8").reshape(-1, FIELDS).astype(np.int64)
        return cls(*(np.ascontiguousarray(table[:, i]) for i in range(FIELDS)))

    def encode(self) -> bytes:
        table = np.stack([self.counts, self.owners, self.starts, self.idents], axis=1)
        return table.astype("<i8").tobytes()

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def ends(self) -> IntArray:
        """Where each piece ends among the version's records (exclusive)."""
        return np.cumsum(self.counts)

    @property
    def total(self) -> int:
        """The version's records."""
        return int(self.ends[-1]) if len(self.counts) else 0

    def segments(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """Records ``start`` to ``stop`` of the version, as (owner, place, count): where to
        read them, in order."""
        stop = min(stop, self.total)
        found = []
        i = int(np.searchsorted(self.ends, start, side="right"))
        at = start
        while at < stop:
            first = int(self.ends[i] - self.counts[i])
            end = min(int(self.ends[i]), stop)
            found.append((int(self.owners[i]), int(self.starts[i]) + at - first, end - at))
            at = end
            i += 1
        return found

    def identities(self, records: IntArray) -> IntArray:
        """The identities of these records of the version."""
        i, within = self._located(records)
        return self.idents[i] + within

    def places(self, records: IntArray) -> tuple[IntArray, IntArray]:
        """Where these records of the version are kept: each one's owner, and its place in
        the owner's blocks."""
        i, within = self._located(records)
        return self.owners[i], self.starts[i] + within

    def _located(self, records: IntArray) -> tuple[IntArray, IntArray]:
        """The piece each record is in, and how far into it."""
        i = np.searchsorted(self.ends, records, side="right")
        return i, records - (self.ends[i] - self.counts[i])

    @cached_property
    def _by_ident(self) -> tuple[IntArray, IntArray]:
        order = np.argsort(self.idents, kind="stable")
        return order, self.idents[order]

    def records_of(self, identities: IntArray) -> IntArray:
        """Where rows of these identities are among the version's records; -1 for those it
        does not hold (deleted)."""
        identities = np.asarray(identities, dtype=np.int64)
        if not len(self.counts):
            return np.full(len(identities), -1, np.int64)
        order, firsts = self._by_ident
        j = np.searchsorted(firsts, identities, side="right") - 1
        k = order[np.maximum(j, 0)]
        within = identities - self.idents[k]
        held = (j >= 0) & (within >= 0) & (within < self.counts[k])
        return np.where(held, self.ends[k] - self.counts[k] + within, -1)

    def changed(
        self,
        owner: int,
        replaced: IntArray,
        deleted: IntArray,
        added: int,
        added_at: tuple[int, int] | None = None,
    ) -> Pieces:
        """The pieces after a change that stores its records in ``owner``'s blocks, one after
        the other: first the new records of the rows ``replaced`` (in order of the records,
        each keeping its identity), then the ``added`` rows after the last; the rows
        ``deleted`` go. ``added_at``: (owner, place) where the added rows are stored instead,
        if elsewhere (rows added where another version's blocks end)."""
        replaced = np.unique(replaced)
        deleted = np.setdiff1d(np.unique(deleted), replaced)
        touched = np.union1d(replaced, deleted)
        out: list[tuple[IntArray, ...]] = []
        at = 0
        new_place = 0
        # the untouched runs between touched records, cut from the pieces in one go each
        replaced_set = set(replaced.tolist())
        for record in touched.tolist():
            if record > at:
                out.append(self._span(at, record))
            if record in replaced_set:
                one = np.ones(1, np.int64)
                out.append(
                    (
                        one,
                        one * owner,
                        one * new_place,
                        self.identities(np.asarray([record], np.int64)),
                    )
                )
                new_place += 1
            at = record + 1
        if at < self.total:
            out.append(self._span(at, self.total))
        if added:
            where_owner, place = added_at if added_at is not None else (owner, new_place)
            one = np.ones(1, np.int64)
            out.append(
                (one * added, one * where_owner, one * place, one * ident(where_owner, place))
            )
        return merged(out)

    def _span(self, start: int, stop: int) -> tuple[IntArray, ...]:
        """Records ``start`` to ``stop`` as pieces (the first and last cut to them)."""
        i = int(np.searchsorted(self.ends, start, side="right"))
        j = int(np.searchsorted(self.ends, stop, side="left"))
        counts = self.counts[i : j + 1].copy()
        starts = self.starts[i : j + 1].copy()
        idents = self.idents[i : j + 1].copy()
        skip = start - int(self.ends[i] - self.counts[i])
        counts[0] -= skip
        starts[0] += skip
        idents[0] += skip
        counts[-1] -= int(self.ends[j]) - stop
        return counts, self.owners[i : j + 1].copy(), starts, idents


def merged(parts: list[tuple[IntArray, ...]]) -> Pieces:
    """Pieces one after the other, neighbours that continue each other made one."""
    if not parts:
        return Pieces.of([])
    counts, owners, starts, idents = (np.concatenate([p[f] for p in parts]) for f in range(4))
    keep = counts > 0
    counts, owners, starts, idents = counts[keep], owners[keep], starts[keep], idents[keep]
    if not len(counts):
        return Pieces.of([])
    follows = np.zeros(len(counts), bool)
    follows[1:] = (
        (owners[1:] == owners[:-1])
        & (starts[1:] == starts[:-1] + counts[:-1])
        & (idents[1:] == idents[:-1] + counts[:-1])
    )
    heads = np.flatnonzero(~follows)
    return Pieces(np.add.reduceat(counts, heads), owners[heads], starts[heads], idents[heads])


def shared(new: Pieces, old: Pieces) -> list[tuple[int, int, int]]:
    """Where ``new``'s records are ``old``'s, the same stored records: (record in new, record
    in old, count) runs, in new's order, each as long as it goes. What a version's columns
    are made of from another's (the records between the runs are new, or changed: read from
    the store)."""
    if not len(new) or not len(old):
        return []
    order = np.lexsort((old.starts, old.owners))  # by owner, then by start
    owners, starts = old.owners[order], old.starts[order]
    counts = old.counts[order]
    at = (old.ends - old.counts)[order]  # where each piece's records are in old
    runs = []
    new_at = new.ends - new.counts
    for i in range(len(new)):
        owner, start, count = int(new.owners[i]), int(new.starts[i]), int(new.counts[i])
        stop = start + count
        # old pieces of this owner that end after ``start`` and begin before ``stop``
        j = int(np.searchsorted(owners, owner, side="left"))
        end = int(np.searchsorted(owners, owner, side="right"))
        j = max(j, int(np.searchsorted(starts[j:end], start, side="right")) + j - 1)
        while j < end and int(starts[j]) < stop:
            first = max(start, int(starts[j]))
            last = min(stop, int(starts[j] + counts[j]))
            if first < last:
                runs.append(
                    (
                        int(new_at[i]) + first - start,
                        int(at[j]) + first - int(starts[j]),
                        last - first,
                    )
                )
            j += 1
    return _joined(runs)


def _joined(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Runs that continue each other on both sides, made one: a much changed table's pieces
    are thousands, while a change keeps all but a few of them as they were (and what reads
    the runs, a column slice each, or a stretch marked shared, takes one)."""
    joined: list[tuple[int, int, int]] = []
    for new_at, old_at, count in runs:
        if joined:
            last_new, last_old, last_count = joined[-1]
            if last_new + last_count == new_at and last_old + last_count == old_at:
                joined[-1] = (last_new, last_old, last_count + count)
                continue
        joined.append((new_at, old_at, count))
    return joined


def by_identity(
    new: Pieces, old: Pieces
) -> tuple[IntArray, IntArray, list[tuple[int, int]]] | None:
    """What changed from ``old`` to ``new``, row by row, by identity (see matched); None where
    the two share no stored record: unrelated uploads, compared by content instead."""
    runs = shared(new, old)
    return matched(new, old, runs) if runs else None


def matched(
    new: Pieces, old: Pieces, runs: list[tuple[int, int, int]]
) -> tuple[IntArray, IntArray, list[tuple[int, int]]]:
    """Beyond the records ``new`` and ``old`` share (``runs``, see shared), by identity: old's
    records that are gone (removed), new's records of rows old did not have (added), and (old
    record, new record) pairs of a row stored anew (changed, if its cells differ)."""
    covered_new = np.zeros(new.total, bool)
    covered_old = np.zeros(old.total, bool)
    for new_at, old_at, count in runs:
        covered_new[new_at : new_at + count] = True
        covered_old[old_at : old_at + count] = True
    rest = np.flatnonzero(~covered_new)
    there = old.records_of(new.identities(rest)) if len(rest) else rest
    paired = there >= 0
    paired[paired] = ~covered_old[there[paired]]
    covered_old[there[paired]] = True
    changed = list(zip(there[paired].tolist(), rest[paired].tolist(), strict=True))
    return np.flatnonzero(~covered_old), rest[~paired], changed


# A version with this many pieces or more keeps them in chunks shared with the versions it was
# made of (see chunked): each change stores the chunks it changed and a list of the rest.
# Stored whole, pieces grow with every scattered change (two a changed row that does not
# merge), and each change stores them all again: past some 2,000, more than 64 KiB a change.
CHUNKED = 1024
# Pieces in a chunk: about this many (a power of two), this many at most
CHUNK_PIECES = 128
CHUNK_MOST = 512
# A kept list of chunks starts with this (4 bytes, and 8 an id: never a multiple of PIECE_BYTES,
# as pieces kept whole are)
CHUNK_LIST = b"PCL1"
CHUNK_ID_BYTES = 8
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
    dtype=np.uint64,
)


def chunked(pieces: Pieces) -> list[bytes]:
    """The pieces as they are kept in chunks: cut after each piece whose own hash says so (a
    chunk ends where its content says, not at a count, so that a change of a few pieces
    changes the chunks around them only, and every other chunk is one a version before kept
    already), and after CHUNK_MOST pieces without such a cut."""
    table = np.stack([pieces.counts, pieces.owners, pieces.starts, pieces.idents], axis=1)
    with np.errstate(over="ignore"):
        mixed = (table.astype(np.uint64) * _MIX).sum(axis=1, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(31)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(29)
    cuts = (np.flatnonzero((mixed & np.uint64(CHUNK_PIECES - 1)) == 0) + 1).tolist()
    ends: list[int] = []
    last = 0
    for cut in [*cuts, len(table)]:
        while cut - last > CHUNK_MOST:
            last += CHUNK_MOST
            ends.append(last)
        if cut > last:
            ends.append(cut)
            last = cut
    data = table.astype("<i8").tobytes()
    starts = [0, *ends[:-1]]
    return [data[a * PIECE_BYTES : b * PIECE_BYTES] for a, b in zip(starts, ends, strict=True)]


def chunk_id(chunk: bytes) -> bytes:
    """A chunk's name among its document's: a hash of its bytes (confirmed byte for byte
    where a chunk of that name is kept already: see tablecast.store.sql.keep_pieces)."""
    return hashlib.blake2b(chunk, digest_size=CHUNK_ID_BYTES).digest()


def listed(kept: bytes) -> list[bytes] | None:
    """The chunks' ids, where ``kept`` is a list of chunks; None: pieces kept whole."""
    if not kept.startswith(CHUNK_LIST) or len(kept) % PIECE_BYTES == 0:
        return None
    ids = kept[len(CHUNK_LIST) :]
    return [ids[i : i + CHUNK_ID_BYTES] for i in range(0, len(ids), CHUNK_ID_BYTES)]
