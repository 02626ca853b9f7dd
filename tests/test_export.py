"""Downloads: a version as TSV, CSV or JSON Lines, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request

import numpy as np
import orjson
import pandas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import (
    CR_TABLE,
    FLIGHTS_HEADER,
    FLIGHTS_TYPES,
    flights,
    flights_csv,
    http,
    put,
    quoted_csv,
    table,
)
from tablecast.table.export import (
    FORMATS,
    Writer,
    json_number,
    json_numbers,
    neutralised,
    plain_lines,
    unique_names,
)
from tablecast.web.downloads import PINNED

# cells that test every escape: a tab, a line break and quotes inside cells, formulas, numbers
TRICKY = [
    ["name", "note", "amount"],
    ["Ada", 'said "hi"', "-12.5"],
    ["Bob", "line one\nline two", "=SUM(A1:A9)"],
    ["Cleo", "tab\there", "+1 555 0100"],
    ["Dan", "@handle", "1,234"],
    ["Émile", "", "3"],
]


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def download(server, doc, query: str) -> tuple[int, bytes, dict[str, str]]:
    url = f"{server.url}/parser/api/docs/{doc['id']}/download{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read(), dict(response.headers)


# Cells a spreadsheet may run: LibreOffice runs ``=`` (after the spaces it trims, and wherever
# a reader breaks a row or a cell), OWASP's list adds ``+``, ``-``, ``@`` (Excel, Google Sheets)
# and a leading tab or line break. See tests/test_export_spreadsheet.py.
RUNNABLE = [
    "=SUM(A1)", "=cmd|' /C calc'!A0", "==1", "=", "@handle", "@SUM(1;1)", "@", "+1 555 0100",
    "+1+1", "-1+1", "-cmd|' /C calc'!A0", "-{", "-{=1+1}", "-\\]}", "-2+3+cmd|' /C calc'!A0",
    "-E5", "-e5", "+x", "++", "-.", "\t=1+1", "\r=1+1", "\n=1+1", "\r\n=1+1", " =1+1",
    "  =1+1", "\t-1+1", " @x", "\x0b=1", "\x00=1", " \t\r\n+1+1",
]  # fmt: skip
# Plain numbers stay numbers; text that only looks odd stays as it is
KEPT = [
    "-12.5", "+7", "+3", "1,234", "-1,234.5", "-1e5", "+1E5", "-.5", "+.5", "-12%", "-0",
    " -12", "-12 ", "\t-12", "-", "--", "---", "+", "", "plain", "a=b", "'=1+1", "1+1",
    "＝1+1", "＋1", "－1", "＠x", "\u00a0=1", "\u200b=1", "\ufeff=1", "\t", " ", "\r\n",
]  # fmt: skip


def test_formulas_are_neutralised_numbers_are_not():
    for cell in RUNNABLE:
        assert neutralised(cell) == "'" + cell, repr(cell)
    for cell in KEPT:
        assert neutralised(cell) == cell, repr(cell)


def test_repeated_column_names_get_numbered_as_pandas_numbers_them():
    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a.1", "a.2"]


def test_tsv_quotes_only_what_needs_it():
    writer = Writer(FORMATS["tsv"], ["a", "b"], ["a", "b"])
    assert writer.start() == b"a\tb\n"
    assert writer.rows([["x", "y"], ["t\tab", 'q"']]) == b'x\ty\n"t\tab"\t"q"""\n'
    # a line break of any kind is quoted: readers break rows at a lone CR too
    rows = [["fine\r=1+1", "x"], ["a\nb", "c\r\nd"], ["\r"]]
    assert writer.rows(rows) == b'"fine\r=1+1"\tx\n"a\nb"\t"c\r\nd"\n"\r"\n'
    assert writer.from_json(orjson.dumps(rows)) == writer.rows(rows)


def test_csv_quotes_every_cell_and_ends_lines_as_rfc_4180_says():
    writer = Writer(FORMATS["csv"], ["a", "b"], ["a", "b"])
    assert writer.start() == b'"a","b"\r\n'
    rows = [["x", "-12.5"], ["fine\r=1+1", "a;=1+1"], ["\t=1", ""]]
    out = b'"x","-12.5"\r\n"fine\r=1+1","a;=1+1"\r\n"\'\t=1",""\r\n'
    assert writer.rows(rows) == out
    assert writer.from_json(orjson.dumps(rows)) == out
    plain = [["a", "b c"], ["1,5", "é"]]  # the fast path: no escape, nothing to neutralise
    assert writer.from_json(orjson.dumps(plain)) == '"a","b c"\r\n"1,5","é"\r\n'.encode()


