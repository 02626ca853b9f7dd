"""``bench live``: issue 18's live rows beside its peer, Perspective's ``Table.update()``.

The 1M-row document, indexed by its ``id`` column, changed two ways, with 1 and then 5
viewers watching:

- **one cell set** (the ``city`` of a row in the middle; five times, each a new value):
  tablecast: ``PATCH .../cells``, timed from the request to the last v1 viewer's receipt of
  the new version's page (each viewer a WebSocket on this machine, following the shared page 1,
  the page holding the row). Perspective (``perspective-python``, in this process): one
  ``Table.update()`` of that row, timed to the last of its views' ``on_update`` callbacks
  (each view the whole table, as a grid viewer's on a Perspective server): no network, no
  disk, nothing kept but in memory;
- **10,000 rows added** (new ids, rows like the others): tablecast ``POST .../rows``,
  answered (committed to disk, every viewer told); Perspective one ``update()`` of them.

Both load the same file first: tablecast's upload answered (page 1 ready for every viewer),
Perspective's ``Client.table()`` of it read by pyarrow. Memory: tablecast's server RSS;
Perspective's this process's growth over the run (its table and views). What this leaves out
for Perspective is what a viewer waits for after the callback: the delta sent to a browser
over its WebSocket and drawn; and what tablecast does besides (each change a version kept on
disk, fsynced, and a diff of it by identity).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
import urllib.request
from typing import Any

import orjson
import perspective
import pyarrow as pa
import pyarrow.csv as pacsv
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench import emit, servers
from bench.data import records, tsv_file
from bench.views import server_url

TRIES = 5
ADDED = 10_000


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def added_rows(rows: int) -> bytes:
    """ADDED rows like the document's, their ids after its last."""
    lines = [line.split("\t", 1)[1] for line in records(ADDED, seed=17)]
    return "".join(f"{rows + i}\t{line}\n" for i, line in enumerate(lines)).encode()


def measured(
    server: str,
    viewers: int,
    rows: int,
    loaded: float,
    cells: list[float],
    added: float,
    memory: float,
) -> dict[str, Any]:
    """One server's figures: seconds in, milliseconds out."""
    return {
        "server": server,
        "viewers": viewers,
        "rows": rows,
        "load_ms": 1000 * loaded,
        "cell_p50_ms": 1000 * statistics.median(cells),
        "cell_max_ms": 1000 * max(cells),
        "added_ms": 1000 * added,
        "rss_mib": memory,
    }


def tablecast(rows: int, viewers: int) -> dict[str, Any]:
    server = servers.start("tablecast")
    try:
        data = tsv_file(rows).read_bytes()
        began = time.perf_counter()
        request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=data)
        with urllib.request.urlopen(request, timeout=600) as response:
            doc = orjson.loads(response.read())
        loaded = time.perf_counter() - began
        base = server_url(server, f"/parser/api/docs/{doc['id']}")
        ws_url = server_url(server, f"/parser/ws/{doc['id']}").replace("http", "ws", 1)
        cells, added = asyncio.run(_watched(base, ws_url, doc["edit_key"], viewers, rows))
        return measured("tablecast", viewers, rows, loaded, cells, added, server.rss_mib())
    finally:
        server.stop()


async def _watched(
    base: str, ws_url: str, key: str, viewers: int, rows: int
) -> tuple[list[float], float]:
    """Cells set while ``viewers`` v1 viewers watch page 1 (each till the last has the new
    version's page), then rows added (answered)."""
    sockets = [
        await connect(ws_url, subprotocols=[Subprotocol("tablecast.v1")], max_size=None)
        for _ in range(viewers)
    ]
    try:
        for ws in sockets:
            while orjson.loads(await ws.recv()).get("type") != "page":
                pass
        middle = 50  # (a row of page 1, which every viewer shows)
        times = []
        for i in range(TRIES):
            cell = orjson.dumps([{"row": middle, "column": 2, "value": f"edited {i}"}])
            began = time.perf_counter()
            answer = await asyncio.to_thread(_send, f"{base}/cells", "PATCH", key, cell)
            version = answer["version"]

            async def seen(ws: Any, version: int = version) -> None:
                while True:
                    message = orjson.loads(await ws.recv())
                    if message.get("type") == "page" and message.get("version") == version:
                        return

            await asyncio.gather(*(seen(ws) for ws in sockets))
            times.append(time.perf_counter() - began)
            await asyncio.sleep(0.2)
        began = time.perf_counter()
        await asyncio.to_thread(_send, f"{base}/rows", "POST", key, added_rows(rows))
        return times, time.perf_counter() - began
    finally:
        for ws in sockets:
            await ws.close()


