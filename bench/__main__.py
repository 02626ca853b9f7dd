"""``python -m bench [NAME ...] [options]``: run the benchmarks (all by default).

Options after the names go to each benchmark named, e.g. ``python -m bench pages --seconds 5``.
``make bench`` runs them all with their defaults: the figures in docs/performance.md. ``huge``
(a gigabyte upload through the browser, minutes long) runs only when named.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bench import (
    cluster,
    connections,
    diff,
    fanout,
    formats,
    huge,
    ingest,
    live,
    pages,
    reading,
    views,
)

BENCHMARKS: dict[str, Callable[[list[str]], Any]] = {
    "fanout": fanout.main,
    "connections": connections.main,
    "pages": pages.main,
    "ingest": ingest.main,
    "cluster": cluster.main,
    "views": views.main,
    "diff": diff.main,
    "live": live.main,
    "formats": formats.main,
    "reading": reading.main,
}
# run only when named
EXTRA: dict[str, Callable[[list[str]], Any]] = {"huge": huge.main}


def main() -> None:
    args = sys.argv[1:]
    names = []
    while args and not args[0].startswith("-"):
        names.append(args.pop(0))
    known = {**BENCHMARKS, **EXTRA}
    for name in names or list(BENCHMARKS):
        if name not in known:
            raise SystemExit(f"unknown benchmark {name!r}; there are: {', '.join(known)}")
        known[name](args)
        if "--json" not in args:
            print()


if __name__ == "__main__":
    main()
