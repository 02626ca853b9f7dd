"""An upload that shares most of its records with the version before stores only the others
(tablecast.table.reuse), without sockets or a store: the base's blocks are a dict."""

from __future__ import annotations

import urllib.request
from typing import Any

import numpy as np
import pytest

from support import create, http, put, scrape, table
from tablecast.table import reuse
from tablecast.table.blocks import Run, gathered, run_of
from tablecast.table.pieces import Pieces, by_identity, ident
from tablecast.table.reuse import Reuse

BASE, NEW = 5, 9


def rows(count: int, tag: str = "") -> list[str]:
    return [f'{i}","name {i}{tag}","{i * 7 % 13}' for i in range(count)]


class Kept:
    """Blocks by owner, as a store keeps them."""

    def __init__(self) -> None:
        self.blocks: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self.read = 0  # base records read

    def store(self, owner: int, run: Run, first_block: int = 0) -> None:
        for number, block in enumerate(run.blocks(len(run)), first_block):
            self.blocks[(owner, number)] = (block.records, block.offsets)

    def reader(self, owner: int):  # type: ignore[no-untyped-def]
        def read(first: int, last: int) -> list[tuple[int, bytes, bytes]]:
            found = []
            for number in range(first, last + 1):
                if (owner, number) in self.blocks:
                    records, offsets = self.blocks[(owner, number)]
                    self.read += len(offsets) // 4
                    found.append((number, records, offsets))
            return found

        return read

    def records(self, pieces: Pieces) -> list[str]:
        segments = pieces.segments(0, pieces.total)
        return gathered(segments, self.blocks).records()


def upload(kept: Kept, base: list[str], new: list[str], run: int = 1000) -> tuple[Pieces, int]:
    """``new`` uploaded over ``base`` (uploaded whole): the new version's pieces, and the
    records it stored."""
    kept.store(BASE, run_of(base))
    sharing = Reuse(Pieces.whole(BASE, len(base)), kept.reader(BASE), NEW)
    stored = []
    for start in range(0, len(new), run):
        stored.extend(sharing.add(run_of(new[start : start + run])).records())
    kept.store(NEW, run_of(stored))
    pieces = sharing.pieces() or Pieces.whole(NEW, len(new))
    assert kept.records(pieces) == new  # the new version reads as uploaded, wherever it is
    return pieces, len(stored)


def test_the_same_file_again_stores_nothing() -> None:
    base = rows(5000)
    pieces, stored = upload(Kept(), base, base)
    assert stored == 0
    assert pieces.owners.tolist() == [BASE]
    assert by_identity(pieces, Pieces.whole(BASE, 5000)) is not None


@pytest.mark.parametrize("how", ["edited", "inserted", "deleted", "appended"])
def test_a_file_differing_in_ten_rows_stores_those(how: str) -> None:
    base = rows(20_000)
    new = list(base)
    spots = range(19_000, 0, -1_900)  # ten, spread, from the end (indexes stay true)
    for at in spots:
        if how == "edited":
            new[at] = new[at].replace("name", "renamed")
        elif how == "inserted":
            new.insert(at, 'new","row","here')
        elif how == "deleted":
            del new[at]
    if how == "appended":
        new += rows(10, " more")
    pieces, stored = upload(Kept(), base, new)
    assert stored == (0 if how == "deleted" else 10)
    gone, made, pairs = by_identity(pieces, Pieces.whole(BASE, len(base))) or ((), (), [])
    if how == "edited":  # a row changed in place keeps its identity: told as changed
        assert (len(gone), len(made), len(pairs)) == (0, 0, 10)
        assert sorted(a for a, _ in pairs) == sorted(spots)
    else:
        assert (len(gone), len(made), len(pairs)) == (
            10 if how == "deleted" else 0,
            0 if how == "deleted" else 10,
            0,
        )


def test_rows_inserted_in_a_block_longer_than_a_run_are_found_around() -> None:
    base = rows(20_000)
    new = base[:7_000] + rows(2_500, " inserted") + base[7_000:]
    _, stored = upload(Kept(), base, new)
    assert stored == 2_500


def test_rows_deleted_in_a_block_within_the_slack_are_skipped() -> None:
    base = rows(20_000)
    new = base[:7_000] + base[9_000:]
    _, stored = upload(Kept(), base, new)
    assert stored == 0


def test_a_changed_cell_next_to_rows_inserted_keeps_its_identity() -> None:
    base = rows(3000)
    new = list(base)
    new[1500] = new[1500].replace("name", "renamed")
    new[1501:1501] = ['new","row","here', 'other","row","here']
    pieces, stored = upload(Kept(), base, new)
    assert stored == 3
    gone, made, pairs = by_identity(pieces, Pieces.whole(BASE, 3000)) or ((), (), [])
    assert pairs == [(1500, 1500)] and len(made) == 2 and not len(gone)


def test_a_file_sharing_nothing_is_stored_as_it_was_and_stops_reading() -> None:
    kept = Kept()
    base = rows(100_000)
    pieces, stored = upload(kept, base, rows(100_000, " other"))
    assert stored == 100_000
    assert pieces.owners.tolist() == [NEW] and pieces.idents.tolist() == [ident(NEW, 0)]
    assert kept.read < reuse.GIVE_UP + reuse.SLACK + 2000  # the base let go of, early


