"""Typed downloads: Parquet, Arrow IPC streams and XLSX workbooks, of any version and view, read
back by pyarrow, pandas, Polars and openpyxl and compared cell by cell with the table; the URLs
that name a format, Accept negotiation, and their validators."""

from __future__ import annotations

import csv
import datetime
import io
import math
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import openpyxl
import pandas
import polars
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from support import http, put
from tablecast.table import export_binary
from tablecast.web import downloads

UTC = datetime.UTC
HEADER = ["id", "name", "price", "day", "seen", "count", "code"]
KINDS = ["integer", "text", "decimal", "date", "datetime", "integer", "text"]
NAMES = ["Ada", "Bob", "Cleo", "Dan", "Émile", "", "NA", "Ua Lee"]


def made(count: int, seed: int) -> list[list[str]]:
    """Rows of every kind: thousands' commas and signs, missing values (empty, NA), an integer
    past 15 digits (Excel's exact numbers), offsets on date-times, a formula-like text."""
    rows = []
    for i in range(count):
        n = (i * 7919 + seed) % 1009
        rows.append(
            [
                f"{i + 1:,}" if i % 5 else f"+{i + 1}",
                NAMES[n % len(NAMES)],
                "NA" if n % 11 == 0 else f"{(n - 500) / 8:.3f}",
                "" if n % 13 == 0 else f"20{10 + n % 15}-{1 + n % 12:02d}-{1 + n % 28:02d}",
                f"2024-0{1 + n % 9}-1{n % 10}T0{n % 10}:30:00" + ("+02:00" if n % 3 else "Z"),
                "1234567890123456" if n % 17 == 0 else str(n - 300),
                "=1+1" if n % 19 == 0 else f"c{n}",
            ]
        )
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER, *rows])
    return out.getvalue().encode()


def value(cell: str, kind: str) -> Any:
    """A cell as a typed file holds it, worked out here on its own: text as written (an empty
    cell null), a typed column's missing values (empty, NA) null."""
    if kind == "text":
        return cell or None
    if cell in ("", "NA"):
        return None
    if kind == "integer":
        return int(cell.replace(",", ""))
    if kind == "decimal":
        return float(cell)
    if kind == "date":
        return datetime.date.fromisoformat(cell)
    if kind == "datetime":
        return datetime.datetime.fromisoformat(cell.replace("Z", "+00:00")).astimezone(UTC)
    return cell


def typed(rows: list[list[str]]) -> list[list[Any]]:
    return [[value(cell, kind) for cell, kind in zip(row, KINDS, strict=True)] for row in rows]


def viewed(rows: list[list[str]]) -> list[list[str]]:
    """The view the tests download: rows holding "ua" (case-insensitively), by price,
    descending, NA last, ties in file order."""
    found = [row for row in rows if any("ua" in cell.casefold() for cell in row)]
    return sorted(found, key=lambda row: (row[2] == "NA", -float(row[2]) if row[2] != "NA" else 0))


VIEW = "sort=2&order=desc&q=ua"


def fetch(
    server, doc, path: str = "", query: str = "", headers: dict[str, str] | None = None
) -> tuple[int, bytes, Message]:
    url = f"{server.url}/parser/api/docs/{doc['id']}/download{path}?{query}"
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def varies(headers: Message) -> list[str]:
    """What the answer says it varies with (Tornado adds Accept-Encoding in a header of its
    own)."""
    return [name.strip() for value in headers.get_all("Vary") or [] for name in value.split(",")]


@pytest.fixture
def small_batches(monkeypatch):
    """Batches, row groups and workbook pieces of a few hundred rows: the tables here take
    several of each."""
    monkeypatch.setattr(downloads, "TYPED_RECORDS", 300)
    monkeypatch.setattr(downloads, "WORKBOOK_RECORDS", 250)
    monkeypatch.setattr(export_binary, "ROW_GROUP_ROWS", 700)


@pytest.fixture
def versions(server, small_batches):
    """A document of two versions: 1,500 rows, then 1,200 others."""
    first, second = made(1500, 1), made(1200, 2)
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=sales.csv", as_csv(first))
    assert status == 201
    assert put(server.url, doc, as_csv(second))[0] == 200
    return doc, first, second


def same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return got == expected or (math.isnan(got) and math.isnan(expected))
    return bool(got == expected)


