"""Viewers' own views (browsing alone, sorting or searching) hold back no one else: a new version
reaches the followers and answers its uploader first, own views catch up after, newest first,
and a viewer changing its view often only ever waits behind itself.

The views thread is held by a gate (a threading.Event the test opens) inside TableText's
search, so what runs while it is held, and in which order, is seen without any timing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from support import (
    Listening,
    editor,
    eventually,
    expect,
    http,
    legacy,
    nothing_more,
    put,
    receive,
    v1,
)
from tablecast.config import Settings
from tablecast.model import Version
from tablecast.service.hub import Hub
from tablecast.service.limits import Limits
from tablecast.service.upload import Announced
from tablecast.service.views import Views
from tablecast.store.sqlite import SQLiteStore
from tablecast.table import profiles
from tablecast.table.columns import TableText
from tablecast.table.view import View
from tablecast.web import server as tablecast_server
from tablecast.web.server import Node
from tablecast.wire.websocket import Frame

HELD = "held"  # searches for needles starting with this wait for the gate


class Gate:
    """Holds the views thread in a search for a HELD needle until opened; records, in order,
    what the views thread searched for and sorted by."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self.ran: list[str] = []

    def close(self) -> None:
        self.open.clear()
        self.entered.clear()

    async def held(self) -> None:
        """Once the views thread waits at the gate."""
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, self.entered.wait, 30)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    search, order = TableText.search, TableText.order

    def held_search(text: TableText, needle: str, *args: Any) -> Any:
        if needle.startswith(HELD) and not gate.open.is_set():
            gate.entered.set()
            assert gate.open.wait(60)
        gate.ran.append(f"search {needle}")
        return search(text, needle, *args)

    def recorded_order(text: TableText, number: int, *args: Any) -> Any:
        gate.ran.append(f"sort {number}")
        return order(text, number, *args)

    monkeypatch.setattr(TableText, "search", held_search)
    monkeypatch.setattr(TableText, "order", recorded_order)
    yield gate
    gate.open.set()  # whatever happened, nothing stays held


async def settle() -> None:
    """Let every task that can run, run (and ask the views thread for its work)."""
    for _ in range(50):
        await asyncio.sleep(0)


# The hub, with viewers that record what they are sent


class Viewer:
    def __init__(self, follow: bool = True) -> None:
        self.legacy, self.follow, self.patches = False, follow, False
        self.view = View()
        self.received: list[dict[str, Any]] = []

    def send(self, frame: Frame) -> None:
        self.received.append(orjson.loads(frame.payload))

    def pages(self) -> list[tuple[int, str]]:
        """(version, search) of each page received."""
        return [(m["version"], m["view"]["q"]) for m in self.received if m["type"] == "page"]


def rows(count: int) -> bytes:
    return "".join(f"{HELD}{i % 3} r{i}\t{i}\n" for i in range(count)).encode()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Node, Hub, str]]:
    node = Node.assemble(
        SQLiteStore(tmp_path / "s.sqlite3"),
        Limits(max_upload_bytes=10**9),
        page_size=100,
        legacy_page_size=100,
    )
    document, _ = await node.documents.create()
    await new_version(node, node.hub, document.id, 1000)
    yield node, node.hub, document.id
    await node.close()


async def new_version(node: Node, hub: Hub, document_id: str, count: int) -> None:
    upload = await node.in_progress.start(document_id, Announced("t.tsv", has_header=False))
    await upload.feed(rows(count))
    await hub.version_committed(await upload.finish())


async def test_a_viewer_changing_its_view_often_never_delays_the_shared_view(hub, gate):
    documents, hub_, document_id = hub
    follower, alone = Viewer(), Viewer(follow=False)
    room = await hub_.join(follower, document_id)
    assert room is not None and await hub_.join(alone, document_id) is room
    assert room.document.version is not None
    await documents.pages.types(room.document.version)  # so that the sort only sorts

    gate.close()
    alone.view = View(q=f"{HELD}0")
    asked = [asyncio.ensure_future(hub_.send_page(alone, room, 1, cause="request"))]
    await gate.held()
    for i in range(20):  # a flood of view changes from one viewer, each asked for in turn
        alone.view = View(q=f"r{i}")
        asked.append(asyncio.ensure_future(hub_.send_page(alone, room, 1, cause="request")))
        await settle()
    shared = asyncio.ensure_future(hub_.set_view(room, View(sort=1, descending=True)))
    await settle()
    gate.open.set()
    await asyncio.gather(shared, *asked)

    # the shared view's sort came next; of the flood, only its newest search was made
    assert gate.ran == [f"search {HELD}0", "sort 1", "search r19"]
    assert follower.received[-1]["view"]["sort"] == 1
    assert alone.pages() == [(1, "r19")]


