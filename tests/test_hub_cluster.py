"""Keeping a cluster in step, in one process: nodes are hubs, each with its Cluster, over
PostgresStores of their own on one real database, and events are handed to the Clusters
directly, in the order the store would deliver them, so each rule is shown on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from support import Viewer
from tablecast.bus import events
from tablecast.service.cluster import Cluster
from tablecast.service.hub import PRESENCE_DELAY, Hub
from tablecast.service.limits import Limits
from tablecast.service.upload import Announced
from tablecast.store.postgres import PostgresStore
from tablecast.web.server import Node


@pytest.fixture
async def cluster(pg_url: str) -> AsyncIterator[Any]:
    made: list[Node] = []

    def node(number: int) -> tuple[Node, Hub, Cluster]:
        made.append(
            Node.assemble(
                PostgresStore(pg_url, number),
                Limits(),
                page_size=100,
                legacy_page_size=100,
                node=number,
            )
        )
        cluster = made[-1].cluster
        assert cluster is not None
        return made[-1], made[-1].hub, cluster

    yield node
    for each in made:
        await each.close()


async def upload(node: Node, document_id: str, rows: int) -> None:
    upload = await node.in_progress.start(document_id, Announced("t.tsv", has_header=False))
    await upload.feed("".join(f"r{i}\n" for i in range(rows)).encode())
    await upload.finish()


async def settle() -> None:
    await asyncio.sleep(PRESENCE_DELAY + 0.2)


def turned(node: int, page: int, document_id: str) -> events.PageTurned:
    return events.PageTurned(document_id, node, page)


async def test_turns_follow_the_stores_order_and_a_nodes_own_are_not_replayed(cluster):
    here, hub, node = cluster(1)
    document, _ = await here.documents.create()
    await upload(here, document.id, 5000)
    viewer = Viewer()
    room = await hub.join(viewer, document.id)
    assert room is not None
    await settle()

    # this node turns to 5, then 6; another node turns to 9 in between, as the store saw it
    await hub.turn_page(room, 5)
    await hub.turn_page(room, 6)
    assert viewer.pages()[-2:] == [5, 6]
    node.on_event(turned(1, 5, document.id))  # ours, not the last we wait for: nothing
    await settle()
    assert viewer.pages()[-1] == 6
    node.on_event(turned(2, 9, document.id))  # theirs: shown
    await settle()
    assert viewer.pages()[-1] == 9
    node.on_event(turned(1, 6, document.id))  # ours, the last: the store's last word is 6
    await settle()
    assert viewer.pages()[-1] == 6 and room.shared_page == 6
    node.on_event(turned(2, 6, document.id))  # the same page again: nothing new to send
    await settle()
    assert viewer.pages().count(6) == 2


async def test_viewer_counts_from_other_nodes_add_up(cluster):
    here, hub, node = cluster(1)
    document, _ = await here.documents.create()
    await upload(here, document.id, 10)
    viewers = [Viewer(), Viewer()]
    for viewer in viewers:
        await hub.join(viewer, document.id)
    node.on_event(events.ViewersCounted(document.id, 2, 5))
    node.on_event(events.ViewersCounted(document.id, 3, 1))
    node.on_event(events.ViewersCounted(document.id, 1, 99))  # our own, heard back: ignored
    await settle()
    presence = [m for m in viewers[0].received if m.get("type") == "presence"]
    assert presence[-1]["viewers"] == 8
    node.on_event(events.ViewersCounted(document.id, 2, 0))  # node 2 has none left
    await settle()
    presence = [m for m in viewers[0].received if m.get("type") == "presence"]
    assert presence[-1]["viewers"] == 3


async def test_a_node_that_missed_events_resynchronises_from_the_store(cluster):
    first, _, _ = cluster(1)
    _, hub, node = cluster(2)
    document, _ = await first.documents.create()
    await upload(first, document.id, 1000)
    viewer = Viewer()
    room = await hub.join(viewer, document.id)
    assert room is not None and room.document.version is not None
    await settle()

    # while node 2 hears nothing (its bus was down), node 1 commits, turns and counts
    await upload(first, document.id, 2000)
    await first.documents.set_shared_page(document.id, 3)
    assert first.cluster is not None
    await first.cluster.others.save_viewers({document.id: 4})
    assert viewer.pages() == []

    await node.resync()
    await settle()
    pages = [m for m in viewer.received if m.get("type", "page") == "page"]
    # the new version, at the shared page the store holds (it moved there since)
    assert (pages[-1]["total_number"], pages[-1]["page_no"]) == (2000, 3)
    presence = [m for m in viewer.received if m.get("type") == "presence"]
    assert presence[-1]["viewers"] == 5
    # and node 2 said its own count again, for the others to read
    elsewhere = await first.cluster.others.viewers_elsewhere_of([document.id])
    assert elsewhere == {document.id: {2: 1}}


async def test_a_nodes_own_version_is_shown_by_its_commit_not_by_the_stores_notice(cluster):
    # The store tells every node of a commit, this one too, as soon as it is in: up to a
    # second before this node's commit has answered its uploader (it waits for the version's
    # columns). Shown from the notice, page 1 would reach the uploader before its upload_done,
    # and the app would show the table under the start page's address, not the share link.
    here, hub, node = cluster(1)
    document, _ = await here.documents.create()
    await upload(here, document.id, 1000)
    viewer = Viewer()
    room = await hub.join(viewer, document.id)
    assert room is not None
    await settle()

    started = await here.in_progress.start(document.id, Announced("t.tsv", has_header=False))
    await started.feed(b"only\nthese\n")
    committed = await started.finish()  # in the store; this node's hub not told yet
    assert committed.version is not None
    node.on_event(events.VersionCommitted(document.id, 1, committed.version.number))
    await settle()
    assert viewer.pages() == []  # the commit's own path shows it, once it has answered
    await hub.version_committed(committed)
    assert [(m["page_no"], m["total_number"]) for m in viewer.received if "page_no" in m] == [
        (1, 2)
    ]
    # another node's version is shown from the notice (its node cannot tell this one's hub)
    other, _, _ = cluster(2)
    await upload(other, document.id, 300)
    node.on_event(events.VersionCommitted(document.id, 2, committed.version.number + 1))
    await settle()
    assert [m["total_number"] for m in viewer.received if "page_no" in m][-1] == 300
