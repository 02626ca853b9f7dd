"""Parquet, Arrow IPC and JSON read (issue 19, item 1): known by their bytes whatever their
name, read by the reader process into the same records a TSV makes, by HTTP, by WebSocket and
by the CLI; and what is not a table, or is too much to read, refused with a typed error while
the document keeps its version. Workbooks: tests/test_workbooks.py."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import expect, http, put, table, upload_v1, v1
from tablecast.errors import TablecastError
from tablecast.service.reading import ReaderLimits, Readers
from tablecast.table import formats
from tablecast.table.formats import JsonColumns, json_array, json_lines, sheet_rows, sheet_text

# A table with a column of each kind Arrow writes, and what each cell reads as
ARROW_TABLE = pa.table(
    {
        "id": pa.array([1, 2, None], pa.int64()),
        "x": [1.5, None, 3.0],
        "name": ["a", None, 'say "hi"\nthere'],
        "day": [datetime.date(2024, 1, 2)] * 3,
        "at": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5)] * 2 + [None], pa.timestamp("ms")),
        "fine": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 120000)] * 3, pa.timestamp("us")),
        "ok": [True, False, None],
        "price": pa.array([decimal.Decimal("1.50")] * 3, pa.decimal128(5, 2)),
        "kind": pa.array(["u", "v", "u"]).dictionary_encode(),
        "raw": [b"ab", b"\xff", None],
        "small": pa.array([1.25, 2.0, -0.5], pa.float32()),
    }
)
ARROW_ROWS = [
    ["id", "x", "name", "day", "at", "fine", "ok", "price", "kind", "raw", "small"],
    ["1", "1.5", "a", "2024-01-02", "2024-01-02 03:04:05", "2024-01-02 03:04:05.120000",
     "true", "1.50", "u", "ab", "1.25"],
    ["2", "", "", "2024-01-02", "2024-01-02 03:04:05", "2024-01-02 03:04:05.120000",
     "false", "1.50", "v", "0xff", "2"],
    ["", "3", 'say "hi"\nthere', "2024-01-02", "", "2024-01-02 03:04:05.120000", "", "1.50",
     "u", "", "-0.5"],
]  # fmt: skip


def parquet(data: pa.Table = ARROW_TABLE, **options: Any) -> bytes:
    out = io.BytesIO()
    pq.write_table(data, out, **options)
    return out.getvalue()


def arrow_file(data: pa.Table = ARROW_TABLE) -> bytes:
    out = io.BytesIO()
    with pa.ipc.new_file(out, data.schema) as writer:
        writer.write_table(data)
    return out.getvalue()


def arrow_stream(data: pa.Table = ARROW_TABLE) -> bytes:
    out = io.BytesIO()
    with pa.ipc.new_stream(out, data.schema) as writer:
        writer.write_table(data, max_chunksize=2)
    return out.getvalue()


JSON_ROWS = [{"city": "Lyon", "people": 522250, "ok": True},
             {"city": "Nantes", "area": 65.19, "tags": ["a", "b"], "ok": None}]  # fmt: skip
JSON_TABLE = [
    ["city", "people", "ok", "area", "tags"],
    ["Lyon", "522250", "true", "", ""],
    ["Nantes", "", "", "65.19", '["a","b"]'],
]


# Known by their bytes


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (parquet(), formats.PARQUET),
        (arrow_file(), formats.ARROW),
        (arrow_stream(), formats.ARROW),
        (json.dumps(JSON_ROWS).encode(), formats.JSON),
        (json.dumps(JSON_ROWS, indent=2).encode(), formats.JSON),
        (b"\xef\xbb\xbf  \n[[1, 2], [3, 4]]", formats.JSON),
        (b'{"a": 1}\n{"a": 2}\n', formats.JSON),
        (b'["a", "b"]\n["c", "d"]\n', formats.JSON),
        (b"a\tb\n1\t2\n", None),
        (b"[id]\tname\n1\tx\n", None),  # a header whose first cell is in brackets
        (b"{x}\ty\n", formats.JSON),  # read as JSON, and refused as bad JSON (below)
        (b"PAR", None),
    ],
)
def test_a_file_is_known_by_its_first_bytes(data, kind):
    assert formats.sniff(data[:65536]) == kind


# Cells as text


def test_a_workbook_cell_reads_as_the_sheet_shows_it():
    cases = {
        522250.0: "522250",
        0.1: "0.1",
        -3.0: "-3",
        1e15: "1000000000000000",
        1e20: "1e+20",
        2.0**60: "1.152921504606847e+18",
        7: "7",
        True: "TRUE",
        False: "FALSE",
        "": "",
        None: "",
        " x ": " x ",
        datetime.datetime(2024, 1, 2): "2024-01-02",
        datetime.datetime(2024, 1, 2, 3, 4, 5): "2024-01-02 03:04:05",
        datetime.datetime(2024, 1, 2, 3, 4, 5, 500000): "2024-01-02 03:04:05.500000",
        datetime.date(1990, 5, 17): "1990-05-17",
        datetime.time(13, 30): "13:30:00",
        datetime.timedelta(hours=26, minutes=3, seconds=4): "26:03:04",
    }
    for value, text in cases.items():
        assert sheet_text(value) == text, value


def test_a_sheet_drops_empty_rows_and_trailing_columns_and_fills_merged_cells():
    rows = [
        ["", "", "", ""],  # above the table
        ["name", "group", "", ""],
        ["a", "g1", "", ""],
        ["", "", "", ""],  # between its parts
        ["b", "", "", " "],  # a cell of white space is a value
        ["c", "", "", ""],
        ["", "", "", ""],
    ]
    # "g1" merged over three rows; "name" over two columns of the header
    merged = [((2, 1), (4, 1)), ((1, 0), (1, 1)), ((5, 7), (9, 9))]
    width, out = sheet_rows(lambda: iter(rows), merged, (0, 0), 100)
    assert width == 4
    assert list(out) == [
        ["name", "name", "", ""],
        ["a", "g1", "", ""],
        ["", "g1", "", ""],  # (a blank row inside a merged range is no longer blank)
        ["b", "g1", "", " "],
        ["c", "", "", ""],
    ]
    width, out = sheet_rows(lambda: iter([["x", "", ""], ["", "y", ""]]), [], (0, 0), 100)
    assert (width, list(out)) == (2, [["x", ""], ["", "y"]])


def test_a_sheet_wider_than_a_table_may_be_is_refused():
    with pytest.raises(TablecastError) as err:
        sheet_rows(lambda: iter([[""] * 9 + ["x"]]), [], (0, 0), 8)
    assert err.value.code == "too_many_columns"


def reader(data: bytes) -> Any:
    stream = io.BytesIO(data)
    return stream.read


def test_json_lines_and_arrays_give_the_same_rows_a_piece_at_a_time(monkeypatch):
    monkeypatch.setattr(formats, "JSON_PIECE_BYTES", 7)  # every cut in the middle of something
    rows = [{"a": f"x}},{{]{i}", "b": [i, {"c": "},"}]} for i in range(50)]
    lines = b"\n".join(orjson.dumps(r) for r in rows) + b"\n\n"
    assert [v for piece in json_lines(reader(lines)) for v in piece] == rows
    for document in (orjson.dumps(rows), json.dumps(rows, indent=3).encode()):
        pieces = list(json_array(reader(document)))
        assert [v for piece in pieces for v in piece] == rows
        assert len(pieces) > 5  # not the whole document at once
    assert list(json_array(reader(b"[]"))) == []


def test_json_columns_are_the_keys_in_the_order_met():
    columns = JsonColumns(100)
    columns.add(JSON_ROWS[:1])
    columns.add(JSON_ROWS[1:])
    assert columns.header() == JSON_TABLE[0]
    assert columns.rows(JSON_ROWS, 100) == JSON_TABLE[1:]
    arrays = JsonColumns(100)
    arrays.add([["h1", "h2"], [1, 2, 3], [None], [1.5, False]])
    assert (arrays.header(), arrays.width, arrays.ragged) == (None, 3, 2)
    assert arrays.rows([[1, 2, 3], [None]], 100) == [["1", "2", "3"], [""]]


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b'{"data": [1, 2]}', "not_a_table"),
        (b"[1, 2, 3]", "not_a_table"),
        (b'[{"a": 1}, [1]]', "not_a_table"),
        (b'[{"a": 1}, {"a": ', "bad_json"),
        (b"[", "bad_json"),
    ],
)
def test_json_that_is_no_table_is_refused(document, code):
    with pytest.raises(TablecastError) as err:
        columns = JsonColumns(100)
        for values in json_array(reader(document)):
            columns.add(values)
    assert err.value.code == code


def test_json_wider_than_a_table_may_be_is_refused():
    columns = JsonColumns(3)
    with pytest.raises(TablecastError) as err:
        columns.add([{"a": 1, "b": 2}, {"c": 3, "d": 4}])
    assert err.value.code == "too_many_columns"


# The reader process


async def read_all(path: Path, kind: str, limits: ReaderLimits | None = None) -> list[Any]:
    out = []
    async for item in Readers(limits or ReaderLimits()).read(str(path), kind):
        out.append(item)
    return out


@pytest.mark.parametrize(
    ("make", "name"), [(parquet, "parquet"), (arrow_file, "arrow"), (arrow_stream, "arrows")]
)
async def test_the_reader_process_hands_back_the_records_as_stored(tmp_path, make, name):
    path = tmp_path / "t"
    path.write_bytes(make())
    head, *records = await read_all(path, formats.sniff(path.read_bytes()))
    assert head == {"format": name, "width": 11, "sheet": "", "sheets": [], "ragged": 0,
                    "header": True}  # fmt: skip
    lines = b"".join(records).decode().splitlines()
    assert [json.loads(line) for line in lines] == ARROW_ROWS


async def test_a_file_that_needs_more_memory_than_the_reader_may_take_is_refused(tmp_path):
    """A megabyte of Parquet that holds 200 MB of text: one value repeated, which Parquet
    stores once. Read within a small address space, it is refused, and says why."""
    big = pa.table({"text": pa.array(["x" * 1_000_000] * 200)})
    path = tmp_path / "bomb.parquet"
    path.write_bytes(parquet(big, compression="zstd"))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(TablecastError) as err:
        await read_all(path, formats.PARQUET, ReaderLimits(memory=600 * 2**20))
    assert err.value.code == "too_large"
    assert "600 MiB" in err.value.message
    # and with room enough, the same file reads (the limit refused it, not the file)
    _, *records = await read_all(path, formats.PARQUET)
    assert sum(record.count(b"\n") for record in records) == 201


async def test_a_file_that_takes_longer_than_the_reader_may_is_refused(tmp_path):
    rows = [{"n": i, "text": "y" * 50} for i in range(300_000)]
    path = tmp_path / "long.json"
    path.write_bytes(b"\n".join(map(orjson.dumps, rows)))
    started = time.monotonic()
    with pytest.raises(TablecastError) as err:
        await read_all(path, formats.JSON, ReaderLimits(cpu=1))
    assert err.value.code == "too_large"
    assert "longer than 1 s" in err.value.message
    assert time.monotonic() - started < 10


async def test_the_reader_process_stops_when_its_records_are_not_wanted(tmp_path):
    path = tmp_path / "t.parquet"
    many = pa.table({"n": pa.array(range(2_000_000))})
    path.write_bytes(parquet(many))
    readers = Readers(ReaderLimits())
    readers.warm()
    await asyncio.sleep(0.5)
    assert len(readers_running()) == 1  # the spare, waiting
    reading = readers.read(str(path), formats.PARQUET)
    await anext(reading)
    await reading.aclose()  # (the upload was rolled back)
    assert readers_running() == []  # it took the spare, and is gone
    readers.warm()
    await readers.close()  # (the node stops)
    assert readers_running() == []


def readers_running() -> list[int]:
    """This process's reader processes, alive."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
            if (
                int(fields[1]) == os.getpid()
                and fields[0] != "Z"
                and b"tablecast.reader" in command
            ):
                found.append(int(stat.parent.name))
    return found