async def test_a_tsv_download_round_trips_through_pandas(server):
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.csv", as_csv(TRICKY))
    assert status == 201
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format=tsv"
    frame = pandas.read_csv(url, sep="\t", dtype=str, keep_default_na=False)
    assert list(frame.columns) == TRICKY[0]
    assert frame.values.tolist() == TRICKY[1:]  # every cell exactly as uploaded

    status, _, headers = download(server, doc, "?format=tsv")
    assert status == 200
    assert headers["Content-Type"].startswith("text/tab-separated-values")
    assert 'filename="people.tsv"' in headers["Content-Disposition"]


async def test_csv_is_safe_in_a_spreadsheet_and_jsonl_is_one_object_a_row(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.csv", as_csv(TRICKY))
    _, body, headers = download(server, doc, "?format=csv")
    assert headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == TRICKY[0]
    assert rows[2] == ["Bob", "line one\nline two", "'=SUM(A1:A9)"]
    assert rows[1][2] == "-12.5" and rows[4][1] == "'@handle"

    _, body, _ = download(server, doc, "?format=jsonl")
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert lines[0] == {"name": "Ada", "note": 'said "hi"', "amount": "-12.5"}
    assert len(lines) == 5 and lines[4]["name"] == "Émile"


async def test_a_large_download_streams_every_row_of_the_version_asked_for(server):
    big = "".join(f"{i}\tr{i}\n" for i in range(20_000)).encode()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=n.tsv&header=0", big)
    assert put(server.url, doc, b"only\tthis\n")[0] == 200
    _, body, headers = download(server, doc, "?format=tsv&version=1")
    assert body == big  # no header was uploaded, none is added
    assert headers.get("Content-Disposition", "").startswith("attachment;")
    _, body, _ = download(server, doc, "")  # the current version, TSV by default
    assert body == b"only\tthis\n"  # a header and no rows


async def test_download_errors(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", b"a\tb\n1\t2\n")
    base = f"{server.url}/parser/api/docs/{doc['id']}/download"
    for query, status, code in (
        ("?format=xls", 400, "bad_option"),
        ("?version=5", 404, "version_not_found"),
    ):
        got, body, _ = http("GET", base + query)
        assert (got, body["error"]["code"]) == (status, code)
    got, body, _ = http("GET", f"{server.url}/parser/api/docs/nope/download")
    assert (got, body["error"]["code"]) == (404, "not_found")


async def test_a_download_stopped_half_way_costs_the_server_nothing(server):
    import socket

    big = "".join(f"{i}\tr{i}\n" for i in range(200_000)).encode()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?header=0", big)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(f"GET /parser/api/docs/{doc['id']}/download HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    # the server carries on serving (and its log, checked after every test, shows no error)
    assert http("GET", f"{server.url}/parser/api/docs/{doc['id']}")[0] == 200


def test_files_from_stored_records_are_exactly_what_the_csv_module_writes():
    import random

    rng = random.Random(3)
    cells = ["a", "", "b c", "1,2", "x\ty", 'q"t', "new\nline", "back\\slash", "é", "=1"]
    cells += ["-1.5", "+x", "@sum", "12", "a=b"]
    for name in ("tsv", "csv", "jsonl"):
        writer = Writer(FORMATS[name], None, ["a", "b", "c"])
        for _ in range(300):
            rows = [[rng.choice(cells) for _ in range(rng.randint(1, 3))] for _ in range(5)]
            data = orjson.dumps(rows)  # as Pages.records_json gives them
            assert writer.from_json(data) == writer.rows(rows), (name, rows)
        assert writer.from_json(b"[]") == b""
    plain = [["a", "b"], ["c", "d e"]]  # the fast path: no escapes anywhere
    assert Writer(FORMATS["tsv"], None, []).from_json(orjson.dumps(plain)) == b"a\tb\nc\td e\n"
    csv_plain = b'"a","b"\r\n"c","d e"\r\n'
    assert Writer(FORMATS["csv"], None, []).from_json(orjson.dumps(plain)) == csv_plain


def test_the_fast_path_sees_every_start_wherever_the_cell_is():
    """Whatever a cell starts with, first in a batch, first in a record or further on, the
    bytes-only path gives what the csv module writes."""
    starts = [chr(c) for c in range(128)] + ["＝", "＋", "－", "＠", "\u00a0", "\ufeff", "é"]
    for name in ("tsv", "csv"):
        writer = Writer(FORMATS[name], None, [])
        for start in starts:
            for rest in ("", "1", "1+1", "x", "-1", " =1"):
                cell = start + rest
                for rows in ([[cell, "b"], ["c"]], [["a", "b"], [cell, "d"]], [["a", cell]]):
                    expected = writer.rows(rows)
                    assert writer.from_json(orjson.dumps(rows)) == expected, (name, rows)


def test_a_cell_that_reads_as_a_record_break_stays_a_cell():
    """A cell that is exactly ``],[`` reads, in its quotes, as the break between two stored
    records: files made from the records' bytes must not break there."""
    rows = [["a", "],[", "b"], ["],["], ["],[", "c"], ["d", "],["]]
    data = orjson.dumps(rows)
    for name in ("tsv", "csv"):
        careful = Writer(FORMATS[name], None, []).rows(rows)
        assert Writer(FORMATS[name], None, []).from_json(data) == careful
    assert plain_lines(data, b";", b"\r\n") == b"a;],[;b\r\n],[\r\n],[;c\r\nd;],["


def raw_download(server, doc, query: str) -> tuple[int, bytes, dict[str, str]]:
    url = f"{server.url}/parser/api/docs/{doc['id']}/download{query}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


async def test_the_original_file_comes_back_byte_for_byte_from_any_version(server):
    odd = 'name;city\r\nZoë;Málaga\r\n\r\n"x;y";z\r\n'.encode("cp1252")  # blank line kept
    big = b"\xef\xbb\xbf" + "".join(f"{i}\tr{i}\n" for i in range(300_000)).encode()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=Zo%C3%AB.csv", odd)
    assert put(server.url, doc, big, "?name=big.tsv")[0] == 200

    status, body, headers = raw_download(server, doc, "?format=original&version=1")
    assert (status, body) == (200, odd)
    assert headers["Content-Type"] == "text/csv; charset=windows-1252"
    assert "filename*=UTF-8''Zo%C3%AB.csv" in headers["Content-Disposition"]
    status, body, headers = raw_download(server, doc, "?format=original")
    assert body == big and headers["Content-Type"].startswith("text/tab-separated-values")
    # ragged, CRLF, quoted only near its end (given back by its records up to there), no
    # last line break
    lines = [f"{i}\tr{i}" + "\tx" * (i % 3) for i in range(100_000)] + ['"q"\tz', "1\t2"]
    mixed = "\r\n".join(lines).encode()
    assert put(server.url, doc, mixed, "?name=mixed.tsv")[0] == 200
    assert raw_download(server, doc, "?format=original")[1] == mixed

    # a restored version is its old file again
    restore = f"{server.url}/parser/api/docs/{doc['id']}/versions/1/restore"
    auth = {"Authorization": f"Bearer {doc['edit_key']}"}
    assert http("POST", restore, b"", auth)[0] == 200
    assert raw_download(server, doc, "?format=original")[1] == odd

    status, body, _ = raw_download(server, doc, "?format=original&sort=1")
    assert (status, json.loads(body)["error"]["code"]) == (400, "bad_option")


async def test_an_original_holding_a_cell_like_a_record_break_comes_back_as_it_was(server):
    body = b"x\ty\tz\na\t],[\tb\n],[\tq\n"  # records: a","],[","b and ],[","q
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=b.tsv", body)
    assert raw_download(server, doc, "?format=original")[1] == body
    assert raw_download(server, doc, "?format=tsv")[1] == body


async def test_a_version_from_before_originals_were_kept_says_so(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", b"a\tb\n1\t2\n")
    server.stop()
    import sqlite3

    db = sqlite3.connect(next(server.data_dir.glob("*.sqlite3")))
    db.execute("DELETE FROM originals")  # as a store from before schema 5 holds them
    db.commit()
    db.close()
    server.start()
    status, body, _ = raw_download(server, doc, "?format=original")
    assert (status, json.loads(body)["error"]["code"]) == (404, "original_not_kept")
    assert raw_download(server, doc, "?format=tsv")[1] == b"a\tb\n1\t2\n"


# Round trips: what a program reading a download gets back

# Pieces that mean something to a CSV or TSV reader or to a spreadsheet, mixed with any text
PIECES = [
    "\r", "\n", "\r\n", '"', '""', "\t", ",", ";", "\\", "\\n", "'", " ", "=", "+", "-", "@",
    "{", "]", "}", "|", "-12.5", "+7", "1,234", "1+1", "cmd|' /C calc'!A0", "é", "中", "＝",
    "\u2028", "\x85", "\x0b", "\x0c", "\x00", "\x1a", "\ufeff", "#", "a", "],[", "[", '"],["',
]  # fmt: skip
cells = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=6).map("".join)
# ragged rows; never a row of one blank cell (the parser skips those: none is ever stored)
rows = st.lists(cells, min_size=1, max_size=5).filter(lambda row: len(row) > 1 or row[0].strip())
tables = st.lists(rows, min_size=1, max_size=8)


def written(name: str, table: list[list[str]], header: list[str] | None = None) -> bytes:
    """``table`` as a download of it is made: the store's JSON records, in batches."""
    writer, careful = (Writer(FORMATS[name], header, header or []) for _ in range(2))
    out = [writer.start()]
    assert careful.start() == out[0]
    for i in range(0, len(table), 3):
        batch = table[i : i + 3]
        data = orjson.dumps(batch)  # as Pages.records_json gives them
        out.append(writer.from_json(data))
        assert out[-1] == careful.rows(batch), batch  # the fast path is the careful one
    return b"".join(out)


def read_back(body: bytes, delimiter: str, width: int) -> tuple[list[list[str]], list[list[str]]]:
    """What the csv module reads, and what pandas reads (its rows padded to ``width``)."""
    by_csv = list(csv.reader(io.StringIO(body.decode(), newline=""), delimiter=delimiter))
    frame = pandas.read_csv(
        io.BytesIO(body),
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        header=None,
        names=range(width),
    )
    return by_csv, frame.values.tolist()


def padded(table: list[list[str]], width: int) -> list[list[str]]:
    return [row + [""] * (width - len(row)) for row in table]


def check_round_trip(name: str, table: list[list[str]], body: bytes) -> None:
    """TSV gives every cell back exactly; CSV too, a neutralised cell with its apostrophe (and
    no cell of it is one a spreadsheet would run)."""
    delimiter = "\t" if name == "tsv" else ","
    width = max(map(len, table))
    expected = table if name == "tsv" else [[neutralised(c) for c in row] for row in table]
    by_csv, by_pandas = read_back(body, delimiter, width)
    assert by_csv == expected
    assert by_pandas == padded(expected, width)
    if name == "csv":
        for row, back in zip(table, by_csv, strict=True):
            for cell, got in zip(row, back, strict=True):
                assert got == cell or got == "'" + cell
                assert neutralised(got) == got  # nothing left to neutralise


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.sampled_from(["tsv", "csv"]))
def test_every_download_reads_back_cell_for_cell(table, name):
    check_round_trip(name, table, written(name, table))


@settings(max_examples=100, deadline=None)
@given(tables, rows)
def test_a_header_reads_back_like_any_row(table, header):
    for name in ("tsv", "csv"):
        check_round_trip(name, [header, *table], written(name, table, header))


def random_table(rng) -> list[list[str]]:
    """A table the parser stores exactly, cell for cell (no NUL, which makes a file not text)."""
    pieces = [p for p in PIECES if p not in ("\x00", "\ufeff")]
    table = []
    for _ in range(rng.randint(1, 40)):
        row = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))]
        row += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))]
        table.append(row + ["x"] * rng.randint(0, 2))  # ragged
    return table