def assert_cells(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(got) == len(expected)
    for number, (row, want) in enumerate(zip(got, expected, strict=True)):
        for name, cell, wanted in zip(HEADER, row, want, strict=True):
            assert same(cell, wanted), (number, name, cell, wanted)
            if isinstance(wanted, float):  # (a reader may give a whole one as an int)
                assert isinstance(cell, (int, float)), (number, name, cell, wanted)
            elif wanted is not None:
                assert type(cell) is type(wanted), (number, name, cell, wanted)


def test_parquet_reads_back_typed_in_pyarrow_pandas_and_polars(server, versions):
    doc, first, second = versions
    for query, rows in (("", second), (f"version=1&{VIEW}", viewed(first))):
        status, body, headers = fetch(server, doc, "", f"format=parquet&{query}")
        assert status == 200, body
        assert headers["Content-Type"] == "application/vnd.apache.parquet"
        table = pq.read_table(pa.BufferReader(body))
        assert table.column_names == HEADER
        assert [str(field.type) for field in table.schema] == [
            "int64", "string", "double", "date32[day]", "timestamp[us, tz=UTC]", "int64", "string"
        ]  # fmt: skip
        groups = pq.ParquetFile(pa.BufferReader(body)).num_row_groups
        assert groups == -(-len(rows) // 700)  # written as it went, a row group at a time
        expected = typed(rows)
        assert_cells([list(row.values()) for row in table.to_pylist()], expected)

        frame = pandas.read_parquet(io.BytesIO(body))
        assert list(frame.columns) == HEADER and len(frame) == len(rows)
        assert str(frame["id"].dtype) == "int64" and str(frame["day"].dtype) == "object"
        for cells, want in zip(frame.itertuples(index=False), expected, strict=True):
            assert cells.id == want[0] and cells.seen == want[4]
            assert (cells.price == want[2]) or (want[2] is None and math.isnan(cells.price))
            assert cells.day == want[3] or (want[3] is None and cells.day is None)

        polar = polars.read_parquet(io.BytesIO(body))
        assert polar.schema["day"] == polars.Date and polar.schema["count"] == polars.Int64
        assert_cells([list(row) for row in polar.rows()], expected)


def test_arrow_streams_read_back_typed(server, versions):
    doc, first, second = versions
    for query, rows in (("", second), (f"version=1&{VIEW}", viewed(first))):
        status, body, headers = fetch(server, doc, ".arrow", query)
        assert status == 200, body
        assert headers["Content-Type"] == "application/vnd.apache.arrow.stream"
        reader = ipc.open_stream(pa.BufferReader(body))
        batches = list(reader)
        assert len(batches) == -(-len(rows) // 300)  # a batch at a time
        table = pa.Table.from_batches(batches, reader.schema)
        assert_cells([list(row.values()) for row in table.to_pylist()], typed(rows))
        assert_cells(
            [list(row) for row in polars.read_ipc_stream(io.BytesIO(body)).rows()], typed(rows)
        )


def workbook_cell(cell: str, kind: str) -> Any:
    """A cell as the workbook holds it: numbers as numbers (an integer past 15 digits, which
    Excel rounds, as text), days and instants as dates (instants in UTC), the rest as
    text, empty cells empty, missing-value markers as their text."""
    found = value(cell, kind)
    if found is None or kind == "text":
        return cell or None
    if kind == "integer" and abs(found) >= 10**15:
        return cell
    if kind == "date":
        return datetime.datetime.combine(found, datetime.time())
    if kind == "datetime":
        return found.replace(tzinfo=None)
    return found


def test_workbooks_hold_numbers_and_dates_under_a_frozen_bold_header(server, versions):
    doc, first, second = versions
    for query, rows in (("", second), (f"version=1&{VIEW}", viewed(first))):
        status, body, headers = fetch(server, doc, "", f"format=xlsx&{query}")
        assert status == 200, body
        assert headers["Content-Type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        book = openpyxl.load_workbook(io.BytesIO(body))
        sheet = book.active
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        assert [cell.value for cell in sheet[1]] == HEADER
        expected = [
            [workbook_cell(cell, kind) for cell, kind in zip(row, KINDS, strict=True)]
            for row in rows
        ]
        got = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
        assert_cells(got, expected)
        assert sheet["D2"].number_format == "yyyy-mm-dd" or sheet["D2"].value is None
        assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm:ss"
        frame = pandas.read_excel(io.BytesIO(body))
        assert list(frame.columns) == HEADER and len(frame) == len(rows)
        assert str(frame["seen"].dtype).startswith("datetime64")


def test_a_type_set_by_the_view_writes_what_reads_as_it(server, small_batches):
    body = b"code,label\n12,a\nx,b\n,c\n7,d\n"
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=codes.csv", body)
    _, data, _ = fetch(server, doc, ".parquet", "type.0=integer")
    table = pq.read_table(pa.BufferReader(data))
    assert table.schema.field("code").type == pa.int64()
    assert table.column("code").to_pylist() == [12, None, None, 7]  # (x is no integer)
    _, data, _ = fetch(server, doc, ".xlsx", "type.0=integer")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [12, "x", None, 7]
    _, data, _ = fetch(server, doc, ".parquet")  # as inferred: text
    assert pq.read_table(pa.BufferReader(data)).column("code").to_pylist() == ["12", "x", None, "7"]


def test_a_table_without_a_header_has_numbered_columns_and_no_header_row(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?header=0", b"1\t2024-01-02\n3\t\n")
    _, data, _ = fetch(server, doc, ".parquet")
    assert pq.read_table(pa.BufferReader(data)).to_pylist() == [
        {"1": 1, "2": datetime.date(2024, 1, 2)},
        {"1": 3, "2": None},
    ]
    _, data, _ = fetch(server, doc, ".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.freeze_panes is None
    assert list(sheet.iter_rows(values_only=True)) == [
        (1, datetime.datetime(2024, 1, 2)),
        (3, None),
    ]


def test_a_workbook_past_excels_rows_is_refused_before_anything_is_sent(server, monkeypatch):
    monkeypatch.setattr(export_binary, "EXCEL_ROWS", 100)
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=big.csv", as_csv(made(100, 3)))
    status, body, headers = fetch(server, doc, ".xlsx")
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert b'"too_large"' in body and b"99 rows under a header" in body
    assert "Content-Disposition" not in headers and "Etag" not in headers
    assert fetch(server, doc, ".xlsx", "q=Ada")[0] == 200  # a view of fewer rows fits
    assert fetch(server, doc, ".parquet")[0] == 200


def test_urls_that_name_their_format(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.csv", as_csv(made(20, 4)))
    for suffix in ("csv", "tsv", "jsonl", "parquet", "arrow", "xlsx"):
        status, body, headers = fetch(server, doc, f".{suffix}", "sort=0&order=desc")
        assert status == 200, (suffix, body)
        assert headers["Content-Disposition"].endswith(f".{suffix}")
        assert "Accept" not in varies(headers)
        status, same_body, same_headers = fetch(
            server, doc, "", f"format={suffix}&sort=0&order=desc"
        )
        assert headers["Content-Type"] == same_headers["Content-Type"]
        assert headers["Etag"] == same_headers["Etag"]
        if suffix != "xlsx":  # (a zip holds when it was made)
            assert body == same_body, suffix
    status, body, _ = fetch(server, doc, ".csv", "format=tsv")
    assert status == 400 and b"bad_option" in body
    status, body, _ = fetch(server, doc, ".xls")
    assert status == 404
    status, body, _ = fetch(server, doc, "", "format=xls")
    assert status == 400 and b"parquet, arrow, xlsx, original" in body


def test_accept_picks_the_format_of_download(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.csv", as_csv(made(20, 5)))
    parquet = "application/vnd.apache.parquet"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for accept, expected in (
        (None, "text/tab-separated-values"),
        ("*/*", "text/tab-separated-values"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "text/tab-separated-values"),  # a browser
        ("text/csv", "text/csv"),
        (parquet, parquet),
        ("application/x-parquet", parquet),
        (f"text/csv;q=0.5, {parquet}", parquet),
        (f"text/csv, {parquet};q=0.9", "text/csv"),
        (f"{xlsx}, text/csv", "text/csv"),  # a tie: the order of ours
        ("text/*", "text/tab-separated-values"),
        ("text/*, text/tab-separated-values;q=0", "text/csv"),
        ("*/*;q=0.1, text/csv;q=0", "text/tab-separated-values"),
        ("application/jsonl", "application/jsonl"),
        ("application/x-ndjson", "application/jsonl"),
        ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.stream"),
        (f"{xlsx};q=1.0", xlsx),
        ("TEXT/CSV; charset=utf-8", "text/csv"),
    ):
        headers = {"Accept": accept} if accept is not None else {}
        status, _, answer = fetch(server, doc, headers=headers)
        assert status == 200, accept
        assert answer["Content-Type"].split(";")[0] == expected, accept
        assert "Accept" in varies(answer)
    # named in the URL: Accept is not asked
    status, _, answer = fetch(server, doc, "", "format=csv", {"Accept": parquet})
    assert answer["Content-Type"].startswith("text/csv") and "Accept" not in varies(answer)
    for accept in ("text/html", "application/json", "*/*;q=0", "text/csv;q=0"):
        status, body, answer = fetch(server, doc, headers={"Accept": accept})
        assert status == 406, accept
        assert answer["Content-Type"] == "application/json" and "Accept" in varies(answer)
        error = http_json(body)["error"]
        assert error["code"] == "not_acceptable"
        for media in ("text/tab-separated-values", "text/csv", "application/jsonl", parquet, xlsx):
            assert media in error["message"]


def http_json(body: bytes) -> Any:
    import json

    return json.loads(body)


def revalidated(server, doc, path: str, query: str, headers: dict[str, str]) -> int:
    return fetch(server, doc, path, query, headers)[0]


def test_each_format_has_its_own_validator_and_answers_304(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.csv", as_csv(made(30, 6)))
    tags = {}
    for suffix in ("parquet", "arrow", "xlsx", "csv"):
        for query in ("", "version=1", VIEW):
            status, body, headers = fetch(server, doc, f".{suffix}", query)
            assert status == 200 and body
            tag = headers["Etag"]
            tags[suffix, query] = tag
            status, body, again = fetch(server, doc, f".{suffix}", query, {"If-None-Match": tag})
            assert (status, body, again["Etag"]) == (304, b"", tag), (suffix, query)
    assert len({tag for (_, query), tag in tags.items() if query != "version=1"}) == 8
    # negotiated: the validator is the format's, and a 304 too varies with Accept
    parquet = {"Accept": "application/vnd.apache.parquet"}
    status, _, headers = fetch(server, doc, headers=parquet)
    assert headers["Etag"] == tags["parquet", ""]
    status, _, headers = fetch(server, doc, headers={**parquet, "If-None-Match": headers["Etag"]})
    assert status == 304 and "Accept" in varies(headers)
    csv_accept = {"Accept": "text/csv", "If-None-Match": tags["parquet", ""]}
    assert fetch(server, doc, headers=csv_accept)[0] == 200
    # a new version: the current URL's validator changes, a pinned version's does not
    assert put(server.url, doc, as_csv(made(31, 6)))[0] == 200
    for suffix in ("parquet", "xlsx"):
        current = {"If-None-Match": tags[suffix, ""]}
        assert fetch(server, doc, f".{suffix}", "", current)[0] == 200
        pinned = {"If-None-Match": tags[suffix, "version=1"]}
        assert fetch(server, doc, f".{suffix}", "version=1", pinned)[0] == 304


def test_cells_are_read_as_sorts_read_them():
    from tablecast.table.columns import typed_values

    def read(cells: list[str | None], kind: str, strict: bool = False) -> list[Any]:
        return typed_values(pa.array(cells, pa.string()), kind, strict).to_pylist()

    assert read(["1", "+7", "-1,234", "007", "NA", "", None, "-"], "integer") == [
        1, 7, -1234, 7, None, None, None, None
    ]  # fmt: skip
    # int64 holds 19 digits, some of them; past it a value has no place
    big = ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "1" * 25]
    assert read(big, "integer") == [2**63 - 1, -(2**63), None, None]
    assert read(["1.5", ".5", "-1,234.25", "NaN", "n/a"], "decimal") == [
        1.5,
        0.5,
        -1234.25,
        None,
        None,
    ]
    assert read(["3,50", "-1.234,5", "7"], "decimal comma") == [3.5, -1234.5, 7.0]
    # days no calendar has are null, not the day after
    days = ["2024-02-29", "2023-02-29", "2023-02-30", "NA"]
    assert read(days, "date") == [datetime.date(2024, 2, 29), None, None, None]
    instant = datetime.datetime
    instants = ["2024-01-02", "2024-01-02 10:30", "2024-01-02T10:30:00+02:00", ""]
    assert read(instants, "datetime") == [
        instant(2024, 1, 2, tzinfo=UTC), instant(2024, 1, 2, 10, 30, tzinfo=UTC),
        instant(2024, 1, 2, 8, 30, tzinfo=UTC), None,
    ]  # fmt: skip
    assert read(["1500-06-01T00:00:00.1234567Z"], "datetime") == [
        instant(1500, 6, 1, 0, 0, 0, 123456, tzinfo=UTC)
    ]
    assert read(["true", "", "NA"], "boolean") == ["true", None, "NA"]  # text, as written
    assert read(["12", "x", ""], "integer", strict=True) == [12, None, None]
