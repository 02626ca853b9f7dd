"""Spreadsheet workbooks (issue 19): Excel (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``) and
OpenDocument (``.ods``) files are read, a sheet a document: the first visible one, or the one
asked for with ``sheet=``, and on the next upload the one the document shows. They are known
by their bytes, so a workbook renamed ``.csv`` or sent without a name is read too. Cells read
as the sheet shows them: numbers as written, dates as dates, formulas as their cached values;
empty rows and trailing empty columns are left out, merged cells fill what they cover. A
damaged, encrypted or too large workbook is refused with its own code, and the document keeps
the version it had.

(The text parser, handed a workbook's bytes alone, still refuses them: ``unsupported_format``.)"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from support import expect, http, put, table, upload_v1, v1
from tablecast.errors import TablecastError
from tablecast.table.formats import FORMATS
from tablecast.table.parsing import EXCEL, OPENDOCUMENT, ParseOptions, TableParser, workbook_kind

EXCEL_SAYS = "this is an Excel workbook, not a text table"
ODS_SAYS = "this is an OpenDocument spreadsheet, not a text table"

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XLSX_PARTS = {
    "[Content_Types].xml": """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>""",
    "_rels/.rels": f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{OFFICE}/officeDocument"
 Target="xl/workbook.xml"/></Relationships>""",
    "xl/workbook.xml": f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>
<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>""",
    "xl/_rels/workbook.xml.rels": f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{OFFICE}/worksheet"
 Target="worksheets/sheet1.xml"/></Relationships>""",
    "xl/worksheets/sheet1.xml": f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="{MAIN}"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>city</t></is></c>
<c r="B1" t="inlineStr"><is><t>people</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>Lyon</t></is></c><c r="B2"><v>522250</v></c></row>
</sheetData></worksheet>""",
}


def zipped(parts: dict[str, str | bytes], stored: tuple[str, ...] = ()) -> bytes:
    """A zip file of these parts, in this order, deflated but for ``stored``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in parts.items():
            compression = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            z.writestr(name, data, compress_type=compression)
    return out.getvalue()


def xlsx(padding: int = 0) -> bytes:
    """A minimal workbook Excel and LibreOffice open (one sheet: city, people; Lyon, 522250),
    with a picture of ``padding`` bytes after its sheet: a file larger than the parser's
    sample, refused while it is still arriving."""
    parts: dict[str, str | bytes] = dict(XLSX_PARTS)
    if padding:
        parts["xl/media/image1.png"] = os.urandom(padding)
    return zipped(parts)


def ods() -> bytes:
    """What an OpenDocument spreadsheet starts with: its mimetype, first and not compressed."""
    return zipped(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": "<office:document-content/>",
        },
        stored=("mimetype",),
    )


def docx() -> bytes:
    """A Word document: a zip of the same family as xlsx, but no workbook."""
    return zipped({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})


