"""An Excel workbook (XLSX, Office Open XML's SpreadsheetML) of one sheet, written by us: a zip
of a few fixed XML parts and the sheet's XML, made a batch of rows at a time by Arrow's string
kernels, a column at a time (XlsxWriter's Python, a call and its XML a cell, took 3.3-3.7 s a
million cells; see docs/performance.md). Pure: columns in, the zip's bytes out as they are
compressed; what it holds meanwhile is a batch's XML and the compressor's window.

The zip is written as a stream (each entry's sizes and CRC in a data descriptor after it, as
Go's archive/zip and ExcelJS's streaming writer write theirs, which Excel opens), so a caller
may send or keep the bytes as they come; ZIP64 only when the sheet may pass 4 GiB (Excel and
Apache POI warn of a ZIP64 entry where none is needed).

Cells are written as Excel writes them: ``r`` references on rows and cells (empty cells left
out), numbers as ``<v>``, dates as Excel's day numbers with a date style, text as inline
strings (no shared-strings table to hold: it would be the whole sheet's text in memory),
XML-escaped, characters XML forbids as Excel's ``_xHHHH_`` escapes (as XlsxWriter does: Excel
reads them back as the characters), cut at Excel's 32,767 characters a cell.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.compute as pc

CELL_CHARACTERS = 32_767  # Excel's most in a cell (XlsxWriter cuts a longer string there too)
COMPRESS_LEVEL = 1  # deflate's fastest: the sheet's XML repeats itself, level 1 gets most
# ZIP64 is used where a sheet of this many cells might pass 4 GiB of XML (~256 bytes a cell)
ZIP64_CELLS = (1 << 32) // 256

# Style indexes (cellXfs in STYLES): the header's bold, dates, date-times
BOLD, DATE, DATETIME = 1, 2, 3

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" '
    'windowHeight="9660"/></bookViews>'
    '<sheets><sheet name="Table" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/><scheme val="minor"/>'
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
SHEET_OPEN = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
)
FROZEN_HEADER = (
    '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft"/></sheetView></sheetViews>'
)
PLAIN_VIEW = '<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>'
SHEET_CLOSE = (
    '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
    'footer="0.3"/></worksheet>'
)

# What XML 1.0 cannot hold (every control character but tab, line feed; carriage return too,
# which a parser reads as a line feed) and what reads as Excel's escape of one: Excel's
# _xHHHH_ escapes, as XlsxWriter writes them
_UNWRITABLE = "[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
_ESCAPED = re.compile(f"({_UNWRITABLE})")
# Text that starts or ends with white space keeps it only under xml:space="preserve"
_PADDED = r"^\s|\s$"


def column_name(number: int) -> str:
    """A column's letters, as Excel names it: 0 is A, 26 is AA."""
    letters = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class Column:
    """A column of a batch of rows as the sheet writes it: ``numbers`` (float64 or int64; null
    where a cell is not a number), with the style ``style`` (0, DATE, DATETIME), and ``texts``
    (null where a cell is not text). A cell null in both is left empty."""

    numbers: pa.Array | None
    texts: pa.Array
    style: int = 0


class Sink:
    """A file object whose bytes are taken as they come (``take``): the zip's as zipfile
    writes them (it never seeks here: a stream, each entry's sizes after it), and
    tablecast.table.export_binary's Parquet and Arrow writers'."""

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