# Over HTTP, WebSocket and the CLI


def new_document(server: Any) -> dict[str, Any]:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.tsv", table(5))
    assert status == 201
    return doc


def rows_of(server: Any, doc: dict[str, Any]) -> list[list[str]]:
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert status == 200
    return [page["columns"], *page["data"]]


@pytest.mark.parametrize(
    ("data", "name", "kind", "content_type", "rows"),
    [
        (parquet(), "t.parquet", "parquet", "application/vnd.apache.parquet", ARROW_ROWS),
        (arrow_file(), "t.arrow", "arrow", "application/vnd.apache.arrow.file", ARROW_ROWS),
        (arrow_stream(), "t.arrows", "arrows", "application/vnd.apache.arrow.stream", ARROW_ROWS),
        (json.dumps(JSON_ROWS).encode(), "t.json", "json", "application/json", JSON_TABLE),
        (b"\n".join(map(orjson.dumps, JSON_ROWS)), "t.jsonl", "jsonl", "application/jsonl",
         JSON_TABLE),
    ],
)  # fmt: skip
@pytest.mark.parametrize("named", [True, False])
def test_each_format_uploads_over_http_and_downloads_as_it_was(
    server, data, name, kind, content_type, rows, named
):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, data, f"?name={name}" if named else "?name=x.csv")
    assert status == 200, answer
    assert (answer["version"], answer["format"], answer["sheet"], answer["sheets"]) == (
        2,
        kind,
        None,
        [],
    )
    assert rows_of(server, doc) == rows
    raw, headers = urlopen_bytes(
        f"{server.url}/parser/api/docs/{doc['id']}/download?format=original"
    )
    assert (raw, headers["Content-Type"]) == (data, content_type)
    # its rows are a table as any other: sorted, searched, exported
    status, page, _ = http(
        "GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?sort=0&order=desc"
    )
    assert status == 200 and page["data"][0] == sorted(rows[1:], key=lambda r: r[0])[-1]


