"""Keeping a cluster in step: what this node tells the other nodes, and what it hears from them.

A node's hub (tablecast.service.hub) knows only its own rooms. What the others must see of them
either the store announces by itself, in the transaction that makes the change (a version, a shared
page turn: see tablecast.store.base.Store), or this module tells them: the node's viewer count
of each document, and news of its uploads. The other way, the bus (tablecast.bus) hands this
module every event the store announced, and it applies each to the room it concerns through the
hub; after the bus was deaf for a while, it reads back from the store whatever was missed.

Outgoing: Hub -> Cluster (this module's side of hub.Neighbours) -> Documents -> Nodes.announce.
Incoming: bus -> Cluster.on_event / Cluster.resync -> Hub.
A single process has no Cluster: its hub's neighbours are hub.NO_NEIGHBOURS, which do
nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from weakref import WeakKeyDictionary

from .. import tasks
from ..bus import events
from .hub import Hub, Room, shared_view_of, version_number
from .progress import News


class Cluster:
    """This node's part in a cluster. Made once the hub is, it becomes the hub's neighbours."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.documents = hub.documents
        self.node = hub.documents.store.node
        # per room, this node's page turns not yet heard back from the store (see _turned)
        self._unheard: WeakKeyDictionary[Room, int] = WeakKeyDictionary()
        self._unannounced: list[str] = []  # upload news for the other nodes, oldest first
        # viewer counts to tell the other nodes: last told, and documents whose count changed
        self._told: dict[str, int] = {}
        self._untold: set[str] = set()
        self._telling = False
        hub.neighbours = self

    # What this node tells the others (hub.Neighbours)

    async def viewers_elsewhere(self, document_id: str) -> dict[int, int]:
        elsewhere = await self.documents.viewers_elsewhere([document_id])
        return elsewhere.get(document_id, {})

    def turning(self, room: Room) -> None:
        self._unheard[room] = self._unheard.get(room, 0) + 1

    def turn_not_saved(self, room: Room) -> None:
        self._unheard[room] = self._unheard.get(room, 0) - 1

    def viewers_changed(self, document_id: str) -> None:
        """Let the other nodes know this one's viewer count of a document, one batch at a time
        (so a count never overtakes a newer one)."""
        self._untold.add(document_id)
        if not self._telling:
            self._telling = True
            tasks.spawn(self._tell_untold(), "tell other nodes our viewer counts")

    async def _tell_untold(self) -> None:
        try:
            while self._untold:
                untold, self._untold = self._untold, set()
                counts = {}
                for document_id in untold:
                    room = self.hub.rooms.get(document_id)
                    count = len(room) if room is not None else 0
                    if self._told.get(document_id, 0) != count:
                        counts[document_id] = count
                if not counts:
                    continue
                await self.documents.save_viewers(counts)
                for document_id, count in counts.items():
                    if count:
                        self._told[document_id] = count
                    else:
                        self._told.pop(document_id, None)
        finally:
            self._telling = False

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
                await self.documents.announce(self._unannounced[0])
                del self._unannounced[0]
        finally:
            self._unannounced.clear()  # after a failure: later news supersedes what was lost

    async def goodbye(self) -> None:
        """This node is stopping: the other nodes' counts drop now, not when they notice it is
        gone."""
        await self.documents.save_viewers({document_id: 0 for document_id in self.hub.rooms})

    # What the others did (bus.events.Listener)

    def on_event(self, event: events.Event) -> None:
        """Something announced by the store: apply it to this node's room, if it has one."""
        hub = self.hub
        room = hub.rooms.get(event.document_id)
        match event:
            case events.VersionCommitted():
                if room is None:
                    hub.heard_of_a_version()
                elif version_number(room.document) < event.number:
                    tasks.spawn(self._catch_up(room), "show a version from another node")
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
            unheard = self._unheard[room] = max(self._unheard.get(room, 0) - 1, 0)
            if unheard:
                return
        view = shared_view_of(replace(room.document, shared_view=event.view))
        showing = self.hub.moved_elsewhere(room, event.page_no, view)
        if showing is not None:
            tasks.spawn(showing, "show a page turn")

    async def _catch_up(self, room: Room) -> None:
        """Show what the store holds for the room's document, where it differs from what this
        node shows: a newer version (everyone sees its page 1), or another shared page."""
        hub = self.hub
        document = await self.documents.get(room.document.id)
        if document is None or hub.rooms.get(document.id) is not room:
            return
        if version_number(document) > version_number(room.document):
            await hub.version_committed(document)
        if not self._unheard.get(room, 0):
            showing = hub.moved_elsewhere(room, document.shared_page, shared_view_of(document))
            if showing is not None:
                await showing

    async def resync(self) -> None:
        """After the bus was deaf for a while: whatever was missed, read back from the store."""
        rooms = list(self.hub.rooms.values())
        for room in rooms:
            self._unheard[room] = 0
        elsewhere = await self.documents.viewers_elsewhere([room.document.id for room in rooms])
        for room in rooms:
            room.elsewhere = elsewhere.get(room.document.id, {})
            self.hub.schedule_presence(room)
        self._told.clear()  # the store may have forgotten them (a node is forgotten when
        for room in rooms:  # its connection drops): say them all again
            self.viewers_changed(room.document.id)
        await asyncio.gather(*(self._catch_up(room) for room in rooms), return_exceptions=True)