class Workbook:
    """One sheet named Table: ``start`` (the header row, bold and frozen, if any), then
    ``rows`` a batch at a time, then ``finish``; each gives the zip's bytes made meanwhile.
    ``rows`` and ``width`` are the sheet's (its header's row among them), for its
    ``<dimension>``, which readers size the sheet by."""

    def __init__(self, rows: int, width: int) -> None:
        self.rows, self.width = rows, width
        self._sink = Sink()
        self._zip = zipfile.ZipFile(
            self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        self._sheet: Any = None
        self._row = 0  # rows written, the header's among them
        # each column's cell reference as it starts, and its end: ``<c r="B`` + row + ``"``
        self._refs = [f'<c r="{column_name(c)}' for c in range(width)]

    def start(self, header: Sequence[str] | None) -> bytes:
        for name, text in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", PACKAGE_RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/styles.xml", STYLES),
        ):
            self._zip.writestr(_entry(name), text)
        self._sheet = self._zip.open(
            _entry("xl/worksheets/sheet1.xml"),
            "w",
            force_zip64=self.rows * max(self.width, 1) > ZIP64_CELLS,
        )
        used = f"A1:{column_name(self.width - 1)}{self.rows}" if self.rows and self.width else "A1"
        head = [
            SHEET_OPEN,
            f'<dimension ref="{used}"/>',
            FROZEN_HEADER if header is not None else PLAIN_VIEW,
            '<sheetFormatPr defaultRowHeight="15"/><sheetData>',
        ]
        if header is not None:
            self._row = 1
            cells = "".join(
                f'<c r="{column_name(c)}1" s="{BOLD}" t="inlineStr"><is>{_text_xml(name)}</is></c>'
                for c, name in enumerate(header)
                if name
            )
            head.append(f'<row r="1">{cells}</row>')
        self._sheet.write("".join(head).encode())
        return self._sink.take()

    def add(self, columns: Sequence[Column], count: int) -> bytes:
        """``count`` rows, a Column each of their columns."""
        if count == 0:
            return b""
        numbers = pc.cast(pa.array(range(self._row + 1, self._row + count + 1)), pa.string())
        self._row += count
        cells = [self._cells(c, column, numbers) for c, column in enumerate(columns)]
        rows = pc.binary_join_element_wise('<row r="', numbers, '">', *cells, "</row>", "")
        # the rows' strings end to end: their data buffer, from the first's start to the end
        offsets = rows.buffers()[1]
        start, stop = (
            int.from_bytes(offsets[i * 4 : i * 4 + 4], "little", signed=True)
            for i in (rows.offset, rows.offset + len(rows))
        )
        self._sheet.write(memoryview(rows.buffers()[2])[start:stop])
        return self._sink.take()

    def finish(self) -> bytes:
        self._sheet.write(SHEET_CLOSE.encode())
        self._sheet.close()
        self._zip.close()
        return self._sink.take()

    def _cells(self, c: int, column: Column, rows: pa.Array) -> pa.Array:
        """A column's cells' XML, ``""`` where empty."""
        ref = self._refs[c]
        texts = _escaped(column.texts)
        padded = pc.match_substring_regex(texts, _PADDED)
        opening = pc.if_else(
            padded, '" t="inlineStr"><is><t xml:space="preserve">', '" t="inlineStr"><is><t>'
        )
        written = pc.binary_join_element_wise(ref, rows, opening, texts, "</t></is></c>", "")
        if column.numbers is not None:
            style = f'" s="{column.style}"><v>' if column.style else '"><v>'
            values = pc.cast(column.numbers, pa.string())
            number = pc.binary_join_element_wise(ref, rows, style, values, "</v></c>", "")
            written = pc.coalesce(number, written)
        return pc.coalesce(written, "")


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry, deflated, dated 1980-01-01: the same table gives the same bytes (its ETag
    is strong), whenever it is written."""
    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # (read before 3.13)
    return info


def _escaped(texts: pa.Array) -> pa.Array:
    """Text as an XML element holds it: cut at Excel's most, &, < and > escaped, what XML
    cannot hold as Excel's escapes (see _UNWRITABLE: rare, so done cell by cell, those
    cells alone)."""
    if pc.any(pc.greater(pc.utf8_length(texts), CELL_CHARACTERS)).as_py():
        texts = pc.utf8_slice_codeunits(texts, 0, CELL_CHARACTERS)
    for character, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if pc.any(pc.match_substring(texts, character)).as_py():
            texts = pc.replace_substring(texts, character, entity)
    odd = pc.match_substring_regex(texts, _UNWRITABLE)
    if pc.any(odd).as_py():
        listed = texts.to_pylist()
        for i in pc.indices_nonzero(odd).to_pylist():
            listed[i] = _excel_escaped(listed[i])
        texts = pa.array(listed, pa.string())
    return texts


def _excel_escaped(text: str) -> str:
    """Excel's escapes: a character XML cannot hold as ``_xHHHH_``, and text that reads as
    one with its underscore escaped (``_x005F_``), as XlsxWriter writes them."""
    return _ESCAPED.sub(
        lambda m: f"_x{ord(m[1]):04X}_" if len(m[1]) == 1 else f"_x005F{m[1]}", text
    )


def _text_xml(text: str) -> str:
    """One text's ``<t>`` element (the header's cells)."""
    text = escape(_excel_escaped(text[:CELL_CHARACTERS]))
    padded = re.search(_PADDED, text) is not None
    return f'<t xml:space="preserve">{text}</t>' if padded else f"<t>{text}</t>"