async def test_downloads_of_cells_holding_line_breaks_read_back_over_http(server):
    import random

    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=cr.csv", CR_TABLE)
    url = f"{server.url}/parser/api/docs/{doc['id']}/download"
    frame = pandas.read_csv(url + "?format=csv", dtype=str, keep_default_na=False)
    assert frame.values.tolist() == [["alice", "fine\r=1+1"], ["bob", "see\r=cmd|' /C calc'!A0"]]
    frame = pandas.read_csv(url, sep="\t", dtype=str, keep_default_na=False)
    assert frame.values.tolist() == [["alice", "fine\r=1+1"], ["bob", "see\r=cmd|' /C calc'!A0"]]

    rng = random.Random(14)
    for _ in range(6):
        table = random_table(rng)
        query = "?name=t.csv&delimiter=comma&header=0"
        status, doc, _ = http("POST", f"{server.url}/parser/api/docs{query}", quoted_csv(table))
        assert status == 201, doc
        url = f"{server.url}/parser/api/docs/{doc['id']}/download"
        for name in ("tsv", "csv"):
            check_round_trip(name, table, download(server, doc, f"?format={name}")[1])
        lines = download(server, doc, "?format=jsonl")[1].decode().split("\n")
        assert [list(json.loads(line).values()) for line in lines[:-1]] == table


