"""``python -m bench [NAME ...]``: run the benchmarks (all by default)."""

from __future__ import annotations

import sys

from bench import ingest

BENCHMARKS = {"ingest": ingest.main}


def main() -> None:
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; there are: {', '.join(BENCHMARKS)}")
        BENCHMARKS[name]([])
        print()


if __name__ == "__main__":
    main()
