"""The hub's ordering guarantees, with a real store whose reads can be made slow on purpose."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from pathlib import Path

import pytest

from support import Viewer
from tablecast import tasks
from tablecast.service.limits import Limits
from tablecast.service.upload import Announced
from tablecast.store.sqlite import SQLiteStore
from tablecast.web.server import Node
from tablecast.wire.websocket import Frame


class SlowStore(SQLiteStore):
    """A real SQLite store; reads starting at a chosen record are held, on a thread, until
    the test releases them, as a store across the network may be slow (so the hub meets the
    races such a store brings, in the same order however loaded the machine is)."""

    reads_inline = False
    slow_start: int | None = None

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.released = threading.Event()

    def read_rows(self, version_id: int, start: int, stop: int) -> bytes:
        if start == self.slow_start:
            self.released.wait(10)
        return super().read_rows(version_id, start, stop)

    async def release_after(self, work: Awaitable[object]) -> None:
        """Release the held read once ``work``, which overtakes it, is done."""
        await work
        self.released.set()


class BrokenViewer(Viewer):
    def send(self, frame: Frame) -> None:
        raise RuntimeError("this viewer's socket is broken")


@pytest.fixture
async def setup(tmp_path: Path):
    store = SlowStore(tmp_path / "s.sqlite3")
    node = Node.assemble(store, Limits(max_upload_bytes=10**9), page_size=100, legacy_page_size=100)
    in_progress, hub = node.in_progress, node.hub
    document, _ = await node.documents.create()
    upload = await in_progress.start(document.id, Announced("t.tsv", has_header=False))
    await upload.feed("".join(f"r{i}\n" for i in range(1000)).encode())
    await upload.finish()
    yield store, in_progress, hub, document.id
    await node.close()


async def test_a_turn_overtaken_while_reading_is_never_delivered_late(setup):
    store, _, hub, document_id = setup
    viewers = [Viewer(), Viewer(legacy=True)]
    for viewer in viewers:
        room = await hub.join(viewer, document_id)
        assert room is not None
    store.slow_start = 200  # page 3
    await asyncio.gather(hub.turn_page(room, 3), store.release_after(hub.turn_page(room, 4)))
    for viewer in viewers:
        assert viewer.pages()[-1] == 4
        assert 3 not in viewer.pages()


async def test_a_joining_viewer_never_ends_on_a_stale_shared_page(setup):
    store, _, hub, document_id = setup
    first = Viewer(follow=False)  # browsing alone: the turn to 2 reads (and caches) no page
    room = await hub.join(first, document_id)
    assert room is not None
    await hub.turn_page(room, 2)
    late = Viewer()
    assert await hub.join(late, document_id) is room
    store.slow_start = 100  # page 2, which the late viewer's join page reads
    await asyncio.gather(
        hub.send_page(late, room, None, cause="join"),
        store.release_after(hub.turn_page(room, 5)),
    )
    assert late.pages()[-1] == 5


async def test_one_broken_viewer_does_not_stop_the_others(setup):
    _, _, hub, document_id = setup
    viewers = [Viewer(), BrokenViewer(), Viewer(legacy=True)]
    for viewer in viewers:
        room = await hub.join(viewer, document_id)
    assert room is not None
    await hub.turn_page(room, 6)
    assert viewers[0].pages() == [6] and viewers[2].pages() == [6]


async def test_private_pages_are_dropped_when_a_new_version_lands_meanwhile(setup):
    store, in_progress, hub, document_id = setup
    alone = Viewer(follow=False)
    room = await hub.join(alone, document_id)
    assert room is not None
    store.slow_start = 700  # page 8

    async def new_version() -> None:
        upload = await in_progress.start(document_id, Announced("v2.tsv", has_header=False))
        await upload.feed(b"only\nthis\n")
        await hub.version_committed(await upload.finish())

    await asyncio.gather(
        hub.send_page(alone, room, 8, cause="request"), store.release_after(new_version())
    )
    assert [(m["page_no"], m["version"]) for m in alone.received if m["type"] == "page"] == [(1, 2)]


async def test_the_last_viewer_out_closes_the_room(setup):
    _, _, hub, document_id = setup
    first, second = Viewer(), Viewer()
    room = await hub.join(first, document_id)
    assert room is not None and await hub.join(second, document_id) is room
    hub.leave(first, room)
    assert hub.rooms[document_id] is room
    hub.leave(second, room)
    assert document_id not in hub.rooms


async def test_started_coroutines_run_at_once_and_carry_on_when_they_wait():
    from tablecast import tasks

    steps: list[str] = []

    async def quick() -> None:
        steps.append("quick")

    async def slow() -> None:
        steps.append("slow begins")
        await asyncio.sleep(0.01)
        steps.append("slow slept")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_exception, ValueError("no"))
        try:
            await future
        except ValueError:
            steps.append("slow caught its error")

    tasks.start(quick(), "test")
    assert steps == ["quick"]  # finished inside the call
    tasks.start(slow(), "test")
    assert steps == ["quick", "slow begins"]  # ran up to its first wait
    await tasks.drain()
    assert steps == ["quick", "slow begins", "slow slept", "slow caught its error"]


async def test_a_page_turned_as_the_server_stops_is_kept(tmp_path: Path):
    """An editor's page turn handled in the same turn of the loop as SIGTERM: its save has not
    even started when the shutdown begins, and must still be written before the store closes."""
    path = tmp_path / "s.sqlite3"
    node = Node.assemble(
        SQLiteStore(path),
        Limits(max_upload_bytes=10**9, document_ttl=10**9),
        page_size=100,
        legacy_page_size=100,
    )
    hub = node.hub
    document, _ = await node.documents.create()
    upload = await node.in_progress.start(document.id, Announced("t.tsv", has_header=False))
    await upload.feed("".join(f"r{i}\n" for i in range(1000)).encode())
    await upload.finish()
    room = await hub.join(Viewer(), document.id)
    assert room is not None
    # the server saves use times now and then (see server._tidy_documents): here none are
    # left to save at shutdown, so nothing in it waits before the writer would be closed
    await node.capacity.make_room()
    tasks.spawn(hub.turn_page(room, 3), "turn the page")
    await node.close()
    await tasks.drain()
    store = SQLiteStore(path)
    try:
        kept = store.get_document(document.id)
        assert kept is not None and kept.shared_page == 3
    finally:
        store.close()
