"""pages: many viewers of one large document, each paging on its own, at random.

A 1,000,000-row document; V viewers (default 200) each ask for a random page the moment the
last one arrived, for S seconds. Reports pages per second served by one server process, the
latency of a page (request to its last byte), and the server's RSS. tablecast viewers speak
tablecast.v1 and leave follow mode; the peers answer a page request to its sender only (the
article's "Request a Page" step), so none broadcasts.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import emit, servers
from bench.data import tsv_file
from bench.fanout import percentile
from bench.load import LoadClients, Target, wait_quiet

PEERS = ("tablecast", "seed", "websockets")


def run_one(
    kind: str, rows: int, viewers: int, seconds: float, compression: bool
) -> dict[str, Any]:
    args = () if kind == "tablecast" else ("--private",)
    server = servers.start(kind, compression=compression, args=args)
    clients = LoadClients(2)
    try:
        before = server.rss_mib()
        driver = servers.Driver(server)
        driver.upload(tsv_file(rows).read_bytes())
        legacy = kind != "tablecast"
        target = Target(
            "127.0.0.1",
            server.port,
            f"/parser/ws/{driver.document_id}",
            deflate=compression,
            subprotocol=None if legacy else "tablecast.v1",
        )
        clients.connect(target, viewers)
        if not legacy:
            clients.send('{"type": "follow", "follow": false}')
        wait_quiet(clients)
        loaded = server.rss_mib()
        cpu, client_cpu = server.cpu(), clients.status()["cpu"]
        started = time.monotonic()
        latencies = clients.page(pages=rows // 100, legacy=legacy, seconds=seconds)
        elapsed = time.monotonic() - started - 1  # the workers wait a second for stragglers
        cpu, client_cpu = server.cpu() - cpu, clients.status()["cpu"] - client_cpu
        driver.close()
        return {
            "server": kind,
            "compression": compression,
            "rows": rows,
            "viewers": viewers,
            "pages": len(latencies),
            "pages_per_second": len(latencies) / elapsed,
            "p50_ms": 1000 * percentile(latencies, 50),
            "p99_ms": 1000 * percentile(latencies, 99),
            "server_cpu_us_per_page": 1e6 * cpu / max(1, len(latencies)),
            "client_cpu_us_per_page": 1e6 * client_cpu / max(1, len(latencies)),
            "rss_mib": server.rss_mib(),
            "document_rss_mib": loaded - before,
        }
    finally:
        clients.close()
        server.stop()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench pages")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--servers", default=",".join(PEERS))
    parser.add_argument("--compression", action="store_true", help="viewers ask for deflate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [
        run_one(kind, args.rows, args.viewers, args.seconds, args.compression)
        for kind in args.servers.split(",")
    ]
    return emit(results, args.json, report)


def report(results: list[dict[str, Any]]) -> None:
    first = results[0]
    print(
        f"pages: {first['rows']:,}-row document, {first['viewers']} viewers paging on their"
        f" own at random" + (", deflate negotiated" if first["compression"] else "")
    )
    print(
        f"{'server':12}{'pages/s':>10}{'p50':>9}{'p99':>9}{'server µs/page':>16}"
        f"{'clients µs/page':>17}{'RSS':>10}{'vs tablecast':>28}"
    )
    ours = next((r for r in results if r["server"] == "tablecast"), None)
    for r in results:
        ratio = ""
        if ours:
            ratio = (
                f"x{r['pages_per_second'] / ours['pages_per_second']:.2f} pages, "
                f"x{r['rss_mib'] / ours['rss_mib']:.1f} RSS"
            )
        print(
            f"{r['server']:12}{r['pages_per_second']:>10,.0f}{r['p50_ms']:>7.1f}ms"
            f"{r['p99_ms']:>7.1f}ms{r['server_cpu_us_per_page']:>16.0f}"
            f"{r['client_cpu_us_per_page']:>17.0f}{r['rss_mib']:>6.0f} MiB{ratio:>28}"
        )


if __name__ == "__main__":
    main()
