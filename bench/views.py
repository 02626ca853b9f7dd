"""views: sort and search the 1,000,000-row document, and export it, against plain SQLite.

- **tablecast**: the document uploaded over HTTP to a server (its SQLite store). Each query is
  an HTTP request for a page: the first page of a new view (sort, search, filter), then
  following pages of it (pages 2..N, and pages far in). Its column types are inferred when the
  first page is asked for (the "first page" row, which also reads the version's text); after
  that, each new sort or search is measured as it comes (*warm*). *Cold*: what a person waits
  for when the first thing asked of a version is a sort or a search: for each, a new version
  is uploaded (PUT) and the view asked for as soon as the upload's answer arrives, nothing of
  the version made yet in the process but what its commit starts (its columns and types, made
  right after it: the request waits for what is left of that).
  Exports: the whole version as TSV, plain and sorted, at the client's speed, with the
  server's RSS growth.
- **sqlite**: the same file as a Datasette-style SQLite table (one row per line, columns typed
  INTEGER, REAL or TEXT as csvs-to-sqlite would, no index, as a table is right after import),
  asked the same questions in the form Datasette's table pages use: ``ORDER BY col LIMIT 100
  OFFSET n``, and ``LIKE '%text%'`` (across every column for a search, one for a filter),
  with ``count(*)`` of the matches, as Datasette shows. In this process, no HTTP: the figure
  is SQLite's work alone.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench import emit, servers
from bench.data import HEADER, tsv_file

# (label, query): the questions, on each kind of column of the benchmark document
QUERIES: list[tuple[str, dict[str, str]]] = [
    ("sort integer (qty)", {"sort": "5"}),
    ("sort decimal (amount) desc", {"sort": "4", "order": "desc"}),
    ("sort date (date)", {"sort": "3"}),
    ("sort text (name)", {"sort": "1"}),
    ("search 'lovelace'", {"q": "lovelace"}),
    ("search 'a' (most rows)", {"q": "a"}),
    ("filter city 'par' + sort amount", {"filter.2": "par", "sort": "4"}),
]
# (label, query): asked first of a fresh version (see the docstring's *cold*)
COLD: list[tuple[str, dict[str, str]]] = [
    ("sort integer (qty)", {"sort": "5"}),
    ("sort date (date)", {"sort": "3"}),
    ("sort text (name)", {"sort": "1"}),
    ("search 'lovelace'", {"q": "lovelace"}),
]
FOLLOWING = [2, 3, 4, 5, 50, 500, 2000]  # pages after the first (clamped to those there are)
COLUMN_TYPES = [
    "INTEGER",
    "TEXT",
    "TEXT",
    "TEXT",
    "REAL",
    "INTEGER",
    "TEXT",
    "TEXT",
    "TEXT",
    "TEXT",
]


def get(url: str) -> tuple[float, bytes]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - began, body


def tablecast(rows: int) -> list[dict[str, Any]]:
    server = servers.start("tablecast")
    try:
        data = tsv_file(rows).read_bytes()
        request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=data)
        with urllib.request.urlopen(request, timeout=600) as response:
            doc = orjson.loads(response.read())
        pages = server_url(server, f"/parser/api/docs/{doc['id']}/pages")
        results = []
        seconds, _ = get(f"{pages}/1")  # the version's text and column types, once
        results.append(row("tablecast", "first page, types inferred", seconds, []))
        for label, query in QUERIES:
            first, body = get(f"{pages}/1?{urlencode(query)}")
            count = orjson.loads(body)["page_count"]
            following = [get(f"{pages}/{min(n, count)}?{urlencode(query)}")[0] for n in FOLLOWING]
            results.append(row("tablecast", label, first, following))
        for label, query in COLD:
            put = urllib.request.Request(server_url(server, f"/parser/api/docs/{doc['id']}"))
            put.method, put.data = "PUT", data
            put.add_header("Authorization", f"Bearer {doc['edit_key']}")
            with urllib.request.urlopen(put, timeout=600) as response:
                response.read()
            seconds, _ = get(f"{pages}/1?{urlencode(query)}")
            results.append(row("tablecast", f"cold: {label}", seconds, []))
        download = server_url(server, f"/parser/api/docs/{doc['id']}/download?format=tsv")
        for label, query in EXPORTS:
            if "original" not in query:  # takes no search
                get(download + query + "&q=zzzz")  # what the export needs besides, made first
            before = server.rss_mib()
            with RssWatch(server) as watch:
                seconds, body = get(download + query)
            if "original" in query and body != data:
                raise AssertionError("the original file came back changed")
            results.append(
                {
                    "server": "tablecast",
                    "query": label,
                    "seconds": seconds,
                    "megabytes": len(body) / 1e6,
                    "mb_per_second": len(body) / 1e6 / seconds,
                    "rss_growth_mib": watch.peak - before,
                }
            )
        return results
    finally:
        server.stop()


EXPORTS = (
    ("export tsv", ""),
    ("export tsv sorted", "&sort=4"),
    ("export csv", "&format=csv"),
    ("export original", "&format=original"),  # given back by its records: tablecast.table.originals
)


class RssWatch:
    """The server's largest RSS while the block runs, sampled every 20 ms."""

    def __init__(self, server: servers.ServerProcess) -> None:
        self.server, self.peak = server, server.rss_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self.server.rss_mib())

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def server_url(server: servers.ServerProcess, path: str) -> str:
    return server.url(path).replace("ws://", "http://")


