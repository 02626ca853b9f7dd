"""A version written out as a file: TSV, CSV or JSON Lines. Pure functions, no I/O.

Rows come in batches (lists of cells, as the store gives them) and leave as bytes, so a
download streams a table of any size in constant memory.

CSV is what people open in spreadsheets. Every cell is quoted, so no reader splits one at a
separator it was told to use (LibreOffice's import splits at commas, semicolons and tabs by
default) or breaks a row at a line break inside it, and lines end in CRLF (RFC 4180). A cell a
spreadsheet could run as a formula (see :func:`neutralised`) is written with a leading
apostrophe. TSV is for programs (``pandas.read_csv(url, sep="\\t")``) and is written exactly, one
LF-ended line a row, quoted where a cell holds a tab, a line break of any kind or a quote, as
the csv module and pandas read it. JSON Lines writes a cell of a numeric column as a JSON number
where reading that number back gives the cell's text (see :func:`json_number`), every other
cell as a string.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import TablecastError


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
# A cell starting as a formula might in stored records with no escape (see Writer.from_json): a
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
    """Records as the store gives them (one JSON array, see Pages.records_json), when no cell
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


# A numeric column's cell that JSON Lines writes as a number: one whose text any reader of JSON,
# reading the number and writing it back, gives exactly. Numbers written as JSON writes them
# (not "007", "+7", "-0", "1,234", "1.50", "1e5", ".5"), an integer of at most 15 digits (a
# double, which JavaScript reads every number as, holds it exactly: 2**53 has 16), a decimal of
# at most 15 digits whose last is not 0 (a double holds 15 digits exactly, and Python and
# JavaScript both write the shortest digits that read back the same; "100.0" is 100 in
# JavaScript), and no smaller than 0.0001 (Python writes 0.00001 as 1e-05).
_JSON_NUMBER = re.compile(
    r"0|-?[1-9][0-9]{0,14}|(?=-?[0-9.]{3,16}\Z)(?!-?0\.0000)-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9]"
)
_NUMBER_BYTES = 17  # the longest such number: a sign, 15 digits and a point
_NUMERIC_TYPES = frozenset({"integer", "decimal"})
_KNOWN_NUMBERS = 65536  # cells whose verdict a JSON Lines writer remembers, at most


def json_number(cell: str) -> bool:
    """Whether JSON Lines writes a numeric column's ``cell`` as a number (see _JSON_NUMBER):
    ``12``, ``-43``, ``0.5`` are; ``007``, ``1,234``, ``1.50``, ``-0`` and ``2**53 + 1`` are
    not."""
    return _JSON_NUMBER.fullmatch(cell) is not None


def _number_reader() -> npt.NDArray[np.uint16]:
    """An automaton that reads cells a byte at a time (every cell at once, a step a byte) and
    stops in INTEGER or DECIMAL where a cell has _JSON_NUMBER's shape, its length aside: the
    next state of each (state, byte), as one array. A quote ends a cell, as in stored
    records; past it the state stays."""
    classes = np.full(256, 5, dtype=np.intp)  # any other byte
    classes[ord('"')] = 0  # the cell's end
    classes[ord("0")] = 1
    classes[ord("1") : ord("9") + 1] = 2
    classes[ord(".")] = 3
    classes[ord("-")] = 4
    no, whole, decimal = _REFUSED, _INTEGER, _DECIMAL
    moves = [  # what comes next: the end, 0, 1-9, a point, a minus, another byte
        [no, 2, 4, no, 1, no],  # 0: the start
        [no, 3, 4, no, no, no],  # 1: "-"
        [whole, no, no, 8, no, no],  # 2: "0" ("07" is refused)
        [no, no, no, 8, no, no],  # 3: "-0" ("-0" is refused)
        [whole, 4, 4, 5, no, no],  # 4: an integer
        [no, 7, 6, no, no, no],  # 5: its point
        [decimal, 7, 6, no, no, no],  # 6: a fraction ending in 1-9
        [no, 7, 6, no, no, no],  # 7: ending in 0 ("1.50" is refused)
        [no, 9, 6, no, no, no],  # 8: "0."
        [no, 10, 6, no, no, no],  # 9: "0.0"
        [no, 11, 6, no, no, no],  # 10: "0.00"
        [no, no, 6, no, no, no],  # 11: "0.000" ("0.00001" is refused)
        [no] * 6,  # refused, for good
        [whole] * 6,  # an integer: the cell has ended
        [decimal] * 6,  # a decimal: the cell has ended
    ]
    return np.array(moves, dtype=np.uint16)[:, classes].ravel()


_REFUSED, _INTEGER, _DECIMAL = 12, 13, 14
_MOVES = _number_reader()