async def test_own_views_catch_up_after_followers_newest_first_in_the_newest_version(hub, gate):
    documents, hub_, document_id = hub
    follower = Viewer()
    room = await hub_.join(follower, document_id)
    assert room is not None
    alone = [Viewer(follow=False) for _ in range(3)]
    for i, viewer in enumerate(alone):  # their views set in this order: the last is newest
        assert await hub_.join(viewer, document_id) is room
        viewer.view = View(q=f"{HELD}{i}")
        await hub_.send_page(viewer, room, 1, cause="request")
        assert viewer.pages() == [(1, f"{HELD}{i}")]
    plain = Viewer(follow=False)
    assert await hub_.join(plain, document_id) is room

    gate.close()
    gate.ran.clear()
    await new_version(documents, hub_, document_id, 500)  # done: the followers have it
    assert follower.pages()[-1] == (2, "") and plain.pages() == [(2, "")]
    await gate.held()  # the newest own view is being caught up, the others wait
    assert [viewer.pages()[-1][0] for viewer in alone] == [1, 1, 1]

    await new_version(documents, hub_, document_id, 400)  # before those catch up
    assert follower.pages()[-1] == (3, "") and plain.pages() == [(2, ""), (3, "")]
    await settle()  # (cancelled work leaves the views thread's queue)
    gate.open.set()
    await eventually(
        lambda: all(len(viewer.pages()) == 2 for viewer in alone),
        timeout=20,
        what="the views thread's work for each viewer alone",
    )
    # version 2 was never shown in own views; version 3 is, newest view first
    for i, viewer in enumerate(alone):
        assert viewer.pages() == [(1, f"{HELD}{i}"), (3, f"{HELD}{i}")]
    assert gate.ran == [f"search {HELD}2", f"search {HELD}2", f"search {HELD}1", f"search {HELD}0"]


# A whole server, in this process, so that the test holds its views thread


@pytest.fixture
async def in_process(tmp_path: Path) -> AsyncIterator[Listening]:
    settings = Settings(data_dir=tmp_path / "data", port=0)
    sockets = tablecast_server.bind(settings)
    running = asyncio.ensure_future(tablecast_server.serve(settings, sockets))
    place = Listening()
    place.port = sockets[0].getsockname()[1]
    yield place
    running.cancel()  # serve() stops as on SIGTERM
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def call(*args: Any) -> tuple[int, Any, dict[str, str]]:
    """An HTTP request from a thread: the server answers on this test's own event loop."""
    return await asyncio.wait_for(asyncio.to_thread(*args), 20)


async def send_view(ws: Any, **view: Any) -> None:
    await ws.send(json.dumps({"type": "view", **view}))


async def test_a_new_version_answers_its_uploader_and_reaches_followers_before_own_views(
    in_process, gate
):
    server = in_process
    status, doc, _ = await call(http, "POST", f"{server.url}/parser/api/docs?header=0", rows(300))
    assert status == 201
    ed = await editor(server, doc["id"], doc["edit_key"])
    await expect(ed, "access")
    await send_view(ed, sort=1, order="desc")  # the followers' view sorts too
    await expect(ed, "page", cause="view")
    follower = await v1(server, doc["id"])
    old = await legacy(server, doc["id"])
    plain = await v1(server, doc["id"])
    for ws in (follower, plain):
        await expect(ws, "page", cause="join")
    assert (await receive(old))["total_number"] == 300
    await plain.send(json.dumps({"type": "follow", "follow": False}))
    await plain.send(json.dumps({"type": "goto", "page": 1}))
    await expect(plain, "page", cause="request")
    alone = []
    for i in range(3):  # browsing alone, each searching: the last view set is the newest
        ws = await v1(server, doc["id"])
        await expect(ws, "page", cause="join")
        await ws.send(json.dumps({"type": "follow", "follow": False}))
        await send_view(ws, q=f"{HELD}{i}")
        assert (await expect(ws, "page", cause="request"))["total_number"] == 100
        alone.append(ws)

    gate.close()
    gate.ran.clear()
    status, _, _ = await call(put, server.url, doc, rows(600), "?header=0")  # not held
    assert status == 200
    for ws in (ed, follower):
        page = await expect(ws, "page", cause="version")
        assert (page["version"], page["view"]["sort"], page["data"][0][1]) == (2, 1, "599")
    page = await expect(plain, "page", cause="version")
    assert (page["version"], page["shared"], page["data"][0][1]) == (2, False, "0")
    assert (await receive(old))["total_number"] == 600
    await gate.held()
    for ws in alone:  # nothing for them yet: their searches wait at the gate
        await nothing_more(ws, 0.1, skip=("presence", "upload_progress"))

    gate.open.set()
    for i, ws in enumerate(alone):
        page = await expect(ws, "page", cause="version")
        assert (page["version"], page["shared"], page["view"]["q"]) == (2, False, f"{HELD}{i}")
        assert page["total_number"] == 200
    assert gate.ran[-3:] == [f"search {HELD}2", f"search {HELD}1", f"search {HELD}0"]


