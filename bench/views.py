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
- **duckdb**: the peer issue 17 names, an analytical column engine, in this process (no HTTP,
  all cores: DuckDB's own threads). *Warm*: the file read once (``read_csv``, types detected)
  into a table, then the same questions as SQL: ``ORDER BY col, rowid LIMIT 100 OFFSET n``,
  ``ILIKE '%text%'`` (across every column, as text, for a search), ``count(*)`` of the matches.
  *Cold*: a fresh connection that reads the file and answers the one question, timed together,
  beside tablecast's cold rows.

Profiles and facets (issue 17): tablecast's ``columns/{n}`` (one column's profile) and
``facets/{n}?q=...`` (value counts under a search), warm (first asked of a version whose other
views were asked) and cold (first thing asked of a fresh version: the median of COLD_RUNS
fresh versions, the worst of them beside it); DuckDB answers the same with
``count``/``count(DISTINCT)``/``min``/``max``/``avg``, the top 10 values and a 20-bin histogram,
and ``GROUP BY col ORDER BY count(*) DESC, col LIMIT 50`` under the search's ``ILIKE``. A server
without those endpoints (404) skips them, and the report says so.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
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
# (label, path under the document, query): profiles and facets (issue 17)
PROFILES: list[tuple[str, str, dict[str, str]]] = [
    ("profile decimal (amount)", "columns/4", {}),
    ("profile date (date)", "columns/3", {}),
    ("profile text (city)", "columns/2", {}),
    ("profile integer (id)", "columns/0", {}),
    ("profile distinct text (code)", "columns/6", {}),
    ("facets city, search 'lovelace'", "facets/2", {"q": "lovelace"}),
    ("facets group, search 'a'", "facets/9", {"q": "a"}),
]
COLD_PROFILES = [PROFILES[0], PROFILES[4], PROFILES[5]]
COLD_RUNS = 3  # fresh versions each cold figure is the median of
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
        base = server_url(server, f"/parser/api/docs/{doc['id']}")
        for label, path, query in PROFILES:
            seconds = get_or_missing(f"{base}/{path}?{urlencode(query)}".rstrip("?"))
            results.append(row("tablecast", label, seconds, []))

        def new_version() -> None:
            put = urllib.request.Request(base, data=data, method="PUT")
            put.add_header("Authorization", f"Bearer {doc['edit_key']}")
            with urllib.request.urlopen(put, timeout=600) as response:
                response.read()

        def cold(url: str) -> dict[str, Any]:
            # a fresh version each time: one sample of a first look is mostly this machine's
            # noise, so the median of COLD_RUNS is the figure, their worst beside it
            samples: list[float] = []
            for _ in range(COLD_RUNS):
                new_version()
                seconds = get_or_missing(url)
                if seconds is None:
                    return {"first_ms": None}
                samples.append(seconds)
            return {
                "first_ms": 1000 * statistics.median(samples),
                "cold_max_ms": 1000 * max(samples),
            }

        for label, query in COLD:
            measured = cold(f"{pages}/1?{urlencode(query)}")
            results.append({**row("tablecast", f"cold: {label}", None, []), **measured})
        for label, path, query in COLD_PROFILES:
            measured = cold(f"{base}/{path}?{urlencode(query)}".rstrip("?"))
            results.append({**row("tablecast", f"cold: {label}", None, []), **measured})
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


def get_or_missing(url: str) -> float | None:
    """Seconds to answer, or None where the server has no such endpoint (a server from before
    profiles and facets: 404 with Tornado's "Not Found", where a missing document or version
    says which)."""
    try:
        return get(url)[0]
    except urllib.error.HTTPError as err:
        body = err.read()
        if err.code == 404 and orjson.loads(body)["error"]["message"] == "Not Found":
            return None
        raise


def server_url(server: servers.ServerProcess, path: str) -> str:
    return server.url(path).replace("ws://", "http://")