def urlopen_bytes(url: str) -> tuple[bytes, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers


def test_uploading_the_same_parquet_again_stores_only_what_differs(server):
    data = pa.table({"n": pa.array(range(50_000)), "s": [f"row {i}" for i in range(50_000)]})
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.parquet", parquet(data))
    assert status == 201, doc
    changed = data.set_column(1, "s", pa.array([f"row {i}" if i != 7 else "seven"
                                                for i in range(50_000)]))  # fmt: skip
    status, answer, _ = put(server.url, doc, parquet(changed))
    assert status == 200, answer
    status, diff, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/diff?from=1&to=2")
    assert status == 200
    assert (len(diff["added"]), len(diff["removed"]), len(diff["changed"])) == (0, 0, 1)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (parquet(pa.table({"l": [[1, 2]], "n": [1]})), "not_a_table"),
        (parquet(pa.table({"s": [{"a": 1}]})), "not_a_table"),
        (parquet()[:-100], "bad_parquet"),  # cut short: its footer is gone
        (b"PAR1" + b"\x00" * 5000, "bad_parquet"),
        (arrow_file()[:200], "bad_arrow"),
        (b'{"data": [1, 2], "more": {"a": 1}}', "not_a_table"),
        (b'{"a": 1}\n{"a": \n', "bad_json"),
        (b"[[1, 2], [3, 4]", "bad_json"),
        (b"[]", "empty_file"),
    ],
)
def test_what_is_no_table_is_refused_and_the_version_stays(server, data, code):
    doc = new_document(server)
    status, answer, _ = put(server.url, doc, data)
    assert (status, answer["error"]["code"]) == (400, code), answer
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (meta["version"], meta["total_number"], meta["format"]) == (1, 5, "text")
    assert not [f for f in (server.data_dir / "uploads").rglob("*") if f.is_file()]  # none left


