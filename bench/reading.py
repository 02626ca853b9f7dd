"""reading: workbooks and Parquet uploaded (issue 19), to page 1 on every viewer, beside pandas
and Polars reading the same files.

- **tablecast**: a server (its SQLite store) with ``--viewers`` v1 viewers (100) on one
  document; a ``--xlsx-rows`` (100,000), 10-column xlsx of the benchmark document's first rows
  (numbers, dates and booleans typed, as a spreadsheet saves them), then the ``--rows``
  (1,000,000) document as Parquet, each uploaded over a v1 WebSocket, ``RUNS`` times: the time
  from the upload's last message (``upload_end``) to the moment the last viewer has page 1 of
  the new version. *Cold*: the first upload of the server's life (no reader process started
  yet); *warm*: the median of the others (the reader process started while the file
  arrived, as every upload of a running server has it).
- **pandas**: ``read_excel`` (openpyxl, its default for xlsx) and ``read_parquet`` (pyarrow)
  of the same files, in this process: a DataFrame in memory, nothing shown to anyone.
- **polars**: ``read_excel`` (its default engine, calamine through fastexcel) and
  ``read_parquet``, the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pandas
import polars
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import xlsxwriter
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench import emit, servers
from bench.data import HEADER, OUT, records, tsv, tsv_file
from bench.views import server_url

RUNS = 4  # uploads of each file: the first cold, the others warm
CHUNK = 256 * 1024  # v1 upload chunks


def xlsx_file(count: int) -> Path:
    """The benchmark document's first ``count`` rows as a workbook, cells typed as a
    spreadsheet keeps them (id, amount, qty numbers; date a date; ok a boolean)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"rows-{count}.xlsx"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
    sheet = book.add_worksheet("Rows")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADER.split("\t"))
    for r, line in enumerate(records(count), 1):
        cells = line.split("\t")
        sheet.write_number(r, 0, int(cells[0]))
        sheet.write_string(r, 1, cells[1])
        sheet.write_string(r, 2, cells[2])
        sheet.write_datetime(r, 3, datetime.datetime.fromisoformat(cells[3]), day)
        sheet.write_number(r, 4, float(cells[4]))
        sheet.write_number(r, 5, int(cells[5]))
        sheet.write_string(r, 6, cells[6])
        sheet.write_boolean(r, 7, cells[7] == "y")
        sheet.write_string(r, 8, cells[8])
        sheet.write_string(r, 9, cells[9])
    book.close()
    tmp.rename(path)
    return path


def parquet_file(count: int) -> Path:
    """The benchmark document as Parquet, typed as Arrow reads its TSV."""
    path = OUT / f"rows-{count}.parquet"
    if not path.exists():
        table = pacsv.read_csv(tsv_file(count), parse_options=pacsv.ParseOptions(delimiter="\t"))
        pq.write_table(table, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return path


def tablecast(files: list[tuple[str, Path]], viewers: int) -> list[dict[str, Any]]:
    server = servers.start("tablecast")
    try:
        request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=tsv(10))
        with urllib.request.urlopen(request, timeout=60) as response:
            doc = orjson.loads(response.read())
        ws_url = server_url(server, f"/parser/ws/{doc['id']}").replace("http", "ws", 1)
        return asyncio.run(_uploads(ws_url, doc["edit_key"], files, viewers))
    finally:
        server.stop()


async def _uploads(
    ws_url: str, key: str, files: list[tuple[str, Path]], viewers: int
) -> list[dict[str, Any]]:
    v1 = [Subprotocol("tablecast.v1")]
    watching = [await connect(ws_url, subprotocols=v1, max_size=None) for _ in range(viewers)]
    uploader = await connect(ws_url, subprotocols=v1, max_size=None)
    await uploader.send(orjson.dumps({"type": "auth", "edit_key": key}).decode())
    try:
        for ws in watching:
            await _next(ws, "page")
        await _next(uploader, "page")
        results = []
        version = 1
        for kind, path in files:
            data = path.read_bytes()
            times = []
            for _ in range(RUNS):
                version += 1
                times.append(await _upload(uploader, watching, data, path.name, version))
            rows = (await _counted(uploader))["total_number"]
            results.append(_row("tablecast", kind, path, rows, times[0], times[1:]))
        return results
    finally:
        for ws in [*watching, uploader]:
            await ws.close()


