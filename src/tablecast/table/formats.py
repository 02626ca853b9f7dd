"""Tables in files that are not delimited text: workbooks, Parquet, Arrow IPC, JSON. Pure.

An upload is told apart by its first bytes, never by its name (:func:`sniff`): a Parquet file
starts with ``PAR1``, an Arrow IPC file with ``ARROW1`` and a stream with a continuation marker,
a workbook is a zip holding ``xl/`` (xlsx, xlsm, xlsb) or an OpenDocument mimetype, or an OLE2
compound file holding a ``Workbook`` stream (xls), and JSON starts with ``{`` or ``[``.

None of them can be read as it arrives (a Parquet file's schema is at its end, a workbook is a
zip), and their readers are libraries whose memory a hostile file decides (a sheet's cells are
held as one dense rectangle, a Parquet page is inflated whole). So the file is kept as it
arrives and read once it has ended, in a process of its own, bounded in memory and time
(:mod:`tablecast.reader`), which hands back records as stored: one JSON array of strings per
line. This module is what that process does with what the libraries give it: each cell as the
text a person reads in the sheet, records as lines, a table's width and header.

A cell's text is what its source shows: a whole number without a decimal point, other numbers
in their shortest exact form, a date as ``YYYY-MM-DD``, a date-time as ``YYYY-MM-DD HH:MM:SS``
(fractions of a second only when there are some), booleans as ``TRUE``/``FALSE`` in a workbook
(as Excel shows them) and ``true``/``false`` in Parquet, Arrow and JSON (as they write them),
an empty or null cell as ``""``. JSON objects and arrays inside a cell keep their JSON text.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import TablecastError
from .parsing import OLE2, workbook_kind

# The kinds :func:`sniff` tells apart (the reader process learns the exact format)
PARQUET = "parquet"
ARROW = "arrow"
WORKBOOK = "workbook"
JSON = "json"
KINDS = (PARQUET, ARROW, WORKBOOK, JSON)

# Each format a version can be read from, as ``format=original`` serves it: its name (kept
# with the version), what a person calls it, and its media type
FORMATS: dict[str, tuple[str, str]] = {
    "parquet": ("Parquet", "application/vnd.apache.parquet"),
    "arrow": ("Arrow IPC file", "application/vnd.apache.arrow.file"),
    "arrows": ("Arrow IPC stream", "application/vnd.apache.arrow.stream"),
    "xlsx": ("Excel workbook", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "xlsm": ("Excel workbook", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    "xlsb": ("Excel binary workbook", "application/vnd.ms-excel.sheet.binary.macroEnabled.12"),
    "xls": ("Excel 97-2003 workbook", "application/vnd.ms-excel"),
    "ods": ("OpenDocument spreadsheet", "application/vnd.oasis.opendocument.spreadsheet"),
    "json": ("JSON", "application/json"),
    "jsonl": ("JSON Lines", "application/jsonl"),
}

# An encrypted xlsx is an OLE2 file whose directory names (in UTF-16) an "EncryptedPackage"
ENCRYPTED_PACKAGE = "EncryptedPackage\0".encode("utf-16-le")
_ARROW_STREAM = b"\xff\xff\xff\xff"  # an IPC stream's first message: continuation marker
_BOM = b"\xef\xbb\xbf"

RECORD_ROWS = 4096  # rows turned into records at a time: a batch's cells as Python strings
# An element of a JSON array looked for in pieces of this size; one larger than
# JSON_ELEMENT_BYTES (a single row!) is refused rather than held
JSON_PIECE_BYTES = 1024 * 1024
JSON_ELEMENT_BYTES = 64 * 1024 * 1024


def sniff(head: bytes) -> str | None:
    """Which kind of file ``head`` (its first 64 KiB, or all of it) starts, if not text."""
    if head.startswith(b"PAR1"):
        return PARQUET
    if head.startswith(b"ARROW1") or (head.startswith(_ARROW_STREAM) and len(head) >= 8):
        return ARROW
    if is_workbook(head):
        return WORKBOOK
    text = head.removeprefix(_BOM).lstrip(b" \t\r\n")
    if text[:1] == b"{":
        return JSON
    if text[:1] == b"[":
        # An array of rows (objects or arrays) over lines, or JSON Lines of arrays; not a
        # table whose first cell happens to start with a bracket
        if text[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"["):
            return JSON
        line = text.split(b"\n", 1)[0]
        try:
            return JSON if isinstance(orjson.loads(line), list) else None
        except orjson.JSONDecodeError:
            return None
    return None


def is_workbook(head: bytes) -> bool:
    """Whether ``head`` starts a spreadsheet workbook (see the module's doc): as the text
    parser tells one from text (tablecast.table.parsing.workbook_kind), or an encrypted one
    (an OLE2 file whose package is encrypted), read to be refused as such."""
    if workbook_kind(head) is not None:
        return True
    return head.startswith(OLE2) and ENCRYPTED_PACKAGE in head


@dataclass
class Table:
    """What the reader process found: the format, the sheet read and the others, the
    table's width, its records (each a list of cells' texts, a batch at a time), and how
    many of them are not as wide as the first."""

    format: str
    width: int
    batches: Iterable[Sequence[Sequence[str]] | bytes]  # rows, or records as stored
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    ragged: int = 0
    header: bool = False  # the first record is the table's header whatever the upload says

    def head(self) -> dict[str, Any]:
        """What the reader process says before the records."""
        return {
            "format": self.format,
            "width": self.width,
            "sheet": self.sheet,
            "sheets": self.sheets,
            "ragged": self.ragged,
            "header": self.header,
        }


def record_lines(rows: Iterable[Sequence[str]]) -> bytes:
    """Rows as records are stored: each a JSON array of its cells' texts, on a line."""
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    return b"".join([dumps(row, option=option) for row in rows])


