"""The benchmark document: a deterministic TSV of realistic cells, ~73 bytes a row.

1,000,000 rows make the ~73 MB file the performance issue names. The same seed always gives the
same bytes, so figures from different runs and machines compare.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).parent / "out"
HEADER = "id\tname\tcity\tdate\tamount\tqty\tcode\tok\tnote\tgroup"
_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Linus", "Margaret", "Tim", "Guido"]
_SURNAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Kay"]
_CITIES = ["Paris", "Oslo", "Lima", "Kyoto", "Accra", "Quito", "Perth", "Turin", "Cork", "Riga"]
_WORDS = ["red", "blue", "tall", "quick", "late", "new", "old", "warm", "dry", "loud", "calm"]


def rows(count: int, seed: int = 73) -> list[str]:
    return [HEADER, *records(count, seed)]


def records(count: int, seed: int = 73) -> Iterator[str]:
    """The rows under the header, one at a time: the first n of any count are the same."""
    rng = random.Random(seed)
    for i in range(count):
        yield (
            f"{i}\t{rng.choice(_NAMES)} {rng.choice(_SURNAMES)}\t{rng.choice(_CITIES)}\t"
            f"20{rng.randint(10, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}\t"
            f"{rng.randint(0, 999999) / 100:.2f}\t{rng.randint(1, 500)}\t"
            f"{rng.getrandbits(32):08x}\t{rng.choice('yn')}\t"
            f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}\tgrp{rng.randint(1, 40)}"
        )


def tsv(count: int) -> bytes:
    return ("\n".join(rows(count)) + "\n").encode()


def tsv_file(count: int) -> Path:
    """The document as a file under bench/out/, made once per row count."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"rows-{count}.tsv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        # written 100,000 rows at a time: the 13M-row gigabyte file is never whole in memory,
        # and its bytes are tsv(count)'s
        with tmp.open("wb") as out:
            out.write(HEADER.encode() + b"\n")
            lines = records(count)
            while batch := list(itertools.islice(lines, 100_000)):
                out.write(("\n".join(batch) + "\n").encode())
        tmp.rename(path)
    return path
