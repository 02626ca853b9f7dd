"""Keeping a cluster in step: what this node tells the other nodes, and what it hears from them.

A node's hub (tablecast.service.hub) knows only its own rooms. What the others must see of them
either the store announces by itself, in the transaction that makes the change (a version, a shared
page turn: see tablecast.store.base.Store), or :class:`OtherNodes` tells them: the node's viewer
count of each document, and news of its uploads. The other way, the bus (tablecast.bus) hands
:class:`Cluster` every event the store announced, and it applies each to the room it concerns
through the hub; after the bus was deaf for a while, it reads back from the store whatever was
missed.

Outgoing: Hub -> OtherNodes (the hub's Neighbours) -> Nodes (save_viewers, announce).
Incoming: bus -> Cluster.on_event / Cluster.resync -> Hub.
A single process has neither: its hub's neighbours are hub.NO_NEIGHBOURS, which do nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar
from weakref import WeakKeyDictionary

from .. import tasks
from ..bus import events
from ..store.base import Nodes
from .documents import Documents
from .hub import Hub, Room, shared_view_of, version_number
from .progress import News
from .storage import Storage

log = logging.getLogger("tablecast.service.cluster")

T = TypeVar("T")


class OtherNodes:
    """The other nodes of the cluster, as this node's hub tells them (hub.Neighbours), through
    what their store keeps of them (store.base.Nodes). ``node``: this one among them.

    Asked on a reader, not behind an upload's writes on the writer: presence is prompt. Once
    the store is closing they are not asked (viewers leaving during a shutdown: the other
    nodes hear of it when this one is gone)."""

    def __init__(self, storage: Storage, nodes: Nodes, node: int) -> None:
        self.storage = storage
        self.nodes = nodes
        self.node = node
        # per room, this node's page turns not yet heard back from the store (see Cluster)
        self.unheard: WeakKeyDictionary[Room, int] = WeakKeyDictionary()
        self._unannounced: list[str] = []  # upload news for the other nodes, oldest first
        # viewer counts to tell the other nodes: last told, and those to tell
        self._told: dict[str, int] = {}
        self._untold: dict[str, int] = {}
        self._telling = False

    async def _ask(self, fn: Callable[..., T], *args: object) -> T | None:
        if self.storage.closing:
            return None
        return await self.storage.read(fn, *args)

    async def viewers_elsewhere(self, document_id: str) -> dict[int, int]:
        elsewhere = await self.viewers_elsewhere_of([document_id])
        return elsewhere.get(document_id, {})

    async def viewers_elsewhere_of(self, document_ids: list[str]) -> dict[str, dict[int, int]]:
        """Viewers of each document on each other node (see Nodes.viewers_elsewhere)."""
        if not document_ids:
            return {}
        return await self._ask(self.nodes.viewers_elsewhere, document_ids) or {}

    async def remove_abandoned(self) -> bool:
        """See Nodes.remove_abandoned."""
        return bool(await self._ask(self.nodes.remove_abandoned))

    def turning(self, room: Room) -> None:
        self.unheard[room] = self.unheard.get(room, 0) + 1

    def turn_not_saved(self, room: Room) -> None:
        self.unheard[room] = self.unheard.get(room, 0) - 1

    def viewers_changed(self, document_id: str, viewers: int) -> None:
        """Let the other nodes know this one's viewer count of a document, one batch at a time
        (so a count never overtakes a newer one)."""
        self._untold[document_id] = viewers
        if not self._telling:
            self._telling = True
            tasks.spawn(self._tell_untold(), "tell other nodes our viewer counts")

    async def _tell_untold(self) -> None:
        try:
            while self._untold:
                untold, self._untold = self._untold, {}
                counts = {
                    document_id: count
                    for document_id, count in untold.items()
                    if self._told.get(document_id, 0) != count
                }
                if not counts:
                    continue
                await self.save_viewers(counts)
                for document_id, count in counts.items():
                    if count:
                        self._told[document_id] = count
                    else:
                        self._told.pop(document_id, None)
        finally:
            self._telling = False

    async def save_viewers(self, counts: dict[str, int]) -> None:
        await self._ask(self.nodes.save_viewers, counts)

    def forget_told(self) -> None:
        """The store may have forgotten the counts told (a node is forgotten when its
        connection drops): they are all to be told again."""
        self._told.clear()

    def upload_news(self, document_id: str, news: News) -> None:
        self._announce(events.encode(events.UploadProgress(document_id, self.node, news)))

    def _announce(self, payload: str) -> None:
        """Tell the other nodes, in order: news of an upload must not arrive after its end."""
        self._unannounced.append(payload)
        if len(self._unannounced) == 1:
            tasks.spawn(self._announce_in_order(), "announce upload progress")

    async def _announce_in_order(self) -> None:
        try:
            while self._unannounced:
                await self._ask(self.nodes.announce, self._unannounced[0])
                del self._unannounced[0]
        finally:
            self._unannounced.clear()  # after a failure: later news supersedes what was lost


class Cluster:
    """This node's part in a cluster, as the bus's Listener: what the other nodes did, applied
    to this node's rooms through the hub, whose neighbours ``others`` are."""

    def __init__(self, hub: Hub, others: OtherNodes, documents: Documents) -> None:
        self.hub = hub
        self.others = others
        self.documents = documents
        self.node = others.node

    async def goodbye(self) -> None:
        """This node is stopping: the other nodes' counts drop now, not when they notice it is
        gone."""
        await self.others.save_viewers({document_id: 0 for document_id in self.hub.rooms})

    async def forget_stopped_nodes(self) -> None:
        """Forget what nodes that stopped (or were killed) left; if this node was itself cut off
        long enough to be forgotten, tell the others its state again."""
        if await self.others.remove_abandoned():
            log.warning("the store had taken this node for stopped; resynchronising")
            await self.resync()

    # What the others did (bus.events.Listener)

    def on_event(self, event: events.Event) -> None:
        """Something announced by the store: apply it to this node's room, if it has one."""
        hub = self.hub
        room = hub.rooms.get(event.document_id)
        match event:
            case events.VersionCommitted() if event.node == self.node:
                # This node's own commit, which shows itself once it has answered (an upload
                # its uploader, see Uploads.finish; a restore its request): shown from here,
                # up to COLUMNS_WAIT sooner, page 1 would reach an uploader before its
                # upload_done. Other rooms of no one here need no word.
                pass
            case events.VersionCommitted():
                if room is None:
                    hub.heard_of_a_version()
                elif version_number(room.document) < event.number:
                    tasks.spawn(
                        self._catch_up(room, event.edited), "show a version from another node"
                    )
            case events.PageTurned() if room is not None:
                self._turned(room, event)
            case events.ViewersCounted() if room is not None and event.node != self.node:
                if event.viewers:
                    room.elsewhere[event.node] = event.viewers
                else:
                    room.elsewhere.pop(event.node, None)
                hub.schedule_presence(room)
            case events.UploadProgress() if room is not None and event.node != self.node:
                hub.show_progress(room, event.fields)

    def _turned(self, room: Room, event: events.PageTurned) -> None:
        """The store saved a shared page turn. Every node hears every turn in the order the
        store saved them, so following that order brings them all to the same page. This
        node's own turns were shown when made: hearing one back changes nothing unless turns
        from elsewhere came between (and only the last of ours counts, or a quick run of our
        own turns would be replayed)."""
        if event.node == self.node:
            unheard = self.others.unheard
            unheard[room] = max(unheard.get(room, 0) - 1, 0)
            if unheard[room]:
                return
        view = shared_view_of(replace(room.document, shared_view=event.view))
        showing = self.hub.moved_elsewhere(room, event.page_no, view)
        if showing is not None:
            tasks.spawn(showing, "show a page turn")

    async def _catch_up(self, room: Room, edited: bool = False) -> None:
        """Show what the store holds for the room's document, where it differs from what this
        node shows: a newer version (everyone sees its page 1, or where it changed rows where
        they are, ``edited``, the page each was on), or another shared page."""
        hub = self.hub
        document = await self.documents.get(room.document.id)
        if document is None or hub.rooms.get(document.id) is not room:
            return
        if version_number(document) > version_number(room.document):
            await hub.version_committed(document, edited=edited, here=False)
        if not self.others.unheard.get(room, 0):
            showing = hub.moved_elsewhere(room, document.shared_page, shared_view_of(document))
            if showing is not None:
                await showing

    async def resync(self) -> None:
        """After the bus was deaf for a while: whatever was missed, read back from the store."""
        others = self.others
        rooms = list(self.hub.rooms.values())
        for room in rooms:
            others.unheard[room] = 0
        elsewhere = await others.viewers_elsewhere_of([room.document.id for room in rooms])
        for room in rooms:
            room.elsewhere = elsewhere.get(room.document.id, {})
            self.hub.schedule_presence(room)
        others.forget_told()
        for room in rooms:
            others.viewers_changed(room.document.id, len(room))
        await asyncio.gather(*(self._catch_up(room) for room in rooms), return_exceptions=True)