def check_width(width: int, max_columns: int) -> None:
    if width > max_columns:
        raise TablecastError(
            "too_many_columns",
            f"the table has {width} columns: a table may have at most {max_columns} columns",
        )


# Parquet and Arrow


def arrow_header(schema: pa.Schema, max_columns: int) -> list[str]:
    """The names of ``schema``'s columns, the table's header; a column of lists, structs,
    maps or unions is no table's (``not_a_table``)."""
    check_width(len(schema), max_columns)
    for column in schema:
        kind = column.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_nested(kind):
            raise TablecastError(
                "not_a_table",
                f"column {column.name!r} holds nested values ({kind}): a table's cells are"
                " single values; flatten it first",
            )
    return [str(name) for name in schema.names]


def arrow_rows(batch: pa.RecordBatch, max_chars: int) -> list[tuple[str, ...]]:
    """A record batch's rows, each cell as text (see the module's doc)."""
    columns = [_arrow_text(column, max_chars).to_pylist() for column in batch.columns]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(batch.num_rows)]


def arrow_lines(batch: pa.RecordBatch, max_chars: int) -> bytes:
    """A record batch's rows as records are stored (see :func:`record_lines`), made by Arrow's
    string kernels a column at a time, not a Python string a cell: each cell quoted as orjson
    quotes it (a backslash and a quote escaped, other characters as they are), cells joined,
    rows bracketed, and the array's bytes taken whole. A column holding a control character
    (which JSON escapes as ``\\uXXXX``) takes the per-cell way."""
    if not batch.num_rows:
        return b""
    # (as string: a large string's offsets are 64-bit, and a batch here is megabytes)
    texts = [_arrow_text(column, max_chars).cast(pa.string()) for column in batch.columns]
    if not texts or any(pc.any(pc.match_substring_regex(t, r"[\x00-\x1f]")).as_py() for t in texts):
        return record_lines(arrow_rows(batch, max_chars))
    quoted = [
        pc.replace_substring(pc.replace_substring(t, "\\", "\\\\"), '"', '\\"') for t in texts
    ]
    lines = pc.binary_join_element_wise(
        '["', pc.binary_join_element_wise(*quoted, '","'), '"]\n', ""
    )
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    data: bytes = lines.buffers()[2].to_pybytes()
    return data[offsets[0] : offsets[-1]]


