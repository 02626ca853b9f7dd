"""cluster: the fanout benchmark across workers, against one process.

The fanout of :mod:`bench.fanout` (one document, a ~10 KB page turned T times, each once every
viewer has the previous one), run in turn on:

- **tablecast**: one process on its SQLite store, with as many viewers as one process can hold
  (V, default 19,000: a process may hold 20,000 open files here);
- **tablecast-pg**: one process on a PostgreSQL store, the same V viewers;
- **tablecast-pg-w2**: ``--workers 2`` on a PostgreSQL store, 2V viewers on the one port.

The driver that turns the pages connects through the same port as the viewers, so under
``--workers`` its turn reaches the other worker through PostgreSQL (NOTIFY). PostgreSQL is a
throwaway server started for the run, durable as SQLite is (see :mod:`bench.database`); its CPU
is reported beside the server's. Each run also reports how SO_REUSEPORT shared the viewers out
over the workers: neither may pass the file limit.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from bench import emit, fanout, servers
from bench.database import Databases

SERVERS = ("tablecast", "tablecast-pg", "tablecast-pg-w2")
CLIENT_PROCESS_VIEWERS = 5000  # at most, per load-client process (their file limit, and CPU)
# A viewer whose handshake fails tries again, as the app does (every failed attempt is still
# printed). Before 4fb1361 a ping sweep could catch a handshake before its 101 was written.
RETRIES = 2


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench cluster")
    parser.add_argument(
        "--viewers", type=int, default=19_000, help="per server process (workers hold N times)"
    )
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--processes", type=int, default=0, help="client processes (default: auto)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with Databases() as databases:
        for name in args.servers.split(","):
            viewers = args.viewers * servers.parse_name(name)[2]
            processes = args.processes or max(2, math.ceil(viewers / CLIENT_PROCESS_VIEWERS))
            result = fanout.run_one(
                name, False, viewers, args.turns, 0, processes, databases, retries=RETRIES
            )
            result["client_processes"] = processes
            results.append(result)
    return emit(results, args.json, report)


def report(results: list[dict[str, Any]]) -> None:
    first = results[0]
    print(
        f"cluster: fanout to as many viewers as the server's processes hold, "
        f"{first['turns']} page turns of ~{first['page_bytes'] / 1000:.0f} KB"
    )
    print(
        f"{'server':17}{'viewers':>8}{'alive':>8}{'per worker':>14}{'all, p50':>10}"
        f"{'all, max':>10}{'each p50':>10}{'each p99':>10}{'server µs/msg':>15}"
        f"{'db µs/msg':>11}{'clients µs/msg':>16}{'RSS':>9}{'vs tablecast':>14}"
    )
    ours = next((r for r in results if r["server"] == "tablecast"), None)
    for r in results:
        ratio = ""
        if ours:
            ratio = (
                f"x{r['all_delivered_p50_ms'] / ours['all_delivered_p50_ms']:.2f}"
                f"/x{r['server_cpu_us_per_message'] / ours['server_cpu_us_per_message']:.2f}"
            )
        split = "+".join(f"{n:,}" for n in r["viewers_per_worker"])
        database = ""
        if servers.parse_name(r["server"])[1]:
            database = f"{r['database_cpu_us_per_message']:.1f}"
        print(
            f"{r['server']:17}{r['viewers']:>8,}{r['alive']:>8,}{split:>14}"
            f"{r['all_delivered_p50_ms']:>8.0f}ms{r['all_delivered_max_ms']:>8.0f}ms"
            f"{r['latency_p50_ms']:>8.0f}ms{r['latency_p99_ms']:>8.0f}ms"
            f"{r['server_cpu_us_per_message']:>15.1f}{database:>11}"
            f"{r['client_cpu_us_per_message']:>16.1f}{r['server_rss_mib']:>5.0f} MiB{ratio:>14}"
        )
        files = " + ".join(f"{n:,}" for n in r["open_files_per_worker"])
        print(f"  open files per server process: {files}, of {r['file_limit']:,} each")
        if r["workers"] > 1:
            cpu = " + ".join(f"{t:.1f} s" for t in r["server_cpu_seconds_per_worker"])
            print(f"  server CPU per worker: {cpu}; the driver on worker {r['driver_on_worker']}")
        if r["connect_failure_kinds"]:
            attempts = sum(r["connect_failure_kinds"].values())
            print(f"  ! {attempts} handshakes failed: {r['connect_failure_kinds']}")
        if r["missing"] or r["connect_failures"] or r["close_codes"]:
            print(
                f"  ! {r['missing']} deliveries missing, {r['connect_failures']} viewers never "
                f"connected, close codes {r['close_codes']}"
            )
    print(
        "all: request to the last viewer's receipt, per turn; each: every viewer's receipt; "
        "per worker: viewers each worker holds (SO_REUSEPORT's split); vs tablecast: all p50 "
        "and server µs/msg, against one process on SQLite."
    )


if __name__ == "__main__":
    main()
