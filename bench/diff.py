"""``bench diff``: what changed between two versions of the 1M-row document (issue 18).

Two changes of the document, each uploaded as a whole new version: ten cells edited (ten rows
spread over the table, their second cell changed) and ten rows inserted (spread likewise).
For each, tablecast's ``GET .../diff`` is timed **cold** (the first thing asked after the
version's commit: each version's records are read from the store, written to the node's
records file and hashed, while the node still tidies after the upload) and **again** (asked
again at once: the answer kept, what everyone after the first waits for), by content, then by
a key column (``key=id``: its *cold* is the first diff by key, the hashes already kept, the
key column read for the first time: about what a diff costs once the versions are hashed).

Each upload is timed too (answered once committed), with what it stored: the file into a new
document, then over it, changed: what it shares with the version before is not stored again
(issue 18's target: at most 1 MiB more for ten rows that differ).

Then version 1's rows are made current again both ways, each timed with what it stored (the
server's ``tablecast_stored_bytes``): a restore, which shares what it restores, and the whole
file uploaded again, what a change cost before versions shared anything (issue 18's peer);
then one row, and a thousand, added (``POST .../rows``), which store only themselves, and
one cell set, one row deleted and one row upserted by its key (``PATCH .../cells``, ``DELETE
.../rows``, ``PATCH .../rows?key=id``), which store the rows they change and where the rest
are. Then, after one more cell set, what a viewer waits for: the new version's page 1 on a
v1 follower (from the request sent), the first sorted page of the edited version (cold: its
columns are made from the version before's, whose counts a burst of changes did not leave
made: the first after a burst pays for them), the same for a cell set after a pause (as
between a person's edits), and what changed since the version before and since five versions
before (cold: by the rows' identity). Last, a much changed table: a thousand cells spread
over it (some 2,000 pieces, kept in chunks the versions share), then one cell more, which
stores a chunk or two and their list, and its first sorted page (cold, after a pause).

Peer: **duckdb**, the analytical engine issue 17 names, in this process: both files read
(``read_csv``, as the views benchmark does) and ``EXCEPT ALL`` both ways, the rows only in one
version counted. Cold: reading the files included; warm: the tables loaded. It finds which
rows differ as a multiset, not where they are or which cells changed: less than a diff says.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import orjson
from websockets.sync.client import connect
from websockets.typing import Subprotocol

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
            before, began = stored_bytes(server), time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as response:
                doc = orjson.loads(response.read())
            results.append(uploaded("a new document", began, server, before))
            base = server_url(server, f"/parser/api/docs/{doc['id']}")
            put = urllib.request.Request(base, data=changed(data, how), method="PUT")
            put.add_header("Authorization", f"Bearer {doc['edit_key']}")
            before, began = stored_bytes(server), time.perf_counter()
            with urllib.request.urlopen(put, timeout=600) as response:
                response.read()
            results.append(uploaded(f"over it, {CHANGES} rows {how}", began, server, before))
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
            if how == "edited":
                results += back_to_the_first(server, base, doc["edit_key"], data)
    finally:
        server.stop()
    return results


def uploaded(
    what: str, began: float, server: servers.ServerProcess, before: float
) -> dict[str, Any]:
    """An upload of the whole file, answered: how long it took, and what it stored."""
    return {
        "server": "tablecast",
        "upload": what,
        "ms": 1000 * (time.perf_counter() - began),
        "stored_mib": (stored_bytes(server) - before) / (1 << 20),
    }


def back_to_the_first(
    server: servers.ServerProcess, base: str, key: str, data: bytes
) -> list[dict[str, Any]]:
    """Version 1's rows current again, both ways: a restore (shares what it restores) and the
    whole file uploaded again (issue 18's peer for a change); then rows added (stored alone):
    how long each took, and what it stored."""
    found = []
    row = data.split(b"\n", 2)[1] + b"\n"  # (a row like the others)
    header = data.split(b"\n", 1)[0] + b"\n"
    middle = data.count(b"\n") // 2  # (a row in the middle of the table)
    cell = orjson.dumps([{"row": middle, "column": 1, "value": "edited"}])
    # cells spread over the table: some 2,000 pieces, kept in chunks (see store.sql.keep_pieces)
    rows = data.count(b"\n") - 1
    spread = orjson.dumps(
        [{"row": row, "column": 2, "value": "spread"} for row in range(1, rows, rows // 1000)]
    )
    later = orjson.dumps([{"row": middle + 1, "column": 1, "value": "later"}])
    for how, method, url, body in (
        ("restore", "POST", f"{base}/versions/1/restore", b""),
        ("upload again", "PUT", base, data),
        ("add one row", "POST", f"{base}/rows", row),
        ("add 1,000 rows", "POST", f"{base}/rows", row * 1000),
        ("set one cell", "PATCH", f"{base}/cells", cell),
        ("delete one row", "DELETE", f"{base}/rows?row={middle // 2}", b""),
        # (another row than those added, which share its id; its last cell changed)
        ("upsert one row", "PATCH", f"{base}/rows?key=id", header + upserted(data)),
    ):
        found.append(changed_by(server, how, method, url, key, body))
    found += after_an_edit(server, base, key, cell)
    for how, body in (("set 1,000 cells, spread", spread), ("then one cell", later)):
        time.sleep(1.0)  # (a pause, as between a person's edits: see after_an_edit)
        found.append(changed_by(server, how, "PATCH", f"{base}/cells", key, body))
    sorted_page, _ = get(f"{base}/pages/1?sort=1")
    found.append(
        {"server": "tablecast", "after": "much changed: sorted, cold", "ms": 1000 * sorted_page}
    )
    return found


def changed_by(
    server: servers.ServerProcess, how: str, method: str, url: str, key: str, body: bytes
) -> dict[str, Any]:
    """One change sent with the edit key: how long it took to be answered, what it stored."""
    before = stored_bytes(server)
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
    seconds = time.perf_counter() - began
    return {
        "server": "tablecast",
        "back": how,
        "ms": 1000 * seconds,
        "stored_mib": (stored_bytes(server) - before) / (1 << 20),
    }


def after_an_edit(
    server: servers.ServerProcess, base: str, key: str, cell: bytes
) -> list[dict[str, Any]]:
    """One cell set while a v1 follower watches: how long until it has the new version's
    page, and how long the edited version's first sorted page takes (cold)."""
    document_id = base.rsplit("/", 1)[1]
    ws_url = server_url(server, f"/parser/ws/{document_id}").replace("http", "ws", 1)
    with connect(ws_url, subprotocols=[Subprotocol("tablecast.v1")], max_size=None) as viewer:
        while orjson.loads(viewer.recv()).get("type") != "page":
            pass
        request = urllib.request.Request(f"{base}/cells", data=cell, method="PATCH")
        request.add_header("Authorization", f"Bearer {key}")
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            version = orjson.loads(response.read())["version"]
        answered = time.perf_counter() - began
        while True:
            message = orjson.loads(viewer.recv())
            if message.get("type") == "page" and message.get("version") == version:
                break
        seen = time.perf_counter() - began
    sorted_page, _ = get(f"{base}/pages/1?sort=1")
    # and after a pause: the changes before have had their columns made (see PREPARE_QUIET),
    # as between a person's edits
    time.sleep(1.0)
    again = cell.replace(b"edited", b"edited again")  # (the same value would change nothing)
    request = urllib.request.Request(f"{base}/cells", data=again, method="PATCH")
    request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
    paused_page, _ = get(f"{base}/pages/1?sort=1")
    # what changed since the version before (and since the last upload, four changes back),
    # by the rows' identity: cold, the first thing asked of either pair
    since_one, _ = get(f"{base}/diff?from={version - 1}&to={version}")
    since_five, _ = get(f"{base}/diff?from={version - 5}&to={version}")
    return [
        {"server": "tablecast", "after": "diff, version before, cold", "ms": 1000 * since_one},
        {"server": "tablecast", "after": "diff, 5 versions back, cold", "ms": 1000 * since_five},
        {"server": "tablecast", "after": "answered", "ms": 1000 * answered},
        {"server": "tablecast", "after": "page 1 on a follower", "ms": 1000 * seen},
        {"server": "tablecast", "after": "first sorted page, cold", "ms": 1000 * sorted_page},
        {"server": "tablecast", "after": "the same, after a pause", "ms": 1000 * paused_page},
    ]


def upserted(data: bytes) -> bytes:
    """The file's second row with its last cell changed: what an upsert by id replaces."""
    cells = data.split(b"\n", 3)[2].split(b"\t")
    return b"\t".join([*cells[:-1], b"upserted"]) + b"\n"


def stored_bytes(server: servers.ServerProcess) -> float:
    with urllib.request.urlopen(server_url(server, "/metrics"), timeout=60) as response:
        text = response.read().decode()
    found = re.search(r"^tablecast_stored_bytes (\S+)$", text, re.M)
    assert found is not None
    return float(found[1])


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
        f"{'change':10} {'by':8} {'server':10} {'cold':>9} {'again':>9} {'found':>6}  vs tablecast"
    )
    ours = {
        (r["change"], r["by"]): r for r in results if "change" in r and r["server"] == "tablecast"
    }
    for r in results:
        if "change" not in r:
            continue
        mine = ours.get((r["change"], r["by"]), ours.get((r["change"], "content")))
        ratio = ""
        if r["server"] != "tablecast" and mine:
            ratio = f"x{r['cold_ms'] / mine['cold_ms']:.1f} cold"
        print(
            f"{r['change']:10} {r['by']:8} {r['server']:10} {r['cold_ms']:7.0f}ms"
            f" {r['warm_ms']:7.0f}ms {r['found']:6}  {ratio}"
        )
    print("found: rows a diff lists (tablecast: added + removed + changed; duckdb: rows only")
    print("in one version, a changed row twice); again: tablecast's answer kept, duckdb's")
    print("tables loaded; ratio: the peer's time over tablecast's, cold")
    for field, heading in (
        ("upload", "the whole file uploaded (answered: committed), and what it stored:"),
        ("back", "a new version: version 1's rows again, then rows added and changed:"),
    ):
        rows = [r for r in results if field in r]
        if rows:
            print(heading)
        for r in rows:
            stored = r["stored_mib"] * 1024
            print(f"  {r[field]:28} {r['ms']:7.0f}ms   stored +{stored:,.1f} KiB")
    after = [r for r in results if "after" in r]
    if after:
        print("one more cell set, from the request sent:")
        for r in after:
            print(f"  {r['after']:25} {r['ms']:7.0f}ms")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench diff", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = tablecast(args.rows) + duckdb_peer(args.rows)
    return emit(results, args.json, report)
