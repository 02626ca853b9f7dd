"""What a column holds, over the rows a view shows: its profile (counts, least and greatest
values, mean, top values, a histogram) and its facet values' counts. Pure: an Arrow column and
a selection of records in, plain dicts out (the views thread runs it, tablecast.service.views
keeps what it made).

Everything is Arrow compute over the whole selection at once, never a Python step per row: a
column of a million cells is profiled in tens of milliseconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .columns import (
    _MISSING,
    DECIMAL_COMMA,
    NUMERIC,
    Array,
    TableText,
    _instant_keys,
    classify,
    numbers,
    shown,
)

TOP = 10  # values a profile lists, most frequent first
BINS = 20  # a histogram's bins, of equal width from the least value to the greatest
# What a boolean cell is, lower-cased (see the types' rules in docs/protocol.md)
BOOLEANS = pa.array(["true", "false", "yes", "no"])
TIMES = ("date", "datetime")  # kinds read as instants


def cells_of(text: TableText, column: int, rows: Array | None, first: int) -> pa.ChunkedArray:
    """Cell ``column`` of the ``rows`` (record numbers, in any order), or of every record from
    ``first`` on if ``rows`` is None (a plain view's rows: no copy made)."""
    cells = text.column(column)
    if rows is None:
        return cells.slice(first)
    if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):  # consecutive, in order
        return cells.slice(int(rows[0]), len(rows))
    return cells.take(pa.array(rows, pa.int64()))


def profile(cells: pa.ChunkedArray, kind: str, inferred: str) -> dict[str, Any]:
    """The profile of a column's cells (see docs/protocol.md, *Column profiles*). ``kind``: what
    its values are read as (columns.KINDS, or an override's type); ``inferred``: the kind its
    values were found to be. A value that does not read as ``kind`` is invalid: counted apart,
    left out of min, max, mean and histogram (there are none where ``kind`` is ``inferred``:
    inference found every value to be of it).

    Everything after one count of the column's values is done on its distinct values, weighted
    by their counts: a column of a million cells holding a thousand values is read once. Value
    counts list values in the order they first occur, so that of equal values (``1,200`` and
    ``1200``) the least and greatest are the first in file order."""
    counted = pc.value_counts(cells)
    distinct, counts = counted.field("values"), counted.field("counts")
    present = pc.invert(_absent(distinct))
    distinct, counts = pc.filter(distinct, present), pc.filter(counts, present)
    values = int(pc.sum(counts).as_py() or 0)
    if kind != inferred:
        readable = _reads_as(distinct, kind)
        distinct, valid_counts = pc.filter(distinct, readable), pc.filter(counts, readable)
    else:
        valid_counts = counts
    valid = int(pc.sum(valid_counts).as_py() or 0)
    answer: dict[str, Any] = {
        "type": shown([kind])[0],
        "inferred": shown([inferred])[0],
        "count": len(cells),
        "values": values,
        "missing": len(cells) - values,
        "invalid": values - valid,
        "distinct": len(counts),
        "min": None,
        "max": None,
        "mean": None,
        "top": listed(pc.filter(counted, present), TOP),
        "histogram": None,
    }
    if kind in NUMERIC:
        measures = numbers(distinct, kind == DECIMAL_COMMA)
    elif kind in TIMES:
        measures = seconds(distinct)
    else:
        return answer
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


def seconds(cells: Any) -> pa.Array:
    """Seconds since 1970-01-01T00:00:00Z of the instant each date or date-time names (its
    fraction of a second too), as float64, as sorts order them (see columns._instant_keys).
    A column of one layout (``2024-03-01``, ``2024-03-01 10:30``, ``2024-03-01T10:30:00Z``...)
    is read by its fields' places, several times quicker than the pattern that reads any."""
    cells = _flat(cells)
    lengths = pc.min_max(pc.utf8_length(cells))
    size = lengths["min"].as_py()
    if size is not None and size == lengths["max"].as_py() and _one_layout(cells, size):
        return _laid_out(cells, size)
    keys = _instant_keys(pa.chunked_array([cells], pa.string()), pc.is_null(cells))
    if len(keys) == 1:  # days alone, keyed by their text
        return _laid_out(cells, 10)
    whole, nanos = (pc.cast(key, pa.float64()) for key in keys)
    return _flat(pc.add(whole, pc.multiply(nanos, 1e-9)))


