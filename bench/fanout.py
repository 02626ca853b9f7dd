"""fanout: one document, many viewers, one page turn after another.

For each server (tablecast and its peers) and each compression setting: V viewers join one
document whose pages are ~10 KB (100 rows x 10 columns); a driver turns the shared page T
times, each once every viewer has the previous one. Per turn we measure the time from the
request to each viewer's receipt; the server's CPU per delivered message; and the clients' CPU,
to show they are not the bottleneck. Optionally 1% of viewers stop reading (stalled).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

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
        page = driver.upload(tsv(5000))
        page_bytes = len(json.dumps(page["data"]))
        target = Target(
            "127.0.0.1", server.port, f"/parser/ws/{driver.document_id}", deflate=compression
        )
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
        for turn in range(turns):
            clients.arm()
            started = time.monotonic()
            driver.turn(2 + turn % 40)
            driver.page()
            received = clients.wait_received(reading, timeout=60)
            missing += reading - received
            arrivals = [t - started for t in clients.arrivals() if t is not None]
            all_delivered.append(max(arrivals))
            latencies += arrivals
        server_cpu = server.cpu() - server_cpu
        worker_cpu = {pid: servers.process_tree_cpu(pid) - t for pid, t in worker_cpu.items()}
        database_cpu = (databases.cpu() if databases else 0.0) - database_cpu
        status = clients.status()
        rss = server.rss_mib()
        driver.close()
        delivered = reading * turns
        return {
            "server": kind,
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


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench fanout")
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--servers", default=",".join(servers.KINDS))
    parser.add_argument("--compression", default="off,on", help="off, on or off,on")
    parser.add_argument("--stalled", action="store_true", help="1%% of viewers stop reading")
    parser.add_argument("--processes", type=int, default=0, help="client processes (default: auto)")
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
                    )
                )
    return emit(results, args.json, report)


def report(results: list[dict[str, Any]]) -> None:
    first = results[0]
    print(
        f"fanout: {first['viewers']:,} viewers ({first['stalled']} stalled), "
        f"{first['turns']} page turns of ~{first['page_bytes'] / 1000:.0f} KB"
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


if __name__ == "__main__":
    main()
