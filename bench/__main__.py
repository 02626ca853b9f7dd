"""``python -m bench [NAME ...] [options]``: run the benchmarks (all by default).

Options after the names go to each benchmark named, e.g. ``python -m bench pages --seconds 5``.
``make bench`` runs them all with their defaults: the figures in docs/performance.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bench import cluster, connections, fanout, ingest, pages, views

BENCHMARKS: dict[str, Callable[[list[str]], Any]] = {
    "fanout": fanout.main,
    "connections": connections.main,
    "pages": pages.main,
    "ingest": ingest.main,
    "cluster": cluster.main,
    "views": views.main,
}


def main() -> None:
    args = sys.argv[1:]
    names = []
    while args and not args[0].startswith("-"):
        names.append(args.pop(0))
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; there are: {', '.join(BENCHMARKS)}")
        BENCHMARKS[name](args)
        if "--json" not in args:
            print()


if __name__ == "__main__":
    main()
