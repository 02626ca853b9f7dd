"""The file as uploaded, given back byte for byte from what a store keeps of it: its records
where they give it back (tablecast.table.originals), its bytes where they do not."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tablecast.errors import TablecastError
from tablecast.service.ingest import Ingest
from tablecast.store.base import Store
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.originals import Part, Rebuilt
from tablecast.table.parsing import ParseOptions


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def upload(store: Store, data: bytes, chunks: list[int], options: ParseOptions) -> int:
    """The version an upload of ``data``, cut into chunks of these sizes in turn, makes."""
    document = store.create_document(None)
    ingest = Ingest(
        store, document.id, filename="f", has_header=True, options=options, max_bytes=10**9
    )
    at = 0
    while at < len(data):
        size = chunks[at % len(chunks)]
        ingest.feed(data[at : at + size])
        at += size
    version = ingest.finish().version
    assert version is not None
    return version.id


def parts(store: Store, version_id: int) -> list[Part]:
    return store.read_original(version_id, 0, 1000)


def original(store: Store, version_id: int) -> bytes:
    """The file as a download gives it back (tablecast.web.downloads), in batches of 7 records."""
    out = []
    for part in parts(store, version_id):
        if isinstance(part, bytes):
            out.append(part)
            continue
        out.append(part.bom)
        for start in range(0, part.record_count, 7):
            stop = min(start + 7, part.record_count)
            data = store.read_rows(version_id, start, stop)
            out.append(part.text(data, last=stop == part.record_count))
    return b"".join(out)


def lines(n: int, start: int = 0) -> list[str]:
    return [f"r{i}\tvalue {i}\tcafé {i * 7}" for i in range(start, start + n)]


def test_a_plain_file_is_given_back_by_its_records_alone(store):
    data = ("\n".join(lines(5000)) + "\n").encode()
    version = upload(store, data, [65536], ParseOptions())
    [part] = parts(store, version)
    assert isinstance(part, Rebuilt) and part.record_count == 5000 and len(part.encode()) < 200
    assert original(store, version) == data


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_so_is_one_with_a_bom_other_line_breaks_and_no_last_one(store, eol):
    data = b"\xef\xbb\xbf" + eol.join(lines(10000)).encode()
    # chunks of 1001 bytes cut CRLFs in two: the CR waits for its LF
    version = upload(store, data, [1001], ParseOptions())
    [part] = parts(store, version)
    assert isinstance(part, Rebuilt) and (part.eol, part.last_eol) == (eol, False)
    assert original(store, version) == data


def test_from_the_first_quote_on_the_bytes_are_kept(store):
    head = ("\n".join(lines(4000)) + "\n").encode()
    tail = ('r4000\t"quoted\tcell"\tx\n' + "\n".join(lines(10, 4001)) + "\n").encode()
    version = upload(store, head + tail, [4096], ParseOptions())
    rebuilt, *kept = parts(store, version)
    # up to the chunk the quote came in
    assert isinstance(rebuilt, Rebuilt) and 4000 - 4096 // 30 < rebuilt.record_count < 4000
    assert b"".join(kept) == (head + tail)[rebuilt.end :]  # type: ignore[arg-type]
    assert original(store, version) == head + tail


@pytest.mark.parametrize(
    "data",
    [
        "a\tb\nc\td\n".encode("cp1252") + "caf\xe9\tx\n".encode("cp1252"),  # not UTF-8
        b'"a"\tb\nc\td\n',  # quoted from the start
        b"\n\na\tb\n",  # blank lines first
    ],
)
def test_files_their_records_do_not_give_back_are_kept_whole(store, data):
    version = upload(store, data, [3], ParseOptions())
    assert parts(store, version) == [data]


def test_an_encoding_the_uploader_names_keeps_the_bytes(store):
    data = b"a\tb\nc\td\n"
    version = upload(store, data, [100], ParseOptions(encoding="utf-8"))
    assert parts(store, version) == [data]


def test_a_restored_version_gives_back_the_same_file(store):
    data = ("\n".join(lines(600)) + "\n").encode()
    old = upload(store, data, [500], ParseOptions())
    document = store.create_document(None)
    pending = store.begin_version(document.id)
    store.share_blocks(old, pending)
    assert original(store, pending) == data


def random_file(rng: random.Random) -> bytes:
    """A table of every shape that matters here, often changing shape part way."""
    cells = ["a", "Bé", "€5", "日本", "1,5", "", "x y", " ", "a\\b", '"q"', "'", "é" * 40]
    eols = ["\n", "\r\n", "\r"]
    eol = rng.choice(eols)
    delimiter = rng.choice(["\t", ",", ";"])
    odd = rng.choice([0, 0.00002, 0.00005, 0.0002, 0.01])  # how often something odd comes
    out = []
    for _ in range(rng.randrange(1, 30000)):
        if rng.random() < odd / 3:
            eol = rng.choice(eols)  # line breaks change kind
        if rng.random() < odd / 3:
            out.append(rng.choice(["", "  "]) + eol)  # a blank line
            continue
        width = rng.choice([3, 3, 3, 1, 2, 4])  # ragged rows stay ragged
        picked = [rng.choice(cells if rng.random() < odd else cells[:7]) for _ in range(width)]
        picked[0] = picked[0] or "z"  # blank lines come (above) only as often as odd things
        out.append(delimiter.join(picked) + eol)
    text = "".join(out)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")
    data = text.encode()
    if rng.random() < 0.2:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.1:  # a stray cp1252 byte
        at = rng.randrange(len(data))
        data = data[:at] + b"\xe9" + data[at:]
    return data


@pytest.mark.parametrize("seed", range(100))
def test_any_file_comes_back_byte_for_byte_however_it_arrives(store, seed):
    rng = random.Random(seed)
    data = random_file(rng)
    chunks = [rng.choice([1, 2, 3, 7, 100, 4096, 70000]) for _ in range(5)]
    try:
        version = upload(store, data, chunks, ParseOptions())
    except TablecastError:
        return  # nothing but blank lines
    assert original(store, version) == data
