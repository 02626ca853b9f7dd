"""Bytes in, rows out: a streaming, push-style table parser with no I/O.

Feed it the file chunk by chunk as it arrives; it hands back the records completed so far.
Nothing but the record in progress is held, so a file of any size parses in flat memory.

What it decides from the first 64 KiB (or the whole file, if smaller):

* the encoding: a UTF-8 or UTF-16 byte order mark, else UTF-8 if the sample decodes as UTF-8,
  else cp1252. A UTF-8 file that turns out to hold a stray cp1252 byte later on keeps going:
  that byte alone is read as cp1252 rather than failing a large upload near its end;
* that it is text at all: a NUL character in the sample means it is not (``not_text``). A
  spreadsheet workbook (Excel's ``.xlsx`` or ``.xls``, OpenDocument's ``.ods``), known by its
  first bytes whatever its name, or by its name when its bytes are binary, is refused with a
  message of its own (``unsupported_format``; see :func:`workbook_kind`);
* the delimiter: tab unless comma, semicolon or pipe splits the sample into more consistent
  records (see :func:`sniff_delimiter`).

Records follow RFC 4180 as Python's ``csv`` module reads it (and as the article's ``csv.reader``
did): quoted fields may hold delimiters, doubled quotes and line breaks; LF, CRLF and CR all end a
record. Cells are kept exactly as written and ragged rows stay ragged (they are counted:
``ragged_records``). Only blank lines are
skipped: a line that is empty or holds nothing but white space, with no delimiter and no quote.
Every other record is kept, even one whose cells are all empty or white space (delimiters
alone, ``" "``, ``""``): nothing the file holds vanishes. A record may have at most
:data:`MAX_COLUMNS` cells (``too_many_columns``), a cell :data:`MAX_CELL_CHARS` characters
(``cell_too_large``), a record :data:`MAX_RECORD_CHARS` (``bad_table``); each is refused as it
is read, before the record is handed on.

Parsing is linear in the text whatever its quoting: a record cut off by the end of a chunk is
followed by a scanner over each new chunk alone, and reaches ``csv.reader`` whole once it has
ended (see :class:`_PendingRecord`).

Each record comes out as its cells in JSON, the form it is stored and sent in: the text of a
JSON array of strings without its opening ``["`` and closing ``"]`` (cells ``a`` and ``b`` are
``a","b``), so that a block of records is one ``join`` (see :func:`tablecast.table.blocks.
encode_block`). Most exported tables hold no quotes at all, and for such text a record is its
line with each delimiter replaced by ``","``: the *plain lane* turns a whole chunk into records
with two ``bytes.replace`` calls and finds where each starts, and how wide it is, with numpy:
many times faster than ``csv.reader``, and no record (let alone cell) is a Python object.
:meth:`TableParser.feed_run` hands them on as they are stored, a
:class:`~tablecast.table.blocks.Run`. Text with a quote, or a character JSON must escape, takes
the *CSV lane* (``csv.reader``, then ``orjson``); each chunk picks its lane, and both give the
same records.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import NoReturn

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import TablecastError
from .blocks import NO_RECORDS, Run, joined, run_of
from .originals import Rebuilt, line_break

SNIFF_BYTES = 64 * 1024
MAX_CELL_CHARS = 1024 * 1024
MAX_RECORD_CHARS = 16 * 1024 * 1024
MAX_COLUMNS = 16_384  # Excel's limit: wider is no table anyone reads, and costs per column

DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
_SNIFF_RECORDS = 200
# A quote means CSV quoting, and JSON escapes a backslash; it escapes control characters too (bar
# line breaks and a tab delimiter), which _plain_run counts in one numpy pass, not 30 scans
_NOT_PLAIN = ('"', "\\")

# csv's limit is process-wide; the parser is its only user, and 128 KiB (the default) is too
# small for the long text cells real exports carry.
csv.field_size_limit(MAX_CELL_CHARS)


def _read_c1_as_code_points(err: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves five bytes undefined; read them as the same code points, as browsers do."""
    assert isinstance(err, UnicodeDecodeError)
    return "".join(chr(b) for b in err.object[err.start : err.end]), err.end


