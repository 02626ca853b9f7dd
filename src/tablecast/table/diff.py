"""What changed between two versions of a table: rows added, removed and changed, and in a
changed row the cells that changed. Pure: record hashes and cells in, the differences out
(reading the versions is tablecast.service.views's).

Rows are matched by content: each row's stored record (its cells as JSON, exactly as written)
is hashed (:func:`record_hashes`), and the two sequences of hashes are aligned
(:func:`align`) the way ``diff`` aligns lines: the rows both versions share in the same order
are unchanged, and what lies between them is rows removed, added or, where a run of rows
removed meets a run added at the same place, rows changed (paired by the cells they share,
see :func:`alike`). A row that only moved is not a change. With a key column (:func:`pair_by`)
the rows removed and added are paired by their key's value instead, wherever they are: a row
whose key stays is changed, or unchanged if only its place did.

The hash is a polynomial one over the record's bytes modulo 2**64, computed for a block of
records at a time with numpy. Such a hash can be made to collide on purpose, so a hash never
decides on its own that two rows are equal: the caller compares the rows the alignment
matched (:meth:`Alignment.matched`) and treats those that differ as changed
(:meth:`Alignment.unmatch`), so a collision costs the alignment its precision, never the
answer its truth.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.uint64]
Positions = npt.NDArray[np.int64]

_BASE = np.uint64(0x100000001B3)  # odd, so that it has an inverse modulo 2**64
_INVERSE = np.uint64(pow(int(_BASE), -1, 1 << 64))
# Bytes hashed at a time: the products of a piece are 8 bytes a byte each, and the powers
# of the base (kept) 8 bytes for each byte of a piece
CHUNK_BYTES = 1 << 20
# A run of rows between two anchors up to this long on both sides is aligned row by row
# (difflib); a longer one is compared in place (see _gap): difflib's time grows with the
# product of the runs' lengths, and so may a diff's, with many runs. So does a diff's whole
# row-by-row work: past EXACT_WORK (the products summed), runs are compared in place too.
EXACT_GAP = 2_000
EXACT_WORK = 20_000_000
# Rows (of each side) between the first and last that differ up to which anchors are found by
# sorting (some 40 bytes a row for the while, and where rows moved, a second of Python a
# million); past it, rows are compared in place (two unlike 13.7M-row versions: some 550 MB).
MAX_SORTED = 2_000_000
# Rows inserted or removed (the difference in length) up to which rows are first looked for
# where they were, or as many rows on (see _shifted): a pass over the rows each
MAX_SHIFT = 64
# Row pairs of runs removed and added at the same place compared cell by cell to pair the
# rows most alike (see alike), per run and in all: Python's time, a few microseconds a pair
LIKENESS_WORK = 10_000


def record_hashes(text: npt.NDArray[np.uint8], starts: Positions) -> Hashes:
    """A 64-bit hash of each record: ``text[starts[i]:starts[i + 1]]`` for each i (``starts``
    ends with where one after the last would start). ``text`` of about CHUNK_BYTES: the
    caller hands a version over in pieces."""
    count = len(starts) - 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    first = int(starts[0])
    size = int(starts[-1]) - first
    if size == 0:
        return np.zeros(count, np.uint64)
    within = (starts[:-1] - first).astype(np.int64)
    with np.errstate(over="ignore"):
        # sum of byte * base**position over each record, times base**-its start
        weighted = text[first : first + size] * _powers(size)
        sums = np.add.reduceat(weighted, np.minimum(within, size - 1))
        lengths = (starts[1:] - starts[:-1]).astype(np.uint64)
        sums[lengths == 0] = 0  # (reduceat gives an empty range its first element)
        # the length too, so that records differing only in trailing zero bytes differ
        return sums * _inverse_powers(within, size) ^ lengths * _INVERSE


def run_hashes(data: bytes, starts: Positions) -> Hashes:
    """Each record's hash (see record_hashes) of records one after the other in ``data``,
    ``starts`` as there, hashed a piece of about CHUNK_BYTES at a time."""
    parts = []
    count = len(starts) - 1
    first = 0
    while first < count:
        stop = int(np.searchsorted(starts, starts[first] + CHUNK_BYTES, side="right")) - 1
        stop = min(max(stop, first + 1), count)
        at, end = int(starts[first]), int(starts[stop])
        text = np.frombuffer(data, np.uint8, count=end - at, offset=at)
        parts.append(record_hashes(text, starts[first : stop + 1] - at))
        first = stop
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


# base**0, base**1... and base**-0, base**-1... for a piece of CHUNK_BYTES, made once (16 MiB)
_POWERS: list[tuple[Hashes, Hashes]] = []


def _powers(count: int) -> Hashes:
    """base**0 to base**(count - 1), modulo 2**64."""
    if count <= CHUNK_BYTES:
        return _kept_powers()[0][:count]
    return _accumulated(_BASE, count)  # (a record longer than a piece: rare)


def _inverse_powers(exponents: Positions, count: int) -> Hashes:
    """base**-e for each e (all below ``count``), modulo 2**64."""
    if count <= CHUNK_BYTES:
        return _kept_powers()[1][exponents]
    return _accumulated(_INVERSE, count)[exponents]


def _kept_powers() -> tuple[Hashes, Hashes]:
    if not _POWERS:
        _POWERS.append((_accumulated(_BASE, CHUNK_BYTES), _accumulated(_INVERSE, CHUNK_BYTES)))
    return _POWERS[0]


def _accumulated(base: np.uint64, count: int) -> Hashes:
    powers = np.full(count, base, np.uint64)
    powers[0] = 1
    with np.errstate(over="ignore"):
        return np.multiply.accumulate(powers)


@dataclass
class Alignment:
    """Which rows of the old version (``a``, their hashes) and the new (``b``) are the same
    row: ``pairs`` of 0-based positions in order on both sides, and rows that moved; every
    other row is removed (a), added (b) or, paired in place, changed."""

    a: Hashes
    b: Hashes
    pairs_a: Positions
    pairs_b: Positions
    # indexes of pairs whose rows differ, told by unmatch: those rows are changed
    unmatched: set[int] = field(default_factory=set)
    moved: list[tuple[int, int]] = field(default_factory=list)

    def matched(self) -> tuple[Positions, Positions]:
        """The pairs the caller must confirm are equal (the hash says so)."""
        return self.pairs_a, self.pairs_b

    def unmatch(self, indexes: Iterable[int]) -> None:
        """Pairs (by their index in ``matched``) whose rows turned out to differ."""
        self.unmatched.update(indexes)

    def moves(self) -> list[tuple[int, int]]:
        """Rows left out of the pairs on both sides with the same hash: a row that moved (the
        caller confirms each with :meth:`moved_rows`)."""
        same_a, same_b = self._kept()
        left_a = np.setdiff1d(np.arange(len(self.a)), same_a, assume_unique=True)
        left_b = np.setdiff1d(np.arange(len(self.b)), same_b, assume_unique=True)
        paired, _, _ = pair_by(
            left_a.tolist(), self.a[left_a].tolist(), left_b.tolist(), self.b[left_b].tolist()
        )
        return paired

    def moved_rows(self, moves: Iterable[tuple[int, int]]) -> None:
        """Rows that moved, as confirmed: neither removed nor added."""
        self.moved.extend(moves)

    def _kept(self) -> tuple[Positions, Positions]:
        keep = np.ones(len(self.pairs_a), bool)
        keep[list(self.unmatched)] = False
        return self.pairs_a[keep], self.pairs_b[keep]

    def changes(self) -> Changes:
        """Rows removed, added and changed: between two rows that stayed, the rows of the old
        version paired in order with the new's, the rest removed or added; rows that moved
        are none of them."""
        same_a, same_b = self._kept()
        gone_a = {a for a, _ in self.moved}
        gone_b = {b for _, b in self.moved}
        # between consecutive kept pairs (and before the first, after the last): a run each
        edges_a = np.concatenate([[-1], same_a, [len(self.a)]])
        edges_b = np.concatenate([[-1], same_b, [len(self.b)]])
        runs = np.nonzero((np.diff(edges_a) > 1) | (np.diff(edges_b) > 1))[0]
        changes = Changes()
        for run in runs.tolist():
            rows_a = range(int(edges_a[run]) + 1, int(edges_a[run + 1]))
            rows_b = range(int(edges_b[run]) + 1, int(edges_b[run + 1]))
            left_a = [row for row in rows_a if row not in gone_a]
            left_b = [row for row in rows_b if row not in gone_b]
            paired = min(len(left_a), len(left_b))
            changes.changed.extend(zip(left_a[:paired], left_b[:paired], strict=True))
            changes.removed.extend(left_a[paired:])
            changes.added.extend(left_b[paired:])
            if left_a and left_b:
                changes.runs.append((left_a, left_b))
        return changes


@dataclass
class Changes:
    """0-based rows: ``removed`` of the old version, ``added`` of the new, ``changed`` as
    (old, new) pairs."""

    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    changed: list[tuple[int, int]] = field(default_factory=list)
    # runs of rows removed and added at the same place, paired in order in ``changed``: what
    # alike may pair better (see alike)
    runs: list[tuple[list[int], list[int]]] = field(default_factory=list, compare=False)


def alike(
    changes: Changes,
    cells: Callable[[list[int], list[int]], tuple[list[list[str]], list[list[str]]]],
) -> Changes:
    """The changes with each run of rows removed and added at the same place paired by what
    they share, not by their order: the pairs, in order on both sides, that share the most
    cells, each sharing one at least (a row no other shares a cell with is removed, or added).
    ``cells(old_rows, new_rows)``: the rows' cells. Runs of LIKENESS_WORK row pairs or more,
    and those past LIKENESS_WORK in all, stay paired in order; so do runs of one row each."""
    work = LIKENESS_WORK
    redone_a: set[int] = set()  # rows of the runs paired anew
    redone_b: set[int] = set()
    chosen: list[tuple[int, int]] = []
    for old_rows, new_rows in changes.runs:
        size = len(old_rows) * len(new_rows)
        if size == 1 or size > work:
            continue
        work -= size
        old, new = cells(old_rows, new_rows)
        chosen.extend((old_rows[i], new_rows[j]) for i, j in _likest(old, new))
        redone_a.update(old_rows)
        redone_b.update(new_rows)
    if not redone_a:
        return changes
    paired_a = {a for a, _ in chosen}
    paired_b = {b for _, b in chosen}
    changed = [pair for pair in changes.changed if pair[0] not in redone_a] + chosen
    removed = [row for row in changes.removed if row not in redone_a]
    removed += [row for row in redone_a if row not in paired_a]
    added = [row for row in changes.added if row not in redone_b]
    added += [row for row in redone_b if row not in paired_b]
    return Changes(sorted(removed), sorted(added), sorted(changed, key=lambda pair: pair[1]))


def _likest(old: list[list[str]], new: list[list[str]]) -> list[tuple[int, int]]:
    """Pairs (i, j) of rows, in order on both sides, sharing the most cells in all (a pair
    sharing none is no pair): an alignment of the two runs, as diff aligns characters."""
    n, m = len(old), len(new)
    score = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            shared = sum(1 for x, y in zip(old[i], new[j], strict=False) if x == y)
            best = max(score[i + 1][j], score[i][j + 1])
            if shared:
                best = max(best, score[i + 1][j + 1] + shared)
            score[i][j] = best
    pairs = []
    i = j = 0
    while i < n and j < m:
        shared = sum(1 for x, y in zip(old[i], new[j], strict=False) if x == y)
        if shared and score[i][j] == score[i + 1][j + 1] + shared:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif score[i + 1][j] >= score[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def align(a: Hashes, b: Hashes) -> Alignment:
    """Rows of ``a`` and ``b`` (their hashes) that are the same row, in order on both sides:
    the rows they start and end with in common; between those, every row found exactly once
    in each (most rows of most tables) whose pairs keep their order, the longest such run of
    them; between those, row by row (see _gap)."""
    n, m = len(a), len(b)
    shortest = min(n, m)
    differ = np.nonzero(a[:shortest] != b[:shortest])[0]
    head = int(differ[0]) if len(differ) else shortest
    rest = shortest - head
    differ = np.nonzero(a[n - rest :][::-1] != b[m - rest :][::-1])[0] if rest else differ[:0]
    tail = int(differ[0]) if len(differ) else rest
    middle_a, middle_b = a[head : n - tail], b[head : m - tail]
    inner_a, inner_b = _anchored(middle_a, middle_b)
    pairs_a = [np.arange(head, dtype=np.int64), inner_a + head]
    pairs_b = [np.arange(head, dtype=np.int64), inner_b + head]
    pairs_a.append(np.arange(n - tail, n, dtype=np.int64))
    pairs_b.append(np.arange(m - tail, m, dtype=np.int64))
    return Alignment(a, b, np.concatenate(pairs_a), np.concatenate(pairs_b))


def _anchored(a: Hashes, b: Hashes) -> tuple[Positions, Positions]:
    """Pairs of positions in ``a`` and ``b`` holding the same hash, in order on both sides."""
    if not len(a) or not len(b):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    shifted = _shifted(a, b)
    if shifted is not None:
        anchors_a, anchors_b = shifted
    elif len(a) + len(b) > 2 * MAX_SORTED:
        return _gap(a, b, 0)
    else:
        once_a, at_a = _once(a)
        once_b, at_b = _once(b)
        _, in_a, in_b = np.intersect1d(once_a, once_b, assume_unique=True, return_indices=True)
        anchors_a, anchors_b = at_a[in_a], at_b[in_b]
        order = np.argsort(anchors_a, kind="stable")
        anchors_a, anchors_b = anchors_a[order], anchors_b[order]
    if len(anchors_b) > 1 and not bool(np.all(np.diff(anchors_b) > 0)):
        # rows moved: keep the most that did not; of two such runs (found from the start
        # and from the end), the one whose rows moved least
        ahead = _longest_increasing(anchors_b)
        behind = (len(anchors_b) - 1 - _longest_increasing(-anchors_b[::-1]))[::-1]
        kept = min(
            (ahead, behind), key=lambda rows: int(np.abs(anchors_a[rows] - anchors_b[rows]).sum())
        )
        anchors_a, anchors_b = anchors_a[kept], anchors_b[kept]
    edges_a = np.concatenate([[-1], anchors_a, [len(a)]])
    edges_b = np.concatenate([[-1], anchors_b, [len(b)]])
    runs = np.nonzero((np.diff(edges_a) > 1) & (np.diff(edges_b) > 1))[0]
    # a row between two anchors on each side (a row changed in place: most runs, where cells
    # were edited) is the same row if its hash is, all of them at once
    single = (edges_a[runs + 1] - edges_a[runs] == 2) & (edges_b[runs + 1] - edges_b[runs] == 2)
    lone_a, lone_b = edges_a[runs[single]] + 1, edges_b[runs[single]] + 1
    same = a[lone_a] == b[lone_b]
    found_a, found_b = [lone_a[same]], [lone_b[same]]
    runs = runs[~single]
    work = EXACT_WORK - int(single.sum())
    for run in runs.tolist():
        a0, a1 = int(edges_a[run]) + 1, int(edges_a[run + 1])
        b0, b1 = int(edges_b[run]) + 1, int(edges_b[run + 1])
        gap_a, gap_b = _gap(a[a0:a1], b[b0:b1], work)
        work -= (a1 - a0) * (b1 - b0)
        found_a.append(gap_a + a0)
        found_b.append(gap_b + b0)
    every_a = np.concatenate([anchors_a, *found_a]) if found_a else anchors_a
    every_b = np.concatenate([anchors_b, *found_b]) if found_b else anchors_b
    order = np.argsort(every_a, kind="stable")
    return every_a[order].astype(np.int64), every_b[order].astype(np.int64)


def _shifted(a: Hashes, b: Hashes) -> tuple[Positions, Positions] | None:
    """Where a few rows were inserted or removed, or none (cells edited), most rows are where
    they were or a few rows on: pairs of the same rows found at each shift from none to the
    difference in length (MAX_SHIFT at most), a pass each and no sort; None if they are not
    most rows."""
    difference = len(b) - len(a)
    if abs(difference) > MAX_SHIFT:
        return None
    found = np.full(len(a), -1, np.int64)  # where in b each row of a is, if found
    for shift in range(min(0, difference), max(0, difference) + 1):
        low, high = max(0, -shift), min(len(a), len(b) - shift)
        if high <= low:
            continue
        new = (a[low:high] == b[low + shift : high + shift]) & (found[low:high] < 0)
        found[low:high][new] = np.nonzero(new)[0] + low + shift
    rows_a = np.nonzero(found >= 0)[0].astype(np.int64)
    if len(rows_a) <= len(a) // 2:
        return None
    rows_b = found[rows_a]
    # a repeated row may be found at two shifts, out of order: the pairs that are not keep
    # their order (a shift is at most MAX_SHIFT, so few are left out)
    ahead = rows_b > np.maximum.accumulate(np.concatenate([[-1], rows_b[:-1]]))
    return rows_a[ahead], rows_b[ahead]


def _once(hashes: Hashes) -> tuple[Hashes, Positions]:
    """The hashes found exactly once, sorted, and where each is."""
    values, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    single = counts == 1
    return values[single], first[single].astype(np.int64)


def _longest_increasing(values: Positions) -> Positions:
    """Indexes of a longest strictly increasing subsequence of ``values`` (patience sorting:
    O(n log n), in Python; only where rows moved)."""
    tails: list[int] = []  # the least last value of an increasing run of each length
    tail_at: list[int] = []
    previous = np.full(len(values), -1, np.int64)
    for i, value in enumerate(values.tolist()):
        length = bisect_left(tails, value)
        if length == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[length] = value
            tail_at[length] = i
        previous[i] = tail_at[length - 1] if length else -1
    kept = []
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        kept.append(i)
        i = int(previous[i])
    return np.array(kept[::-1], np.int64)


def _gap(a: Hashes, b: Hashes, work: int) -> tuple[Positions, Positions]:
    """Same rows, in order, between two anchors: rows repeated in the table (no anchor holds
    them), or moved. Short runs row by row; long ones (a column of repeated rows) in place:
    the rows at the same distance from the run's start that are the same."""
    if len(a) == 1 and len(b) == 1:  # (a row changed in place: most gaps, and difflib's cost)
        same = np.zeros(int(a[0] == b[0]), np.int64)
        return same, same
    if len(a) <= EXACT_GAP and len(b) <= EXACT_GAP and len(a) * len(b) <= work:
        matcher = difflib.SequenceMatcher(None, a.tolist(), b.tolist(), autojunk=False)
        found_a: list[int] = []
        found_b: list[int] = []
        for i, j, size in matcher.get_matching_blocks():
            found_a.extend(range(i, i + size))
            found_b.extend(range(j, j + size))
        return np.array(found_a, np.int64), np.array(found_b, np.int64)
    shortest = min(len(a), len(b))
    same = np.nonzero(a[:shortest] == b[:shortest])[0].astype(np.int64)
    return same, same