async def test_types_told_later_are_each_viewers_views_types(hub):
    """Types not known when a page went out come in a message after it: each viewer is told
    them as its pages say them, with the types its view (a follower: the shared one) sets."""
    _, hub_, document_id = hub
    follower, alone, plain = Viewer(), Viewer(follow=False), Viewer(follow=False)
    room = await hub_.join(follower, document_id)
    assert room is not None and room.document.version is not None
    for viewer in (alone, plain):
        assert await hub_.join(viewer, document_id) is room
    await hub_.set_view(room, View(types=((1, "text"),)))
    alone.view = View(types=((0, "boolean"),))
    for viewer in (follower, alone, plain):
        viewer.received.clear()
    await hub_._tell_types(room, room.document.version)
    told = {
        name: [m["types"] for m in viewer.received if m["type"] == "types"]
        for name, viewer in (("follower", follower), ("alone", alone), ("plain", plain))
    }
    assert told == {
        "follower": [["text", "text"]],
        "alone": [["boolean", "integer"]],
        "plain": [["text", "integer"]],
    }


async def typed_version(hub: tuple[Node, Hub, str]) -> tuple[Views, Version]:
    """The node's views and the document's version, its columns and types made, a viewer in
    its room."""
    node, hub_, document_id = hub
    room = await hub_.join(Viewer(), document_id)
    assert room is not None and room.document.version is not None
    version = room.document.version
    await node.views.types(version)
    return node.views, version


async def test_a_sort_asked_during_a_columns_profile_runs_before_the_rest_of_it(
    hub, gate, monkeypatch
):
    # one column's profile of a 13.7M-row version takes seconds: it gives way at each chunk
    # it reads to what waits in a more urgent lane (see Scheduler.give_way)
    views, version = await typed_version(hub)
    entered, proceed = threading.Event(), threading.Event()

    def long_profile(cells: Any, kind: str, inferred: str, passed: Any) -> Any:
        gate.ran.append("profile begins")
        entered.set()
        assert proceed.wait(30)
        passed([])  # a chunk read
        gate.ran.append("profile ends")
        return {}

    monkeypatch.setattr(profiles, "profile", long_profile)
    strip = asyncio.ensure_future(views.profile(version, View(), [0]))
    assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
    sort = asyncio.ensure_future(views.rows(version, View(sort=1)))
    await settle()
    proceed.set()
    await asyncio.gather(strip, sort)
    assert gate.ran == ["profile begins", "sort 1", "profile ends"]


async def test_column_profiles_wait_behind_every_page_asked_after_them(hub, gate, monkeypatch):
    # every browser asks for the strips' profiles as a version lands: on a large version they
    # are seconds of work a column, which a sort asked for a moment later must not wait behind
    views, version = await typed_version(hub)
    profile = profiles.profile

    def recorded_profile(*args: Any) -> Any:
        gate.ran.append("profile")
        return profile(*args)

    monkeypatch.setattr(profiles, "profile", recorded_profile)
    gate.close()
    held = asyncio.ensure_future(views.rows(version, View(q=f"{HELD}0")))
    await gate.held()
    strips = asyncio.ensure_future(views.profile(version, View(), range(version.meta.width)))
    await settle()
    sort = asyncio.ensure_future(views.rows(version, View(sort=1)))
    await settle()
    gate.open.set()
    await asyncio.gather(held, strips, sort)
    assert gate.ran == [f"search {HELD}0", "sort 1", "profile", "profile"]
