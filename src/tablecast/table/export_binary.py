"""A version written out as a typed file: Parquet, an Arrow IPC stream or an Excel workbook
(XLSX). Pure: cells in (a version's Arrow columns, a batch of rows at a time, see
tablecast.table.columns), bytes out; the workbook's file is its caller's.

Each column is written as the version's type for it says (as the view's types set it): integers
as int64, decimals as float64, dates as days, date-times as UTC instants
(:func:`tablecast.table.columns.typed_values`, which reads cells as sorts read them); text and
booleans as text. A cell holding no value (empty, ``NA``...) is null. Parquet and Arrow hold
one type a column: a cell of a column a person typed that is not of that type is null there.
A workbook holds a type a cell: such a cell, and a missing-value marker, stays its text; an
integer Excel cannot hold exactly (over 15 digits) and a day before 1900-03-01 (Excel's
calendar counts 1900 as a leap year) too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import xlsxwriter

from ..errors import TablecastError
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


class _Sink:
    """Where a writer puts its bytes, taken as they come: a download sends them on."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class ParquetEncoder:
    """Batches in, Parquet bytes out as each row group is written (ROW_GROUP_ROWS at least:
    what it holds meanwhile is about one row group, whatever the table's size).

    Only columns that repeat their values are dictionary-encoded (judged by the first batch's
    first cells, as sorts judge them: columns.mostly_distinct): Arrow tries a dictionary for a
    column of distinct values until it gives up, for each row group, which took half of the
    writing of the benchmark's million rows, and such a column's file was no smaller."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self._sink = _Sink()
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
        self._sink = _Sink()
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
    """Batches in, a workbook written to ``file`` (xlsxwriter's constant_memory mode: a row at
    a time, each row's XML into its own temporary file in ``tmpdir``, the cells of the row
    alone in memory): one sheet, the header row (if any) bold and frozen, numbers as numbers,
    dates and date-times as Excel's days with a date format, the rest as text (never a
    formula: a cell written as a string is not run)."""

    def __init__(
        self, file: IO[bytes], columns: Columns, header: list[str] | None, tmpdir: str
    ) -> None:
        self.columns = columns
        self._book = xlsxwriter.Workbook(
            file,
            {"constant_memory": True, "tmpdir": tmpdir, "strings_to_numbers": False},
        )
        self._sheet = self._book.add_worksheet("Table")
        formats = {
            DAYS: self._book.add_format({"num_format": "yyyy-mm-dd"}),
            INSTANTS: self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        self._formats = [formats.get(value_type(kind)) for kind in columns.kinds]
        self._row = 0
        if header is not None:
            bold = self._book.add_format({"bold": True})
            for number, name in enumerate(header):
                if name:
                    self._sheet.write_string(0, number, name, bold)
            self._sheet.freeze_panes(1, 0)
            self._row = 1

    def add(self, cells: Sequence[pa.Array], batch: pa.RecordBatch) -> None:
        """A batch of rows: their cells as written, and as typed (see Columns.batch)."""
        columns = []
        for c, (typed, written) in enumerate(zip(batch.columns, cells, strict=True)):
            numbers = _excel_numbers(typed)
            text = _texts(written, numbers)
            listed = numbers.to_pylist() if numbers is not None else None
            columns.append((c, listed, text.to_pylist(), self._formats[c]))
        write_number, write_string = self._sheet.write_number, self._sheet.write_string
        row = self._row
        for r in range(batch.num_rows):
            for c, number, text, style in columns:
                if number is not None and (value := number[r]) is not None:
                    write_number(row, c, value, style)
                elif (cell := text[r]) is not None:
                    write_string(row, c, cell)
            row += 1
        self._row = row

    def finish(self) -> None:
        self._book.close()


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