def test_a_bomb_is_refused_within_the_readers_memory_and_the_version_stays(server_factory):
    server = server_factory("--reader-memory", "600M")
    doc = new_document(server)
    big = pa.table({"text": pa.array(["x" * 1_000_000] * 200)})
    status, answer, _ = put(server.url, doc, parquet(big, compression="zstd"))
    assert (status, answer["error"]["code"]) == (413, "too_large"), answer
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert meta["version"] == 1
    # the server goes on serving, and reading
    assert put(server.url, doc, parquet())[0] == 200


def test_cells_past_the_upload_limit_are_refused(server_factory):
    """A small file whose cells take far more than the limit on a file: what is stored is
    bounded as the file is."""
    server = server_factory("--max-upload-bytes", "2M")
    doc = new_document(server)
    many = pa.table({"text": pa.array(["z" * 1000] * 10_000)})  # 10 MB of cells, 20 KB of file
    status, answer, _ = put(server.url, doc, parquet(many))
    assert (status, answer["error"]["code"]) == (413, "too_large"), answer
    assert "cells take more than" in answer["error"]["message"]


async def test_a_parquet_file_sent_over_the_websocket_reaches_every_viewer(server):
    uploader = await v1(server)
    document_id = (await expect(uploader, "hello"))["id"]
    await upload_v1(uploader, table(5))
    watcher = await v1(server, document_id)
    await expect(watcher, "page")
    done = await upload_v1(uploader, parquet(), filename="t.parquet")
    assert done["version"] == 2
    page = await expect(watcher, "page", version=2)
    assert [page["columns"], *page["data"]] == ARROW_ROWS
    assert page["format"] == "parquet"
    # and what is no table is refused to its sender, shown failed to the others
    await uploader.send(json.dumps({"type": "upload_begin", "filename": "x.parquet"}))
    await expect(uploader, "upload_ready")
    await uploader.send(parquet(pa.table({"l": [[1]]})))
    await uploader.send(json.dumps({"type": "upload_end"}))
    err = await expect(uploader, "error")
    assert err["code"] == "not_a_table"
    failed = await expect(watcher, "upload_progress", state="failed")
    assert failed["error"]["code"] == "not_a_table"
    await uploader.close()
    await watcher.close()