def row(server: str, label: str, first: float, following: list[float]) -> dict[str, Any]:
    return {
        "server": server,
        "query": label,
        "first_ms": 1000 * first,
        "following_p50_ms": 1000 * statistics.median(following) if following else None,
        "following_max_ms": 1000 * max(following) if following else None,
    }


def sqlite_peer(rows: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="tablecast-bench-") as tmp:
        db = sqlite3.connect(Path(tmp) / "datasette.db")
        names = HEADER.split("\t")
        columns = ", ".join(f'"{n}" {t}' for n, t in zip(names, COLUMN_TYPES, strict=True))
        db.execute(f"CREATE TABLE t ({columns})")
        with tsv_file(rows).open(newline="") as f:
            reader = csv.reader(f, delimiter="\t")
            next(reader)
            db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(names))})", reader)
        db.commit()
        results = []
        for label, query in QUERIES:
            where, args = _where(query, names)
            order = ""
            if "sort" in query:
                direction = "DESC" if query.get("order") == "desc" else "ASC"
                order = f'ORDER BY "{names[int(query["sort"])]}" {direction}, rowid'
            sql = f"SELECT rowid, * FROM t {where} {order} LIMIT 100 OFFSET ?"

            def page(n: int, sql: str = sql, where: str = where, args: list[str] = args) -> float:
                began = time.perf_counter()
                db.execute(sql, [*args, (n - 1) * 100]).fetchall()
                if n == 1:  # Datasette shows how many rows match
                    db.execute(f"SELECT count(*) FROM t {where}", args).fetchone()
                return time.perf_counter() - began

            first = page(1)
            results.append(row("sqlite", label, first, [page(n) for n in FOLLOWING]))
        db.close()
        return results


def _where(query: dict[str, str], names: list[str]) -> tuple[str, list[str]]:
    clauses, args = [], []
    if "q" in query:
        clauses.append("(" + " OR ".join(f'"{n}" LIKE ?' for n in names) + ")")
        args += [f"%{query['q']}%"] * len(names)
    for key, text in query.items():
        if key.startswith("filter."):
            clauses.append(f'"{names[int(key[7:])]}" LIKE ?')
            args.append(f"%{text}%")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def report(results: list[dict[str, Any]]) -> None:
    ours = {r["query"]: r for r in results if r["server"] == "tablecast"}
    theirs = {r["query"]: r for r in results if r["server"] == "sqlite"}
    print(
        f"{'query':34} {'tablecast first':>16} {'sqlite first':>13} {'ratio':>6}"
        f" {'tc next p50':>12} {'tc next max':>12} {'sqlite next p50':>16} {'ratio':>6}"
    )
    for label, r in ours.items():
        if "first_ms" not in r or label.startswith("cold: "):
            continue
        peer = theirs.get(label)
        line = f"{label:34} {r['first_ms']:14.0f}ms"
        if peer:
            line += f" {peer['first_ms']:11.0f}ms {peer['first_ms'] / r['first_ms']:5.1f}x"
        else:
            line += f" {'':13} {'':6}"
        if r["following_p50_ms"] is not None:
            line += f" {r['following_p50_ms']:10.1f}ms {r['following_max_ms']:10.1f}ms"
        if peer and r["following_p50_ms"]:
            line += f" {peer['following_p50_ms']:14.1f}ms"
            line += f" {peer['following_p50_ms'] / r['following_p50_ms']:5.1f}x"
        print(line)
    for label, r in ours.items():
        if label.startswith("cold: "):
            warm = ours.get(label.removeprefix("cold: "))
            line = f"{label:34} {r['first_ms']:14.0f}ms"
            if warm:
                times = r["first_ms"] / warm["first_ms"]
                line += f"  (warm {warm['first_ms']:.0f}ms: cold is {times:.1f}x)"
            print(line)
    for r in ours.values():
        if "mb_per_second" in r:
            print(
                f"{r['query']:34} {r['megabytes']:.1f} MB in {r['seconds']:.2f}s ="
                f" {r['mb_per_second']:.0f} MB/s, server RSS +{r['rss_growth_mib']:.0f} MiB"
            )
    print("ratio: sqlite's time over tablecast's (above 1: tablecast is faster)")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench views", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = tablecast(args.rows) + sqlite_peer(args.rows)
    return emit(results, args.json, report)