def ole2(stream: str) -> bytes:
    """The start of a compound file (xls, doc...) whose directory names ``stream``."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    entry = f"{stream}\0".encode("utf-16-le").ljust(64, b"\0") + bytes(64)
    return header + entry + bytes(384)


# Known by their bytes


@pytest.mark.parametrize("name", ["book.xlsx", "book.csv", "", "book"])
@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (xlsx(), EXCEL),
        (xlsx(padding=200_000), EXCEL),
        (ods(), OPENDOCUMENT),
        (ole2("Workbook"), EXCEL),
        (ole2("Book"), EXCEL),  # Excel 5 and 95
    ],
)
def test_a_workbook_is_known_by_its_bytes_whatever_its_name(data, kind, name):
    assert workbook_kind(data[:65536], name, binary=True) == kind
    parser = TableParser(ParseOptions(), filename=name)
    with pytest.raises(TablecastError) as err:
        parser.feed(data)
        parser.close()
    assert (err.value.code, err.value.status) == ("unsupported_format", 415)
    assert err.value.message == (EXCEL_SAYS if kind == EXCEL else ODS_SAYS)


@pytest.mark.parametrize("data", [docx(), ole2("WordDocument"), b"\x00\x01binary"])
def test_other_binary_files_are_binary_unless_named_as_workbooks(data):
    for name, code in (("x.csv", "not_text"), ("", "not_text"), ("X.XLSX", "unsupported_format")):
        parser = TableParser(ParseOptions(), filename=name)
        with pytest.raises(TablecastError) as err:
            parser.feed(data)
            parser.close()
        assert err.value.code == code, name
    assert workbook_kind(data, "sheet.ods", binary=True) == OPENDOCUMENT


def test_a_text_file_named_like_a_workbook_is_read_as_the_table_it_is():
    parser = TableParser(ParseOptions(), filename="export.xls")
    assert parser.feed(b"a,b\n1,2\n") + parser.close() == ['a","b', '1","2']


# Read, over HTTP and WebSocket, whatever their name


def new_document(server: Any) -> dict[str, Any]:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.tsv", table(5))
    assert status == 201
    return doc


def rows_of(server: Any, doc: dict[str, Any], query: str = "") -> list[list[str]]:
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1{query}")
    assert status == 200, page
    return [page["columns"], *page["data"]]


def meta_of(server: Any, doc: dict[str, Any]) -> dict[str, Any]:
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    return meta


@pytest.mark.parametrize("name", ["cities.xlsx", "cities.csv", ""])
def test_an_xlsx_upload_is_read_whatever_its_name(server, name):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, xlsx(padding=200_000), f"?name={name}")
    assert status == 200, answer
    assert (answer["format"], answer["sheet"], answer["sheets"]) == ("xlsx", "Sheet1", ["Sheet1"])
    assert rows_of(server, doc) == [["city", "people"], ["Lyon", "522250"]]
    status, created, _ = http("POST", f"{server.url}/parser/api/docs", xlsx())
    assert (status, created["total_number"]) == (201, 1)


async def test_a_workbook_sent_over_the_websocket_reaches_every_viewer(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    watcher = await v1(server, document_id)
    await expect(watcher, "page")
    done = await upload_v1(uploader, xlsx(padding=300_000), filename="cities.csv")
    assert done["version"] == 2
    page = await expect(watcher, "page", version=2)
    assert (page["columns"], page["data"], page["format"]) == (
        ["city", "people"], [["Lyon", "522250"]], "xlsx"
    )  # fmt: skip
    await uploader.close()
    await watcher.close()


def sheet(cells: str) -> dict[str, str | bytes]:
    """The hand-made workbook with this sheet data instead."""
    parts: dict[str, str | bytes] = dict(XLSX_PARTS)
    parts["xl/worksheets/sheet1.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{cells}</worksheet>'
    )
    return parts


def inflating(declared: int) -> bytes:
    """A workbook whose zip says its sheet inflates to ``declared`` bytes (a zip bomb says
    so; this one only says it)."""
    data = zipped(sheet("<sheetData/>"), stored=("xl/worksheets/sheet1.xml",))
    name = b"xl/worksheets/sheet1.xml"
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory entry
    return data[: at + 24] + declared.to_bytes(4, "little") + data[at + 28 :]


def dense() -> bytes:
    """A cell at A1 and one at XFD1048576: a sheet of 17 billion cells, read as a rectangle."""
    return zipped(
        sheet(
            '<sheetData><row r="1"><c r="A1"><v>1</v></c></row>'
            '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData>'
        )
    )


@pytest.mark.parametrize(
    ("data", "status", "code", "says"),
    [
        (xlsx()[:-300], 400, "bad_workbook", "save it again"),  # its central directory cut off
        (xlsx()[:600] + bytes(3000), 400, "bad_workbook", "save it again"),
        (ole2("EncryptedPackage"), 400, "encrypted_workbook", "password"),
        (inflating(4_000_000_000), 413, "too_large", "the workbook inflates to"),
        (dense(), 413, "too_large", "MiB of memory"),
        (zipped(sheet("<sheetData/>")), 400, "empty_file", "no rows"),
        (zipped(sheet("<sheetData><row><c><v>1</v></c></row></sheetData>")), 200, None, None),
        (zipped(sheet("<sheetData><row><c><v>1</v></c></row>")), 400, "bad_workbook", "read"),
    ],
)
def test_a_workbook_that_cannot_be_read_is_refused_and_the_version_stays(
    server, data, status, code, says
):
    doc = new_document(server)
    started = time.monotonic()
    got, answer, _ = put(server.url, doc, data, "?name=book.xlsx")
    assert time.monotonic() - started < 20
    assert got == status, answer
    if code is None:
        return
    assert answer["error"]["code"] == code
    assert says in answer["error"]["message"]
    meta = meta_of(server, doc)
    assert (meta["version"], meta["total_number"], meta["format"]) == (1, 5, "text")
    assert not [f for f in (server.data_dir / "uploads").rglob("*") if f.is_file()]  # none left


def test_a_sheet_as_wide_as_excel_allows_is_read(server):
    """16,384 columns: as many as Excel has, and as a text table may have."""
    doc = new_document(server)
    cells = (
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c>'
        '<c r="XFD1" t="inlineStr"><is><t>z</t></is></c></row>'
        '<row r="2"><c r="B2"><v>7</v></c></row></sheetData>'
    )
    status, answer, _ = put(server.url, doc, zipped(sheet(cells)))
    assert status == 200, answer
    assert len(answer["columns"]) == 16_384
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert page["data"] == [["", "7"] + [""] * 16_382]


async def test_a_workbook_refused_over_the_websocket_tells_its_sender(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    data = ole2("EncryptedPackage")
    await uploader.send(json.dumps({"type": "upload_begin", "filename": "secret.xlsx"}))
    await expect(uploader, "upload_ready")
    await uploader.send(data)
    await uploader.send(json.dumps({"type": "upload_end"}))
    err = await expect(uploader, "error")
    assert err["code"] == "encrypted_workbook"
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"]) == (1, 5)
    await uploader.close()


# Workbooks LibreOffice makes

SOFFICE = shutil.which("soffice")
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (Debian: libreoffice-calc-nogui; `make test` "
    "installs it): no workbooks to upload",
)

# An OpenDocument flat file LibreOffice saves as each format: a sheet "Cities" that starts at
# B2 under an empty row and column, a date column, a formula, a blank row, a cell merged
# over two rows; and a sheet "Notes"
CELL = '<table:table-cell office:value-type="{kind}" {value}>{text}</table:table-cell>'


def cell(value: object, formula: str = "") -> str:
    if isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-":
        return CELL.format(
            kind="date", value=f'table:style-name="ce1" office:date-value="{value}"', text=""
        )
    if isinstance(value, str):
        return CELL.format(kind="string", value="", text=f"<text:p>{value}</text:p>")
    formula = f'table:formula="of:={formula}"' if formula else ""
    return CELL.format(kind="float", value=f'office:value="{value}" {formula}', text="")


EMPTY = "<table:table-cell/>"
FODS = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" office:version="1.2"
 office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:automatic-styles><number:date-style style:name="D"><number:year number:style="long"/>
<number:text>-</number:text><number:month number:style="long"/><number:text>-</number:text>
<number:day number:style="long"/></number:date-style>
<style:style style:name="ce1" style:family="table-cell" style:data-style-name="D"/>
</office:automatic-styles>
<office:body><office:spreadsheet><table:table table:name="Cities">
<table:table-row>{EMPTY}</table:table-row>
<table:table-row>{EMPTY}{"".join(map(cell, ["city", "people", "founded", "area", "density"]))}
</table:table-row>
<table:table-row>{EMPTY}{cell("Lyon")}{cell(522250)}{cell("1990-05-17")}{cell(47.87)}
{cell(0, "[.C3]/[.E3]")}</table:table-row>
<table:table-row>{EMPTY}</table:table-row>
<table:table-row>{EMPTY}<table:table-cell table:number-rows-spanned="2"
 office:value-type="string"><text:p>Nantes</text:p></table:table-cell>{cell(320732)}
{cell("2001-02-03")}{cell(65.19)}{cell(0, "[.C5]/[.E5]")}</table:table-row>
<table:table-row>{EMPTY}<table:covered-table-cell/>{cell(1)}</table:table-row>
</table:table>
<table:table table:name="Notes"><table:table-row>{cell("note")}</table:table-row>
<table:table-row>{cell("hello")}</table:table-row></table:table>
</office:spreadsheet></office:body></office:document>
"""