def json_numbers(text: npt.NDArray[np.uint8], starts: Any, lengths: Any) -> Any:
    """json_number for many cells at once: the cells at ``starts`` in ``text``, of
    ``lengths`` bytes, each followed by a quote (as in stored records, where a cell holds a
    quote only escaped)."""
    short = np.flatnonzero(lengths <= _NUMBER_BYTES)
    at = starts[short]
    state = np.zeros(len(at), dtype=np.uint16)
    steps = int(lengths[short].max(initial=-1)) + 1
    # (past its quote, a cell's state stays: a cell near the end reads the padding)
    text = np.concatenate((text, np.zeros(steps, dtype=np.uint8)))
    for step in range(steps):
        state = _MOVES[state * 256 + text[at + step]]
    digits = lengths[short] - (text[starts[short]] == 45)  # and a decimal's point
    found = np.zeros(len(starts), dtype=bool)
    found[short] = ((state == _INTEGER) & (digits <= 15)) | ((state == _DECIMAL) & (digits <= 16))
    return found


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
    first (TSV, CSV) or used as keys (JSON Lines). ``types``: each column's type (see
    tablecast.table.view), for JSON Lines: where a column is integer or decimal, its cells that are
    JSON numbers (see json_number) are written as numbers."""

    def __init__(
        self,
        fmt: Format,
        header: list[str] | None,
        columns: list[str],
        types: Sequence[str] = (),
    ) -> None:
        self.format = fmt
        self.header = header
        self.keys = unique_names(columns)
        self._numeric = [i for i, kind in enumerate(types) if kind in _NUMERIC_TYPES]
        # which columns are numeric, and past the last, none (no record is wider)
        self._is_numeric = np.zeros(len(columns) + 1, dtype=bool)
        self._is_numeric[self._numeric] = True
        self._known: dict[str, Any] = {}  # a numeric column's cells as JSON Lines writes them
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

    def from_json(self, data: bytes) -> bytes:
        """Rows as the store gives them: one JSON array of records (see Pages.records_json).

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
        if self.format.name == "jsonl":
            return self._json_lines(data)
        rows: list[list[str]] = orjson.loads(data)
        return self.rows(rows, line_breaks=b"\\r" in data)

    def rows(self, rows: Iterable[list[str]], line_breaks: bool = True) -> bytes:
        """Rows (lists of cells) as bytes. ``line_breaks``: whether a cell may hold a CR
        (False only when none does)."""
        if self.format.name == "jsonl":
            return self._objects([list(row) for row in rows])
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

    def _json_lines(self, data: bytes) -> bytes:
        """Records as the store gives them as JSON objects, one a line. Where no cell holds an
        escape, the quotes around the cells written as numbers are found in the records' JSON
        for all of them at once, and made spaces before it is read, so that orjson reads them
        as numbers: no cell is looked at one by one in Python."""
        if not self._numeric or b"\\" in data:
            return self._objects(orjson.loads(data))
        rows: list[list[Any]] = orjson.loads(self._unquoted(data))
        keys = self.keys
        return b"".join(orjson.dumps(dict(zip(keys, row, strict=False))) + b"\n" for row in rows)

    def _unquoted(self, data: bytes) -> bytes:
        """Records with no escape, the quotes around the numbers of numeric columns made
        spaces (which JSON reads past). With no escape every quote opens or closes a cell,
        and a cell is the first of its record where a bracket comes before it."""
        text = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(text == 34)
        opens, closes = quotes[0::2], quotes[1::2]
        cells = np.arange(len(opens))
        first = np.maximum.accumulate(np.where(text[opens - 1] == 91, cells, 0))
        column = np.minimum(cells - first, len(self.keys))
        lengths = closes - opens - 1
        maybe = np.flatnonzero(self._is_numeric[column] & (lengths <= _NUMBER_BYTES))
        numbers = maybe[json_numbers(text, opens[maybe] + 1, lengths[maybe])]
        unquoted = bytearray(data)
        spaced = np.frombuffer(unquoted, dtype=np.uint8)
        spaced[opens[numbers]] = spaced[closes[numbers]] = 32
        return bytes(unquoted)

    def _objects(self, rows: list[list[Any]]) -> bytes:
        """Rows as JSON objects, one a line, cell by cell; ``rows`` are changed, numbers put
        in."""
        numeric = self._numeric
        if numeric:
            known = self._known
            if len(known) > _KNOWN_NUMBERS:
                known.clear()
            remembered = known.get
            widest = numeric[-1] + 1
            for row in rows:
                # (each cell is a string: a verdict is None only for a cell not seen yet)
                for i in numeric if len(row) >= widest else [i for i in numeric if i < len(row)]:
                    cell = row[i]
                    value = remembered(cell)
                    if value is None:
                        value = known[cell] = orjson.Fragment(cell) if json_number(cell) else cell
                    row[i] = value
        keys = self.keys
        return b"".join(orjson.dumps(dict(zip(keys, row, strict=False))) + b"\n" for row in rows)

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