def _arrow_text(column: pa.Array, max_chars: int) -> pa.Array:
    """Each cell of ``column`` as text, null as ``""``."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_null(kind):
        return pa.array([""] * len(column), pa.string())
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or (pa.types.is_fixed_size_binary(kind))
    ):
        text = pa.array([_binary_text(v) for v in column.to_pylist()], pa.string())
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_timestamp(kind) or pa.types.is_time(kind):
        # Arrow writes every fraction of the unit: a whole second is written without one
        text = pc.replace_substring_regex(pc.cast(column, pa.string()), r"\.0+(Z?)$", r"\1")
    elif pa.types.is_date64(kind):
        text = pc.cast(pc.cast(column, pa.date32()), pa.string())
    elif (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or (pa.types.is_string_view(kind))
    ):
        text = column
    else:
        text = pc.cast(column, pa.string())
    longest = pc.max(pc.utf8_length(text)).as_py() if len(text) else None
    if longest is not None and longest > max_chars:
        raise TablecastError("cell_too_large", f"a cell is longer than {max_chars} characters")
    return pc.fill_null(text, "")


def _binary_text(value: bytes | None) -> str:
    """Bytes as their UTF-8 text, or hex when they are not text."""
    if value is None:
        return ""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()


# Workbooks

SheetValue = int | float | str | bool | datetime.date | datetime.time | datetime.timedelta | None


def sheet_text(value: SheetValue) -> str:
    """A workbook cell's value (as calamine gives it: a formula's cached result) as the text a
    person reads in the sheet (see the module's doc)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        if not (value.hour or value.minute or value.second or value.microsecond):
            return value.date().isoformat()
        return value.isoformat(" ", "seconds" if not value.microsecond else "auto")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.isoformat("seconds" if not value.microsecond else "auto")
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        hours, rest = divmod(round(seconds), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return ""


def _float_text(value: float) -> str:
    """The shortest text that reads back as ``value``, a whole number without ``.0``."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


Merged = list[tuple[tuple[int, int], tuple[int, int]]]


def sheet_rows(
    rows: Callable[[], Iterator[Sequence[SheetValue]]],
    merged: Merged,
    start: tuple[int, int],
    max_columns: int,
) -> tuple[int, Iterator[list[str]]]:
    """A sheet's table: its width, and its rows as text. ``rows`` gives the sheet's rows from
    ``start`` (its first cell with a value), each time it is called: they are read twice,
    first to find the columns and rows that hold something.

    As a person reads a sheet: rows with no value anywhere are left out (those above the
    table, between its parts, below it), and so are the columns right of the last one with a
    value (a sheet's formatted but empty columns). A merged cell's value fills the cells it
    covers, so that each row of a merged group, and each column under a merged header, keeps
    it when sorted or filtered."""
    width = 0
    for values in rows():
        if len(values) <= width:
            continue
        for i in range(len(values) - 1, width - 1, -1):
            if values[i] != "" and values[i] is not None:
                width = i + 1
                break
        if width == len(values):  # (as wide as the sheet: no row can make it wider)
            break
    check_width(width, max_columns)
    fills = _fills(merged, start, width, rows) if merged and width else {}

    def texts() -> Iterator[list[str]]:
        for r, values in enumerate(rows()):
            # (most cells are text or numbers: without a call of sheet_text each)
            cells = [
                v if type(v) is str else _float_text(v) if type(v) is float else sheet_text(v)
                for v in values[:width]
            ]
            cells.extend([""] * (width - len(cells)))
            for first, stop, text in fills.get(r, ()):
                cells[first:stop] = [text] * (stop - first)
            if any(cells):
                yield cells

    return width, texts()


def _fills(
    merged: Merged,
    start: tuple[int, int],
    width: int,
    rows: Callable[[], Iterator[Sequence[SheetValue]]],
) -> dict[int, list[tuple[int, int, str]]]:
    """What merged ranges fill, by row (counted from ``start``): the columns ``first`` to
    ``stop`` (clipped to the table's) and the text of the range's first cell."""
    top, left = start
    firsts: dict[int, set[int]] = {}  # each range's first cell: its columns by row
    for (r0, c0), _ in merged:
        firsts.setdefault(r0 - top, set()).add(c0 - left)
    values: dict[tuple[int, int], str] = {}
    height = 0
    for r, row in enumerate(rows()):
        height = r + 1
        for c in firsts.get(r, ()):
            if 0 <= c < len(row):
                values[r, c] = sheet_text(row[c])
    fills: dict[int, list[tuple[int, int, str]]] = {}
    for (r0, c0), (r1, c1) in merged:
        text = values.get((r0 - top, c0 - left), "")
        first, stop = max(c0 - left, 0), min(c1 - left + 1, width)
        if first >= stop:
            continue
        # (rows clipped to the sheet's: a range may name a million rows the sheet has not)
        for r in range(max(r0 - top, 0), min(r1 - top + 1, height)):
            fills.setdefault(r, []).append((first, stop, text))
    return fills


# JSON


def json_text(value: Any) -> str:
    """A JSON value as a cell's text: a string as it is, null empty, an object or array as
    its JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()


def json_lines(read: Callable[[int], bytes]) -> Iterator[list[Any]]:
    """The values of a JSON Lines file (blank lines skipped), a piece at a time."""
    carry = b""
    number = 0
    while True:
        piece = read(JSON_PIECE_BYTES)
        data = carry + piece
        lines = data.split(b"\n")
        carry = lines.pop() if piece else b""
        values = []
        for line in lines:
            number += 1
            if line.strip():
                values.append(_loads(line, f"line {number}"))
        if values:
            yield values
        if len(carry) > JSON_ELEMENT_BYTES:
            raise TablecastError(
                "too_large", f"line {number + 1} is longer than {JSON_ELEMENT_BYTES} bytes"
            )
        if not piece:
            return


def json_array(read: Callable[[int], bytes]) -> Iterator[list[Any]]:
    """The elements of a JSON document that is one array, a piece at a time, never the whole
    document at once. A piece ends after an element that ends with ``}`` or ``]`` followed by a
    comma: such a cut is the array's own exactly when the text before it is valid JSON (a cut
    inside a string or a nested value never is), which the parse itself checks."""
    data = read(JSON_PIECE_BYTES).removeprefix(_BOM).lstrip()
    if data[:1] != b"[":
        value = _loads(data + _rest(read), "the document")
        raise TablecastError("not_a_table", _not_rows(value))
    data = data[1:]
    while True:
        piece = read(JSON_PIECE_BYTES)
        data += piece
        if not piece:
            elements = _loads(b"[" + data, "the document")
            if elements:
                yield elements
            return
        cut = _element_cut(data)
        if cut is not None:
            yield cut[0]
            data = data[cut[1] :]
        elif len(data) > JSON_ELEMENT_BYTES:
            raise TablecastError(
                "too_large",
                f"an element of the JSON array is longer than {JSON_ELEMENT_BYTES} bytes",
            )


_CUT = re.compile(rb"[}\]]\s*,")


def _element_cut(data: bytes, tries: int = 4) -> tuple[list[Any], int] | None:
    """The elements of ``data`` before its last cut that parses, and where the rest starts."""
    cuts = [m.end() for m in _CUT.finditer(data, max(0, len(data) - 2 * JSON_PIECE_BYTES))]
    for end in reversed(cuts[-tries:]):
        try:
            return orjson.loads(b"[" + data[: end - 1] + b"]"), end
        except orjson.JSONDecodeError:
            continue
    return None


def _rest(read: Callable[[int], bytes]) -> bytes:
    pieces = []
    while piece := read(JSON_PIECE_BYTES):
        pieces.append(piece)
        if sum(map(len, pieces)) > JSON_ELEMENT_BYTES:
            raise TablecastError("not_a_table", _not_rows({}))
    return b"".join(pieces)


def _loads(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise TablecastError("bad_json", f"{where} is not valid JSON: {err}") from None


def _not_rows(value: Any) -> str:
    what = (
        "an object"
        if isinstance(value, dict)
        else "an array"
        if isinstance(value, list)
        else "a single value"
    )
    return (
        f"the JSON holds {what}, not rows: a table is an array of objects or of arrays,"
        " or JSON Lines (one object or array per line)"
    )


@dataclass
class JsonColumns:
    """What a first pass over JSON rows learns: the columns (the keys of objects, in the
    order they are first met) or the width (of arrays), and the rows not as wide as the
    first."""

    max_columns: int
    keys: dict[str, None] = field(default_factory=dict)
    objects: bool | None = None  # rows are objects (True) or arrays (False)
    width: int = 0
    first_width: int | None = None
    ragged: int = 0
    count: int = 0
    nested: bool = False  # the first row holds an object or array

    def add(self, rows: list[Any]) -> None:
        for row in rows:
            self.count += 1
            objects = isinstance(row, dict)
            if not objects and not isinstance(row, list):
                raise TablecastError("not_a_table", _not_rows(row) + ", each a row")
            if self.objects is None:
                self.objects = objects
            elif objects != self.objects:
                raise TablecastError(
                    "not_a_table", "the JSON mixes objects and arrays: rows are one or the other"
                )
            if self.count == 1:
                cells = row.values() if objects else row
                self.nested = any(isinstance(cell, dict | list) for cell in cells)
            if objects:
                if len(row) > len(self.keys) or not row.keys() <= self.keys.keys():
                    self.keys.update(dict.fromkeys(row))
                    check_width(len(self.keys), self.max_columns)
            else:
                width = len(row)
                if self.first_width is None:
                    self.first_width = width
                elif width != self.first_width:
                    self.ragged += 1
                if width > self.width:
                    check_width(width, self.max_columns)
                    self.width = width
        if self.objects:
            self.width = len(self.keys)

    def check(self) -> None:
        """Refuse one object holding arrays or objects: an answer that holds a table
        (``{"data": [...]}``), not one."""
        if self.count == 1 and self.objects and self.nested:
            raise TablecastError(
                "not_a_table",
                "the JSON is one object holding arrays or objects, not rows: a table is an"
                " array of objects or of arrays, or JSON Lines (one object or array per line)",
            )

    def header(self) -> list[str] | None:
        """The header objects' keys make; None for arrays."""
        return list(self.keys) if self.objects else None

    def rows(self, values: list[Any], max_chars: int) -> list[list[str]]:
        """JSON rows as cells' texts: an object's by the columns, empty where it has none."""
        if self.objects:
            keys = list(self.keys)
            rows = [[json_text(row.get(key)) for key in keys] for row in values]
        else:
            rows = [[json_text(cell) for cell in row] for row in values]
        for row in rows:
            if max(map(len, row), default=0) > max_chars:
                raise TablecastError(
                    "cell_too_large", f"a cell is longer than {max_chars} characters"
                )
        return rows