# JSON Lines: numbers where a column is numeric and the number gives back the cell's text

NUMBER_CELLS = ["12", "-43", "0", "0.5", "-2.25", "1234.5", "0.0001", "999999999999999"]
NOT_NUMBER_CELLS = [
    "007", "+7", "-0", "1,234", "3,50", "1.50", "100.0", "0.0", "1e5", ".5", "5.", "0.00001",
    "9007199254740993", "9007199254740992", "1234567890123456", "0.1234567890123456", "NA",
    "", " 12", "12 ", "١٢", "１２", "--1", "1.2.3",
]  # fmt: skip


def test_a_cell_is_a_json_number_only_when_reading_it_back_gives_its_text():
    for cell in NUMBER_CELLS:
        assert json_number(cell), cell
        # Python's json and orjson write back the cell; so does JavaScript, which reads every
        # number as a double and writes the shortest digits that read back the same
        assert json.dumps(json.loads(cell)) == cell
        assert orjson.dumps(orjson.loads(cell)) == cell.encode()
        assert repr(float(cell)) == cell if "." in cell else float(cell) == int(cell)
    for cell in NOT_NUMBER_CELLS:
        assert not json_number(cell), cell


@settings(max_examples=3000, deadline=None)
@given(
    st.text(alphabet="-0123456789.", max_size=19)
    | st.builds(str, st.integers(-(2**60), 2**60))
    | st.builds(repr, st.floats(allow_nan=False, allow_infinity=False))
)
def test_json_numbers_read_back_exactly_and_both_ways_of_telling_agree(cell):
    if json_number(cell):
        value = orjson.loads(cell)
        assert orjson.dumps(value) == cell.encode() and json.dumps(value) == cell
        assert repr(float(cell)) == cell or float(cell) == int(cell)  # a double holds it
        assert abs(float(cell)) < 2**53
    raw = cell.encode()
    text = np.frombuffer(b'["' + raw + b'"]', dtype=np.uint8)  # as in stored records
    assert bool(json_numbers(text, np.array([2]), np.array([len(raw)]))[0]) == json_number(cell)