async def _upload(
    uploader: ClientConnection, watching: list[ClientConnection], data: bytes, name: str,
    version: int,
) -> float:  # fmt: skip
    """Seconds from the upload's end to the last viewer's page 1 of ``version``."""
    begin = {"type": "upload_begin", "filename": name, "size": len(data)}
    await uploader.send(orjson.dumps(begin).decode())
    ready = await _next(uploader, "upload_ready")
    window = ready["window"]
    sent = acked = 0
    for start in range(0, len(data), CHUNK):
        while sent - acked >= window:
            await _next(uploader, "upload_ack")
            acked += 1
        await uploader.send(data[start : start + CHUNK])
        sent += 1
    while acked < sent:
        await _next(uploader, "upload_ack")
        acked += 1
    began = time.perf_counter()
    await uploader.send(orjson.dumps({"type": "upload_end"}).decode())

    async def seen(ws: ClientConnection) -> None:
        while True:
            message = await _next(ws, "page")
            if message.get("version") == version:
                return

    await asyncio.gather(*(seen(ws) for ws in watching))
    took = time.perf_counter() - began
    await _next(uploader, "upload_done")
    return took


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = orjson.loads(await ws.recv())
        if message.get("type") == "error":
            raise RuntimeError(message)
        if message.get("type") == kind:
            return message


async def _counted(uploader: ClientConnection) -> dict[str, Any]:
    """The uploader's page of the version it made last."""
    await uploader.send(orjson.dumps({"type": "goto", "page": 1}).decode())
    return await _next(uploader, "page")


def peers(files: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    readers = {
        ("pandas", "xlsx"): lambda p: pandas.read_excel(p, engine="openpyxl"),
        ("pandas", "parquet"): pandas.read_parquet,
        ("polars", "xlsx"): polars.read_excel,
        ("polars", "parquet"): polars.read_parquet,
    }
    results = []
    for kind, path in files:
        for peer in ("pandas", "polars"):
            read = readers[peer, kind]
            times = []
            rows = 0
            for _ in range(2 if kind == "xlsx" and peer == "pandas" else RUNS):
                began = time.perf_counter()
                frame = read(path)
                times.append(time.perf_counter() - began)
                rows = len(frame)
                del frame
            results.append(_row(peer, kind, path, rows, times[0], times[1:]))
    return results


def _row(
    server: str, kind: str, path: Path, rows: int, cold: float, warm: list[float]
) -> dict[str, Any]:
    return {
        "server": server,
        "format": kind,
        "rows": rows,
        "bytes": path.stat().st_size,
        "cold_ms": cold * 1000,
        "warm_ms": statistics.median(warm) * 1000,
        "warm_max_ms": max(warm) * 1000,
    }


def report(results: list[dict[str, Any]]) -> None:
    print("reading: a file uploaded to page 1 on every viewer (tablecast), or read into a")
    print("DataFrame (pandas, polars); cold: a fresh server's first upload, a first read")
    print(f"{'reader':10} {'format':8} {'rows':>9} {'file':>8} {'cold':>8} {'warm':>8}"
          f" {'worst':>8}  vs tablecast (warm)")  # fmt: skip
    ours = {r["format"]: r for r in results if r["server"] == "tablecast"}
    for r in results:
        mine = ours.get(r["format"])
        ratio = f"x{r['warm_ms'] / mine['warm_ms']:.2f}" if mine and r is not mine else ""
        print(
            f"{r['server']:10} {r['format']:8} {r['rows']:9,} {r['bytes'] / 2**20:6.1f}MB"
            f" {r['cold_ms']:6.0f}ms {r['warm_ms']:6.0f}ms {r['warm_max_ms']:6.0f}ms  {ratio}"
        )
    print("target (issue 19): a 100,000-row, 10-column xlsx, page 1 on every viewer <= 1.5 s")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench reading", description=__doc__)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="the Parquet file's")
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    files = [("xlsx", xlsx_file(args.xlsx_rows)), ("parquet", parquet_file(args.rows))]
    results = tablecast(files, args.viewers) + peers(files)
    return emit(results, args.json, report)
