"""What a column holds, over the rows a view shows: its profile (counts, least and greatest
values, mean, top values, a histogram) and its facet values' counts. Pure: the cells of the
rows a view shows, as an Arrow column, in; plain dicts out (the views thread runs it,
tablecast.service.views picks the cells and keeps what it made).

Everything is Arrow compute and numpy over the whole selection at once, never a Python step
per row: a column of a million cells is profiled in tens of milliseconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .columns import (
    DECIMAL_COMMA,
    EXACT,
    NUMERIC,
    SORT_SAMPLE,
    Array,
    leading_bytes,
    missing,
    mostly_distinct,
    numbers,
    reads_as,
    seconds,
    shown,
    trailing_bytes,
)

TOP = 10  # values a profile lists, most frequent first
BINS = 20  # a histogram's bins, of equal width from the least value to the greatest
TIMES = ("date", "datetime")  # kinds read as instants
# Told of each chunk of a column's cells once a pass has read it: the views give back the
# pages of the columns file it was read from (TableText.let_go), so that a pass over a column
# of 13.7 million cells does not hold all of it in the process's RSS while it runs
Passing = Callable[[Sequence[pa.Array]], None]
Passed = Passing | None


def _nothing(arrays: Sequence[pa.Array]) -> None:
    """(A column not read from a file.)"""


# Cells of a long column whose values are counted at a time (see _counted)
PART_CELLS = 1 << 20
MEASURED = (*NUMERIC, *TIMES)  # kinds whose values a profile counts by sorting them


def profile(
    cells: pa.ChunkedArray, kind: str, inferred: str, passed: Passed = None
) -> dict[str, Any]:
    """The profile of a column's cells (see docs/protocol.md, *Column profiles*). ``kind``: what
    its values are read as (columns.KINDS, or an override's type); ``inferred``: the kind its
    values were found to be. A value that does not read as ``kind`` is invalid: counted apart,
    left out of min, max, mean and histogram (there are none where ``kind`` is ``inferred``:
    inference found every value to be of it).

    Everything after one count of the column's values is done on its distinct values, weighted
    by their counts: a column of a million cells holding a thousand values is read once. Value
    counts list values in the order they first occur, so that of equal values (``1,200`` and
    ``1200``) the least and greatest are the first in file order.

    A column of mostly distinct numbers, dates or date-times read as its inferred kind is
    counted by sorting its values instead (see _by_value). ``passed``: told of each of the
    cells' chunks once a pass has read it (see Passed)."""
    if kind == inferred and kind in MEASURED and mostly_distinct(cells):
        found = _by_value(cells, kind, passed or _nothing)
        if found is not None:
            return found
    if kind == "text":  # (every value reads as text)
        top, distinct, values = _counted(cells, TOP, passed or _nothing, present_only=True)
        return {**_counts(kind, inferred, len(cells), values, 0, distinct), "top": top}
    counted = _value_counts(cells, passed or _nothing)
    counted = pc.filter(counted, pc.invert(missing(counted.field("values"))))
    distinct, counts = counted.field("values"), counted.field("counts")
    values = int(pc.sum(counts).as_py() or 0)
    readable = reads_as(distinct, kind) if kind != inferred else None
    valid_counts = counts if readable is None else pc.filter(counts, readable)
    valid = int(pc.sum(valid_counts).as_py() or 0)
    answer = _counts(kind, inferred, len(cells), values, values - valid, len(counts))
    if kind not in MEASURED:
        answer["top"] = listed(counted, TOP)
        return answer
    # each value as read (null if it does not read as the kind): ties in the top values go
    # by it, as a sort puts them (2 before 100)
    readings = _measured(distinct if readable is None else _only(distinct, readable), kind)
    answer["top"] = listed(counted, TOP, readings)
    measures = readings if readable is None else pc.filter(readings, readable)
    distinct = distinct if readable is None else pc.filter(distinct, readable)
    # distinct values, not spellings (1,200 is 1200), those not read counted by their text
    answer["distinct"] += _distinct_values(distinct, measures, kind) - len(measures)
    if not len(measures):
        return answer
    least_greatest = pc.min_max(measures)
    least, greatest = least_greatest["min"].as_py(), least_greatest["max"].as_py()
    answer["min"] = distinct[pc.index(measures, least).as_py()].as_py()
    answer["max"] = distinct[pc.index(measures, greatest).as_py()].as_py()
    data = np.asarray(measures.to_numpy(zero_copy_only=False), dtype=np.float64)
    weights = np.asarray(valid_counts.to_numpy(zero_copy_only=False), dtype=np.int64)
    if kind in NUMERIC:
        answer["mean"] = float(np.dot(data, weights) / valid)
    answer["histogram"] = histogram(data, weights, least, greatest)
    return answer


def _counts(
    kind: str, inferred: str, count: int, values: int, invalid: int, distinct: int
) -> dict[str, Any]:
    """A profile's counts, the rest of it empty (filled in as the column's kind has them)."""
    return {
        "type": shown([kind])[0],
        "inferred": shown([inferred])[0],
        "count": count,
        "values": values,
        "missing": count - values,
        "invalid": invalid,
        "distinct": distinct,
        "min": None,
        "max": None,
        "mean": None,
        "top": [],
        "histogram": None,
    }


def _distinct_values(written: Any, measures: Any, kind: str) -> int:
    """How many distinct values the distinct texts ``written`` (read as ``measures``) hold:
    integers told apart as int64 (float64 merges those beyond 2**53), unless they are wider;
    then as texts."""
    if kind != "integer":
        return len(pc.unique(measures))
    try:
        return len(pc.unique(pc.cast(pc.replace_substring(written, ",", ""), pa.int64())))
    except pa.ArrowInvalid:  # beyond int64
        return len(written)


def _only(values: Any, kept: Any) -> Any:
    """The values where ``kept``, null elsewhere."""
    return pc.if_else(kept, values, pa.scalar(None, pa.string()))


def _by_value(cells: pa.ChunkedArray, kind: str, passed: Passing) -> dict[str, Any] | None:
    """The profile of a column every value of which reads as ``kind`` (a number, date or
    date-time), its values counted by sorting them as float64, not by hashing their text:
    a hash table of a million mostly distinct cells took 200-250 ms, the sort 20-40 ms.
    Distinct values are distinct numbers or instants (``1,200`` and ``1200`` are one), each
    listed in its top values spelled as each of its cells is. None if float64 would merge
    distinct values (integers beyond 2**53), or a value does not read: then they are counted
    as text.

    Read a chunk at a time into one array, sorted in place, its runs counted a slice at a
    time: what it holds is about the values, 8 bytes a cell (a long column's values as read
    are read again for the few cells looked up after, rather than kept beside them: 13.7
    million cells held 770 MB before)."""
    kept: list[pa.Array] | None = [] if len(cells) <= 2 * PART_CELLS else None
    ordered = np.empty(len(cells), dtype=np.float64)
    values = 0
    try:
        for chunk in cells.chunks:
            read = _measured(chunk, kind)
            present = np.asarray(read.drop_null().to_numpy(), np.float64)
            ordered[values : values + len(present)] = present
            values += len(present)
            if kept is not None:
                kept.append(read)
            del read, present
            passed([chunk])
    except pa.ArrowInvalid:  # (a value Arrow reads not, which the pattern took: as text)
        return None
    ordered = ordered[:values]
    ordered.sort()
    if kind == "integer" and values and max(-ordered[0], ordered[-1]) >= EXACT:
        return None
    distinct, picked = _runs(ordered, TOP)
    answer = _counts(kind, kind, len(cells), values, 0, distinct)
    if not values:
        return answer
    least, greatest = float(ordered[0]), float(ordered[-1])
    if kind in NUMERIC:
        answer["mean"] = float(ordered.sum() / values)
    answer["histogram"] = _sorted_histogram(ordered)
    del ordered
    readings = kept if kept is not None else (_measured(chunk, kind) for chunk in cells.chunks)
    found = _looked_up(cells, readings, np.r_[picked, least, greatest], passed)
    answer["min"], answer["max"] = found.first(least), found.first(greatest)
    answer["top"] = found.spelled(picked)
    return answer


def _runs(ordered: npt.NDArray[np.float64], limit: int) -> tuple[int, npt.NDArray[np.float64]]:
    """How many distinct values sorted ``ordered`` holds, and the ``limit`` most frequent
    (most frequent first, ties by value), counted a slice of a million at a time (not a
    count for every distinct value at once: 13.7 million of them, 110 MB), each slice's most
    frequent picked before they meet the others' (every array made is fresh memory, and this
    machine's page faults made 50 MB of them a slice 30-200 ms)."""
    distinct = 0
    best, best_counts = np.zeros(0), np.zeros(0, dtype=np.int64)  # in order of value
    carried, carried_count = np.zeros(0), np.zeros(0, dtype=np.int64)  # a run going on
    for lo in range(0, len(ordered), PART_CELLS):
        piece = ordered[lo : lo + PART_CELLS]
        change = np.empty(len(piece), dtype=bool)
        change[0] = True
        np.not_equal(piece[1:], piece[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        del change
        counts = np.diff(starts, append=len(piece))
        if len(carried) and piece[0] == carried[0]:
            counts[0] += carried_count[0]
        elif len(carried):  # it ended where the slice before did
            distinct += 1
            best, best_counts = _most_of(
                np.r_[best, carried], np.r_[best_counts, carried_count], limit
            )
        # the last run may go on in the next slice
        carried, carried_count = piece[starts[-1:]], counts[-1:]
        distinct += len(starts) - 1
        picked = np.sort(_most_frequent(counts[:-1], limit))
        best, best_counts = _most_of(
            np.r_[best, piece[starts[picked]]], np.r_[best_counts, counts[picked]], limit
        )
    distinct += len(carried)
    best, best_counts = _most_of(np.r_[best, carried], np.r_[best_counts, carried_count], limit)
    return distinct, best[_most_frequent(best_counts, limit)]


def _most_of(
    values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64], limit: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The ``limit`` most frequent of values in order (ties: the first), still in order."""
    kept = np.sort(_most_frequent(counts.astype(np.int64), limit))
    return values[kept], counts[kept].astype(np.int64)


@dataclass
class _Found:
    """Cells holding some values (see _looked_up), in file order: their rows, their values as
    read, and as written."""

    rows: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    cells: pa.Array

    def first(self, value: float) -> Any:
        """The first cell holding ``value``, as written."""
        return self.cells[int(np.argmax(self.values == value))].as_py()

    def spelled(self, picked: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
        """The TOP most frequent values, each as written (a value written two ways is listed
        once each way, with the cells written so: a facet picks cells exactly as written),
        most frequent first, ties by value. Chosen among the ``picked`` values (the TOP most
        frequent, ties by value): a value split over several spellings could rank lower than
        one of them would alone."""
        mine = np.isin(self.values, picked)
        table = pa.table({"value": self.values[mine], "cell": self.cells.filter(pa.array(mine))})
        counted = table.group_by(["value", "cell"], use_threads=False).aggregate(
            [("value", "count")]
        )
        rank = {value: i for i, value in enumerate(picked.tolist())}
        entries = sorted(
            zip(
                counted.column("value").to_pylist(),
                counted.column("cell").to_pylist(),
                counted.column("value_count").to_pylist(),
                strict=True,
            ),
            key=lambda entry: (-entry[2], rank[entry[0]], entry[1]),
        )
        return [{"value": cell, "count": count} for _, cell, count in entries[:TOP]]


def _looked_up(
    cells: pa.ChunkedArray,
    readings: Iterable[pa.Array],
    wanted: npt.NDArray[np.float64],
    passed: Passing,
) -> _Found:
    """The cells whose values (``readings``, a chunk each) are among ``wanted``, in one pass."""
    wanted_values = pa.array(wanted, pa.float64())
    rows, values, written = [np.zeros(0, np.int64)], [np.zeros(0)], []
    at = 0
    for chunk, read in zip(cells.chunks, readings, strict=True):
        hits = pc.indices_nonzero(pc.fill_null(pc.is_in(read, value_set=wanted_values), False))
        rows.append(np.asarray(hits.to_numpy(), np.int64) + at)
        values.append(np.asarray(read.take(hits).to_numpy(zero_copy_only=False), np.float64))
        written.append(chunk.take(hits))
        at += len(chunk)
        passed([chunk])
    joined = pa.chunked_array(written, cells.type).combine_chunks()
    return _Found(np.concatenate(rows), np.concatenate(values), joined)


def _measured(cells: pa.Array, kind: str) -> pa.Array:
    """Each cell's value (a number, date or date-time as classify reads it) as float64:
    numbers, or seconds since the epoch; null where a cell holds none."""
    absent = missing(cells)
    if kind in NUMERIC and _read_directly(cells, kind, absent):
        # (a thousands separator is the one thing of a number Arrow's cast does not read)
        with contextlib.suppress(pa.ArrowInvalid):
            return pc.cast(cells, pa.float64())
    if kind in NUMERIC:
        return numbers(cells, kind == DECIMAL_COMMA, absent)
    return seconds(_only(cells, pc.invert(absent)))


def _read_directly(cells: pa.Array, kind: str, absent: Any) -> bool:
    """Whether the cells (numbers as classify reads them) may be read as they are by Arrow's
    cast: none is a marker of a missing value, and the point is no comma (then nothing is
    copied first: 15 ms for a million cells, against 40)."""
    return kind != DECIMAL_COMMA and (pc.sum(absent).as_py() or 0) == cells.null_count


def _sorted_histogram(ordered: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    """histogram() of values in order: where each bin's edge falls among them, not a bin
    found for each (bins hold the same values: np.histogram's rule is the edges', too)."""
    least, greatest = float(ordered[0]), float(ordered[-1])
    if greatest == least:
        return histogram(ordered[:1], np.array([len(ordered)], np.int64), least, greatest)
    edges = np.linspace(least, greatest, BINS + 1)
    at = np.r_[0, np.searchsorted(ordered, edges[1:-1], side="left"), len(ordered)]
    counts = np.diff(at)
    return [
        {"from": float(edges[i]), "to": float(edges[i + 1]), "count": int(counts[i])}
        for i in range(BINS)
    ]


def _most_frequent(counts: npt.NDArray[np.int64], limit: int) -> npt.NDArray[np.int64]:
    """Positions of the ``limit`` greatest counts, greatest first, ties by position, without
    sorting them all."""
    if len(counts) <= limit:
        return np.argsort(-counts, kind="stable")
    least = np.partition(counts, len(counts) - limit)[len(counts) - limit]
    above = np.flatnonzero(counts > least)
    above = above[np.argsort(-counts[above], kind="stable")]
    picked: Array = np.r_[above, np.flatnonzero(counts == least)[: limit - len(above)]]
    return picked.astype(np.int64)


def histogram(
    data: npt.NDArray[np.float64], weights: npt.NDArray[np.int64], least: float, greatest: float
) -> list[dict[str, Any]]:
    """BINS bins of equal width from ``least`` to ``greatest`` (the last one holds the
    greatest) of values ``data``, each counted ``weights`` times. All values equal: BINS bins
    of width 1 from the value, all of them in the first."""
    if greatest == least:
        edges = least + np.arange(BINS + 1, dtype=np.float64)
        counts = np.zeros(BINS, dtype=np.int64)
        counts[0] = int(weights.sum())
    else:
        counts, edges = np.histogram(data, bins=BINS, range=(least, greatest), weights=weights)
    return [
        {"from": float(edges[i]), "to": float(edges[i + 1]), "count": int(counts[i])}
        for i in range(BINS)
    ]


def facet_counts(cells: pa.ChunkedArray, limit: int, passed: Passed = None) -> dict[str, Any]:
    """How many of the cells hold each value (cells exactly as written; an empty one, or one
    past a short record's end, is ""), the ``limit`` most frequent first (ties by value), how
    many distinct values there are, and how many cells hold one not listed."""
    values, distinct, _ = _counted(cells, limit, passed or _nothing, present_only=False)
    return {
        "total_number": len(cells),
        "values": values,
        "distinct": distinct,
        "others": len(cells) - sum(value["count"] for value in values),
    }


def _counted(
    cells: pa.ChunkedArray, limit: int, passed: Passing, *, present_only: bool
) -> tuple[list[dict[str, Any]], int, int]:
    """The cells' values counted: the ``limit`` most frequent (ties by value), how many
    distinct values, how many cells hold one (``present_only``: missing ones left out; else
    a cell past a short record's end holds "", as an empty one does).

    A column of more than 2 PART_CELLS cells, mostly distinct, is counted a part of its
    distinct values at a time, each part the cells whose value falls in it (see _parts): a
    hash table of every distinct value of 13.7 million mostly distinct cells took 935 MiB; a
    part's, some 70. The most frequent of all are among the most frequent of each part."""
    distinct_values = mostly_distinct(cells)
    if distinct_values and len(cells) <= 2 * PART_CELLS:
        found = _by_numbers(cells, limit, passed, present_only=present_only)
        if found is not None:
            return found
    parts = -(-len(cells) // PART_CELLS) if len(cells) > 2 * PART_CELLS and distinct_values else 1
    which = _parts(cells, parts, passed) if parts > 1 else None
    top: list[dict[str, Any]] = []
    distinct = total = 0
    for part in range(parts):
        these = cells
        if which is not None:
            taken = []
            for chunk, where in zip(cells.chunks, which, strict=True):
                taken.append(chunk.filter(pa.array(where == part)))
                passed([chunk])
            these = pa.chunked_array(taken, cells.type)
        # (counts of each chunk are added up for a column of few values: of mostly distinct
        # ones, that would hash every value twice; a part's cells are copies anyway)
        chunked = which is None and not distinct_values
        counted = _value_counts(these, passed) if chunked else pc.value_counts(these)
        if present_only:
            counted = pc.filter(counted, pc.invert(missing(counted.field("values"))))
        else:
            counted = _nulls_as_empty(counted)
        distinct += len(counted)
        total += int(pc.sum(counted.field("counts")).as_py() or 0)
        top += listed(counted, limit)
        del these, counted
    if parts > 1:
        top = sorted(top, key=lambda value: (-value["count"], value["value"]))[:limit]
    return top, distinct, total


# A missing cell's number in _by_numbers: no text's (UTF-8 has no byte 0xff)
_NOTHING = np.uint64(2**64 - 1)


def _by_numbers(
    cells: pa.ChunkedArray, limit: int, passed: Passing, *, present_only: bool
) -> tuple[list[dict[str, Any]], int, int] | None:
    """_counted's answer for a column of mostly distinct texts, without a hash table of every
    value (Arrow's took 176 ms for a million 8-character codes): each cell's first 8 bytes
    as a number (see leading_bytes), or, where most cells share theirs with others (URLs,
    paths), its last 8 bytes, and those numbers counted by sorting them (13 ms). A number only
    one cell has is a text only that cell holds; the cells whose number others share (repeated
    values, or texts alike at both ends) are counted by their whole text. None if those are
    most of the cells."""
    reads = [leading_bytes, trailing_bytes]
    sample = cells.slice(0, SORT_SAMPLE).combine_chunks()
    sample = pc.filter(sample, pc.greater(pc.binary_length(sample), 0))  # (no empty ones)
    if len(np.unique(leading_bytes(sample))) <= len(sample) // 2:  # begin alike: skip a pass
        reads.pop(0)
    for read in reads:
        numbers = np.empty(len(cells), dtype=np.uint64)
        at = 0
        for chunk in cells.chunks:
            these = numbers[at : at + len(chunk)]
            these[:] = read(chunk)  # (a cell past a short record's end: "")
            if present_only:
                absent = missing(chunk).to_numpy(zero_copy_only=False)
                these[np.asarray(absent, dtype=bool)] = _NOTHING
            at += len(chunk)
            passed([chunk])
        values, counts = np.unique(numbers, return_counts=True)
        if len(values) and values[-1] == _NOTHING:
            values, counts = values[:-1], counts[:-1]
        total = int(counts.sum())
        shared = counts > 1
        if int(counts[shared].sum()) <= total // 2:
            break
    else:
        return None
    counted = None
    sharing = pc.is_in(pa.array(numbers), value_set=pa.array(values[shared]))
    if shared.any():  # the cells whose number others share, counted by their text
        counted = pc.value_counts(pc.filter(cells, sharing))
        counted = _nulls_as_empty(counted) if not present_only else counted
    top = listed(counted, limit) if counted is not None else []
    if len(top) < limit or top[-1]["count"] == 1:
        # the least of the texts held once may be among the top: by their first bytes, the
        # first ``limit`` numbers held alone; else the least of the cells held alone
        if read is leading_bytes:
            least = values[~shared][:limit]
            picked = pc.filter(cells, pc.is_in(pa.array(numbers), value_set=pa.array(least)))
        else:
            alone = pc.and_(pc.invert(sharing), pa.array(numbers != _NOTHING))
            picked = pc.filter(cells if present_only else pc.fill_null(cells, ""), alone)
            picked = picked.take(pc.bottom_k_unstable(picked, k=limit))
        top += [
            {"value": "" if value is None else value, "count": 1} for value in picked.to_pylist()
        ]
        top = sorted(top, key=lambda value: (-value["count"], value["value"]))[:limit]
    distinct = int((~shared).sum()) + (len(counted) if counted is not None else 0)
    return top, distinct, total


def _value_counts(cells: pa.ChunkedArray, passed: Passing) -> pa.StructArray:
    """pc.value_counts of the cells (values in the order they first occur), a chunk at a time,
    each given back once counted (a column of few values, 13.7 million cells long, held 190 MB
    of its file's pages while counted whole), the chunks' counts then added up."""
    if cells.num_chunks <= 1:
        counted = pc.value_counts(cells)
        passed(cells.chunks)
        return counted
    pieces = []
    for chunk in cells.chunks:
        pieces.append(pc.value_counts(chunk))
        passed([chunk])
    table = pa.Table.from_struct_array(pa.chunked_array(pieces)) if pieces else None
    if table is None or not table.num_rows:
        return pc.value_counts(cells.slice(0, 0))
    summed = table.group_by("values", use_threads=False).aggregate([("counts", "sum")])
    return pa.StructArray.from_arrays(
        [summed.column("values").combine_chunks(), summed.column("counts_sum").combine_chunks()],
        names=["values", "counts"],
    )


def _nulls_as_empty(counted: pa.StructArray) -> pa.StructArray:
    """Value counts with the cells past a short record's end (null) counted as "" (both
    fall in the same part: see _parts)."""
    values, counts = counted.field("values"), counted.field("counts")
    nulls = pc.is_null(values)
    held = int(pc.sum(pc.filter(counts, nulls)).as_py() or 0)
    if not held:
        return counted
    values, counts = pc.filter(values, pc.invert(nulls)), pc.filter(counts, pc.invert(nulls))
    empty = pc.equal(values, "")
    if pc.any(empty).as_py():
        counts = pc.add(counts, pc.if_else(empty, held, 0))
    else:
        values = pa.concat_arrays([values, pa.array([""], values.type)])
        counts = pa.concat_arrays([counts, pa.array([held], counts.type)])
    return pa.StructArray.from_arrays([values, counts], names=["values", "counts"])


def _parts(cells: pa.ChunkedArray, parts: int, passed: Passing) -> list[npt.NDArray[np.uint16]]:
    """Which of ``parts`` parts each cell's value falls in (per chunk), from its length and
    its first and last 8 bytes (see leading_bytes), mixed: equal values always in the same
    part (a cell past a short record's end with the empty ones), and distinct ones spread
    about evenly unless they share those bytes (a skewed column only costs what one table of
    every value would)."""
    found = []
    for chunk in cells.chunks:
        lengths = pc.fill_null(pc.binary_length(chunk), 0).to_numpy().astype(np.uint64)
        key = lengths * np.uint64(0x9E3779B97F4A7C15)
        for bytes_, factor in (
            (leading_bytes(chunk), 0x100000001B3),
            (trailing_bytes(chunk), 0xC2B2AE3D27D4EB4F),
        ):
            key ^= bytes_ * np.uint64(factor)
            key ^= key >> np.uint64(31)
        key *= np.uint64(0x165667B19E3779F9)
        key ^= key >> np.uint64(29)
        found.append((key % np.uint64(parts)).astype(np.uint16))
        passed([chunk])
    return found


def chosen(cells: Any, values: tuple[str, ...]) -> Any:
    """Which cells are exactly one of ``values`` (a facet: see View.facets); a cell past a short
    record's end is ""."""
    return pc.is_in(pc.fill_null(cells, ""), value_set=pa.array(values, pa.string()))


def listed(counted: pa.StructArray, limit: int, readings: Any = None) -> list[dict[str, Any]]:
    """The ``limit`` most frequent values of value_counts' answer, ties by value: by
    ``readings`` (each value as read: see _measured; null last) if given, then as written."""
    if not len(counted):
        return []
    pairs = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
    keys = [("count", "descending"), ("value", "ascending")]
    if readings is not None:
        pairs = pairs.append_column("reading", pa.chunked_array([readings]))
        keys.insert(1, ("reading", "ascending"))
    if len(pairs) > limit:
        top = pc.select_k_unstable(pairs, k=limit, sort_keys=keys)
    else:
        top = pc.sort_indices(pairs, sort_keys=keys)
    picked = pairs.take(top)
    return [
        {"value": value, "count": number}
        for value, number in zip(
            picked.column("value").to_pylist(), picked.column("count").to_pylist(), strict=True
        )
    ]
