"""Typed downloads kept as files (tablecast.service.exports): HEAD with their length, byte
ranges (206, 416, If-Range), the same bytes whether encoded now or read from the file, the files
under data/exports/ bounded by --export-cache-bytes (least recently used out), and removed with
their document."""

from __future__ import annotations

import asyncio
import io
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import http, put
from tablecast.service.exports import Exports
from tablecast.service.limits import Limits
from tablecast.store.sqlite import SQLiteStore
from tablecast.web.downloads import UNSATISFIABLE, byte_range
from tablecast.web.server import Node
from test_export_typed import as_csv, made


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, bytes, Message]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def document(server, rows: int = 500, seed: int = 1) -> tuple[dict, str]:
    status, doc, _ = http(
        "POST", f"{server.url}/parser/api/docs?name=t.csv", as_csv(made(rows, seed))
    )
    assert status == 201
    return doc, f"{server.url}/parser/api/docs/{doc['id']}/download"


def kept(data_dir: Path) -> dict[str, int]:
    """The files kept under data/exports/, by DOCUMENT/NAME, and their sizes."""
    root = data_dir / "exports"
    return {
        str(path.relative_to(root)): path.stat().st_size
        for path in sorted(root.glob("*/*"))
        if not path.name.startswith(".")
    }


def test_byte_ranges_are_read_as_rfc_9110_says():
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 10)
    assert byte_range("bytes=90-", 100) == (90, 100)
    assert byte_range("bytes=90-200", 100) == (90, 100)  # (a last byte past the end: the end)
    assert byte_range("bytes=-10", 100) == (90, 100)
    assert byte_range("bytes=-200", 100) == (0, 100)
    assert byte_range(" Bytes = 5 - 6 ", 100) == (5, 7)
    for unsatisfiable in ("bytes=100-", "bytes=100-200", "bytes=-0"):
        assert byte_range(unsatisfiable, 100) == UNSATISFIABLE, unsatisfiable
    assert byte_range("bytes=0-", 0) == UNSATISFIABLE
    # the whole file: what cannot be read, another unit, several ranges
    for whole in ("bytes=9-1", "bytes=a-b", "bytes=-", "bytes=1", "items=0-1", "bytes=0-1,5-6"):
        assert byte_range(whole, 100) is None, whole
    assert byte_range("bytes=²-5", 100) is None


