"""ingest: bytes of a large TSV in, a stored version out. Ours against the article's way.

- **tablecast**: the real upload path (streaming parser, JSON blocks, SQLite, commit), fed in
  256 KiB chunks as a v1 client sends them.
- **seed**: the article's server: the whole file in memory as one message, split into lines,
  each stripped and parsed by its own ``csv.reader``, every row kept as a list of strings.

Each runs in a fresh process, so peak RSS growth is its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import tsv_file

CHUNK = 256 * 1024


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_mib() -> float:
    """Resident memory now (the peak so far would hide what comes after)."""
    return _status_mib("VmRSS")


def _peak_rss_mib() -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so a spawned
    # child would report its parent's peak.
    return _status_mib("VmHWM")


def run_tablecast(path: str, out: Any) -> None:
    from tablecast.ingest import Ingest
    from tablecast.parsing import ParseOptions
    from tablecast.store.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.sqlite3")
        document = store.create_document()
        before = _rss_mib()
        started = time.perf_counter()
        ingest = Ingest(
            store,
            document.id,
            filename="bench.tsv",
            has_header=True,
            options=ParseOptions(),
            max_bytes=1 << 40,
        )
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                ingest.feed(chunk)
        version = ingest.finish().version
        seconds = time.perf_counter() - started
        assert version is not None
        stored = sum(p.stat().st_size for p in Path(tmp).iterdir())
        out.put(
            {
                "seconds": seconds,
                "rss_growth_mib": _peak_rss_mib() - before,
                "records": version.meta.record_count,
                "stored_bytes": stored,
            }
        )
        store.close()


def run_seed(path: str, out: Any) -> None:
    before = _rss_mib()
    started = time.perf_counter()
    with open(path, "rb") as f:
        message = f.read().decode()  # one WebSocket frame holding the whole file
    rows = [
        next(csv.reader([line], delimiter="\t"))
        for line in (x.strip() for x in message.splitlines())
        if line
    ]
    seconds = time.perf_counter() - started
    out.put(
        {
            "seconds": seconds,
            "rss_growth_mib": _peak_rss_mib() - before,
            "records": len(rows),
            "stored_bytes": None,
        }
    )


def measure(target: Any, path: Path) -> dict[str, Any]:
    out: Any = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(target=target, args=(str(path), out))
    proc.start()
    result: dict[str, Any] = out.get(timeout=600)
    proc.join()
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    path = tsv_file(args.rows)
    size = path.stat().st_size
    ours, seed = measure(run_tablecast, path), measure(run_seed, path)
    assert ours["records"] == seed["records"], (ours, seed)
    results = {"rows": args.rows, "bytes": size, "tablecast": ours, "seed": seed}
    if args.json:
        print(json.dumps(results))
        return results
    mb = size / 1e6
    print(f"ingest: {args.rows:,} rows, {mb:.1f} MB TSV, parsed and (tablecast) stored")
    print(f"{'':12}{'seconds':>10}{'MB/s':>10}{'peak RSS growth MiB':>22}")
    for name, r in (("tablecast", ours), ("seed", seed)):
        print(
            f"{name:12}{r['seconds']:>10.2f}{mb / r['seconds']:>10.1f}{r['rss_growth_mib']:>22.1f}"
        )
    print(
        f"tablecast/seed: time x{ours['seconds'] / seed['seconds']:.2f}, "
        f"memory x{ours['rss_growth_mib'] / max(seed['rss_growth_mib'], 0.1):.3f}; "
        f"store holds {ours['stored_bytes'] / size:.2f}x the file"
    )
    return results


if __name__ == "__main__":
    main()