# Layouts of dates read by place, by their length (when every cell has it): whether they have
# seconds, and whether they end in Z: a day; a time to the minute or the second, in UTC
_LAYOUTS: dict[int, tuple[bool, bool]] = {
    10: (False, False),
    16: (False, False),
    17: (False, True),
    19: (True, False),
    20: (True, True),
}


def _one_layout(cells: pa.Array, size: int) -> bool:
    """Whether dates all ``size`` characters long are of a layout _laid_out reads. (Of that
    length, ``2024-03-01T10:30+01`` has an offset where seconds would be: not one of them.)"""
    if size not in _LAYOUTS:
        return False
    with_seconds, zulu = _LAYOUTS[size]
    if with_seconds and not _all_are(pc.utf8_slice_codeunits(cells, 16, 17), [":"]):
        return False
    return not zulu or _all_are(pc.utf8_slice_codeunits(cells, size - 1, size), ["Z", "z"])


def _all_are(cells: Any, texts: list[str]) -> bool:
    return pc.all(pc.is_in(cells, value_set=pa.array(texts))).as_py() is not False


def _laid_out(cells: pa.Array, size: int) -> pa.Array:
    """Seconds since the epoch of dates of one layout (see _LAYOUTS), read by place."""

    def field(start: int, stop: int) -> npt.NDArray[np.int64]:
        digits = pc.cast(pc.utf8_slice_codeunits(cells, start, stop), pa.int64())
        return np.asarray(digits.to_numpy(zero_copy_only=False), dtype=np.int64)

    year, month, day = field(0, 4), field(5, 7), field(8, 10)
    # days since 1970-01-01 of a proleptic Gregorian day (as columns._instant_keys counts)
    y = year - (month <= 2)
    era = y // 400
    of_era = y - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468
    total = days * 86400
    if size > 10:
        total += field(11, 13) * 3600 + field(14, 16) * 60
    if _LAYOUTS[size][0]:
        total += field(17, 19)
    return pa.array(total.astype(np.float64))


def facet_counts(cells: pa.ChunkedArray, limit: int) -> dict[str, Any]:
    """How many of the cells hold each value (cells exactly as written; an empty one, or one
    past a short record's end, is ""), the ``limit`` most frequent first (ties by value), how
    many distinct values there are, and how many cells hold one not listed."""
    counted = pc.value_counts(pc.fill_null(cells, ""))
    values = listed(counted, limit)
    return {
        "total_number": len(cells),
        "values": values,
        "distinct": len(counted),
        "others": len(cells) - sum(value["count"] for value in values),
    }


def chosen(cells: Any, values: tuple[str, ...]) -> Any:
    """Which cells are exactly one of ``values`` (a facet: see View.facets); a cell past a short
    record's end is ""."""
    return pc.is_in(pc.fill_null(cells, ""), value_set=pa.array(values, pa.string()))


def listed(counted: pa.StructArray, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most frequent values of value_counts' answer, ties by value."""
    if not len(counted):
        return []
    pairs = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
    keys = [("count", "descending"), ("value", "ascending")]
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


def _flat(array: Any) -> pa.Array:
    """One array, of one chunk or many."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _absent(cells: Any) -> Any:
    """Which cells hold no value: null (past a short record's end), empty, or a MISSING
    marker in any case."""
    return pc.or_(pc.is_null(cells), pc.is_in(pc.utf8_lower(cells), value_set=_MISSING))


def _reads_as(values: Any, kind: str) -> Any:
    """Which values (none missing) read as ``kind``."""
    if kind == "text":
        return pc.is_valid(values)
    lowered = pc.utf8_lower(values)
    if kind == "boolean":
        return pc.is_in(lowered, value_set=BOOLEANS)
    return classify(lowered)["date" if kind in TIMES else kind]