def jsonl(writer: Writer, table: list[list[str]]) -> list[dict]:
    return [json.loads(line) for line in writer.from_json(orjson.dumps(table)).splitlines()]


def test_json_lines_writes_numbers_of_numeric_columns_as_numbers():
    columns = ["n", "d", "t", "when"]
    writer = Writer(FORMATS["jsonl"], columns, columns, ["integer", "decimal", "text", "date"])
    table = [
        ["12", "0.5", "12", "2013-01-01"],
        ["-43", "1.50", "7", "NA"],
        ["007", "3", "x", ""],
        ["NA", "-2.25"],  # a short record
        ["9007199254740993", "100.0", "-1", "2013-01-01 05:00:00"],
    ]
    assert jsonl(writer, table) == [
        {"n": 12, "d": 0.5, "t": "12", "when": "2013-01-01"},
        {"n": -43, "d": "1.50", "t": "7", "when": "NA"},
        {"n": "007", "d": 3, "t": "x", "when": ""},
        {"n": "NA", "d": -2.25},
        {"n": "9007199254740993", "d": "100.0", "t": "-1", "when": "2013-01-01 05:00:00"},
    ]
    # a reader gets every cell back: a number as it is written, a string as it is
    for row, line in zip(table, jsonl(writer, table), strict=True):
        assert [v if isinstance(v, str) else json.dumps(v) for v in line.values()] == row
    # without types (a version whose types are unknown to the writer) every cell is a string
    plain = Writer(FORMATS["jsonl"], columns, columns)
    assert all(isinstance(v, str) for line in jsonl(plain, table) for v in line.values())


def test_json_lines_from_stored_records_are_the_rows_written_cell_by_cell():
    import random

    rng = random.Random(8)
    cells = [*NUMBER_CELLS, *NOT_NUMBER_CELLS, 'q"t', "back\\slash", "],[", "é", "-"]
    kinds = ["integer", "decimal", "text", "date"]
    for _ in range(200):
        width = rng.randint(1, 4)
        types = [rng.choice(kinds) for _ in range(width)]
        rows = [[rng.choice(cells) for _ in range(rng.randint(1, width))] for _ in range(6)]
        if rng.random() < 0.5:  # most batches hold no escape: their numbers are found at once
            rows = [[c for c in row if "\\" not in c and '"' not in c] or ["x"] for row in rows]
        names = [f"c{i}" for i in range(width)]
        fast, careful = (Writer(FORMATS["jsonl"], None, names, types) for _ in range(2))
        assert fast.from_json(orjson.dumps(rows)) == careful.rows(rows), (types, rows)


