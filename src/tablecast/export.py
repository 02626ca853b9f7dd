"""A version written out as a file: TSV, CSV or JSON Lines. Pure functions, no I/O.

Rows come in batches (lists of cells, as the store gives them) and leave as bytes, so a
download streams a table of any size in constant memory.

CSV is what people open in spreadsheets, and a spreadsheet runs a cell starting with ``=``,
``+``, ``-`` or ``@`` as a formula (CSV injection): such a cell is written with a leading
apostrophe, unless it is a plain number (``-12.5`` stays a number). TSV is for programs
(``pandas.read_csv(url, sep="\\t")``) and is written exactly, quoted where a cell holds a tab,
a line break or a quote, as the csv module and pandas read it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from .errors import TablecastError


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_type: str


FORMATS = {
    f.name: f
    for f in (
        Format("tsv", "tsv", "text/tab-separated-values; charset=utf-8"),
        Format("csv", "csv", "text/csv; charset=utf-8"),
        Format("jsonl", "jsonl", "application/jsonl; charset=utf-8"),
    )
}

# What a spreadsheet may run: LibreOffice 7.4 runs a cell starting with "=" (after the spaces
# its "trim spaces" option removes), Excel and Google Sheets also "+", "-" and "@" (OWASP's
# list); a reader may drop or break at the blanks before them (OWASP: tab, CR).
_FORMULA = frozenset("=+-@")
_BLANKS = "".join(map(chr, range(33)))  # space and the C0 controls
# ...but a plain number, or dashes alone, computes nothing: kept, so numbers stay numbers
_PLAIN = re.compile(r"[+-]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?%? *|-+|\+")
_FORMULA_BYTES = [c.encode() for c in "=+-@ "]  # a space may hide one behind it
_CELL_STARTS = [b"\n" + c for c in _FORMULA_BYTES] + [b"\x00" + c for c in _FORMULA_BYTES]


def _may_run(text: bytes) -> bool:
    """Whether a cell of ``text`` (rows by line breaks, cells by NULs) starts as a formula
    would: such rows take the careful way (many bytes searches beat one regex)."""
    return text.startswith(tuple(_FORMULA_BYTES)) or any(s in text for s in _CELL_STARTS)


def _breaks_plainly(data: bytes) -> bool:
    """Whether, in records with no escape, every ``"],["`` ends one record and starts the
    next. Not where a cell is exactly ``],[``: in its quotes it reads the same, and it is
    preceded by the start of its record or by the comma before it."""
    return b'["],["' not in data and b',"],["' not in data


def plain_lines(data: bytes, delimiter: bytes, eol: bytes = b"\n") -> bytes:
    """Records as the store gives them (one JSON array, see Documents.records), when no cell
    holds a quote or an escape, as lines of cells: their JSON with the brackets and quotes
    taken out. No line break after the last."""
    if not _breaks_plainly(data):
        rows: list[list[str]] = orjson.loads(data)
        return eol.join(delimiter.join(cell.encode() for cell in row) for row in rows)
    return data[3:-3].replace(b'"],["', eol).replace(b'","', delimiter)


def format_named(name: str | None) -> Format:
    found = FORMATS.get(name or "tsv")
    if found is None:
        raise TablecastError("bad_option", f"format must be one of: {', '.join(FORMATS)}")
    return found


def neutralised(cell: str) -> str:
    """A cell a spreadsheet will show, never run: an apostrophe before one that starts, after
    any blanks, with ``=``, ``+``, ``-`` or ``@`` and is not a plain number."""
    if not cell or (cell[0] > " " and cell[0] not in _FORMULA):
        return cell  # most cells
    start = cell.lstrip(_BLANKS)
    if start[:1] in _FORMULA and not _PLAIN.fullmatch(start):
        return "'" + cell
    return cell


def unique_names(columns: list[str]) -> list[str]:
    """Column names as JSON keys: a repeated name gets .1, .2 (as pandas names them)."""
    seen: dict[str, int] = {}
    names = []
    for name in columns:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}.{count}")
    return names


class Writer:
    """Turns batches of rows into bytes in one format. ``header``: the column names, written
    first (TSV, CSV) or used as keys (JSON Lines)."""

    def __init__(self, fmt: Format, header: list[str] | None, columns: list[str]) -> None:
        self.format = fmt
        self.header = header
        self.keys = unique_names(columns)
        self._buffer = io.StringIO()
        delimiter = "\t" if fmt.name == "tsv" else ","
        self._csv = csv.writer(self._buffer, delimiter=delimiter, lineterminator="\n")

    def start(self) -> bytes:
        if self.header is None or self.format.name == "jsonl":
            return b""
        return self.rows([self.header])

    def records(self, data: bytes) -> bytes:
        """Rows as the store gives them: one JSON array of records (see Documents.records).

        Records with no escape in them (no tab, line break, quote or backslash in any cell,
        which JSON would escape) are their JSON with the brackets and quotes taken out: TSV
        and CSV from a few byte replacements, with no parsing, when no cell needs quoting
        (CSV: no comma) or neutralising."""
        if self.format.name != "jsonl" and b"\\" not in data and b'[""]' not in data:
            if data == b"[]":
                return b""
            if self.format.name == "tsv":
                return plain_lines(data, b"\t") + b"\n"
            text = plain_lines(data, b"\x00")  # NUL: never a cell's (JSON escapes it)
            if b"," not in text and not _may_run(text):
                return text.replace(b"\x00", b",") + b"\n"
        rows: list[list[str]] = orjson.loads(data)
        return self.rows(rows)

    def rows(self, rows: Iterable[list[str]]) -> bytes:
        if self.format.name == "jsonl":
            keys = self.keys
            return b"".join(
                orjson.dumps(dict(zip(keys, row, strict=False))) + b"\n" for row in rows
            )
        if self.format.name == "csv":
            rows = ([neutralised(cell) for cell in row] for row in rows)
        self._csv.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()