def _send(url: str, method: str, key: str, body: bytes) -> Any:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=600) as response:
        return orjson.loads(response.read())


def perspective_peer(rows: int, viewers: int) -> dict[str, Any]:
    before = rss_mib()
    began = time.perf_counter()
    client = perspective.Server().new_local_client()
    table = client.table(_arrow(tsv_file(rows).read_bytes()), index="id", name="document")
    loaded = time.perf_counter() - began
    told = [0]
    views = []
    for _ in range(viewers):
        view = table.view()
        view.on_update(lambda *_: told.__setitem__(0, told[0] + 1), mode="row")
        views.append(view)
    times = []
    for i in range(TRIES):
        told[0] = 0
        began = time.perf_counter()
        table.update([{"id": rows // 2, "city": f"edited {i}"}])
        while told[0] < viewers:  # (each view tells within update(): no wait, as measured)
            time.sleep(0)
        times.append(time.perf_counter() - began)
    added = _arrow(tsv_file(1).read_bytes().split(b"\n", 1)[0] + b"\n" + added_rows(rows))
    began = time.perf_counter()
    table.update(added)
    added_seconds = time.perf_counter() - began
    result = measured(
        "perspective", viewers, rows, loaded, times, added_seconds, rss_mib() - before
    )
    for view in views:
        view.delete()
    table.delete()
    return result


def _arrow(data: bytes) -> bytes:
    """A TSV file as an Arrow IPC stream, its columns typed by pyarrow: what Perspective loads
    fastest (its ``code`` column kept as text: hex digits that look like numbers)."""
    read = pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(delimiter="\t"),
        convert_options=pacsv.ConvertOptions(column_types={"code": pa.string()}),
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, read.schema) as writer:
        writer.write_table(read)
    return sink.getvalue()


def report(results: list[dict[str, Any]]) -> None:
    rows = results[0]["rows"] if results else 0
    print(f"live: the {rows:,}-row document changed while viewers watch ({TRIES} cells, then")
    print(f"{ADDED:,} rows added)")
    print(
        f"{'server':12} {'viewers':>7} {'load':>8} {'cell p50':>9} {'cell max':>9}"
        f" {'10k rows':>9} {'memory':>9}  vs tablecast (cell p50, rows)"
    )
    ours = {r["viewers"]: r for r in results if r["server"] == "tablecast"}
    for r in results:
        mine = ours.get(r["viewers"])
        ratio = ""
        if r["server"] != "tablecast" and mine:
            ratio = (
                f"x{r['cell_p50_ms'] / mine['cell_p50_ms']:.1f},"
                f" x{r['added_ms'] / mine['added_ms']:.1f}"
            )
        print(
            f"{r['server']:12} {r['viewers']:7} {r['load_ms']:6.0f}ms {r['cell_p50_ms']:7.0f}ms"
            f" {r['cell_max_ms']:7.0f}ms {r['added_ms']:7.0f}ms {r['rss_mib']:6.0f}MiB  {ratio}"
        )
    print("tablecast: to the last viewer's receipt over its WebSocket, each change a version on")
    print("disk; perspective: in this process, to its views' on_update callbacks, in memory")
    print("only (no network); memory: tablecast's server, perspective's growth in this process")


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench live", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--viewers", default="1,5", help="viewers, a run each: 1,5")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for viewers in (int(v) for v in args.viewers.split(",")):
        results.append(tablecast(args.rows, viewers))
        results.append(perspective_peer(args.rows, viewers))
    return emit(results, args.json, report)