def pair_by(
    old_rows: Sequence[int],
    old_keys: Sequence[Any],
    new_rows: Sequence[int],
    new_keys: Sequence[Any],
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Rows of the old version and of the new paired by a value of theirs (a key column's
    cell, or the row's hash: a row that moved), wherever they are; a value found several
    times is paired in order. Returns the pairs (in the new version's order) and the rows of
    each side left unpaired (in order)."""
    waiting: defaultdict[Any, list[int]] = defaultdict(list)
    for row, key in zip(old_rows, old_keys, strict=True):
        waiting[key].append(row)
    for rows in waiting.values():
        rows.reverse()  # (popped from the end: first found, first paired)
    paired: list[tuple[int, int]] = []
    new_left = []
    for row, key in zip(new_rows, new_keys, strict=True):
        found = waiting.get(key)
        if found:
            paired.append((found.pop(), row))
        else:
            new_left.append(row)
    old_left = sorted(row for rows in waiting.values() for row in rows)
    paired.sort(key=lambda pair: pair[1])
    return paired, old_left, sorted(new_left)


def changed_cells(old: Sequence[str], new: Sequence[str]) -> dict[str, list[str | None]]:
    """The cells that differ, by 0-based column (as a string: a JSON key), old and new (None
    where a ragged row has no such cell)."""
    cells: dict[str, list[str | None]] = {}
    for column in range(max(len(old), len(new))):
        was = old[column] if column < len(old) else None
        now = new[column] if column < len(new) else None
        if was != now:
            cells[str(column)] = [was, now]
    return cells