async def test_a_json_lines_download_writes_the_numbers_of_numeric_columns_as_numbers(server):

    rows = flights()
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=f.csv", flights_csv(rows))
    assert status == 201
    names = FLIGHTS_HEADER.split(",")
    for query, expected in (("", rows), ("&sort=5&order=desc", None)):
        _, body, _ = download(server, doc, f"?format=jsonl{query}")
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert len(lines) == len(rows)
        if expected is None:  # the sorted view: the largest delay first, NA last
            assert lines[0]["dep_delay"] == max(int(r[5]) for r in rows if r[5] != "NA")
            assert lines[-1]["dep_delay"] == "NA"
            continue
        for row, line in zip(rows, lines, strict=True):
            assert list(line) == names
            for name, cell, kind in zip(names, row, FLIGHTS_TYPES, strict=True):
                number = kind == "integer" and cell != "NA"
                assert line[name] == (int(cell) if number else cell), (name, cell)
                assert isinstance(line[name], int if number else str)
    # decimal commas stay text (no JSON reader gives "3,50" back); so do cells a number would
    # not give back exactly
    body = b"name;price;count\nA;3,50;12\nB;-1.234,5;007\nC;12;-43\nD;NA;+7\n"
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=p.csv", body)
    _, body, _ = download(server, doc, "?format=jsonl")
    assert [json.loads(line) for line in body.decode().splitlines()] == [
        {"name": "A", "price": "3,50", "count": 12},
        {"name": "B", "price": "-1.234,5", "count": "007"},
        {"name": "C", "price": 12, "count": -43},
        {"name": "D", "price": "NA", "count": "+7"},
    ]


async def test_viewers_are_served_while_a_fast_client_downloads_a_sorted_view(server):
    # a sorted download picks its records from memory: with a client that reads as fast as it
    # can, each flush is done at once, and awaiting it yields nothing to the event loop
    import threading

    big = "".join(f"{i}\t{(i * 7919) % 300_007}\n" for i in range(300_000)).encode()
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?header=0", big)
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format=tsv&sort=1"
    assert len(urllib.request.urlopen(url).read()) == len(big)  # its records file, made
    events: list[str] = []
    started = threading.Event()

    def fast_client() -> None:
        with urllib.request.urlopen(url) as response:
            response.read(1)
            started.set()
            while response.read(1 << 20):
                pass
        events.append("download done")

    reader = threading.Thread(target=fast_client)
    reader.start()
    assert started.wait(30)
    for _ in range(3):
        assert http("GET", f"{server.url}/parser/api/docs/{doc['id']}")[0] == 200
        events.append("document read")
    reader.join(60)
    assert events[:3] == ["document read"] * 3, events


def revalidated(server, doc, query: str, etag: str) -> tuple[int, bytes, dict[str, str]]:
    url = f"{server.url}/parser/api/docs/{doc['id']}/download{query}"
    request = urllib.request.Request(url, headers={"If-None-Match": etag})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_downloads_carry_a_validator_and_answer_304_to_a_client_that_has_them(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(300))
    tags = {}
    for query in ("", "?format=csv", "?format=csv&sort=1", "?format=original", "?version=1"):
        status, body, headers = raw_download(server, doc, query)
        assert status == 200 and body
        tags[query] = headers["Etag"]
        # the same again: nothing sent (nothing read)
        status, body, again = revalidated(server, doc, query, headers["Etag"])
        assert (status, body, again["Etag"]) == (304, b"", headers["Etag"])
        pinned = "version=" in query
        assert headers["Cache-Control"] == (PINNED if pinned else "no-cache")
    assert len(set(tags.values())) == 4  # each format and view its own; version 1 is current
    assert tags["?version=1"] == tags[""]
    # a new version: the current version's URL gives it, version 1's stays as it was
    assert put(server.url, doc, table(301))[0] == 200
    status, _, headers = revalidated(server, doc, "", tags[""])
    assert status == 200 and headers["Etag"] != tags[""]
    assert revalidated(server, doc, "?version=1", tags["?version=1"])[0] == 304
    assert revalidated(server, doc, "?version=1", '"something else"')[0] == 200