def row(server: str, label: str, first: float | None, following: list[float]) -> dict[str, Any]:
    """``first`` None: not measured (the server has no such endpoint)."""
    return {
        "server": server,
        "query": label,
        "first_ms": None if first is None else 1000 * first,
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


def duckdb_peer(rows: int) -> list[dict[str, Any]]:
    path = tsv_file(rows)
    names = HEADER.split("\t")

    def load() -> duckdb.DuckDBPyConnection:
        db = duckdb.connect()  # in memory: what read_csv makes of the file
        db.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', delim='\t', header=true)")
        return db

    def page(db: duckdb.DuckDBPyConnection, query: dict[str, str], n: int) -> None:
        where, args = _duck_where(query, names)
        order = "ORDER BY rowid"
        if "sort" in query:
            direction = "DESC" if query.get("order") == "desc" else "ASC"
            order = f'ORDER BY "{names[int(query["sort"])]}" {direction} NULLS LAST, rowid'
        db.execute(f"SELECT * FROM t {where} {order} LIMIT 100 OFFSET ?", [*args, (n - 1) * 100])
        db.fetchall()
        if n == 1:  # how many rows match, as a page says
            db.execute(f"SELECT count(*) FROM t {where}", args).fetchall()

    def timed(work: Any, *args: Any) -> float:
        began = time.perf_counter()
        work(*args)
        return time.perf_counter() - began

    began = time.perf_counter()
    db = load()
    results = [row("duckdb", "first page, types inferred", time.perf_counter() - began, [])]
    for label, query in QUERIES:
        first = timed(page, db, query, 1)
        following = [timed(page, db, query, n) for n in FOLLOWING]
        results.append(row("duckdb", label, first, following))
    for label, path_, query in PROFILES:
        results.append(row("duckdb", label, timed(_duck_profile, db, path_, query, names), []))
    db.close()

    def cold(work: Any, *args: Any) -> None:
        fresh = load()
        work(fresh, *args)
        fresh.close()

    for label, query in COLD:
        results.append(row("duckdb", f"cold: {label}", timed(cold, page, query, 1), []))
    for label, path_, query in COLD_PROFILES:
        seconds = timed(cold, _duck_profile, path_, query, names)
        results.append(row("duckdb", f"cold: {label}", seconds, []))
    return results


def _duck_where(query: dict[str, str], names: list[str]) -> tuple[str, list[str]]:
    """As _where, every column read as text (as a search reads cells), case ignored."""
    return _where(query, names, 'CAST("{}" AS VARCHAR) ILIKE ?')


def _duck_profile(
    db: duckdb.DuckDBPyConnection, path: str, query: dict[str, str], names: list[str]
) -> None:
    """What tablecast's ``columns/{n}`` or ``facets/{n}`` answers, as DuckDB's SQL."""
    kind, n = path.split("/")
    column = f'"{names[int(n)]}"'
    where, args = _duck_where(query, names)
    if kind == "facets":  # one pass: the counts, and from them the total and distinct
        db.execute(
            f"WITH c AS (SELECT {column} AS value, count(*) AS n FROM t {where} GROUP BY value)"
            " SELECT value, n, sum(n) OVER (), count(*) OVER () FROM c"
            " ORDER BY n DESC, value LIMIT 50",
            args,
        ).fetchall()
        return
    kind_of = db.execute(
        "SELECT column_type FROM (DESCRIBE t) WHERE column_name = ?", [names[int(n)]]
    ).fetchone()
    typed = kind_of[0] if kind_of else "VARCHAR"
    numeric = typed in ("BIGINT", "DOUBLE")
    # numbers as they are; dates as seconds since 1970, as tablecast's histogram bins them
    value = (
        column
        if numeric
        else f"epoch({column})"
        if typed.startswith(("DATE", "TIMESTAMP"))
        else None
    )
    stats = f", min({value}), max({value}), avg({value})" if value else ""
    summary = db.execute(
        f"SELECT count(*), count({column}), count(DISTINCT {column}){stats} FROM t {where}", args
    ).fetchone()
    db.execute(
        f"SELECT {column} AS value, count(*) AS n FROM t {where} GROUP BY value"
        " ORDER BY n DESC, value LIMIT 10",
        args,
    ).fetchall()
    if value and summary and summary[3] is not None:  # numbers and dates: 20 bins
        low, high = summary[3], summary[4]
        width = (high - low) / 20 or 1
        db.execute(
            f"SELECT least(floor(({value} - ?) / ?), 19) AS bin, count(*) FROM t {where}"
            " GROUP BY bin",
            [low, width, *args],
        ).fetchall()


def _where(
    query: dict[str, str], names: list[str], match: str = '"{}" LIKE ?'
) -> tuple[str, list[str]]:
    """The WHERE clause of a search (any column) and filters (one each), ``match`` the test of
    a column named in its braces against a ``%text%`` argument."""
    clauses, args = [], []
    if "q" in query:
        clauses.append("(" + " OR ".join(match.format(n) for n in names) + ")")
        args += [f"%{query['q']}%"] * len(names)
    for key, text in query.items():
        if key.startswith("filter."):
            clauses.append(match.format(names[int(key[7:])]))
            args.append(f"%{text}%")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def report(results: list[dict[str, Any]]) -> None:
    by_server: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_server.setdefault(r["server"], {})[r["query"]] = r
    ours, sqlite, duck = (by_server.get(k, {}) for k in ("tablecast", "sqlite", "duckdb"))

    def ms(value: float | None, decimals: int = 0) -> str:
        return f"{'—':>10}" if value is None else f"{value:8.{decimals}f}ms"

    def versus(peer: dict[str, Any] | None, mine: float | None, key: str = "first_ms") -> str:
        theirs = peer.get(key) if peer else None
        if theirs is None:
            return f"{'':10} {'':6}"
        ratio = f"{theirs / mine:5.1f}x" if mine else f"{'':6}"
        return f"{ms(theirs, 1 if key == 'following_p50_ms' else 0)} {ratio}"

    print(f"{'first page of a view (warm)':38} {'tablecast':>10} {'sqlite':>10} {'ratio':>6}"
          f" {'duckdb':>10} {'ratio':>6}")  # fmt: skip
    for label, r in ours.items():
        if "first_ms" not in r or label.startswith("cold: "):
            continue
        mine = r["first_ms"]
        print(
            f"{label:38} {ms(mine)} {versus(sqlite.get(label), mine)}"
            f" {versus(duck.get(label), mine)}"
        )
    print(f"{'following pages, p50 (max)':38} {'tablecast':>10} {'(max)':>10} {'sqlite':>10}"
          f" {'ratio':>6} {'duckdb':>10} {'ratio':>6}")  # fmt: skip
    for label, r in ours.items():
        if r.get("following_p50_ms") is None:
            continue
        mine = r["following_p50_ms"]
        print(
            f"{label:38} {mine:8.1f}ms {r['following_max_ms']:8.1f}ms"
            f" {versus(sqlite.get(label), mine, 'following_p50_ms')}"
            f" {versus(duck.get(label), mine, 'following_p50_ms')}"
        )
    print(f"{'cold: first thing asked of a version':38} {'tablecast':>10} {'(worst)':>10}"
          f" {'warm':>10} {'cold/warm':>9} {'duckdb':>10} {'ratio':>6}")  # fmt: skip
    for label, r in ours.items():
        if not label.startswith("cold: "):
            continue
        mine, warm = r["first_ms"], ours.get(label.removeprefix("cold: "), {}).get("first_ms")
        times = f"{mine / warm:8.1f}x" if mine and warm else f"{'':9}"
        worst = ms(r.get("cold_max_ms"))
        print(f"{label:38} {ms(mine)} {worst} {ms(warm)} {times} {versus(duck.get(label), mine)}")
    for r in ours.values():
        if "mb_per_second" in r:
            print(
                f"{r['query']:38} {r['megabytes']:.1f} MB in {r['seconds']:.2f}s ="
                f" {r['mb_per_second']:.0f} MB/s, server RSS +{r['rss_growth_mib']:.0f} MiB"
            )
    if any(r.get("first_ms", 0) is None for r in ours.values()):
        print("—: not served by this tablecast (404: no profiles or facets yet), skipped")
    print("ratio: the peer's time over tablecast's (above 1: tablecast is faster)")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench views", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = tablecast(args.rows) + sqlite_peer(args.rows) + duckdb_peer(args.rows)
    return emit(results, args.json, report)
