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
    DECIMAL_COMMA,
    NUMERIC,
    Array,
    TableText,
    missing,
    numbers,
    reads_as,
    seconds,
    shown,
)

TOP = 10  # values a profile lists, most frequent first
BINS = 20  # a histogram's bins, of equal width from the least value to the greatest
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
    present = pc.invert(missing(distinct))
    distinct, counts = pc.filter(distinct, present), pc.filter(counts, present)
    values = int(pc.sum(counts).as_py() or 0)
    if kind != inferred:
        readable = reads_as(distinct, kind)
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
