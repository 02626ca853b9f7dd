"""What the store may hold, without sockets: the rules (what fits, what is removed to make
room), the documents in use as the hub reports them, and uploads' accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tablecast import tasks
from tablecast.errors import TablecastError
from tablecast.service.limits import InUse, Limits, Removal, fits, removal
from tablecast.service.upload import STORED_PER_BYTE, Announced, as_stored, too_many
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.view import PLAIN
from tablecast.web.server import Node
from tablecast.wire.websocket import Frame

MB = 1_000_000


def test_without_a_byte_limit_everything_fits():
    assert fits(Limits(), stored=10**12, taken=10**12, own=10**12, more=10**12)


def test_without_eviction_only_the_room_left_is_taken():
    limits = Limits(max_stored_bytes=10 * MB)
    # 6 MB stored, 3 MB taken by uploads in progress: 1 MB left
    assert fits(limits, stored=6 * MB, taken=3 * MB, own=0, more=MB)
    assert not fits(limits, stored=6 * MB, taken=3 * MB, own=0, more=MB + 1)


def test_under_eviction_only_what_cannot_fit_in_an_empty_store_is_refused():
    limits = Limits(max_stored_bytes=10 * MB, evict=True)
    # the store is full, but room is made once the version is stored
    assert fits(limits, stored=10 * MB, taken=5 * MB, own=4 * MB, more=6 * MB)
    assert not fits(limits, stored=0, taken=0, own=4 * MB, more=6 * MB + 1)


def test_nothing_is_removed_unless_the_operator_said_so():
    assert removal(Limits(max_documents=5, max_stored_bytes=MB), 1000.0, 1, 1) is None


def test_documents_unused_past_the_ttl_are_removed_but_none_to_make_room():
    assert removal(Limits(max_documents=5, document_ttl=60.0), 1000.0, 1, 0) == Removal(
        940.0, None, None
    )


def test_eviction_makes_room_for_what_comes():
    limits = Limits(max_documents=5, max_stored_bytes=10 * MB, evict=True)
    assert removal(limits, 1000.0, 1, 4 * MB) == Removal(0.0, 4, 6 * MB)
    assert removal(limits, 1000.0, 9, 20 * MB) == Removal(0.0, 0, 0)  # all of it, if need be
    assert removal(Limits(evict=True), 1000.0, 1, MB) == Removal(0.0, None, None)  # no limits


def test_documents_in_use_are_those_with_a_room_open_and_their_use_times_are_kept_once():
    in_use = InUse()
    in_use.opened("a")
    in_use.opened("b")
    in_use.closed("a")
    assert in_use.documents() == {"b"}
    assert in_use.take_use_times().keys() == {"a", "b"}
    assert in_use.take_use_times() == {}  # written once, not at every tidying


def test_an_upload_counts_as_stored_as_its_records_take_the_store():
    assert as_stored(1000, received=0, written=0) == int(1000 * STORED_PER_BYTE)  # no records yet
    assert as_stored(1000, received=2000, written=2600) == 1300  # as its records took so far
    assert as_stored(1000, received=2000, written=1000) == 1000  # never less than the file


def test_unfinished_uploads_are_bounded_per_address_and_in_all():
    limits = Limits(max_uploading_bytes=10 * MB, max_uploading_bytes_per_ip=4 * MB)
    assert too_many(limits, by_address=3 * MB, in_all=8 * MB, more=MB) is None
    refused = too_many(limits, by_address=3 * MB, in_all=8 * MB, more=MB + 1)
    assert refused is not None and "from this address" in refused.message
    refused = too_many(limits, by_address=0, in_all=9 * MB, more=MB + 1)
    assert refused is not None and refused.code == "too_many_uploads"
    assert too_many(Limits(), by_address=10**12, in_all=10**12, more=10**12) is None


class Viewer:
    legacy, follow, view, patches = False, True, PLAIN, False

    def send(self, frame: Frame) -> None:
        pass


async def table(node: Node) -> str:
    document, _ = await node.documents.create()
    upload = await node.in_progress.start(document.id, Announced("t.tsv", has_header=False))
    await upload.feed(b"a\nb\n")
    await upload.finish()
    return document.id


async def test_a_document_with_viewers_is_never_removed_to_make_room(tmp_path: Path):
    """The hub tells the node which documents it has rooms for, as it opens and closes them:
    removing the unused passes those by, and takes them once their viewers have gone."""
    node = Node.assemble(
        SQLiteStore(tmp_path / "s.sqlite3"),
        Limits(document_ttl=1e-6),  # unused, once made: only viewers keep a document
        page_size=100,
        legacy_page_size=100,
    )
    try:
        # (each upload's end removes the unused in the background: let it, each time)
        watched = await table(node)
        await tasks.drain()
        viewer = Viewer()
        room = await node.hub.join(viewer, watched)
        assert room is not None
        other = await table(node)
        await tasks.drain()
        assert await node.documents.get(other) is not None  # kept as the new one it was
        assert await node.capacity.make_room() == [other]
        assert await node.documents.get(watched) is not None
        node.hub.leave(viewer, room)
        assert await node.capacity.make_room() == [watched]
    finally:
        await node.close()


LINE = b"x" * 99 + b"\n"  # a record takes about what its line does


async def test_an_upload_past_the_room_left_is_refused(tmp_path: Path):
    """An upload is refused once its bytes (as stored) cannot fit beside what other uploads
    in progress take: at its start when it announces its size, else as its bytes cross."""
    node = Node.assemble(
        SQLiteStore(tmp_path / "s.sqlite3"),
        Limits(max_stored_bytes=3 * MB),
        page_size=100,
        legacy_page_size=100,
    )
    try:
        document, _ = await node.documents.create()
        first = await node.in_progress.start(document.id, Announced("a.tsv"))
        await first.feed(LINE * (MB // 100))  # 1 MB, a little more as stored
        with pytest.raises(TablecastError) as refused:
            await node.in_progress.start(document.id, Announced("b.tsv", size=2 * MB))
        assert refused.value.code == "storage_full"
        second = await node.in_progress.start(document.id, Announced("c.tsv"))
        await second.feed(LINE * (MB // 200))  # half a megabyte fits...
        with pytest.raises(TablecastError) as refused:
            await second.feed(LINE * (MB // 50))  # ... two more do not
        assert refused.value.code == "storage_full"
        assert node.in_progress.uploads == {first}  # the refused one is rolled back
    finally:
        await node.close()
