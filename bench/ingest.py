"""ingest: a large TSV uploaded over WebSocket while viewers watch, until page 1 is on all of them.

For each server: V viewers (default 100) join a document, then one client uploads the
deterministic 1,000,000-row, ~73 MB TSV. We time from the upload's first byte to the moment the
last viewer has page 1 of the new version, and read the server's peak RSS growth over it.

- **tablecast** (its SQLite store) and **tablecast-pg** (a PostgreSQL store: a throwaway
  server started for the run, as durable as SQLite, see :mod:`bench.database`; its CPU is
  reported beside the server's) get the file as a tablecast.v1 client sends it:
  ``upload_begin``, 256 KiB binary chunks with at most ``window`` unacknowledged,
  ``upload_end``.
- **seed** and **websockets** get it as the article's client sends it: the whole file in one
  binary frame (the article's only way to upload).

The viewers are the light load clients of :mod:`bench.load`; the uploader is the ``websockets``
library's client in this process, whose masking runs in C.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import orjson
import websockets.sync.client

from bench import emit, servers
from bench.data import tsv_file
from bench.database import Databases
from bench.load import LoadClients, Target, wait_quiet

CHUNK = 256 * 1024


class Uploader:
    """A tablecast.v1 client that creates a document (so it may upload to it) and uploads as
    the browser app does, windowed."""

    def __init__(self, server: servers.ServerProcess) -> None:
        self.ws = websockets.sync.client.connect(
            server.url("/parser/ws"),
            subprotocols=["tablecast.v1"],  # type: ignore[list-item]
            compression=None,
            max_size=None,
        )
        hello = self.until("hello")
        self.document_id: str = hello["id"]
        self.window: int = hello["limits"]["window"]

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = orjson.loads(self.ws.recv(timeout=300))
            if message["type"] == "error":
                raise RuntimeError(message)
            if message["type"] == kind:
                return message

    def upload(self, data: bytes) -> int:
        """Returns the new version's record count."""
        begin = {"type": "upload_begin", "filename": "bench.tsv", "size": len(data)}
        self.ws.send(json.dumps(begin))  # a str: text frame
        self.until("upload_ready")
        acked = 0
        for sent, start in enumerate(range(0, len(data), CHUNK)):
            while sent - acked >= self.window:  # chunks sent so far, less those acknowledged
                self.until("upload_ack")
                acked += 1
            self.ws.send(data[start : start + CHUNK])
        self.ws.send(json.dumps({"type": "upload_end"}))
        return int(self.until("upload_done")["total_number"])

    def close(self) -> None:
        self.ws.close()


SERVERS = ("tablecast", "tablecast-pg", "seed", "websockets")


def run_one(kind: str, data: bytes, viewers: int, databases: Databases) -> dict[str, Any]:
    server = servers.start(kind, database=databases.new)
    clients = LoadClients(1)
    try:
        driver = Uploader(server) if server.kind == "tablecast" else servers.Driver(server)
        target = Target("127.0.0.1", server.port, f"/parser/ws/{driver.document_id}")
        connected = clients.connect(target, viewers)
        wait_quiet(clients)
        before = server.rss_mib()
        cpu, client_cpu = server.cpu(), clients.status()["cpu"]
        database_cpu = databases.cpu()
        clients.arm()
        started = time.monotonic()
        if isinstance(driver, Uploader):
            # v1 counts rows under the header; the peers count the header as a row
            total = driver.upload(data) + 1
        else:
            total = driver.upload(data)["total_number"]
        received = clients.wait_received(connected["opened"], timeout=300)
        arrivals = [t - started for t in clients.arrivals() if t is not None]
        peak = server.peak_rss_mib()
        cpu, client_cpu = server.cpu() - cpu, clients.status()["cpu"] - client_cpu
        database_cpu = databases.cpu() - database_cpu
        driver.close()
        return {
            "server": kind,
            "viewers": connected["opened"],
            "missing": connected["opened"] - received,
            "records": total,
            "seconds": max(arrivals),
            "first_viewer_seconds": min(arrivals),
            "rss_growth_mib": peak - before,
            "server_cpu_seconds": cpu,
            "database_cpu_seconds": database_cpu,  # PostgreSQL's; ~0 if the server has none
            "client_cpu_seconds": client_cpu,
        }
    finally:
        clients.close()
        server.stop()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    data = tsv_file(args.rows).read_bytes()
    with Databases() as databases:  # a PostgreSQL server only if a server named -pg needs one
        results = [run_one(kind, data, args.viewers, databases) for kind in args.servers.split(",")]
    return emit(results, args.json, lambda r: report(r, len(data)))


def report(results: list[dict[str, Any]], size: int) -> None:
    mb = size / 1e6
    first = results[0]
    print(
        f"ingest: {first['records']:,} records, {mb:.1f} MB TSV uploaded over WebSocket, "
        f"{first['viewers']} viewers watching"
    )
    print(
        f"{'server':14}{'all have page 1':>16}{'first has it':>14}{'MB/s':>8}"
        f"{'peak RSS growth':>17}{'server CPU':>12}{'db CPU':>8}{'vs tablecast':>14}"
    )
    ours = next((r for r in results if r["server"] == "tablecast"), None)
    for r in results:
        ratio = f"x{r['seconds'] / ours['seconds']:.2f}" if ours else ""
        database = f"{r['database_cpu_seconds']:.2f}s" if servers.parse_name(r["server"])[1] else ""
        print(
            f"{r['server']:14}{r['seconds']:>15.2f}s{r['first_viewer_seconds']:>13.2f}s"
            f"{mb / r['seconds']:>8.1f}{r['rss_growth_mib']:>13.0f} MiB"
            f"{r['server_cpu_seconds']:>11.2f}s{database:>8}{ratio:>14}"
        )
        if r["missing"]:
            print(f"  ! {r['missing']} viewers never got the new page 1")
        if ours and r["records"] != ours["records"]:
            print(f"  ! {r['records']:,} records, tablecast {ours['records']:,}")
    print("from the upload's first byte to page 1 of the new version on every viewer.")


if __name__ == "__main__":
    main()