def _read_stray_bytes_as_cp1252(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return bad.decode("cp1252", errors="tablecast-c1"), err.end


codecs.register_error("tablecast-c1", _read_c1_as_code_points)
codecs.register_error("tablecast-cp1252", _read_stray_bytes_as_cp1252)


@dataclass(frozen=True)
class ParseOptions:
    """What an uploader may say about the file; ``None`` means "find out"."""

    delimiter: str | None = None
    encoding: str | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None and self.delimiter not in DELIMITER_NAMES:
            raise TablecastError("bad_option", "delimiter must be tab, comma, semicolon or pipe")
        if self.encoding is not None:
            try:
                # str.encode, unlike codecs.lookup, refuses codecs that do not turn bytes into
                # text (base64, rot13, zlib...); ValueError: a NUL in the name, or "undefined"
                "".encode(self.encoding)
            except (LookupError, ValueError):
                raise TablecastError(
                    "bad_option", f"unknown text encoding {self.encoding[:60]!r}"
                ) from None
            # kept and shown as Python names it: "UTF8 " or "utf-8\r" is utf-8 (a name with
            # a line break once made every download of its version fail)
            object.__setattr__(self, "encoding", codecs.lookup(self.encoding).name)


def parse_delimiter(text: str | None) -> str | None:
    """An upload option to a delimiter: a name (``tab``, ``comma``...) or the character itself."""
    if text is None or text == "" or text == "auto":
        return None
    by_name = {name: char for char, name in DELIMITER_NAMES.items()}
    delimiter = by_name.get(text.lower(), text)
    if delimiter not in DELIMITER_NAMES:
        raise TablecastError("bad_option", "delimiter must be tab, comma, semicolon or pipe")
    return delimiter


def parse_header_option(value: str | None) -> bool:
    """``header=`` over HTTP (an upload's, a view's): whether the first record is a header.
    Absent or empty: it is (a view reads that as its version's own, before asking here)."""
    if value is None or value.lower() in ("1", "true", "yes", ""):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise TablecastError("bad_option", "header must be 1 or 0")


def detect_encoding(head: bytes, final: bool) -> tuple[str, str, int]:
    """(name to report, codec to decode with, length of the byte order mark)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "utf-8", len(codecs.BOM_UTF8)
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", "utf-16-be", 2
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final)
    except UnicodeDecodeError:
        return "cp1252", "cp1252", 0
    return "utf-8", "utf-8", 0


_SURROGATES = re.compile("[\ud800-\udfff]")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def sniff_delimiter(sample: str, complete: bool) -> str:
    """Pick the delimiter that splits the sample's records most consistently.

    A candidate must give at least two columns in most records. The best is the one whose
    records most often have the same width; ties go to the wider split, then to tab (the
    article's format). Comma and semicolon tie on files like ``1,5;2,3`` that use decimal
    commas; there semicolon wins if its cells look like such numbers.
    """
    lines = io.StringIO(sample, newline="").readlines()
    if not complete and len(lines) > 1:
        lines.pop()  # probably cut short by the end of the sample
    scores: dict[str, tuple[float, int]] = {}
    for delimiter in DELIMITER_NAMES:
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            widths = [len(r) for r in islice(reader, _SNIFF_RECORDS) if r]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if width >= 2:
            scores[delimiter] = (count / len(widths), width)
    if not scores:
        return "\t"
    best = max(scores.values())
    tied = [d for d, s in scores.items() if s == best]
    consistent = [d for d, s in scores.items() if s[0] == best[0]]
    if "," in consistent and ";" in consistent and _has_decimal_commas(lines):
        return ";"
    return tied[0]  # dict order is the preference order: tab, comma, semicolon, pipe


def _has_decimal_commas(lines: list[str]) -> bool:
    for row in islice(csv.reader(lines, delimiter=";"), _SNIFF_RECORDS):
        if any(_DECIMAL_COMMA.match(cell) for cell in row):
            return True
    return False


ZIP = b"PK\x03\x04"  # a zip file's local file header: xlsx and ods are zip files
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Microsoft's compound file: xls (and doc, msg...)
_ODS = b"application/vnd.oasis.opendocument.spreadsheet"  # its "mimetype", first and unpacked
# An OLE2 file's directory names its streams in UTF-16: a workbook's is "Workbook" ("Book"
# before Excel 97)
_XLS_STREAMS = tuple(f"{name}\0".encode("utf-16-le") for name in ("Workbook", "Book"))
EXCEL = "Excel workbook"
OPENDOCUMENT = "OpenDocument spreadsheet"
_BY_EXTENSION = {
    **dict.fromkeys(("xlsx", "xlsm", "xlsb", "xltx", "xltm", "xls", "xlt"), EXCEL),
    **dict.fromkeys(("ods", "ots"), OPENDOCUMENT),
}
WORKBOOK_MESSAGES = {
    EXCEL: "this is an Excel workbook, not a text table",
    OPENDOCUMENT: "this is an OpenDocument spreadsheet, not a text table",
}


def workbook_kind(head: bytes, filename: str = "", binary: bool = False) -> str | None:
    """Which spreadsheet workbook a file is (:data:`EXCEL` or :data:`OPENDOCUMENT`), if it is
    one: from its first bytes, so that a workbook renamed ``.csv``, or sent with no name, is
    told apart from other binary files; or, when its bytes are ``binary`` (not text), from its
    name (an encrypted ``.xlsx`` is an OLE2 file, a damaged one anything). A text file is
    never a workbook, whatever its name: a CSV file named ``.xls`` is read as what it is."""
    if head.startswith(ZIP):
        if _ODS in head[: 30 + len(b"mimetype") + len(_ODS) + 64]:  # its first part, unpacked
            return OPENDOCUMENT
        # Each part of the zip starts with a local file header, its name 30 bytes in; an xlsx
        # keeps its sheets under xl/ (a docx under word/). The data between is compressed: a
        # header's signature met there by chance is checked as any other, and is rare.
        at = 0
        while (at := head.find(ZIP, at)) >= 0 and at + 30 <= len(head):
            name_length = int.from_bytes(head[at + 26 : at + 28], "little")
            if head[at + 30 : at + 30 + name_length].startswith(b"xl/"):
                return EXCEL
            at += len(ZIP)
    elif head.startswith(OLE2) and any(stream in head for stream in _XLS_STREAMS):
        return EXCEL
    if not binary:
        return None
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _BY_EXTENSION.get(extension)


_LF = ord("\n")


def _kept_ranges(left_out: list[int], count: int) -> Iterator[tuple[int, int]]:
    """The ranges of ``range(count)`` between the (ascending) numbers ``left_out``."""
    start = 0
    for i in left_out:
        if i > start:
            yield start, i
        start = i + 1
    if start < count:
        yield start, count


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())  # isascii: no pass over it


class _NeedMoreInput(Exception):
    """The record in progress continues past the text received so far."""


class _LineFeed:
    """The lines ``csv.reader`` pulls from; runs dry with _NeedMoreInput until the file ends.

    ``csv.reader`` starts every record afresh, so a record cut off by the end of a chunk is
    given to it again whole once it has ended (see :class:`_PendingRecord`).
    """

    __slots__ = ("ended", "lines", "pos", "record_start")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pos = 0
        self.record_start = 0  # the first line of the record in progress
        self.ended = False

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pos < len(self.lines):
            line = self.lines[self.pos]
            self.pos += 1
            return line
        if self.ended:
            raise StopIteration
        raise _NeedMoreInput


# Where csv.reader (strict=False, doublequote, no escapechar) stands within a record
_START_FIELD, _IN_FIELD, _IN_QUOTED_FIELD, _QUOTE_IN_QUOTED_FIELD = range(4)
# The inside of a quoted field up to its closing quote: "" is a quote, anything else is text
_QUOTED = re.compile(r'[^"]*+(?:""[^"]*+)*+')


def _field_patterns(delimiter: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What an unquoted field runs to, and a run of complete fields each followed by a
    delimiter: quoted (and what follows its closing quote, which is literal) or not."""
    rest = f"[^{re.escape(delimiter)}\\r\\n]*+"
    field = f'(?:"{_QUOTED.pattern}"{rest}|(?!"){rest})'
    return re.compile(rest), re.compile(f"(?:{field}{re.escape(delimiter)})*+")


_FIELD_PATTERNS = {delimiter: _field_patterns(delimiter) for delimiter in DELIMITER_NAMES}


def _run(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, which matches the empty string too, stops when it starts at ``pos``."""
    found = pattern.match(text, pos)
    assert found is not None
    return found.end()


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class _PendingRecord:
    """A record cut off by the end of a chunk, until a later chunk ends it.

    Parsing it again with every chunk that does not end it would make one record spanning many
    chunks cost their number times its length. Instead its text is kept in pieces, and only the
    new text of each chunk is scanned, following csv.reader's state machine from where the last
    piece left it, to find the line break (outside a quoted field) that ends it; csv.reader then
    reads it once. The scanner goes a field, or a run of fields, per step (regular expressions),
    never a character.
    """

    __slots__ = (
        "cell",
        "chars",
        "delimiter",
        "fields",
        "lines",
        "lines_before",
        "pieces",
        "state",
        "unquoted",
    )

    def __init__(self, delimiter: str, lines_before: int) -> None:
        self.delimiter = delimiter
        self.unquoted, self.fields = _FIELD_PATTERNS[delimiter]
        self.lines_before = lines_before  # in the file, before the record's first line
        self.pieces: list[str] = []
        self.chars = 0
        self.lines = 0  # line breaks in the pieces
        self.state = _START_FIELD
        self.cell = 0  # characters in the quoted field in progress, "" counted as one

    def add(self, text: str) -> None:
        self.pieces.append(text)
        self.chars += len(text)
        self.lines += _line_breaks(text)

    def text(self) -> str:
        return "".join(self.pieces)

    def scan(self, text: str) -> int:
        """Where in ``text`` the record ends (just past its line break), or -1 if it goes on;
        the state then stands at the end of ``text``. Raises ``cell_too_large`` as csv.reader
        would when a quoted field grows past its limit."""
        pos, end, state = 0, len(text), self.state
        while True:
            if state == _START_FIELD:
                pos = _run(self.fields, text, pos)
                if pos == end:
                    break
                if text[pos] == '"':
                    pos += 1
                    state, self.cell = _IN_QUOTED_FIELD, 0
                else:
                    state = _IN_FIELD
            if state == _QUOTE_IN_QUOTED_FIELD:  # the text before ended on that quote
                if pos == end:
                    break
                if text[pos] == '"':
                    pos += 1
                    self.cell += 1
                    state = _IN_QUOTED_FIELD
                else:
                    state = _IN_FIELD
            if state == _IN_QUOTED_FIELD:
                stop = _run(_QUOTED, text, pos)
                self.cell += stop - pos - text.count('"', pos, stop) // 2
                if self.cell > MAX_CELL_CHARS:
                    within = text[: max(pos, stop - (self.cell - MAX_CELL_CHARS))]
                    line = self.lines_before + self.lines + _line_breaks(within) + 1
                    raise TablecastError(
                        "cell_too_large",
                        f"a cell near line {line} is longer than {MAX_CELL_CHARS} characters"
                        " (an unclosed quote?)",
                    )
                if stop == end:
                    break
                pos = stop + 1
                state = _QUOTE_IN_QUOTED_FIELD
                continue  # the quote closes the field unless another follows
            # in an unquoted field, or after a quoted field's closing quote
            pos = _run(self.unquoted, text, pos)
            if pos == end:
                break
            if text[pos] == self.delimiter:
                pos += 1
                state = _START_FIELD
                continue
            return pos + 2 if text.startswith("\r\n", pos) else pos + 1
        self.state = state
        return -1


class TableParser:
    """Push bytes with :meth:`feed`, then call :meth:`close`; both return the records completed,
    each as its cells in JSON (see the module's doc)."""

    def __init__(
        self,
        options: ParseOptions | None = None,
        sample_bytes: int = SNIFF_BYTES,
        plain_lane: bool = True,
        max_columns: int = MAX_COLUMNS,
        filename: str = "",
    ) -> None:
        self.options = options or ParseOptions()
        self.filename = filename  # as uploaded: only to name a binary file (see workbook_kind)
        self.max_columns = max_columns
        self.sample_bytes = sample_bytes
        self.plain_lane = plain_lane  # off only to test the two lanes against each other
        self.encoding: str | None = None
        self.delimiter: str | None = None
        self.bytes_in = 0
        self.record_count = 0
        self.max_width = 0
        # Records after the first whose cells are more or fewer than its: with a header, the
        # data rows that do not fit it; without, the rows that do not fit the first. Either
        # way the same count, so a view that switches the header needs no other.
        self.first_width: int | None = None
        self.ragged_records = 0
        self._head: bytearray | None = bytearray()
        self._decoder: codecs.IncrementalDecoder | None = None
        self._carry = ""  # a line without its line break yet
        self._feed = _LineFeed()
        self._reader: Iterator[list[str]] | None = None
        self._pending: _PendingRecord | None = None  # a record cut off by the end of a chunk
        self._lines_done = 0
        self._closed = False
        self.rebuilt = Rebuilt()  # how much of the file its records give back (see originals)
        self._decoder_in = 0  # bytes given to the decoder
        self._decoded_utf8 = 0  # its text's length in UTF-8
        self._blank_lines = 0  # in the text the plain lane took last
        # Characters handed to csv.reader so far: the parse's work, counted for tests (a file's
        # text should reach it about once, however its records are cut)
        self.csv_reader_chars = 0

    def feed(self, data: bytes) -> list[str]:
        return self.feed_run(data).records()

    def close(self) -> list[str]:
        """End of file: the last records, or an error if there were none at all."""
        return self.close_run().records()

    def feed_run(self, data: bytes) -> Run:
        """:meth:`feed`, the records as a run: what they are stored as, without a Python
        string for each (see :meth:`_plain_run`)."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        self.bytes_in += len(data)
        if self._head is not None:
            self._head += data
            if len(self._head) < self.sample_bytes:
                return NO_RECORDS
            # the sample is the file's first sample_bytes bytes, however they arrived
            rest = bytes(self._head[self.sample_bytes :])
            del self._head[self.sample_bytes :]
            records = self._records(self._start(final=False), final=False)
            return joined([records, self._records(self._decode(rest, final=False), final=False)])
        return self._records(self._decode(data, final=False), final=False)

    def close_run(self) -> Run:
        """:meth:`close`, the records as a run."""
        if self._closed:
            raise RuntimeError("close() twice")
        text = self._start(final=True) if self._head is not None else self._decode(b"", True)
        records = self._records(text, final=True)
        self._closed = True
        if self.record_count == 0:
            raise TablecastError("empty_file", "the file holds no rows")
        return records

    def _start(self, final: bool) -> str:
        """Settle encoding and delimiter from the sample, and decode it."""
        assert self._head is not None
        head = bytes(self._head)
        self._head = None
        if self.options.encoding:
            self.encoding = codec = self.options.encoding
            errors, skip = "replace", 0
        else:
            self.encoding, codec, skip = detect_encoding(head, final)
            errors = {"utf-8": "tablecast-cp1252", "cp1252": "tablecast-c1"}.get(codec, "replace")
        self._decoder = codecs.getincrementaldecoder(codec)(errors)
        if codec != "utf-8" or self.options.encoding:
            self.rebuilt.stop()
        self.rebuilt.bom = head[:skip]
        sample = self._decode(head[skip:], final)
        binary = "\x00" in sample
        kind = workbook_kind(head, self.filename, binary)
        if kind is not None:
            raise TablecastError("unsupported_format", WORKBOOK_MESSAGES[kind])
        if binary:
            raise TablecastError("not_text", "this is not a text table: the file holds binary data")
        self.delimiter = self.options.delimiter or sniff_delimiter(sample, final)
        self._reader = csv.reader(self._feed, delimiter=self.delimiter, strict=False)
        self.rebuilt.delimiter = self.delimiter
        return sample

    def _decode(self, data: bytes, final: bool) -> str:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeError as err:
            # Only an encoding the uploader named gets here: a few codecs fail whatever the
            # error handler (utf-32 without its byte order mark, idna, punycode)
            raise TablecastError(
                "bad_option", f"the file cannot be read as {self.encoding}: {err}"[:200]
            ) from None
        if self.options.encoding:
            try:
                text.encode()
            except UnicodeEncodeError:
                # utf-7 and the escape codecs can decode to lone surrogates, which no JSON or
                # UTF-8 can hold (the encodings we detect never make them)
                text = _SURROGATES.sub("\ufffd", text)
        if self.rebuilt.going:
            # A stray byte read as cp1252 is two or three bytes in UTF-8: if the text is as
            # long in UTF-8 as the bytes it came from, it is those bytes
            self._decoder_in += len(data)
            self._decoded_utf8 += _utf8_length(text)
            if self._decoded_utf8 != self._decoder_in - len(self._decoder.getstate()[0]):
                self.rebuilt.stop()
        return text

    def _records(self, text: str, final: bool) -> Run:
        if not text and not final:  # (a chunk that ends inside a character)
            return NO_RECORDS
        text = self._carry + text
        self._carry = ""
        if not final:
            # a CR at the very end may be half a CRLF: it waits for what follows
            cut = max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1)) + 1
            text, self._carry = text[:cut], text[cut:]
            if len(self._carry) > MAX_RECORD_CHARS:
                raise TablecastError("bad_table", "a line is too long to be a table row")
        plain = self._plain(text)
        self._blank_lines = 0
        records = self._plain_run(plain) if plain is not None else None
        if records is None:
            plain = None
            records = run_of(self._csv_records(text, final))
        if self.rebuilt.going and text:
            self._follow_rebuilt(text, plain is not None and not self._blank_lines)
        return records

    def _follow_rebuilt(self, text: str, exact: bool) -> None:
        """After ``text`` became records: whether they give it back too (see originals)."""
        rebuilt = self.rebuilt
        eol = line_break(text)
        if not exact or eol == "" or (eol and rebuilt.eol and eol != rebuilt.eol):
            rebuilt.stop()
            return
        if eol:
            rebuilt.eol = eol
        rebuilt.record_count = self.record_count
        rebuilt.end = len(rebuilt.bom) + self._decoded_utf8 - _utf8_length(self._carry)
        rebuilt.last_eol = eol is not None and text.endswith(eol)

    def _plain(self, text: str) -> str | None:
        """``text`` with LF line breaks, if the plain lane can take it: no record is in
        progress, and it holds no quote and nothing JSON escapes."""
        if not self.plain_lane or self._pending is not None:
            return None
        if any(c in text for c in _NOT_PLAIN):
            return None
        if "\r" in text:  # without quotes, CRLF and a lone CR end a line as LF does
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def _plain_run(self, text: str) -> Run | None:
        """Quote-free text: each line is a record, its delimiters replaced by ``","``. None if
        it holds a control character (the CSV lane escapes it) or a line over a cell's limit
        (csv.reader tells which cell).

        The records are made and measured as one run of UTF-8 bytes: two ``replace`` calls
        write them, and where each starts, and how wide it is, come from numpy over the
        bytes, with no Python object per record (they are stored as they are)."""
        if not text:
            return NO_RECORDS
        delimiter = self.delimiter
        assert delimiter is not None
        lines = text.encode()
        if not lines.endswith(b"\n"):  # (the file's last line)
            lines += b"\n"
        line_ends = np.flatnonzero(np.frombuffer(lines, np.uint8) == _LF)
        # (a line's bytes are at least its characters: only a long one in bytes is counted)
        if (
            len(text) > MAX_CELL_CHARS
            and np.diff(line_ends, prepend=-1).max() > MAX_CELL_CHARS
            and max(map(len, text.split("\n"))) > MAX_CELL_CHARS
        ):
            return None
        # each line break becomes '"]\n["', the last one without its '["'
        records = lines.replace(delimiter.encode(), b'","').replace(b"\n", b'"]\n["')
        data = b"".join((b'["', memoryview(records)[:-2]))
        # A record is its line and 4 bytes ('["', '"]'), 2 more for each delimiter ('","')
        count = len(line_ends)
        delimiters = (len(data) - len(lines) - 4 * count) // 2
        controls = count + (delimiters if delimiter == "\t" else 0)
        if np.count_nonzero(np.frombuffer(lines, np.uint8) < 0x20) != controls:
            return None  # a control character: JSON escapes it, as the CSV lane does
        self._lines_done += count
        ends: npt.NDArray[np.intp] | None = None
        each, rest = divmod(delimiters, count)
        if not rest:
            # Most files' records are all as wide: then the n-th record ends n such growths
            # after its line does. The records hold no line break but their ends, so if each
            # of these is one, these are all of them: one look a record, not a pass.
            step = 2 * each + 4
            guess = line_ends + np.arange(step, step * (count + 1), step)
            if np.all(np.frombuffer(data, np.uint8)[guess] == _LF):
                ends = guess
        if ends is None:
            ends = np.flatnonzero(np.frombuffer(data, np.uint8) == _LF)
        growth = ends - line_ends
        growth[1:] -= growth[:-1].copy()
        widths = growth // 2 - 1  # (a record's cells: its delimiters and one)
        starts = np.concatenate(([0], ends + 1))
        blank = self._blank(lines, line_ends, widths)
        if blank:
            self._blank_lines = len(blank)
            data = b"".join(data[starts[a] : starts[b]] for a, b in _kept_ranges(blank, len(ends)))
            kept = np.ones(len(ends), bool)
            kept[blank] = False
            widths = widths[kept]
            if not len(widths):
                return NO_RECORDS
            starts = np.concatenate(([0], np.cumsum(np.diff(starts)[kept])))
        widest = int(widths.max())
        if widest > self.max_columns:
            self._too_wide(self.record_count + int(widths.argmax()), widest)
        if self.first_width is None:
            self.first_width = int(widths[0])
        self.ragged_records += len(widths) - int(np.count_nonzero(widths == self.first_width))
        self.max_width = max(self.max_width, widest)
        self.record_count += len(widths)
        return Run(data, starts)

    def _blank(
        self, lines: bytes, line_ends: npt.NDArray[np.intp], widths: npt.NDArray[np.intp]
    ) -> list[int]:
        """The blank lines, left out (see _csv_records): only a line without a delimiter may
        be one, so that a table of several columns checks few lines, not each of them."""
        alone = np.flatnonzero(widths == 1)
        if not len(alone):
            return []
        blank = []
        ends = line_ends.tolist()
        for i in alone.tolist():
            line = lines[ends[i - 1] + 1 if i else 0 : ends[i]]
            # (white space that is not ASCII is not a byte: such a line is read to tell)
            if not line.strip(b" ") or (not line.isascii() and not line.decode().strip()):
                blank.append(i)
        return blank

    def _csv_records(self, text: str, final: bool) -> list[str]:
        pending = self._pending
        if pending is not None:
            if not final and pending.scan(text) < 0:
                pending.add(text)
                if pending.chars > MAX_RECORD_CHARS:
                    raise TablecastError("bad_table", "a record is too long to be a table row")
                return []
            text = pending.text() + text  # it has ended: csv.reader reads it once, whole
            self._pending = None
        feed = self._feed
        feed.lines = io.StringIO(text, newline="").readlines()
        feed.pos = feed.record_start = 0
        feed.ended = final
        self.csv_reader_chars += len(text)
        out: list[str] = []
        reader = self._reader
        assert reader is not None
        max_width, first_width, ragged = self.max_width, self.first_width, 0
        try:
            for row in reader:
                start, feed.record_start = feed.record_start, feed.pos
                # Only a line that holds nothing, or white space without a delimiter or a
                # quote, is not a record: csv.reader makes it no cell, or one blank cell from a
                # line without a quote (a quoted cell opens on its record's first line).
                # Anything else the file holds is a record.
                if len(row) < 2 and (
                    not row or (not row[0].strip() and '"' not in feed.lines[start])
                ):
                    continue
                if len(row) > max_width:
                    if len(row) > self.max_columns:
                        self._too_wide(self.record_count + len(out), len(row))
                    max_width = len(row)
                if len(row) != first_width:
                    if first_width is None:
                        first_width = len(row)
                    else:
                        ragged += 1
                out.append(orjson.dumps(row)[2:-2].decode())
        except _NeedMoreInput:
            # the record in progress goes on in the next chunk, which scans on from here
            if feed.record_start < len(feed.lines):
                assert self.delimiter is not None
                pending = _PendingRecord(self.delimiter, self._lines_done + feed.record_start)
                tail = "".join(feed.lines[feed.record_start :])
                if pending.scan(tail) >= 0:  # never seen: checked against csv.reader, but
                    # a typed error, not a 500, if they ever disagree
                    line = pending.lines_before + 1
                    raise TablecastError(
                        "bad_table", f"line {line}: the record could not be read"
                    ) from None
                pending.add(tail)
                if pending.chars > MAX_RECORD_CHARS:
                    raise TablecastError(
                        "bad_table", "a record is too long to be a table row"
                    ) from None
                self._pending = pending
        except csv.Error as exc:
            line = self._lines_done + feed.pos
            if "field larger than field limit" in str(exc):
                raise TablecastError(
                    "cell_too_large",
                    f"a cell near line {line} is longer than {MAX_CELL_CHARS} characters"
                    " (an unclosed quote?)",
                ) from None
            raise TablecastError("bad_table", f"line {line}: {exc}") from None
        self._lines_done += feed.record_start
        feed.lines = []
        self.max_width, self.first_width = max_width, first_width
        self.ragged_records += ragged
        self.record_count += len(out)
        return out

    def _too_wide(self, index: int, width: int) -> NoReturn:
        """Refuse record ``index`` (from 0), ``width`` cells wide, before it is stored."""
        raise TablecastError(
            "too_many_columns",
            f"row {index + 1} has {width} cells: a table may have at most {self.max_columns}"
            " columns",
        )
