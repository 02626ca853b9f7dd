"""``bench diff``: what changed between two versions of the 1M-row document (issue 18).

Two changes of the document, each uploaded as a whole new version: ten cells edited (ten rows
spread over the table, their second cell changed) and ten rows inserted (spread likewise).
For each, tablecast's ``GET .../diff`` is timed **cold** (the first thing asked after the
version's commit: each version's records are read from the store, written to the node's
records file and hashed, while the node still tidies after the upload) and **warm** (asked
again at once: the hashes kept), by content, then by a key column (``key=id``: its *cold* is
the first diff by key, the hashes already kept, the key column read for the first time).

Peer: **duckdb**, the analytical engine issue 17 names, in this process: both files read
(``read_csv``, as the views benchmark does) and ``EXCEPT ALL`` both ways, the rows only in one
version counted. Cold: reading the files included; warm: the tables loaded. It finds which
rows differ as a multiset, not where they are or which cells changed: less than a diff says.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import orjson

from bench import emit, servers
from bench.data import tsv_file
from bench.views import get, server_url

CHANGES = 10


def changed(data: bytes, how: str) -> bytes:
    """The file with CHANGES rows edited (their second cell) or inserted, spread evenly."""
    lines = data.split(b"\n")
    step = (len(lines) - 2) // CHANGES
    for i in reversed(range(CHANGES)):
        at = 1 + i * step
        if how == "edited":
            cells = lines[at].split(b"\t")
            cells[1] = b"changed " + cells[1]
            lines[at] = b"\t".join(cells)
        else:
            lines.insert(at, b"\t".join([b"inserted"] * len(lines[0].split(b"\t"))))
    return b"\n".join(lines)


def tablecast(rows: int) -> list[dict[str, Any]]:
    server = servers.start("tablecast")
    results = []
    try:
        data = tsv_file(rows).read_bytes()
        for how in ("edited", "inserted"):
            request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=data)
            with urllib.request.urlopen(request, timeout=600) as response:
                doc = orjson.loads(response.read())
            base = server_url(server, f"/parser/api/docs/{doc['id']}")
            put = urllib.request.Request(base, data=changed(data, how), method="PUT")
            put.add_header("Authorization", f"Bearer {doc['edit_key']}")
            with urllib.request.urlopen(put, timeout=600) as response:
                response.read()
            for query in ("", "?key=id"):
                cold, body = get(f"{base}/diff{query}")
                warm, _ = get(f"{base}/diff{query}")
                counts = orjson.loads(body)["counts"]
                results.append(
                    {
                        "server": "tablecast",
                        "change": how,
                        "by": "key" if query else "content",
                        "cold_ms": 1000 * cold,
                        "warm_ms": 1000 * warm,
                        "found": sum(counts.values()),
                    }
                )
    finally:
        server.stop()
    return results


def duckdb_peer(rows: int) -> list[dict[str, Any]]:
    data = tsv_file(rows).read_bytes()
    results = []
    with tempfile.TemporaryDirectory(prefix="tablecast-bench-") as tmp:
        old = Path(tmp) / "old.tsv"
        old.write_bytes(data)
        for how in ("edited", "inserted"):
            new = Path(tmp) / f"{how}.tsv"
            new.write_bytes(changed(data, how))
            began = time.perf_counter()
            db = duckdb.connect()
            for name, path in (("a", old), ("b", new)):
                db.execute(
                    f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', delim='\t',"
                    " header=true, all_varchar=true)"
                )

            found = _differing(db)
            cold = time.perf_counter() - began
            began = time.perf_counter()
            _differing(db)
            warm = time.perf_counter() - began
            db.close()
            results.append(
                {
                    "server": "duckdb",
                    "change": how,
                    "by": "content",
                    "cold_ms": 1000 * cold,
                    "warm_ms": 1000 * warm,
                    "found": found,
                }
            )
    return results


def _differing(db: duckdb.DuckDBPyConnection) -> int:
    """Rows of tables a and b found in only one of them (as many times as they are more)."""
    found = 0
    for one, other in (("a", "b"), ("b", "a")):
        sql = f"SELECT count(*) FROM (SELECT * FROM {one} EXCEPT ALL SELECT * FROM {other})"
        row = db.execute(sql).fetchone()
        assert row is not None
        found += int(row[0])
    return found


def report(results: list[dict[str, Any]]) -> None:
    print(f"diff: {CHANGES} rows of the document changed, a whole new version uploaded")
    print(
        f"{'change':10} {'by':8} {'server':10} {'cold':>9} {'warm':>9} {'found':>6}  vs tablecast"
    )
    ours = {(r["change"], r["by"]): r for r in results if r["server"] == "tablecast"}
    for r in results:
        mine = ours.get((r["change"], r["by"]), ours.get((r["change"], "content")))
        ratio = ""
        if r["server"] != "tablecast" and mine:
            cold, warm = r["cold_ms"] / mine["cold_ms"], r["warm_ms"] / mine["warm_ms"]
            ratio = f"x{cold:.1f} cold, x{warm:.1f} warm"
        print(
            f"{r['change']:10} {r['by']:8} {r['server']:10} {r['cold_ms']:7.0f}ms"
            f" {r['warm_ms']:7.0f}ms {r['found']:6}  {ratio}"
        )
    print("found: rows a diff lists (tablecast: added + removed + changed; duckdb: rows only")
    print("in one version, a changed row twice); ratio: the peer's time over tablecast's")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench diff", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = tablecast(args.rows) + duckdb_peer(args.rows)
    return emit(results, args.json, report)
