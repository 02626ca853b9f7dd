"""Rows sent to be added to a table (``POST .../rows``): the body read as records in the form
they are stored in (see tablecast.table.parsing). Pure: bytes in, records out.

The body is JSON Lines when its first character (after white space and a byte order mark) is
``[`` or ``{``: a line is an array of the row's cells, or an object of its cells by column
name (the table's header; a column not named is an empty cell). A string cell is kept as
written; a number or a boolean as JSON writes it (``12.5``, ``true``); ``null`` is an empty
cell. Anything else is TSV or CSV, read as an upload is (encoding and delimiter detected,
RFC 4180 quoting). Either way a first row naming the table's columns, as its header does, is
the header sent along, not a row, and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import TablecastError
from .blocks import record_cells
from .parsing import MAX_CELL_CHARS, MAX_COLUMNS, ParseOptions, TableParser

_BOM = b"\xef\xbb\xbf"


def rows_of(
    body: bytes, header: Sequence[str] | None, options: ParseOptions | None = None
) -> tuple[list[str], list[int]]:
    """The records the body holds (without a header row like ``header``, the table's column
    names if it has a header) and each one's number of cells; TSV or CSV read with
    ``options`` (the delimiter and encoding, where the sender says them)."""
    text = body.removeprefix(_BOM).lstrip()
    if not text:
        raise TablecastError("empty_file", "there are no rows to add")
    if text[:1] in (b"[", b"{"):
        records = _json_lines(text, header)
    else:
        parser = TableParser(options)
        records = parser.feed(body) + parser.close()
    widths = [len(record_cells(record)) for record in records]
    if records and header is not None and record_cells(records[0]) == list(header):
        records, widths = records[1:], widths[1:]
    if not records:
        raise TablecastError("empty_file", "there are no rows to add")
    return records, widths


def _json_lines(text: bytes, header: Sequence[str] | None) -> list[str]:
    names = {name: i for i, name in reversed(list(enumerate(header or [])))}
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise TablecastError("bad_table", f"line {number} is not JSON") from None
        if isinstance(row, dict):
            if header is None:
                raise TablecastError(
                    "bad_table", "rows by column name need a table with a header: send arrays"
                )
            unknown = [key for key in row if key not in names]
            if unknown:
                raise TablecastError(
                    "bad_option", f"line {number}: the table has no column {unknown[0][:60]!r}"
                )
            cells = [""] * len(header)
            for key, value in row.items():
                cells[names[key]] = json_cell(value, f"a cell of line {number}")
        elif isinstance(row, list):
            cells = [json_cell(value, f"a cell of line {number}") for value in row]
        else:
            raise TablecastError("bad_table", f"line {number} is not a row (an array or object)")
        if not cells:
            raise TablecastError("bad_table", f"line {number} is a row without cells")
        if len(cells) > MAX_COLUMNS:
            raise TablecastError(
                "too_many_columns", f"line {number} has more than {MAX_COLUMNS} cells"
            )
        records.append(orjson.dumps(cells).decode()[2:-2])
    return records


def json_cell(value: Any, where: str, code: str = "bad_table") -> str:
    """A cell as JSON sends it, in the form rows keep it: a string as written, a number or a
    boolean as JSON writes it, ``null`` an empty cell. ``where`` says which in an error;
    ``code``: the error for a value that is no cell (an array, an object)."""
    if value is None:
        return ""
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARS:
            raise TablecastError("cell_too_large", f"{where} is longer than a cell may be")
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    raise TablecastError(code, f"{where} is a string, a number, true, false or null")
