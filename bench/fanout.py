"""fanout: one document, many viewers, one page turn after another.

For each server (tablecast and its peers) and each compression setting: V viewers join one
document whose pages are ~10 KB (100 rows x 10 columns); a driver turns the shared page T
times, each once every viewer has the previous one. Per turn we measure the time from the
request to each viewer's receipt; the server's CPU per delivered message; and the clients' CPU,
to show they are not the bottleneck. Optionally 1% of viewers stop reading (stalled).

``--change cell`` (tablecast only, issue 18): instead of a page turn, one cell of the first
page is set over HTTP (``PATCH .../cells``) in a table of ``--rows`` rows, and each viewer's
time is to the new version's page holding it; ``--change upload`` is the same change made the
way it was before rows could change: the whole file uploaded again (``PUT``), the peer the
issue names. ``--change append``: the group on the table's last page, ``--batch`` rows added
(``POST .../rows``, as ``tablecast append`` sends what it read in its ``--interval``) every
``--interval``, and each viewer's time is to the page holding them (the group follows the
last page as rows come); it reports the rows added a second, sustained.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import urllib.request
from typing import Any

import websockets.sync.client
from websockets.typing import Subprotocol

from bench import emit, servers
from bench.data import tsv
from bench.database import Databases
from bench.load import LoadClients, Target, wait_quiet


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def run_one(
    kind: str,
    compression: bool,
    viewers: int,
    turns: int,
    stall_every: int,
    processes: int,
    databases: Databases | None = None,
    retries: int = 0,
    change: str = "turn",
    rows: int = 5000,
    batch: int = 10_000,
    interval: float = 0.5,
) -> dict[str, Any]:
    """``kind``: a server name (see bench.servers), e.g. tablecast-pg-w2 for two workers on a
    PostgreSQL store, whose databases come from ``databases``. ``retries``: how many more
    times a viewer whose handshake failed tries again."""
    server = servers.start(
        kind, compression=compression, database=databases.new if databases else None
    )
    clients = LoadClients(processes)
    try:
        driver = servers.Driver(server)  # through the same port: on any of the workers
        data = tsv(rows)
        page = driver.upload(data) if change == "turn" else {}
        changes = None if change == "turn" else Changes(server, data, change, batch)
        document_id = changes.document_id if changes else driver.document_id
        page_bytes = len(json.dumps(page["data"])) if page else changes.page_bytes
        target = Target("127.0.0.1", server.port, f"/parser/ws/{document_id}", deflate=compression)
        drivers = server.connections()
        connected = clients.connect(target, viewers, stall_every=stall_every, retries=retries)
        reading = clients.reading()
        wait_quiet(clients)
        # how the kernel shared the viewers out over the workers (SO_REUSEPORT)
        per_worker = [n - d for n, d in zip(server.connections(), drivers, strict=True)]
        files = server.open_files()
        server_cpu, client_cpu = server.cpu(), clients.status()["cpu"]
        worker_cpu = {pid: servers.process_tree_cpu(pid) for pid in server.worker_pids()}
        database_cpu = databases.cpu() if databases else 0.0
        all_delivered: list[float] = []
        latencies: list[float] = []
        missing = 0
        began = time.monotonic()
        for turn in range(turns):
            if change == "append":  # at the pace tablecast append sends at
                time.sleep(max(0.0, began + turn * interval - time.monotonic()))
            clients.arm()
            started = time.monotonic()
            if changes is not None:
                changes.make(turn)
            else:
                driver.turn(2 + turn % 40)
                driver.page()
            received = clients.wait_received(reading, timeout=60)
            missing += reading - received
            arrivals = [t - started for t in clients.arrivals() if t is not None]
            all_delivered.append(max(arrivals))
            latencies += arrivals
        elapsed = time.monotonic() - began
        server_cpu = server.cpu() - server_cpu
        worker_cpu = {pid: servers.process_tree_cpu(pid) - t for pid, t in worker_cpu.items()}
        database_cpu = (databases.cpu() if databases else 0.0) - database_cpu
        status = clients.status()
        rss = server.rss_mib()
        driver.close()
        delivered = reading * turns
        answered = changes.answered if changes else [0.0]
        return {
            "server": kind,
            "change": change,
            # how long the change itself took to be answered (a page turn: not waited for)
            "answered_p50_ms": 1000 * statistics.median(answered),
            "answered_max_ms": 1000 * max(answered),
            "rows_per_second": batch * turns / elapsed if change == "append" else None,
            "rows": rows,
            "batch": batch,
            "compression": compression,
            "workers": server.workers,
            "viewers": connected["opened"],
            "alive": status["open"],
            "viewers_per_worker": per_worker,
            "driver_on_worker": drivers.index(max(drivers)) + 1,
            "open_files_per_worker": files,  # with the viewers connected
            "file_limit": server.file_limit(),
            "stalled": connected["opened"] - reading,
            "connect_failures": connected["failures"],
            "connect_failure_kinds": connected["failure_kinds"],  # every failed attempt
            "page_bytes": page_bytes,
            "turns": turns,
            "missing": missing,
            "all_delivered_p50_ms": 1000 * statistics.median(all_delivered),
            "all_delivered_max_ms": 1000 * max(all_delivered),
            "latency_p50_ms": 1000 * percentile(latencies, 50),
            "latency_p99_ms": 1000 * percentile(latencies, 99),
            "server_cpu_us_per_message": 1e6 * server_cpu / delivered,
            "server_cpu_seconds_per_worker": list(worker_cpu.values()),
            # PostgreSQL's, when the server uses it (else the idle server's, or 0)
            "database_cpu_us_per_message": 1e6 * database_cpu / delivered,
            "client_cpu_us_per_message": 1e6 * (status["cpu"] - client_cpu) / delivered,
            "server_rss_mib": rss,
            "close_codes": status["close_codes"],
        }
    finally:
        clients.close()
        server.stop()


class Changes:
    """A document made over HTTP (its edit key kept), and changed one way each turn: a cell of
    its first page set (``cell``), or its whole file uploaded again with that cell changed
    (``upload``)."""

    def __init__(self, server: servers.ServerProcess, data: bytes, how: str, batch: int) -> None:
        self.base = server.url("/parser/api/docs").replace("ws://", "http://", 1)
        self.rows = tsv(batch).split(b"\n", 1)[1]  # rows like the table's, without its header
        self.answered: list[float] = []  # how long each change took to be answered
        self.data, self.how = data, how
        answer = self._asked("POST", self.base, data)
        self.document_id, self.key = answer["id"], answer["edit_key"]
        self.base += f"/{self.document_id}"
        page = self._asked("GET", f"{self.base}/pages/1", None)
        self.page_bytes = len(json.dumps(page["data"]))
        if how == "append":  # the group on the last page
            ws_url = server.url(f"/parser/ws/{self.document_id}")
            protocols = [Subprotocol("tablecast.v1")]
            with websockets.sync.client.connect(ws_url, subprotocols=protocols) as leader:
                leader.send(json.dumps({"type": "auth", "edit_key": self.key}))
                leader.send(json.dumps({"type": "goto", "page": page["page_count"] + 1}))
                while json.loads(leader.recv(timeout=60)).get("cause") != "turn":
                    pass

    def make(self, turn: int) -> None:
        began = time.monotonic()
        try:
            self._make(turn)
        finally:
            self.answered.append(time.monotonic() - began)

    def _make(self, turn: int) -> None:
        value = f"edit {turn}"
        if self.how == "append":
            self._asked("POST", f"{self.base}/rows", self.rows)
        elif self.how == "cell":
            cell = [{"row": 5, "column": 1, "value": value}]
            self._asked("PATCH", f"{self.base}/cells", json.dumps(cell).encode())
        else:
            lines = self.data.split(b"\n", 6)
            cells = lines[5].split(b"\t")
            lines[5] = b"\t".join([cells[0], value.encode(), *cells[2:]])
            self._asked("PUT", self.base, b"\n".join(lines))

    def _asked(self, method: str, url: str, body: bytes | None) -> Any:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Bearer {getattr(self, 'key', '')}")
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench fanout")
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--servers", default=",".join(servers.KINDS))
    parser.add_argument("--compression", default="off,on", help="off, on or off,on")
    parser.add_argument("--stalled", action="store_true", help="1%% of viewers stop reading")
    parser.add_argument("--processes", type=int, default=0, help="client processes (default: auto)")
    parser.add_argument(
        "--change",
        default="turn",
        choices=["turn", "cell", "upload", "append"],
        help="each turn: a page turn; a cell set; the file uploaded again; rows added",
    )
    parser.add_argument("--rows", type=int, default=5000, help="the table's rows")
    parser.add_argument("--batch", type=int, default=10_000, help="rows added at a time")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between batches")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    processes = args.processes or max(2, math.ceil(args.viewers / 5000))
    results = []
    with Databases() as databases:  # a PostgreSQL server only if a server named -pg needs one
        for compression in [c == "on" for c in args.compression.split(",")]:
            for kind in args.servers.split(","):
                results.append(
                    run_one(
                        kind,
                        compression,
                        args.viewers,
                        args.turns,
                        100 if args.stalled else 0,
                        processes,
                        databases,
                        change=args.change,
                        rows=args.rows,
                        batch=args.batch,
                        interval=args.interval,
                    )
                )
    return emit(results, args.json, report)


def report(results: list[dict[str, Any]]) -> None:
    first = results[0]
    what = {
        "turn": "page turns",
        "cell": "cells set",
        "upload": "files uploaded again",
        "append": f"batches of {first['batch']:,} rows added",
    }
    print(
        f"fanout: {first['viewers']:,} viewers ({first['stalled']} stalled), "
        f"{first['turns']} {what[first['change']]} of ~{first['page_bytes'] / 1000:.0f} KB"
        f" pages, {first['rows']:,} rows"
    )
    print(
        f"{'server':12}{'deflate':>8}{'all, p50':>10}{'all, max':>10}{'each p50':>10}"
        f"{'each p99':>10}{'server µs/msg':>15}{'clients µs/msg':>16}{'vs tablecast':>14}"
    )
    for compression in (False, True):
        rows = [r for r in results if r["compression"] == compression]
        ours = next((r for r in rows if r["server"] == "tablecast"), None)
        for r in rows:
            ratio = (
                f"x{r['all_delivered_p50_ms'] / ours['all_delivered_p50_ms']:.2f}" if ours else ""
            )
            print(
                f"{r['server']:12}{'on' if compression else 'off':>8}"
                f"{r['all_delivered_p50_ms']:>8.0f}ms{r['all_delivered_max_ms']:>8.0f}ms"
                f"{r['latency_p50_ms']:>8.0f}ms{r['latency_p99_ms']:>8.0f}ms"
                f"{r['server_cpu_us_per_message']:>15.1f}{r['client_cpu_us_per_message']:>16.1f}"
                f"{ratio:>14}"
            )
            if r["missing"] or r["connect_failures"]:
                missing, failures = r["missing"], r["connect_failures"]
                print(f"  ! {missing} deliveries missing, {failures} failed to connect")
    print("all: request to the last viewer's receipt, per turn; each: every viewer's receipt.")
    if first["change"] != "turn":
        for r in results:
            print(
                f"{r['server']}: each change answered in {r['answered_p50_ms']:.0f} ms (p50),"
                f" {r['answered_max_ms']:.0f} ms at most"
            )
            if r["rows_per_second"]:
                print(f"{r['server']}: {r['rows_per_second']:,.0f} rows added a second, sustained")


if __name__ == "__main__":
    main()
