"""The workbook we write ourselves (tablecast.table.xlsx): read back cell by cell by openpyxl
(pandas' reader), python-calamine (Polars' and fastexcel's) and LibreOffice, with text that XML
must escape or cannot hold, emoji, long text, empty cells, dates and big integers, over several
batches of rows."""

from __future__ import annotations

import csv
import datetime
import io
import random
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas
import pyarrow as pa
import pytest
from python_calamine import CalamineWorkbook

from tablecast.table import xlsx
from tablecast.table.export_binary import Columns, WorkbookEncoder
from test_workbooks import convert, needs_libreoffice

HEADER = ["text", "count", "day", "amount", "seen"]
KINDS = ["text", "integer", "date", "decimal", "datetime"]
# A person's types (strict): a cell that is not of its column's kind stays its text
SET_BY_VIEW = [False, True, True, True, True]
ODD = [
    "a & b <c> \"quoted\" 'single' ]]>",
    "control\x01\x02\x08\x0b\x0c\x0e\x1f characters",
    "tab\there, line\nfeed",
    "_x0041_ reads as an escape",
    "emoji 😀🎉 and ünïcödé 漢字",
    "  padded  ",
    "=1+1",
    "1234",
    "",
    "NA",
]
LONG = "long " * 7000  # 35,000 characters: past Excel's 32,767
BATCH = 700


def rows(count: int) -> list[list[str]]:
    rng = random.Random(19)
    made = []
    for i in range(count):
        made.append(
            [
                LONG if i == 5 else rng.choice(ODD),
                rng.choice(["1234567890123456", "-42", "", "NA", str(rng.randint(0, 10**9))]),
                rng.choice(["1899-12-31", "1900-02-28", "1900-03-01", "2024-02-29", "", "soon"]),
                rng.choice(["3.25", "-0.5", "", "12", "1234.5"]),
                rng.choice(["2024-03-10T12:30:00Z", "", "1890-01-01T00:00:00Z"]),
            ]
        )
    return made


def workbook(table: list[list[str]], header: list[str] | None = HEADER) -> bytes:
    columns = Columns.of(HEADER, KINDS, SET_BY_VIEW)
    encoder = WorkbookEncoder(columns, header, len(table))
    out = io.BytesIO()
    for start in range(0, len(table), BATCH):
        part = table[start : start + BATCH]
        cells = [pa.array([row[c] for row in part]) for c in range(len(HEADER))]
        out.write(encoder.add(cells, columns.batch(cells)))
    out.write(encoder.finish())
    return out.getvalue()


def expected(cell: str, kind: str) -> Any:
    """What Excel holds for a cell: numbers, days and instants as values (an integer past 15
    digits, a day before 1900-03-01 as text), the rest as its text cut at 32,767 characters;
    empty cells empty."""
    if cell == "":
        return None
    if kind == "integer" and cell.lstrip("-").isdigit() and len(cell.lstrip("-")) < 16:
        return int(cell)
    if kind == "decimal" and cell not in ("NA",):
        return float(cell)
    if kind == "date" and cell[:1].isdigit():
        day = datetime.date.fromisoformat(cell)
        if day >= datetime.date(1900, 3, 1):
            return datetime.datetime.combine(day, datetime.time())
    if kind == "datetime" and cell.startswith("2"):
        return datetime.datetime.fromisoformat(cell.removesuffix("Z"))
    return cell[: xlsx.CELL_CHARACTERS]


def escaped(value: Any) -> Any:
    """A text as openpyxl gives an inline string back: Excel's _xHHHH_ escapes left as they are
    (Excel, calamine and LibreOffice read them as the characters)."""
    return xlsx._excel_escaped(value) if isinstance(value, str) else value


TABLE = rows(2000)
EXPECTED = [[expected(c, k) for c, k in zip(row, KINDS, strict=True)] for row in TABLE]


def test_the_zip_holds_the_parts_excel_needs():
    data = workbook(TABLE[:3])
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert book.testzip() is None
        assert book.namelist() == [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
        ]
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:E4"/>' in sheet
    assert 'state="frozen"' in sheet
    assert data == workbook(TABLE[:3])  # the same bytes each time: its ETag is strong


def test_openpyxl_reads_every_cell_back():
    book = openpyxl.load_workbook(io.BytesIO(workbook(TABLE)))
    sheet = book.active
    assert sheet.title == "Table" and sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == HEADER and all(c.font.bold for c in sheet[1])
    got = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert got == [[escaped(value) for value in row] for row in EXPECTED]
    styles = {(c.value.__class__, c.number_format) for c in sheet["C"][1:] if c.value}
    assert (datetime.datetime, "yyyy-mm-dd") in styles
    assert {c.number_format for c in sheet["E"][1:] if isinstance(c.value, datetime.datetime)} == {
        "yyyy-mm-dd hh:mm:ss"
    }
    frame = pandas.read_excel(io.BytesIO(workbook(TABLE)), engine="openpyxl")
    assert list(frame.columns) == HEADER and len(frame) == len(TABLE)


def test_calamine_reads_every_cell_back():
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(workbook(TABLE))).get_sheet_by_index(0)
    got = sheet.to_python()
    assert got[0] == HEADER
    for number, (row, want) in enumerate(zip(got[1:], EXPECTED, strict=True)):
        for cell, wanted, kind in zip(row, want, KINDS, strict=True):
            if kind == "date" and isinstance(wanted, datetime.datetime):
                wanted = wanted.date()  # (calamine gives a day as a date)
            if wanted is None:
                wanted = ""
            assert cell == wanted, (number, kind, cell, wanted)


def test_a_sheet_without_a_header_starts_at_its_first_row():
    sheet = openpyxl.load_workbook(io.BytesIO(workbook(TABLE[:4], None))).active
    assert sheet.freeze_panes is None
    got = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert got == [[escaped(value) for value in row] for row in EXPECTED[:4]]


def test_an_empty_table_is_a_sheet_of_its_header():
    sheet = openpyxl.load_workbook(io.BytesIO(workbook([]))).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [HEADER]


def test_column_names():
    assert [xlsx.column_name(n) for n in (0, 25, 26, 51, 701, 702, 16_383)] == [
        "A", "Z", "AA", "AZ", "ZZ", "AAA", "XFD"
    ]  # fmt: skip


@needs_libreoffice
def test_libreoffice_reads_every_cell_back(tmp_path: Path):
    (tmp_path / "table.xlsx").write_bytes(workbook(TABLE))
    # CSV in UTF-8, comma-separated, double quotes, cells as shown (dates by their style)
    convert([tmp_path / "table.xlsx"], "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path)
    with (tmp_path / "out" / "table.csv").open(encoding="utf-8", newline="") as file:
        got = list(csv.reader(file))
    assert got[0] == HEADER
    for number, (row, want) in enumerate(zip(got[1:], EXPECTED, strict=True)):
        for cell, wanted, kind in zip(row, want, KINDS, strict=True):
            assert cell == shown(wanted, kind), (number, kind, cell, wanted)


def shown(value: Any, kind: str) -> str:
    """A cell as LibreOffice's CSV shows it."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if kind == "datetime" else "%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@pytest.mark.parametrize("rows", [0, 1, 3000])
def test_the_dimension_counts_the_header(rows: int):
    book = xlsx.Workbook(rows + 1, 3)
    data = book.start(["a", "b", "c"]) + book.finish()
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        sheet = opened.read("xl/worksheets/sheet1.xml").decode()
    assert f'<dimension ref="A1:C{rows + 1}"/>' in sheet
