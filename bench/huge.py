"""huge: a gigabyte table uploaded through the browser app while viewers page at random.

Issue 17's acceptance test for gigabyte tables, as a benchmark (``python -m bench huge``; not in
the default ``make bench`` set: at full size it takes minutes). The deterministic benchmark
document at 13,700,000 rows (~1.04 GB TSV, :mod:`bench.data`) is uploaded to a document that
holds the 100,000-row one:

- **the uploader** is the real app in Chromium (Debian's, driven by Playwright): an edit link
  opened, the file given to its file input (``set_input_files``), as a person picks it. The
  upload's time runs from then until the app shows the new version's row count;
- **the viewers** (default 10, in another process: their work is not the server's) are
  tablecast.v1 clients of the view link, browsing alone, each asking for a random page of the
  version it sees ``--pause`` after the last one came (its latency: request to page);
- **the server's memory** is sampled every 100 ms from /proc/PID/status: RSS, and apart
  ``RssAnon`` (the process's own heap: what the 512 MiB target is about) and ``RssFile``
  (pages of mapped files, such as a version's columns: the OS page cache's, given back under
  pressure). The samples go to bench/out/huge-memory.csv.

Then the views a person asks of the new version over HTTP, each timed: a sort, a search, a
column profile and facet counts under a search (skipped on a server without them: 404), and a
download of the whole version sorted (its records picked from all over it).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench import emit, servers
from bench.data import OUT, tsv_file
from bench.fanout import percentile
from bench.views import get_or_missing, server_url

ROWS = 13_700_000  # ~1.04 GB: the "1 GB CSV, ~13M rows"
START_ROWS = 100_000  # the version the viewers page through before the new one lands
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--no-first-run", "--disable-background-networking"]
# the limits that admit the file, whatever the server's defaults (before issue 17: 256 MiB)
LIMITS = (
    "--max-upload-bytes", "2GiB",
    "--max-uploading-bytes-per-ip", "2GiB",
    "--max-uploading-bytes", "4GiB",
)  # fmt: skip
# (label, path under the document, query): what a person asks of the new version
VIEWS: list[tuple[str, str, dict[str, str]]] = [
    ("sort decimal (amount)", "pages/1", {"sort": "4"}),
    ("sort text (name)", "pages/1", {"sort": "1"}),
    ("search 'lovelace'", "pages/1", {"q": "lovelace"}),
    ("following page of the search", "pages/2", {"q": "lovelace"}),
    ("profile decimal (amount)", "columns/4", {}),
    ("facets city, search 'lovelace'", "facets/2", {"q": "lovelace"}),
    # (its records from all over the version: the whole of it, in the order of the sort)
    ("download tsv sorted by amount", "download", {"format": "tsv", "sort": "4"}),
]
MEMORY_KEYS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def downloaded(url: str) -> tuple[float, int]:
    """Seconds to download ``url`` whole, and its bytes, read a MiB at a time and let go."""
    began, size = time.perf_counter(), 0
    with urllib.request.urlopen(url, timeout=3600) as response:
        while piece := response.read(1 << 20):
            size += len(piece)
    return time.perf_counter() - began, size


class Memory:
    """The server's memory (summed over its processes) every 100 ms, in MiB, while it runs."""

    def __init__(self, server: servers.ServerProcess) -> None:
        self.server = server
        self.samples: list[tuple[float, ...]] = []  # (monotonic time, *MEMORY_KEYS)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def read(self) -> tuple[float, ...]:
        values = dict.fromkeys(MEMORY_KEYS, 0.0)
        for pid in servers.process_tree(self.server.proc.pid):
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for line in lines:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] += int(rest.split()[0]) / 1024
        return (time.monotonic(), *(values[k] for k in MEMORY_KEYS))

    def _watch(self) -> None:
        while True:
            self.samples.append(self.read())
            if self._done.wait(0.1):
                return

    def peaks(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        """The largest of each between two moments (closer than a sample: the one before)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        inside = inside or [s for s in self.samples if s[0] <= end][-1:] or self.samples[:1]
        return {k: max(s[i + 1] for s in inside) for i, k in enumerate(MEMORY_KEYS)}

    def save(self, path: Path, origin: float) -> None:
        lines = ["seconds," + ",".join(f"{k}_mib" for k in MEMORY_KEYS)]
        lines += [
            f"{s[0] - origin:.2f}," + ",".join(f"{v:.1f}" for v in s[1:]) for s in self.samples
        ]
        path.write_text("\n".join(lines) + "\n")

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _viewer(
    url: str, seed: int, pause: float, stop: Any, out: list[dict[str, Any]], ready: Any
) -> None:
    import websockets.sync.client

    rng = random.Random(seed)
    pages: list[tuple[float, float]] = []  # (asked at, seconds to the page)
    events: dict[str, float] = {}
    with websockets.sync.client.connect(
        url, subprotocols=["tablecast.v1"],  # type: ignore[list-item]
        max_size=None, compression=None, open_timeout=60,
    ) as ws:  # fmt: skip
        ws.send(orjson.dumps({"type": "follow", "follow": False}).decode())
        page_count, first_version = 1, None

        def handle(message: dict[str, Any]) -> None:
            nonlocal page_count, first_version
            if message["type"] == "page":
                page_count = max(1, message["page_count"])
                # the new version's page: pushed to it (cause version), or the answer to a
                # page it asked for meanwhile
                first_version = first_version or message["version"]
                if message["version"] != first_version:
                    events.setdefault("new_version_page", time.monotonic())
            elif message["type"] == "upload_progress":
                events.setdefault(f"upload_{message['state']}", time.monotonic())

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # joined: the first page is in
            message = orjson.loads(ws.recv(timeout=30))
            handle(message)
            if message["type"] == "page":
                break
        ready.release()
        timeouts = 0
        while not stop.is_set():
            wanted = rng.randint(1, page_count)
            asked = time.monotonic()
            ws.send(orjson.dumps({"type": "goto", "page": wanted}).decode())
            while True:
                try:
                    message = orjson.loads(
                        ws.recv(timeout=max(0.1, 600 - (time.monotonic() - asked)))
                    )
                except TimeoutError:
                    timeouts += 1
                    break
                handle(message)
                if message["type"] == "page" and message.get("cause") == "request":
                    pages.append((asked, time.monotonic() - asked))
                    break
                if message["type"] == "error":
                    raise RuntimeError(message)
            stop.wait(pause)
        # what came while it paused, before the stop: the new version's page may be among it
        # (under load, the views of a small upload can all be answered within one pause)
        with contextlib.suppress(TimeoutError):
            while True:
                handle(orjson.loads(ws.recv(timeout=1)))
    out.append({"pages": pages, "events": events, "timeouts": timeouts})


def viewers_process(
    port: int,
    document_id: str,
    count: int,
    pause: float,
    stop: multiprocessing.synchronize.Event,
    ready: multiprocessing.synchronize.Semaphore,
    results: Any,
) -> None:
    """``count`` viewers in threads of this process, until ``stop``; their pages and what
    they saw of the upload go to ``results``."""
    url = f"ws://127.0.0.1:{port}/parser/ws/{document_id}"
    out: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=_viewer, args=(url, i, pause, stop, out, ready))
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(out)


def browser_cpu(*others: int) -> float:
    """CPU seconds of this process's children but ``others``: Playwright's driver and the
    Chromium it runs."""
    return sum(
        servers.process_tree_cpu(child)
        for child in servers.children(os.getpid())
        if child not in others
    )


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, chromium_sandbox=False
        )
        try:
            yield chromium
        finally:
            chromium.close()


def run(rows: int, viewers: int, pause: float) -> dict[str, Any]:
    path = tsv_file(rows)
    size = path.stat().st_size
    server = servers.start("tablecast", args=LIMITS)
    context = multiprocessing.get_context("spawn")
    stop, ready, results = context.Event(), context.Semaphore(0), context.Queue()
    try:
        # fewer rows than the upload: the app shows the new version by its row count
        start_rows = max(1, min(START_ROWS, rows // 2))
        start = tsv_file(start_rows).read_bytes()
        request = urllib.request.Request(server_url(server, "/parser/api/docs"), data=start)
        with urllib.request.urlopen(request, timeout=600) as response:
            doc = orjson.loads(response.read())
        base = server_url(server, f"/parser/api/docs/{doc['id']}")
        with Memory(server) as memory, browser() as chromium:
            watchers = context.Process(
                target=viewers_process,
                args=(server.port, doc["id"], viewers, pause, stop, ready, results),
            )
            watchers.start()
            for _ in range(viewers):
                if not ready.acquire(timeout=60):
                    raise RuntimeError("the viewers did not all join")
            page = chromium.new_page()
            page.goto(f"{server_url(server, '/parser/share/')}{doc['id']}#key={doc['edit_key']}")
            page.wait_for_selector("#range", state="attached")
            page.wait_for_function(
                "n => document.querySelector('#range').textContent.includes(n)",
                arg=f"of {start_rows:,}",
            )
            before = memory.read()
            cpu_began = server.cpu()
            others = (server.proc.pid, watchers.pid or 0)
            browser_began = browser_cpu(*others)
            began = time.monotonic()
            page.set_input_files("#file", str(path))
            page.wait_for_function(
                "n => document.querySelector('#range').textContent.endsWith(n)",
                arg=f"of {rows:,}",
                timeout=3_600_000,
                polling=100,
            )
            shown = time.monotonic()
            cpu_shown = server.cpu()
            browser_shown = browser_cpu(*others)
            views = []
            for label, where, query in VIEWS:
                url = f"{base}/{where}?{urlencode(query)}".rstrip("?")
                if where == "download":
                    seconds, size = downloaded(url)
                    views.append({"view": label, "ms": 1000 * seconds, "bytes": size})
                    continue
                seconds = get_or_missing(url)
                views.append({"view": label, "ms": None if seconds is None else 1000 * seconds})
            ended = time.monotonic()
            cpu_ended = server.cpu()
            stop.set()
            seen: list[dict[str, Any]] = results.get(timeout=700)
            watchers.join(60)
        memory.save(OUT / "huge-memory.csv", began)
    finally:
        stop.set()
        server.stop()
    events = [v["events"] for v in seen]
    committed = min((e["upload_done"] for e in events if "upload_done" in e), default=shown)
    during = [s for v in seen for asked, s in v["pages"] if began <= asked <= shown]
    after = [s for v in seen for asked, s in v["pages"] if asked > shown]
    peaks = memory.peaks(began, ended)
    return {
        "rows": rows,
        "megabytes": size / 1e6,
        "viewers": viewers,
        "upload_seconds": shown - began,
        "committed_seconds": committed - began,  # the viewers told the upload is done
        "mb_per_second": size / 1e6 / (shown - began),
        "server_cpu_upload_seconds": cpu_shown - cpu_began,
        "server_cpu_views_seconds": cpu_ended - cpu_shown,
        "browser_cpu_upload_seconds": browser_shown - browser_began,
        "views_seconds": ended - shown,
        "rss_before_mib": before[1],
        "peak_rss_mib": peaks["VmRSS"],
        "peak_rss_anon_mib": peaks["RssAnon"],
        "peak_rss_file_mib": peaks["RssFile"],
        "peak_rss_shmem_mib": peaks["RssShmem"],
        "peak_rss_anon_receiving_mib": memory.peaks(began, committed)["RssAnon"],
        "peak_rss_anon_after_commit_mib": memory.peaks(committed, shown)["RssAnon"],
        "peak_rss_anon_views_mib": memory.peaks(shown, ended)["RssAnon"],
        "rss_end_mib": memory.samples[-1][1],
        "views": views,
        "viewer_pages_during_upload": len(during),
        "viewer_p50_ms": 1000 * percentile(during, 50) if during else None,
        "viewer_p99_ms": 1000 * percentile(during, 99) if during else None,
        "viewer_max_ms": 1000 * max(during) if during else None,
        "viewer_pages_after": len(after),  # while the views are asked: columns being made
        "viewer_after_p50_ms": 1000 * percentile(after, 50) if after else None,
        "viewer_after_p99_ms": 1000 * percentile(after, 99) if after else None,
        "viewer_timeouts": sum(v["timeouts"] for v in seen),
        "viewers_saw_new_version": sum("new_version_page" in e for e in events),
    }


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(
            f"huge: {r['rows']:,} rows, {r['megabytes']:,.0f} MB TSV uploaded through the app in"
            f" Chromium, {r['viewers']} viewers paging at random"
        )
        print(
            f"upload: {r['upload_seconds']:.1f}s to the new version on screen"
            f" ({r['mb_per_second']:.1f} MB/s); committed (viewers told) at"
            f" {r['committed_seconds']:.1f}s; server CPU {r['server_cpu_upload_seconds']:.1f}s,"
            f" browser's {r['browser_cpu_upload_seconds']:.1f}s"
        )
        print(
            f"server memory: RSS {r['rss_before_mib']:.0f} MiB before, peak"
            f" {r['peak_rss_mib']:.0f} MiB (target <= 512), {r['rss_end_mib']:.0f} MiB at the end"
        )
        print(
            f"  peak RssAnon {r['peak_rss_anon_mib']:.0f} MiB (receiving"
            f" {r['peak_rss_anon_receiving_mib']:.0f}, commit to screen"
            f" {r['peak_rss_anon_after_commit_mib']:.0f},"
            f" views {r['peak_rss_anon_views_mib']:.0f});"
            f" peak RssFile {r['peak_rss_file_mib']:.0f} MiB (mapped files: page cache);"
            f" RssShmem {r['peak_rss_shmem_mib']:.0f} MiB"
        )
        print(
            f"views of the new version ({r['views_seconds']:.1f}s in all, server CPU"
            f" {r['server_cpu_views_seconds']:.1f}s):"
        )
        for view in r["views"]:
            figure = "— (404: not served)" if view["ms"] is None else f"{view['ms']:,.0f} ms"
            if "bytes" in view:
                rate = view["bytes"] / 1e6 / max(view["ms"] / 1000, 1e-9)
                figure += f" ({view['bytes'] / 1e6:,.0f} MB, {rate:,.0f} MB/s)"
            print(f"  {view['view']:34} {figure}")
        if r["viewer_p50_ms"] is not None:
            print(
                f"viewers during the upload: {r['viewer_pages_during_upload']} pages, p50"
                f" {r['viewer_p50_ms']:.1f} ms, p99 {r['viewer_p99_ms']:.1f} ms, max"
                f" {r['viewer_max_ms']:.0f} ms; after it, while the views are asked:"
                f" {r['viewer_pages_after']} pages, p50 {r['viewer_after_p50_ms'] or 0:.1f} ms,"
                f" p99 {r['viewer_after_p99_ms'] or 0:.1f} ms;"
                f" {r['viewer_timeouts']} unanswered in 600 s;"
                f" {r['viewers_saw_new_version']}/{r['viewers']} got the new version's page"
            )
        print(
            "memory samples (every 100 ms): bench/out/huge-memory.csv; figures: bench/out/huge.json"
        )


def main(argv: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench huge", description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between a viewer's pages")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [run(args.rows, args.viewers, args.pause)]
    (OUT / "huge.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return emit(results, args.json, report)