def test_the_cli_uploads_parquet_and_says_what_is_refused(server, tmp_path):
    good, bad = tmp_path / "t.parquet", tmp_path / "nested.parquet"
    good.write_bytes(parquet())
    bad.write_bytes(parquet(pa.table({"l": [[1]]})))
    command = [sys.executable, "-m", "tablecast", "upload", "--server", server.url]
    done = subprocess.run([*command, str(good)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip().splitlines()[-1]
    document_id = link.rsplit("/", 1)[-1].split("#")[0]
    assert rows_of(server, {"id": document_id}) == ARROW_ROWS
    done = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "not_a_table" in done.stderr or "nested values" in done.stderr


@pytest.mark.parametrize(
    "cells",
    [
        ["plain", 'a "quoted" word', "back\\slash", "é ü 漢字 🙂", "", "\u2028", "\x7f"],
        ["tab\there", "line\nbreak", "nul\x00", "bell\x07"],  # control characters: per cell
    ],
)
def test_arrow_records_made_a_column_at_a_time_are_orjsons(cells):
    batch = pa.record_batch(
        {
            "s": pa.array(cells),
            "big": pa.array(cells, pa.large_string()),
            "n": pa.array(range(len(cells))),
            "null": pa.array([None] * len(cells), pa.string()),
        }
    )
    expected = formats.record_lines(formats.arrow_rows(batch, 100))
    assert formats.arrow_lines(batch, 100) == expected
    assert formats.arrow_lines(batch.slice(2, 3), 100) == b"".join(
        expected.splitlines(keepends=True)[2:5]
    )
    assert formats.arrow_lines(batch.slice(0, 0), 100) == b""


def test_files_a_stopped_process_kept_are_removed_at_start_and_no_others(server_factory, tmp_path):
    """Workers of one machine share the data directory: each keeps its files in a directory
    of its own, and one started again removes only those of processes no longer running."""
    uploads = tmp_path / "data" / "uploads"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    (uploads / dead.stdout.strip()).mkdir(parents=True)
    (uploads / dead.stdout.strip() / "7.abc").write_bytes(b"PAR1")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (uploads / str(alive.pid)).mkdir()
        (uploads / str(alive.pid) / "8.abc").write_bytes(b"PAR1")
        server = server_factory(data_dir=tmp_path / "data")
        assert sorted(p.name for p in uploads.iterdir()) == [str(alive.pid)]
        doc = new_document(server)
        assert put(server.url, doc, parquet())[0] == 200
        assert (uploads / str(alive.pid) / "8.abc").exists()
    finally:
        alive.kill()
        alive.wait()