def test_a_hash_collision_cannot_hide_a_change() -> None:
    # Thue-Morse strings collide under any polynomial hash modulo 2**64 (see test_diff)
    thue = "".join("ab"[bin(i).count("1") % 2] for i in range(2048))
    morse = thue.translate(str.maketrans("ab", "ba"))
    base = [*rows(10), thue, *rows(10, " after")]
    new = [*rows(10), morse, *rows(10, " after")]
    pieces, stored = upload(Kept(), base, new)
    assert stored == 1
    _, _, pairs = by_identity(pieces, Pieces.whole(BASE, len(base))) or ((), (), [])
    assert pairs == [(10, 10)]


def test_a_base_that_was_edited_is_read_through_its_pieces() -> None:
    kept = Kept()
    kept.store(BASE, run_of(rows(600)))
    kept.store(7, run_of(['changed","row","x']))
    base_pieces = Pieces.whole(BASE, 600).changed(7, np.array([300]), np.zeros(0, np.int64), 0)
    base = kept.records(base_pieces)

    def read(first: int, last: int) -> list[tuple[int, bytes, bytes]]:
        found = gathered(base_pieces.segments(first * 256, (last + 1) * 256), kept.blocks)
        return [(first + i, b.records, b.offsets) for i, b in enumerate(found.blocks(len(found)))]

    sharing = Reuse(base_pieces, read, NEW)
    assert not len(sharing.add(run_of(base)))
    pieces = sharing.pieces()
    assert pieces is not None and kept.records(pieces) == base
    assert pieces.encode() == base_pieces.encode()  # the same records, the same identities


# Over HTTP: a file uploaded again, changed in a few rows


def edited_file(data: bytes) -> bytes:
    """The file with ten rows' second cell changed, three rows inserted and two deleted."""
    lines = data.split(b"\n")
    for at in range(1_000, 19_001, 2_000):
        cells = lines[at].split(b"\t")
        cells[1] = b"changed " + cells[1]
        lines[at] = b"\t".join(cells)
    del lines[16_000], lines[6_000]
    for at in (17_000, 8_000, 3):
        lines.insert(at, b"new\trow\there\t!\t!")
    return b"\n".join(lines)


def download(server: Any, doc: dict[str, Any], query: str) -> bytes:
    url = f"{server.url}/parser/api/docs/{doc['id']}/download{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def test_a_file_uploaded_again_stores_only_the_rows_that_differ(server: Any) -> None:
    data = table(20_000, cols=5)
    doc = create(server, data)
    first = scrape(server)["tablecast_stored_bytes"]
    status, body, _ = put(server.url, doc, edited_file(data))
    assert status == 200 and body["version"] == 2
    added = scrape(server)["tablecast_stored_bytes"] - first
    assert added < first / 200, (added, first)  # 15 records and their places, not the file
    # read back as uploaded: the file itself, its rows, a page
    assert download(server, doc, "?format=original") == edited_file(data)
    assert download(server, doc, "?format=original&version=1") == data
    assert download(server, doc, "?format=tsv") == edited_file(data)
    _, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert page["data"][2] == ["new", "row", "here", "!", "!"]
    # its columns are all its rows, those it shares and those it stores
    _, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?sort=0&order=desc")
    assert page["total_number"] == 20_001 and page["data"][0][0] == "r9c0"
    _, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?q=changed")
    assert page["total_number"] == 10
    # told as the rows that changed, by their identity
    _, diff, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/diff")
    assert diff["counts"] == {"added": 3, "removed": 2, "changed": 10}
    assert diff["changed"][0]["cells"] == {"1": ["r999c1", "changed r999c1"]}
    # the same file again stores nothing but where its rows are
    status, _, _ = put(server.url, doc, edited_file(data))
    assert scrape(server)["tablecast_stored_bytes"] - first - added < 1024
    assert download(server, doc, "?format=original") == edited_file(data)


def test_a_cluster_node_uploads_over_another_nodes_version(nodes: Any) -> None:
    first, second = nodes(2)
    data = table(3_000, cols=5)
    doc = create(first, data)
    changed = data.replace(b"r2000c1", b"changed")
    status, _, _ = put(second.url, doc, changed)
    assert status == 200
    for server in (first, second):
        assert download(server, doc, "?format=original") == changed
        _, diff, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/diff")
        assert diff["counts"] == {"added": 0, "removed": 0, "changed": 1}


def test_rows_deleted_in_a_block_longer_than_the_slack_are_skipped_too() -> None:
    kept = Kept()
    base = rows(60_000)
    new = base[:7_000] + base[27_000:]  # 20,000 rows deleted: far past a run and the slack
    _, stored = upload(kept, base, new)
    assert stored == 0
    # a base larger than INDEX_ROWS is not hashed whole: what follows is stored anew
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reuse, "INDEX_ROWS", 1000)
        _, stored = upload(Kept(), base, new)
    assert stored > 20_000


def test_a_base_of_long_records_is_read_no_further_than_the_slack_in_bytes() -> None:
    # the window of the base a run is compared with is bounded in bytes too: of long records,
    # a block (256 of them) at a time, not READ_BLOCKS of them
    kept = Kept()
    long = [f'{i}","{"x" * 4000}' for i in range(2_560)]  # ten blocks of 1 MB
    kept.store(BASE, run_of(long))
    held = []
    read = kept.reader(BASE)

    def reading(first: int, last: int) -> list[tuple[int, bytes, bytes]]:
        found = read(first, last)
        held.append(sum(len(records) for _, records, _ in found))
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reuse, "SLACK_BYTES", 64 * 1024)
        sharing = Reuse(Pieces.whole(BASE, len(long)), reading, NEW)
        sharing.add(run_of(rows(10, " other")))
    assert sum(held) < 3 * 1_030_000, held  # two blocks at most, not ten