def convert(files: list[Path], to: str, work: Path) -> None:
    command = [
        str(SOFFICE),
        f"-env:UserInstallation={(work / 'profile').as_uri()}",  # its own profile: no clash
        "--headless",
        "--norestore",
        "--convert-to",
        to,
        "--outdir",
        str(work / "out"),
        *map(str, files),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The workbook above saved by LibreOffice Calc as xlsx, xls and ods; and our hand-made
    xlsx, read back by it as CSV."""
    work = tmp_path_factory.mktemp("workbooks")
    (work / "cities.fods").write_text(FODS)
    (work / "hand.xlsx").write_bytes(xlsx())
    for kind in ("xlsx", "xls", "ods"):
        convert([work / "cities.fods"], kind, work)
    convert([work / "hand.xlsx"], "csv", work)
    made = {kind: (work / "out" / f"cities.{kind}").read_bytes() for kind in ("xlsx", "xls", "ods")}
    made["hand.csv"] = (work / "out" / "hand.csv").read_bytes()
    return made


def cities(kind: str) -> list[list[str]]:
    """The sheet as read: as the sheet shows it (xlsx keeps a formula's value to 15 digits,
    as Excel does; xls keeps the double); an ods says nothing of merged cells."""
    density = repr(522250 / 47.87) if kind == "xls" else "10909.755588051"
    return [
        ["city", "people", "founded", "area", "density"],
        ["Lyon", "522250", "1990-05-17", "47.87", density],
        ["Nantes", "320732", "2001-02-03", "65.19", repr(320732 / 65.19)],
        ["" if kind == "ods" else "Nantes", "1", "", "", ""],
    ]


@needs_libreoffice
def test_the_hand_made_workbook_is_one_libreoffice_reads(workbooks):
    assert workbooks["hand.csv"].splitlines() == [b"city,people", b"Lyon,522250"]


@needs_libreoffice
@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
@pytest.mark.parametrize("name", ["cities.{kind}", "cities.csv", ""])
def test_workbooks_from_a_spreadsheet_are_read_over_http(server, workbooks, kind, name):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, workbooks[kind], f"?name={name.format(kind=kind)}")
    assert status == 200, answer
    assert (answer["format"], answer["sheet"], answer["sheets"]) == (
        kind, "Cities", ["Cities", "Notes"]
    )  # fmt: skip
    assert rows_of(server, doc) == cities(kind)
    # its columns are typed as any table's: numbers and dates sort as such
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert page["types"][1:4] == ["integer", "date", "decimal"]
    # the file as uploaded comes back as it was
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format=original"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == workbooks[kind]
        assert response.headers["Content-Type"] == FORMATS[kind][1]


@needs_libreoffice
def test_another_sheet_is_read_when_asked_and_kept_on_the_next_upload(server, workbooks):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, workbooks["xlsx"], "?sheet=Notes")
    assert (status, answer["sheet"]) == (200, "Notes"), answer
    assert rows_of(server, doc) == [["note"], ["hello"]]
    status, answer, _ = put(server.url, doc, workbooks["ods"])  # the same sheet, read again
    assert (status, answer["sheet"], answer["version"]) == (200, "Notes", 3)
    status, answer, _ = put(server.url, doc, workbooks["xls"], "?sheet=Cities")
    assert (status, answer["sheet"]) == (200, "Cities")
    status, answer, _ = put(server.url, doc, workbooks["xls"], "?sheet=Nowhere")
    assert (status, answer["sheet"]) == (200, "Cities")  # no such sheet: the first
    _, versions, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/versions")
    listed = {v["version"]: (v["format"], v["sheet"]) for v in versions["versions"]}
    assert listed[2] == ("xlsx", "Notes") and listed[1] == ("text", None)


@needs_libreoffice
@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
async def test_workbooks_from_a_spreadsheet_are_read_over_the_websocket(server, workbooks, kind):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    done = await upload_v1(uploader, workbooks[kind], filename=f"cities.{kind}", sheet="Notes")
    assert done["version"] == 2
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"], meta["sheet"]) == (2, 1, "Notes")
    await uploader.close()


@needs_libreoffice
async def test_another_sheet_of_the_workbook_is_read_from_the_file_kept(server, workbooks):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, workbooks["xlsx"], "?name=cities.xlsx")
    assert (status, answer["sheet"], answer["version"]) == (200, "Cities", 2)
    watcher = await v1(server, doc["id"])
    page = await expect(watcher, "page")
    assert (page["format"], page["sheet"], page["sheets"]) == (
        "xlsx",
        "Cities",
        ["Cities", "Notes"],
    )
    base = f"{server.url}/parser/api/docs/{doc['id']}"
    key = {"Authorization": f"Bearer {doc['edit_key']}"}

    status, answer, _ = http("POST", f"{base}/sheet?sheet=Notes", b"", key)
    assert (status, answer["version"], answer["sheet"], answer["filename"]) == (
        200, 3, "Notes", "cities.xlsx"
    )  # fmt: skip
    page = await expect(watcher, "page", version=3)
    assert (page["columns"], page["data"]) == (["note"], [["hello"]])
    # a version made by an edit keeps the sheets, not the file: the file read is the last kept
    status, _, _ = http("PATCH", f"{base}/cells", b'[{"row": 1, "column": 0, "value": "hi"}]', key)
    assert status == 200
    status, answer, _ = http("POST", f"{base}/sheet?sheet=Cities", b"", key)
    assert (status, answer["version"], answer["sheet"]) == (200, 5, "Cities")
    assert rows_of(server, doc) == cities("xlsx")
    await watcher.close()

    status, answer, _ = http("POST", f"{base}/sheet?sheet=Nowhere", b"", key)
    assert (status, answer["error"]["code"]) == (400, "bad_option")
    assert "'Cities', 'Notes'" in answer["error"]["message"]
    status, answer, _ = http("POST", f"{base}/sheet?sheet=Notes", b"")
    assert (status, answer["error"]["code"]) == (401, "edit_key_required")
    text = new_document(server)
    status, answer, _ = http(
        "POST", f"{server.url}/parser/api/docs/{text['id']}/sheet?sheet=Notes", b"",
        {"Authorization": f"Bearer {text['edit_key']}"},
    )  # fmt: skip
    assert (status, answer["error"]["code"]) == (400, "bad_option")
    assert meta_of(server, doc)["version"] == 5


# An Excel binary workbook (xlsb): no tool here writes one, so the test does, record by record
# (MS-XLSB: each record its type and size as 7-bit varints, then its data)


def record(kind: int, data: bytes = b"") -> bytes:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    return varint(kind) + varint(len(data)) + data


def wide(text: str) -> bytes:
    return len(text).to_bytes(4, "little") + text.encode("utf-16-le")


def xlsb(sheets: dict[str, list[list[object]]]) -> bytes:
    """A workbook of these sheets, each its rows of str, float and bool cells."""
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{OFFICE}/worksheet" Target="worksheets/sheet{i}.bin"/>'
        for i in range(1, len(sheets) + 1)
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="bin" ContentType="application/'
        'vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" '
        f'Type="{OFFICE}/officeDocument" Target="xl/workbook.bin"/></Relationships>',
        "xl/_rels/workbook.bin.rels": f'<Relationships xmlns="{RELS}">{rels}</Relationships>',
    }
    book = record(0x83) + record(0x8F)  # BrtBeginBook, BrtBeginBundleShs
    for i, (name, rows) in enumerate(sheets.items(), 1):
        state_and_tab = (0).to_bytes(4, "little") + i.to_bytes(4, "little")
        book += record(0x9C, state_and_tab + wide(f"rId{i}") + wide(name))  # BrtBundleSh
        width = max(map(len, rows))
        size = b"".join(n.to_bytes(4, "little") for n in (0, len(rows) - 1, 0, width - 1))
        sheet = record(0x81) + record(0x94, size) + record(0x91)  # sheet, its size, its data
        for r, cells in enumerate(rows):
            sheet += record(0x00, r.to_bytes(4, "little") + bytes(13))  # BrtRowHdr
            for c, value in enumerate(cells):
                cell = c.to_bytes(4, "little") + bytes(4)  # its column, its style
                if isinstance(value, bool):
                    sheet += record(0x04, cell + bytes([value]))  # BrtCellBool
                elif isinstance(value, float):
                    sheet += record(0x05, cell + struct.pack("<d", value))  # BrtCellReal
                else:
                    sheet += record(0x06, cell + wide(str(value)))  # BrtCellSt
        parts[f"xl/worksheets/sheet{i}.bin"] = sheet + record(0x92) + record(0x82)
    parts["xl/workbook.bin"] = book + record(0x90) + record(0x84)
    return zipped(parts)


def test_an_excel_binary_workbook_is_read(server):
    data = xlsb(
        {
            "Cities": [["city", "people", "big"], ["Lyon", 522250.0, True], ["Nîmes", 0.5, False]],
            "Notes": [["note"], ["hello"]],
        }
    )
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, data, "?name=")
    assert status == 200, answer
    assert (answer["format"], answer["sheet"], answer["sheets"]) == (
        "xlsb", "Cities", ["Cities", "Notes"]
    )  # fmt: skip
    assert rows_of(server, doc) == [
        ["city", "people", "big"], ["Lyon", "522250", "TRUE"], ["Nîmes", "0.5", "FALSE"]
    ]  # fmt: skip
    status, answer, _ = put(server.url, doc, data, "?sheet=Notes")
    assert rows_of(server, doc) == [["note"], ["hello"]]
    with urllib.request.urlopen(
        f"{server.url}/parser/api/docs/{doc['id']}/download?format=original", timeout=30
    ) as response:
        assert response.headers["Content-Type"] == FORMATS["xlsb"][1]


def test_a_macro_enabled_workbook_is_read_and_kept_as_one(server):
    parts: dict[str, str | bytes] = dict(XLSX_PARTS)
    parts["[Content_Types].xml"] = (
        parts["[Content_Types].xml"]
        .replace(  # type: ignore[union-attr]
            "spreadsheetml.sheet.main+xml", "ms-excel.sheet.macroEnabled.main+xml"
        )
        .replace(
            "application/vnd.openxmlformats-officedocument.ms-excel", "application/vnd.ms-excel"
        )
    )
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, zipped(parts), "?name=macros.xlsm")
    assert (status, answer["format"]) == (200, "xlsm"), answer
    assert rows_of(server, doc) == [["city", "people"], ["Lyon", "522250"]]