@pytest.mark.parametrize("suffix", ["parquet", "arrow", "xlsx"])
def test_head_and_ranges_are_answered_from_the_file(server, suffix):
    _, url = document(server)
    url = f"{url}.{suffix}?sort=2"
    # HEAD first, as Polars asks: the file is made to know its length
    status, body, headers = fetch(url, "HEAD")
    assert status == 200 and body == b""
    size = int(headers["Content-Length"])
    assert headers["Accept-Ranges"] == "bytes"
    etag = headers["Etag"]
    status, whole, headers = fetch(url)
    assert status == 200 and len(whole) == size and headers["Etag"] == etag
    assert headers["Content-Length"] == str(size) and headers["Accept-Ranges"] == "bytes"
    for asked, start, stop in (
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, size),
        (f"bytes={size - 8}-{size + 50}", size - 8, size),
        ("bytes=-8", size - 8, size),  # (a Parquet file's footer length and magic)
    ):
        status, part, headers = fetch(url, headers={"Range": asked})
        assert status == 206, asked
        assert part == whole[start:stop], asked
        assert headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"
        assert headers["Content-Length"] == str(stop - start) and headers["Etag"] == etag
    status, _, headers = fetch(url, headers={"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    # If-Range: the range if the file is still the one named, else the whole file
    assert fetch(url, headers={"Range": "bytes=0-9", "If-Range": etag})[:2] == (206, whole[:10])
    for other in ('"another"', "W/" + etag, "Wed, 02 Dec 2026 18:00:00 GMT"):
        assert fetch(url, headers={"Range": "bytes=0-9", "If-Range": other})[:2] == (200, whole)
    status, part, _ = fetch(url, "HEAD", {"Range": "bytes=0-9"})
    assert status == 206 and part == b""
    # If-None-Match still comes first
    assert fetch(url, headers={"If-None-Match": etag, "Range": "bytes=0-9"})[0] == 304


def test_a_file_streamed_as_it_is_written_is_the_one_kept(server):
    _, url = document(server, 3000)
    status, first, headers = fetch(f"{url}.parquet")  # encoded now, sent as it went
    assert status == 200 and "Content-Length" not in headers
    assert headers["Accept-Ranges"] == "bytes"
    status, again, headers = fetch(f"{url}.parquet")  # from the file
    assert status == 200 and again == first and headers["Content-Length"] == str(len(first))
    files = kept(server.data_dir)
    assert list(files.values()) == [len(first)]
    assert pq.read_table(pa.BufferReader(again)).num_rows == 3000
    # a ranged read of a version never downloaded: made whole, then the range
    doc, url = document(server, 300, 2)
    assert put(server.url, doc, as_csv(made(200, 3)))[0] == 200
    status, tail, _ = fetch(f"{url}.xlsx?version=1", headers={"Range": "bytes=-22"})
    assert status == 206 and len(tail) == 22 and tail.startswith(b"PK\x05\x06")  # (zip's end)
    whole = fetch(f"{url}.xlsx?version=1")[1]
    sheet = openpyxl.load_workbook(io.BytesIO(whole)).active
    assert sheet.max_row == 301


def test_downloads_kept_are_bounded_least_recently_used_out(server_factory, tmp_path):
    server = server_factory("--export-cache-bytes", "25KiB")
    urls = [document(server, 300, seed)[1] for seed in range(4)]
    sizes = []
    for url in urls:
        body = fetch(f"{url}.parquet")[1]
        sizes.append(len(body))
        assert sum(kept(server.data_dir).values()) <= 25 * 1024
    assert all(25 * 1024 / 3 < size < 25 * 1024 / 2 for size in sizes)  # (two fit, not three)
    held = kept(server.data_dir)
    assert len(held) == 2 and all(url.split("/")[-2] in str(held) for url in urls[2:])
    fetch(f"{urls[2]}.parquet")  # the older of the two, used: the newer goes next
    fetch(f"{urls[0]}.parquet")
    held = kept(server.data_dir)
    assert sorted(name.split("/")[0] for name in held) == sorted(
        url.split("/")[-2] for url in (urls[0], urls[2])
    )
    # a file larger than the bound is sent all the same, and not kept
    big = document(server, 3000, 9)[1]
    body = fetch(f"{big}.parquet", headers={"Range": "bytes=0-"})[1]
    assert pq.read_table(pa.BufferReader(body)).num_rows == 3000
    assert sum(kept(server.data_dir).values()) <= 25 * 1024


async def test_what_exports_hold_stays_within_their_bound(tmp_path: Path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    exports = Exports(store, tmp_path / "exports", max_bytes=1000)

    async def made(document: str, name: str, size: int) -> None:
        async def write(file) -> None:
            file.write(b"x" * size)

        (await exports.made(document, name, write)).close()

    for n in range(20):
        await made(f"d{n % 3}", f"f{n}", 150 + 10 * n)
        assert exports.held <= 1000
        assert exports.held == sum(p.stat().st_size for p in (tmp_path / "exports").glob("*/*"))
    # a node started again finds them, the least recently used first
    again = Exports(store, tmp_path / "exports", max_bytes=500)
    assert again.held <= 500
    store.close()


async def test_concurrent_requests_for_a_file_make_it_once(tmp_path: Path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    exports = Exports(store, tmp_path / "exports", max_bytes=10**6)
    writes = []

    async def write(file) -> None:
        writes.append(1)
        await asyncio.sleep(0.05)
        file.write(b"made")

    files = await asyncio.gather(*(exports.made("d", "f", write) for _ in range(5)))
    assert len(writes) == 1 and [f.read() for f in files] == [b"made"] * 5
    for file in files:
        file.close()
    store.close()


async def test_a_documents_files_go_with_it(tmp_path: Path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    node = Node.assemble(
        store,
        Limits(),
        page_size=100,
        legacy_page_size=100,
        exports=tmp_path / "exports",
        export_bytes=10**6,
    )
    exports = node.exports
    try:
        ids = [store.create_document(None).id for _ in range(3)]

        async def write(file) -> None:
            file.write(b"data")

        for document in ids:
            (await exports.made(document, "1.1.parquet.x.parquet", write)).close()
        # removed by this node's capacity: it tells every one that keeps files
        for forget in node.capacity.removed:
            forget([ids[0]])
        assert not (tmp_path / "exports" / ids[0]).exists() and exports.held == 8
        # removed by another node's, which tells this one nothing: found when tidying
        assert set(store.remove_unused(time.time() + 1, None, None, {ids[2]})) == {*ids[:2]}
        await exports.forget_removed()
        assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [ids[2]]
        assert exports.held == 4
    finally:
        await node.close()
