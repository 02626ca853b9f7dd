"""A tiny run of every benchmark, so that they cannot rot. Figures are for `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def run_bench(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    results: list[dict[str, Any]] = json.loads(out)
    return results


def test_ingest_benchmark_runs():
    # tablecast-pg: on a PostgreSQL server the benchmark starts and removes itself
    results = run_bench("ingest", "--rows", "3000", "--viewers", "20")
    assert [r["server"] for r in results] == ["tablecast", "tablecast-pg", "seed", "websockets"]
    for r in results:
        assert r["records"] == 3001 and r["viewers"] == 20 and r["missing"] == 0, r
        assert r["seconds"] > 0


def test_cluster_benchmark_runs():
    results = run_bench("cluster", "--viewers", "150", "--turns", "2", "--processes", "2")
    assert [(r["server"], r["workers"]) for r in results] == [
        ("tablecast", 1),
        ("tablecast-pg", 1),
        ("tablecast-pg-w2", 2),
    ]
    for r in results:
        viewers = 150 * r["workers"]
        assert r["viewers"] == r["alive"] == viewers and r["missing"] == 0, r
        # every viewer is found on one worker, and the kernel gave each worker some
        assert sum(r["viewers_per_worker"]) == viewers, r
        assert len(r["viewers_per_worker"]) == r["workers"] and min(r["viewers_per_worker"]) > 0


def test_pages_benchmark_runs():
    results = run_bench("pages", "--rows", "3000", "--viewers", "10", "--seconds", "1")
    assert [r["server"] for r in results] == ["tablecast", "seed", "websockets"]
    for r in results:
        assert r["pages"] > 10 and r["viewers"] == 10, r


def test_connections_benchmark_runs():
    results = run_bench("connections", "--viewers", "100", "--hold", "1", "--processes", "2")
    for r in results:
        assert r["viewers"] == r["alive"] == 100 and not r["connect_failures"], r


def test_benchmark_data_is_deterministic():
    sys.path.insert(0, str(ROOT))
    from bench.data import tsv

    assert tsv(100) == tsv(100)
    assert 70 < len(tsv(1000)) / 1000 < 76  # ~73 bytes a row: 1,000,000 rows make ~73 MB


def test_fanout_benchmark_runs():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "fanout",
            "--viewers",
            "200",
            "--turns",
            "2",
            "--processes",
            "2",
            "--stalled",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    results = json.loads(out)
    assert {(r["server"], r["compression"]) for r in results} == {
        (kind, compression)
        for kind in ("tablecast", "seed", "websockets")
        for compression in (False, True)
    }
    for r in results:
        assert r["viewers"] == 200 and r["stalled"] == 2 and r["missing"] == 0, r


def test_fanout_benchmark_times_changes_of_rows():
    for change in ("cell", "upload", "append"):
        args = ["--viewers", "50", "--turns", "2", "--processes", "1", "--rows", "3000"]
        results = run_bench(
            "fanout", *args, "--servers", "tablecast", "--compression", "off", "--change", change
        )
        (r,) = results
        assert (r["change"], r["viewers"], r["missing"]) == (change, 50, 0), r
        assert r["answered_p50_ms"] > 0 and r["latency_p99_ms"] > 0, r
        assert (r["rows_per_second"] or 0) > 0 if change == "append" else True


def test_diff_benchmark_runs():
    results = run_bench("diff", "--rows", "3000")
    back = {r["back"]: r for r in results if "back" in r}
    assert set(back) == {
        "restore",
        "upload again",
        "add one row",
        "add 1,000 rows",
        "set one cell",
        "delete one row",
        "upsert one row",
        "set 1,000 cells, spread",
        "then one cell",
    }
    # the same file again shares every record: it stores where they are, and the file's part
    # its records do not give back (its last line break, in this one)
    assert back["restore"]["stored_mib"] == 0 < back["upload again"]["stored_mib"] < 1 / 64
    assert 0 < back["add one row"]["stored_mib"] < back["add 1,000 rows"]["stored_mib"]
    for change in ("set one cell", "delete one row", "upsert one row", "then one cell"):
        assert 0 < back[change]["stored_mib"] < 1 / 16, back[change]
    after = {r["after"]: r["ms"] for r in results if "after" in r}
    assert len(after) == 7 and all(ms > 0 for ms in after.values()), after
    uploads = {r["upload"]: r["stored_mib"] for r in results if "upload" in r}
    assert len(uploads) == 3, uploads  # a new document, then over it: ten rows edited, inserted
    for what, stored in uploads.items():
        whole = uploads["a new document"]
        assert stored < whole / 20 if what != "a new document" else stored > 0, (what, stored)
    results = [r for r in results if "change" in r]
    for r in results:
        assert r["cold_ms"] > 0 and r["warm_ms"] > 0, r
        # ten rows edited: ten changes (duckdb counts each edited row twice); ten inserted
        assert r["found"] == (20 if r["server"] == "duckdb" and r["change"] == "edited" else 10), r
    assert {(r["server"], r["change"], r["by"]) for r in results} == {
        *(
            ("tablecast", change, by)
            for change in ("edited", "inserted")
            for by in ("content", "key")
        ),
        ("duckdb", "edited", "content"),
        ("duckdb", "inserted", "content"),
    }


def test_views_benchmark_runs():
    results = run_bench("views", "--rows", "3000")
    ours = [r for r in results if r["server"] == "tablecast"]
    warm = [r["query"] for r in ours if "first_ms" in r and not r["query"].startswith("cold: ")]
    for peer in ("sqlite", "duckdb"):  # each asked the same questions, and measured
        theirs = [r for r in results if r["server"] == peer]
        assert all(r["first_ms"] > 0 for r in theirs), theirs
        assert {r["query"] for r in theirs} <= set(warm) | {
            r["query"] for r in ours if r["query"].startswith("cold: ")
        }
    duckdb = [r["query"] for r in results if r["server"] == "duckdb"]
    assert [q for q in duckdb if not q.startswith("cold: ")] == warm  # every warm question
    cold = [r["query"] for r in ours if r["query"].startswith("cold: ")]
    assert cold == [
        "cold: sort integer (qty)",
        "cold: sort date (date)",
        "cold: sort text (name)",
        "cold: search 'lovelace'",
        "cold: profile decimal (amount)",
        "cold: profile distinct text (code)",
        "cold: facets city, search 'lovelace'",
    ]
    assert [q for q in duckdb if q.startswith("cold: ")] == cold
    assert [q for q in warm if q.startswith(("profile", "facets"))] == [
        "profile decimal (amount)",
        "profile date (date)",
        "profile text (city)",
        "profile integer (id)",
        "profile distinct text (code)",
        "facets city, search 'lovelace'",
        "facets group, search 'a'",
    ]
    # profiles and facets are None (skipped) only on a server without them (404)
    assert all(r["first_ms"] > 0 for r in ours if "first_ms" in r and r["first_ms"] is not None)
    assert all(
        r["first_ms"] is not None
        for r in ours
        if "first_ms" in r
        and not r["query"].removeprefix("cold: ").startswith(("profile", "facets"))
    )
    exports = [r for r in ours if "mb_per_second" in r]
    assert [r["query"] for r in exports] == [
        "export tsv",
        "export tsv sorted",
        "export csv",
        "export original",
    ]


def test_huge_benchmark_runs():
    # the gigabyte upload through the browser, at a tiny size: the app in Chromium uploads, the
    # viewers page meanwhile, the server's memory is sampled, and every view answers
    results = run_bench("huge", "--rows", "5000", "--viewers", "3")
    [r] = results
    assert r["rows"] == 5000 and r["viewers"] == 3
    assert r["upload_seconds"] > 0 and r["peak_rss_mib"] >= r["peak_rss_anon_mib"] > 0
    assert r["viewers_saw_new_version"] == 3 and r["viewer_timeouts"] == 0
    assert r["viewer_pages_during_upload"] + r["viewer_pages_after"] > 0
    assert [v["view"] for v in r["views"]] == [
        "sort decimal (amount)",
        "sort text (name)",
        "search 'lovelace'",
        "following page of the search",
        "profile decimal (amount)",
        "facets city, search 'lovelace'",
        "download tsv sorted by amount",
    ]
    assert r["views"][-1]["bytes"] > 5000 * 50  # every row, as a TSV
    # only profiles and facets may be missing (a server without them: 404)
    assert all(v["ms"] for v in r["views"] if not v["view"].startswith(("profile", "facets")))


def test_live_benchmark_runs():
    results = run_bench("live", "--rows", "3000", "--viewers", "2")
    assert [(r["server"], r["viewers"]) for r in results] == [("tablecast", 2), ("perspective", 2)]
    for r in results:
        assert r["cell_p50_ms"] > 0 and r["added_ms"] > 0 and r["load_ms"] > 0, r


def test_formats_benchmark_runs():
    results = run_bench("formats", "--rows", "3000", "--xlsx-rows", "500")
    ours = {r["format"]: r for r in results if r["server"] == "tablecast"}
    assert list(ours) == ["parquet", "arrow", "csv", "xlsx"]
    for r in ours.values():
        assert r["megabytes"] > 0 and r["cold_seconds"] > 0 and r["warm_seconds"] > 0, r
    assert ours["parquet"]["cold_csv_mb_per_second"] > 0
    peers = [(r["server"], r["format"]) for r in results if r["server"] != "tablecast"]
    assert peers == [("pandas", "parquet"), ("pandas", "xlsx"), ("polars", "parquet"),
                     ("polars", "xlsx")]  # fmt: skip
