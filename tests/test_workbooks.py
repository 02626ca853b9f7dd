"""Spreadsheet workbooks (issue 15, item 7): an Excel (``.xlsx``, ``.xls``) or OpenDocument
(``.ods``) file is not read yet, and is refused with a message that says so and what to do
(``unsupported_format``, 415), rather than "the file holds binary data". It is known by its
bytes, so a workbook renamed ``.csv`` or sent without a name is recognised too; the document
keeps the version it had."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from support import expect, http, put, table, upload_v1, v1
from tablecast.errors import TablecastError
from tablecast.table.parsing import EXCEL, OPENDOCUMENT, ParseOptions, TableParser, workbook_kind

EXCEL_SAYS = "Excel workbooks are not read yet: save as CSV"
ODS_SAYS = "OpenDocument spreadsheets are not read yet: save as CSV"

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


# Refused over HTTP and WebSocket, the version kept


def refused_over_http(server: Any, data: bytes, name: str, says: str) -> None:
    """A PUT of ``data`` (a workbook) named ``name`` is refused; the document keeps version 1."""
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.tsv", table(5))
    assert status == 201
    status, answer, _ = put(server.url, doc, data, f"?name={name}" if name else "")
    assert status == 415, answer
    assert answer["error"] == {"code": "unsupported_format", "message": says}
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (meta["version"], meta["total_number"], meta["filename"]) == (1, 5, "t.tsv")


@pytest.mark.parametrize("name", ["cities.xlsx", "cities.csv", ""])
def test_an_xlsx_upload_is_refused_with_what_to_do(server, name):
    refused_over_http(server, xlsx(), name, EXCEL_SAYS)
    status, answer, _ = http("POST", f"{server.url}/parser/api/docs", xlsx())
    assert (status, answer["error"]["code"]) == (415, "unsupported_format")


def test_a_binary_file_named_as_a_workbook_is_refused_as_one(server):
    """A password-protected xlsx is a compound file holding an EncryptedPackage, no
    Workbook: its name tells."""
    refused_over_http(server, ole2("EncryptedPackage"), "secret.xlsx", EXCEL_SAYS)
    status, answer, _ = http("POST", f"{server.url}/parser/api/docs?name=x.bin", ole2("x"))
    assert (status, answer["error"]["code"]) == (400, "not_text")


async def test_a_workbook_sent_over_the_websocket_is_refused_as_it_arrives(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    watcher = await v1(server, document_id)
    await expect(watcher, "page")

    data = xlsx(padding=300_000)  # past the sample: refused before the file has all arrived
    await uploader.send(json.dumps({"type": "upload_begin", "filename": "cities.csv"}))
    await expect(uploader, "upload_ready")
    for start in range(0, len(data), 32 * 1024):
        await uploader.send(data[start : start + 32 * 1024])
    err = await expect(uploader, "error")
    assert (err["code"], err["message"], err["request"]) == (
        "unsupported_format",
        EXCEL_SAYS,
        "upload_chunk",
    )
    failed = await expect(watcher, "upload_progress", state="failed")
    assert failed["error"]["code"] == "unsupported_format"
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"]) == (1, 5)
    await uploader.close()
    await watcher.close()


# Workbooks LibreOffice makes

SOFFICE = shutil.which("soffice")
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (Debian: libreoffice-calc-nogui; `make test` "
    "installs it): no workbooks to upload",
)


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
    """The same table saved by LibreOffice Calc as xlsx, xls and ods; and our hand-made
    xlsx, read back by it as CSV."""
    work = tmp_path_factory.mktemp("workbooks")
    source = work / "cities.csv"
    source.write_text("city,people\nLyon,522250\nNantes,320732\n")
    (work / "hand.xlsx").write_bytes(xlsx())
    for kind in ("xlsx", "xls", "ods"):
        convert([source], kind, work)
    convert([work / "hand.xlsx"], "csv", work)
    made = {kind: (work / "out" / f"cities.{kind}").read_bytes() for kind in ("xlsx", "xls", "ods")}
    made["hand.csv"] = (work / "out" / "hand.csv").read_bytes()
    return made


@needs_libreoffice
def test_the_hand_made_workbook_is_one_libreoffice_reads(workbooks):
    assert workbooks["hand.csv"].splitlines() == [b"city,people", b"Lyon,522250"]


@needs_libreoffice
@pytest.mark.parametrize(
    ("kind", "says"), [("xlsx", EXCEL_SAYS), ("xls", EXCEL_SAYS), ("ods", ODS_SAYS)]
)
@pytest.mark.parametrize("name", ["cities.{kind}", "cities.csv", ""])
def test_workbooks_from_a_spreadsheet_are_refused_over_http(server, workbooks, kind, says, name):
    refused_over_http(server, workbooks[kind], name.format(kind=kind), says)


@needs_libreoffice
@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
async def test_workbooks_from_a_spreadsheet_are_refused_over_the_websocket(server, workbooks, kind):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    await uploader.send(
        json.dumps(
            {"type": "upload_begin", "filename": f"cities.{kind}", "size": len(workbooks[kind])}
        )
    )
    await expect(uploader, "upload_ready")
    await uploader.send(workbooks[kind])
    await expect(uploader, "upload_ack")
    await uploader.send(json.dumps({"type": "upload_end"}))
    err = await expect(uploader, "error")
    assert (err["code"], err["message"]) == (
        "unsupported_format",
        ODS_SAYS if kind == "ods" else EXCEL_SAYS,
    )
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"]) == (1, 5)
    await uploader.close()
