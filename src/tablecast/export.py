"""A version written out as a file: TSV, CSV or JSON Lines. Pure functions, no I/O.

Rows come in batches (lists of cells, as the store gives them) and leave as bytes, so a
download streams a table of any size in constant memory.

CSV is what people open in spreadsheets. Every cell is quoted, so no reader splits one at a
separator it was told to use (LibreOffice's import splits at commas, semicolons and tabs by
default) or breaks a row at a line break inside it, and lines end in CRLF (RFC 4180). A cell a
spreadsheet could run as a formula (see :func:`neutralised`) is written with a leading
apostrophe. TSV is for programs (``pandas.read_csv(url, sep="\\t")``) and is written exactly, one
LF-ended line a row, quoted where a cell holds a tab, a line break of any kind or a quote, as
the csv module and pandas read it.
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
# A cell starting as a formula might in stored records with no escape (see Writer.records): a
# string's opening quote followed by one of these. A space may hide one behind it.
_RISKY_STARTS = [b'"' + c.encode() for c in "=+-@ "]
_BOM_FIRST = b'[["\xef\xbb\xbf'  # records whose first cell starts with a byte order mark


def _may_run(data: bytes) -> bool:
    """Whether a cell in ``data``, records with no escape, starts as a formula might: such
    records take the careful way (a few bytes searches beat one regex)."""
    return any(s in data for s in _RISKY_STARTS)


def _breaks_plainly(data: bytes) -> bool:
    """Whether, in records with no escape, every ``"],["`` ends one record and starts the
    next. Not where a cell is exactly ``],[``: in its quotes it reads the same, and it is
    preceded by the start of its record or by the comma before it."""
    return b'["],["' not in data and b',"],["' not in data


def plain_lines(data: bytes, delimiter: bytes, eol: bytes = b"\n") -> bytes:
    """Records as the store gives them (one JSON array, see Documents.records), when no cell
    holds a quote or an escape, as lines of cells: their JSON with the brackets and quotes
    taken out. No line break after the last."""
    lines = data[3:-3].replace(b'"],["', eol).replace(b'","', delimiter)
    if b'"' in lines:
        # Every quote in such records is JSON's, and goes: one left means a cell that is
        # exactly "],[" was read as the break between two records. (One search for a quote
        # costs a fraction of two for the shapes that cell takes.)
        rows: list[list[str]] = orjson.loads(data)
        return eol.join(delimiter.join(cell.encode() for cell in row) for row in rows)
    return lines


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
        self._started = False
        if fmt.name == "csv":
            self._csv = csv.writer(self._buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        else:
            self._csv = csv.writer(self._buffer, delimiter="\t", lineterminator="\n")
        # The csv module quotes a cell holding a character of its line terminator, and of
        # the line breaks only those: a TSV row with a CR in it is written by a writer whose
        # lines end in CRLF (the row then ended in LF). First in the file, a cell starting with
        # a byte order mark is quoted, or readers (pandas) take the mark for the file's.
        self._quoting = io.StringIO()
        self._tsv_cr = csv.writer(self._quoting, delimiter="\t", lineterminator="\r\n")
        self._tsv_all = csv.writer(
            self._quoting, delimiter="\t", lineterminator="\r\n", quoting=csv.QUOTE_ALL
        )

    def start(self) -> bytes:
        if self.header is None or self.format.name == "jsonl":
            return b""
        return self.rows([self.header])

    def records(self, data: bytes) -> bytes:
        """Rows as the store gives them: one JSON array of records (see Documents.records).

        Records with no escape in them (no tab, line break, quote, backslash or other control
        character in any cell, which JSON would escape) are their JSON with the brackets taken
        out (TSV: and the quotes), from a few byte replacements with no parsing, when no cell
        needs neutralising (CSV) or quoting (TSV: a lone empty cell, or a byte order mark
        opening the file). Any other record takes the careful way, through the csv module."""
        if data == b"[]":
            return b""
        if self.format.name != "jsonl" and b"\\" not in data:
            if self.format.name == "csv":
                if not _may_run(data) and _breaks_plainly(data):
                    return data[2:-2].replace(b'"],["', b'"\r\n"') + b"\r\n"
            elif b'[""]' not in data and (self._started or not data.startswith(_BOM_FIRST)):
                self._started = True
                return plain_lines(data, b"\t") + b"\n"
        rows: list[list[str]] = orjson.loads(data)
        return self.rows(rows, line_breaks=b"\\r" in data)

    def rows(self, rows: Iterable[list[str]], line_breaks: bool = True) -> bytes:
        """Rows (lists of cells) as bytes. ``line_breaks``: whether a cell may hold a CR
        (False only when none does)."""
        if self.format.name == "jsonl":
            keys = self.keys
            return b"".join(
                orjson.dumps(dict(zip(keys, row, strict=False))) + b"\n" for row in rows
            )
        if self.format.name == "csv":
            self._csv.writerows(
                [neutralised(c) if c[:1] <= " " or c[0] in _FORMULA else c for c in row]
                for row in rows
            )
        else:
            self._tsv(rows if isinstance(rows, list) else list(rows), line_breaks)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()

    def _tsv(self, rows: list[list[str]], line_breaks: bool) -> None:
        """Rows as TSV. A row with a cell holding a CR, or whose first cell starts the file
        with a byte order mark, is written by a writer that quotes it."""
        quoted = [i for i, row in enumerate(rows) if "\r" in "".join(row)] if line_breaks else []
        bom = not self._started and bool(rows and rows[0]) and rows[0][0].startswith("\ufeff")
        self._started = self._started or bool(rows)
        if bom and quoted[:1] != [0]:
            quoted.insert(0, 0)
        done = 0
        for i in quoted:
            self._csv.writerows(rows[done:i])
            (self._tsv_all if bom and i == 0 else self._tsv_cr).writerow(rows[i])
            self._buffer.write(self._quoting.getvalue()[:-2] + "\n")  # its CRLF, as LF
            self._quoting.seek(0)
            self._quoting.truncate()
            done = i + 1
        self._csv.writerows(rows[done:])
