"""connections: as many idle viewers of one document as one server process can hold.

For each server: open V viewers (default 19,000: a process may hold 20,000 open files here),
then hold them for a while (default 60 s) with the server's pings running, and check that every
one is still open. Reports RSS per viewer (growth from before the first viewer, over the
viewers), the connect rate, and how many survived.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from bench import emit, servers
from bench.data import tsv
from bench.load import LoadClients, Target, wait_quiet


def run_one(
    kind: str, viewers: int, hold: float, processes: int, compression: bool
) -> dict[str, Any]:
    # pings every 20 s (the default): a minute's hold sees three rounds of them
    server = servers.start(kind, compression=compression)
    clients = LoadClients(processes)
    try:
        driver = servers.Driver(server)
        driver.upload(tsv(5000))
        time.sleep(0.5)
        before = server.rss_mib()
        target = Target(
            "127.0.0.1", server.port, f"/parser/ws/{driver.document_id}", deflate=compression
        )
        connected = clients.connect(target, viewers)
        wait_quiet(clients)
        after = server.rss_mib()
        time.sleep(hold)
        status = clients.status()
        driver.close()
        return {
            "server": kind,
            "compression": compression,
            "viewers": connected["opened"],
            "connect_failures": connected["failures"],
            "connect_per_second": connected["opened"] / connected["seconds"],
            "rss_per_viewer_kib": 1024 * (after - before) / max(1, connected["opened"]),
            "rss_mib": after,
            "held_seconds": hold,
            "alive": status["open"],
            "close_codes": status["close_codes"],
        }
    finally:
        clients.close()
        server.stop()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench connections")
    parser.add_argument("--viewers", type=int, default=19_000)
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to keep them open")
    parser.add_argument("--servers", default=",".join(servers.KINDS))
    parser.add_argument("--compression", action="store_true", help="viewers ask for deflate")
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    processes = args.processes or max(2, math.ceil(args.viewers / 5000))
    results = [
        run_one(kind, args.viewers, args.hold, processes, args.compression)
        for kind in args.servers.split(",")
    ]
    return emit(results, args.json, report)


def report(results: list[dict[str, Any]]) -> None:
    first = results[0]
    print(
        f"connections: {first['viewers']:,} idle viewers of one document, held "
        f"{first['held_seconds']:.0f} s with pings"
        + (", deflate negotiated" if first["compression"] else "")
    )
    print(
        f"{'server':12}{'viewers':>9}{'RSS/viewer':>12}{'RSS':>9}{'connects/s':>12}"
        f"{'alive':>8}{'vs tablecast':>14}"
    )
    ours = next((r for r in results if r["server"] == "tablecast"), None)
    for r in results:
        ratio = f"x{r['rss_per_viewer_kib'] / ours['rss_per_viewer_kib']:.2f}" if ours else ""
        print(
            f"{r['server']:12}{r['viewers']:>9,}{r['rss_per_viewer_kib']:>8.1f} KiB"
            f"{r['rss_mib']:>6.0f} MiB{r['connect_per_second']:>12,.0f}{r['alive']:>8,}"
            f"{ratio:>14}"
        )
        if r["connect_failures"] or r["close_codes"]:
            print(f"  ! {r['connect_failures']} failed to connect; close codes {r['close_codes']}")


if __name__ == "__main__":
    main()
