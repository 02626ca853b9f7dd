"""A tiny run of every benchmark, so that they cannot rot. Figures are for `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ingest_benchmark_runs():
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--rows", "3000", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    figures = json.loads(out)
    assert figures["tablecast"]["records"] == figures["seed"]["records"] == 3001
    assert figures["tablecast"]["seconds"] > 0 and figures["seed"]["seconds"] > 0


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
            "bench.fanout",
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
