"""A version written out as a typed file: Parquet, an Arrow IPC stream or an Excel workbook
(XLSX). Pure: cells in (a version's Arrow columns, a batch of rows at a time, see
tablecast.table.columns), bytes out as they are made.

Each column is written as the version's type for it says (as the view's types set it): integers
as int64, decimals as float64, dates as days, date-times as UTC instants
(:func:`tablecast.table.columns.typed_values`, which reads cells as sorts read them); text and
booleans as text. A cell holding no value (empty, ``NA``...) is null. Parquet and Arrow hold
one type a column: a cell of a column a person typed that is not of that type is null there.
A workbook (see tablecast.table.xlsx) holds a type a cell: such a cell, and a missing-value
marker, stays its text; an integer Excel cannot hold exactly (over 15 digits) and a day before
1900-03-01 (Excel's calendar counts 1900 as a leap year) too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ..errors import TablecastError
from . import xlsx
from .columns import DAYS, INSTANTS, INTEGERS, mostly_distinct, typed_values, value_type
from .export import Format, unique_names

BINARY_FORMATS = {
    f.name: f
    for f in (
        Format("parquet", "parquet", "application/vnd.apache.parquet"),
        Format("arrow", "arrow", "application/vnd.apache.arrow.stream"),
        Format(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    )
}

# Excel's limits: rows (the header's among them) and columns of a sheet, characters of a cell
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
EXCEL_EXACT = 10**15  # integers below this many Excel (a double, shown to 15 digits) keeps
# Excel's day 0 is 1899-12-30 for every day from 1900-03-01 (day 61) on
EXCEL_EPOCH_DAYS = -25_569  # 1899-12-30, in days since 1970-01-01
EXCEL_FIRST_DAY = -25_508  # 1900-03-01
# Rows a Parquet row group holds at least: readers skip and read in parallel by row group,
# and each costs its metadata, so not a batch's few thousand rows
ROW_GROUP_ROWS = 128 * 1024


@dataclass(frozen=True)
class Columns:
    """What a typed file's columns are: their names (repeated ones numbered, as JSON Lines'
    keys are) and kinds (see tablecast.table.columns.KINDS), and whether each was typed by a
    person (its cells need not all be of its kind)."""

    names: list[str]
    kinds: list[str]
    set_by_view: list[bool]

    @classmethod
    def of(cls, columns: list[str], kinds: Sequence[str], set_by_view: Sequence[bool]) -> Columns:
        width = len(columns)
        kinds = [*kinds[:width], *["text"] * (width - len(kinds))]
        return cls(unique_names(columns), kinds, [*set_by_view[:width], *[False] * width][:width])

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(n, value_type(k)) for n, k in zip(self.names, self.kinds, strict=True)]
        )

    def batch(self, cells: Sequence[pa.Array]) -> pa.RecordBatch:
        """A batch of rows (each column's cells, as written) as typed values."""
        typed = [
            typed_values(column, kind, strict)
            for column, kind, strict in zip(cells, self.kinds, self.set_by_view, strict=True)
        ]
        return pa.RecordBatch.from_arrays(typed, schema=self.schema)


class ParquetEncoder:
    """Batches in, Parquet bytes out as each row group is written (ROW_GROUP_ROWS at least:
    what it holds meanwhile is about one row group, whatever the table's size).

    Only columns that repeat their values are dictionary-encoded (judged by the first batch's
    first cells, as sorts judge them: columns.mostly_distinct): Arrow tries a dictionary for a
    column of distinct values until it gives up, for each row group, which took half of the
    writing of the benchmark's million rows, and such a column's file was no smaller."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self._sink = xlsx.Sink()
        self._writer: pq.ParquetWriter | None = None
        self._held: list[pa.RecordBatch] = []
        self._rows = 0

    def add(self, batch: pa.RecordBatch) -> bytes:
        if self._writer is None:
            repeating = [
                name
                for name, cells in zip(batch.schema.names, batch.columns, strict=True)
                if not mostly_distinct(cells)
            ]
            self._writer = pq.ParquetWriter(
                self._sink, self.columns.schema, compression="snappy", use_dictionary=repeating
            )
        self._held.append(batch)
        self._rows += batch.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._write()
        return self._sink.take()

    def finish(self) -> bytes:
        if self._writer is None:  # no rows: the schema alone
            self._writer = pq.ParquetWriter(self._sink, self.columns.schema, compression="snappy")
        self._write()
        self._writer.close()
        return self._sink.take()

    def _write(self) -> None:
        if self._held and self._writer is not None:
            table = pa.Table.from_batches(self._held)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._held.clear()
        self._rows = 0


class ArrowEncoder:
    """Batches in, an Arrow IPC stream out: a record batch a batch."""

    def __init__(self, columns: Columns) -> None:
        self._sink = xlsx.Sink()
        self._writer = ipc.new_stream(self._sink, columns.schema)

    def add(self, batch: pa.RecordBatch) -> bytes:
        self._writer.write_batch(batch)
        return self._sink.take()

    def finish(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def check_workbook(rows: int, width: int, header: bool) -> None:
    """A sheet holds EXCEL_ROWS rows and EXCEL_COLUMNS columns: a table past either is refused
    before anything is written (cut, it would be another table)."""
    if rows + header > EXCEL_ROWS:
        raise TablecastError(
            "too_large",
            f"an Excel sheet holds {EXCEL_ROWS - 1:,} rows under a header and this has "
            f"{rows:,}: download it as parquet, csv or tsv, or filter it first",
        )
    if width > EXCEL_COLUMNS:
        raise TablecastError(
            "too_large",
            f"an Excel sheet holds {EXCEL_COLUMNS:,} columns and this has {width:,}: "
            "download it as parquet, csv or tsv",
        )


class WorkbookEncoder:
    """Batches in, a workbook's bytes out as they are made (see tablecast.table.xlsx: the sheet's
    XML a batch at a time by Arrow's kernels, zipped as it goes): one sheet, the header row (if
    any) bold and frozen, numbers as numbers, dates and date-times as Excel's days with a date
    format, the rest as text (never a formula: a cell written as text is not run). ``rows``:
    the rows to come, for the sheet's dimension (check_workbook's, checked before)."""

    def __init__(self, columns: Columns, header: list[str] | None, rows: int) -> None:
        self.columns = columns
        self._header = header
        self._book = xlsx.Workbook(rows + (header is not None), len(columns.names))
        self._started = False
        styles = {DAYS: xlsx.DATE, INSTANTS: xlsx.DATETIME}
        self._styles = [styles.get(value_type(kind), 0) for kind in columns.kinds]

    def add(self, cells: Sequence[pa.Array], batch: pa.RecordBatch) -> bytes:
        """A batch of rows: their cells as written, and as typed (see Columns.batch)."""
        written = []
        for typed, text, style in zip(batch.columns, cells, self._styles, strict=True):
            numbers = _excel_numbers(typed)
            written.append(xlsx.Column(numbers, _texts(text, numbers), style))
        return self._start() + self._book.add(written, batch.num_rows)

    def finish(self) -> bytes:
        return self._start() + self._book.finish()

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._book.start(self._header)


def _excel_numbers(typed: pa.Array) -> pa.Array | None:
    """A typed column's values as Excel's numbers (null where a cell is not written as one),
    or None for a text column."""
    kind = typed.type
    if kind == INTEGERS:
        return pc.if_else(pc.less(pc.abs(typed), EXCEL_EXACT), typed, pa.scalar(None, kind))
    if kind in (DAYS, INSTANTS):
        if kind == DAYS:
            days = pc.cast(pc.cast(typed, pa.int32()), pa.float64())
        else:  # microseconds since the epoch, as days (Excel's are UTC's wall clock)
            micros = pc.cast(pc.cast(typed, pa.timestamp("us")), pa.int64())
            days = pc.divide(pc.cast(micros, pa.float64()), 86_400_000_000.0)
        in_calendar = pc.greater_equal(days, float(EXCEL_FIRST_DAY))
        excel = pc.subtract(days, float(EXCEL_EPOCH_DAYS))
        return pc.if_else(in_calendar, excel, pa.scalar(None, pa.float64()))
    if pa.types.is_floating(kind):
        return pc.if_else(pc.is_finite(typed), typed, pa.scalar(None, kind))
    return None


def _texts(cells: pa.Array, numbers: pa.Array | None) -> pa.Array:
    """What a workbook writes as text of a column: every non-empty cell not written as a
    number."""
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    text = pc.if_else(pc.equal(cells, ""), pa.scalar(None, pa.string()), cells)
    if numbers is not None:
        text = pc.if_else(pc.is_valid(numbers), pa.scalar(None, pa.string()), text)
    return text
