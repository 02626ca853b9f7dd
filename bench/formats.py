"""formats: typed downloads (issue 19) of the benchmark document, beside pandas and Polars
writing the same files from the same data.

- **tablecast**: the document uploaded over HTTP to a server (its SQLite store), then downloaded
  whole as Parquet (``--rows``, 1,000,000 by default), Arrow and CSV, and a document of its
  first ``--xlsx-rows`` (100,000) as XLSX, at the client's speed. *Cold*: the first download
  of a fresh version, asked as soon as the upload's answer arrives (what its commit started,
  its columns and types, waited for); *warm*: the same download again (its columns and types
  made). Parquet's speed is counted in MB/s of the CSV download of the same version (what a
  person would otherwise fetch), with the server's RSS growth while it runs.
- **pandas**: the same file read by ``read_csv`` (tab-separated, dates parsed), then
  ``to_parquet`` (pyarrow) and ``to_excel`` (openpyxl, pandas' default for xlsx) of the same
  rows, timed in this process (no HTTP, nothing read: the writing alone).
- **polars**: the same with ``read_csv`` (dates parsed), ``write_parquet`` and ``write_excel``
  (which writes with XlsxWriter too).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import urllib.request
from functools import partial
from typing import Any

import orjson
import pandas
import polars

from bench import emit, servers
from bench.data import tsv_file
from bench.views import RssWatch, get, server_url

RUNS = 3  # cold and warm downloads each: the median is the figure, the worst beside it


def tablecast(rows: int, xlsx_rows: int) -> list[dict[str, Any]]:
    server = servers.start("tablecast")
    try:
        results = []
        data = tsv_file(rows).read_bytes()
        doc = _post(server, data)
        base = server_url(server, f"/parser/api/docs/{doc['id']}")
        get(f"{base}/download.parquet")  # columns and types, made
        _, csv_body = get(f"{base}/download.csv")
        csv_bytes = len(csv_body)
        del csv_body
        for fmt in ("parquet", "arrow", "csv"):
            results.append(_downloads(server, doc, data, fmt, rows, csv_bytes))
        small = tsv_file(xlsx_rows).read_bytes()
        book = _post(server, small)
        results.append(_downloads(server, book, small, "xlsx", xlsx_rows, None))
        return results
    finally:
        server.stop()


def _post(server: servers.ServerProcess, data: bytes) -> dict[str, Any]:
    request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=data)
    with urllib.request.urlopen(request, timeout=600) as response:
        found: dict[str, Any] = orjson.loads(response.read())
        return found


def _put(server: servers.ServerProcess, doc: dict[str, Any], data: bytes) -> None:
    url = server_url(server, f"/parser/api/docs/{doc['id']}")
    request = urllib.request.Request(url, data=data, method="PUT")
    request.add_header("Authorization", f"Bearer {doc['edit_key']}")
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()


def _downloads(
    server: servers.ServerProcess,
    doc: dict[str, Any],
    data: bytes,
    fmt: str,
    rows: int,
    csv_bytes: int | None,
) -> dict[str, Any]:
    """``RUNS`` cold downloads (each of a fresh version) and as many warm ones."""
    url = server_url(server, f"/parser/api/docs/{doc['id']}/download.{fmt}")
    cold, warm, growth = [], [], 0.0
    size = 0
    for _ in range(RUNS):
        _put(server, doc, data)
        before = server.rss_mib()
        with RssWatch(server) as watch:
            seconds, body = get(url)
        cold.append(seconds)
        growth = max(growth, watch.peak - before)
        before = server.rss_mib()
        with RssWatch(server) as watch:
            seconds, body = get(url)
        warm.append(seconds)
        growth = max(growth, watch.peak - before)
        size = len(body)
        del body
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    return {
        "server": "tablecast",
        "format": fmt,
        "rows": rows,
        "megabytes": size / 1e6,
        "cold_seconds": cold_s,
        "cold_max_seconds": max(cold),
        "warm_seconds": warm_s,
        "csv_megabytes": None if csv_bytes is None else csv_bytes / 1e6,
        "cold_csv_mb_per_second": None if csv_bytes is None else csv_bytes / 1e6 / cold_s,
        "warm_csv_mb_per_second": None if csv_bytes is None else csv_bytes / 1e6 / warm_s,
        "rss_growth_mib": growth,
    }


def _timed(write: Any) -> tuple[float, int]:
    out = io.BytesIO()
    began = time.perf_counter()
    write(out)
    return time.perf_counter() - began, out.tell()


def peers(rows: int, xlsx_rows: int) -> list[dict[str, Any]]:
    results = []
    path = tsv_file(rows)
    frame = pandas.read_csv(path, sep="\t", parse_dates=["date"], keep_default_na=False)
    seconds, size = _timed(frame.to_parquet)
    results.append(_peer("pandas", "parquet", rows, seconds, size))
    small = frame.head(xlsx_rows)
    del frame
    seconds, size = _timed(partial(small.to_excel, index=False, engine="openpyxl"))
    results.append(_peer("pandas", "xlsx", xlsx_rows, seconds, size))
    del small
    table = polars.read_csv(path, separator="\t", try_parse_dates=True)
    seconds, size = _timed(table.write_parquet)
    results.append(_peer("polars", "parquet", rows, seconds, size))
    head = table.head(xlsx_rows)
    del table
    try:
        seconds, size = _timed(head.write_excel)
        results.append(_peer("polars", "xlsx", xlsx_rows, seconds, size))
    except Exception as exc:  # (it needs XlsxWriter, and a version it works with)
        results.append({**_peer("polars", "xlsx", xlsx_rows, 0.0, 0), "failed": repr(exc)})
    return results


def _peer(name: str, fmt: str, rows: int, seconds: float, size: int) -> dict[str, Any]:
    megabytes = size / 1e6
    return {"server": name, "format": fmt, "rows": rows, "seconds": seconds, "megabytes": megabytes}


def report(results: list[dict[str, Any]]) -> None:
    ours = {r["format"]: r for r in results if r["server"] == "tablecast"}
    others = {(r["server"], r["format"]): r for r in results if r["server"] != "tablecast"}
    print(f"{'download':28} {'rows':>9} {'MB':>7} {'cold':>8} {'(worst)':>8} {'warm':>8}"
          f" {'CSV MB/s cold':>13} {'warm':>6} {'RSS +MiB':>8}")  # fmt: skip
    for fmt, r in ours.items():
        speed = (
            f"{r['cold_csv_mb_per_second']:13.0f} {r['warm_csv_mb_per_second']:6.0f}"
            if r["csv_megabytes"] is not None
            else f"{'':13} {'':6}"
        )
        print(
            f"{'tablecast ' + fmt:28} {r['rows']:9,} {r['megabytes']:7.1f}"
            f" {r['cold_seconds']:7.2f}s {r['cold_max_seconds']:7.2f}s {r['warm_seconds']:7.2f}s"
            f" {speed} {r['rss_growth_mib']:8.0f}"
        )
    print(f"{'peers, same rows, in memory':28} {'rows':>9} {'MB':>7} {'write':>8}"
          f" {'ratio cold':>10} {'warm':>6}")  # fmt: skip
    for (name, fmt), r in others.items():
        mine = ours.get(fmt)
        if r.get("failed"):
            print(f"{name + ' ' + fmt:28} failed: {r['failed']}")
            continue
        ratios = ""
        if mine:
            cold, warm = r["seconds"] / mine["cold_seconds"], r["seconds"] / mine["warm_seconds"]
            ratios = f"{cold:9.1f}x {warm:5.1f}x"
        print(
            f"{name + ' ' + fmt:28} {r['rows']:9,} {r['megabytes']:7.1f} {r['seconds']:7.2f}s"
            f" {ratios}"
        )
    print("ratio: the peer's time over tablecast's download (above 1: tablecast is faster)")
    print("CSV MB/s: the CSV download's size of the same version over the download's time")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench formats", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = tablecast(args.rows, args.xlsx_rows) + peers(args.rows, args.xlsx_rows)
    return emit(results, args.json, report)
