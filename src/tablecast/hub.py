"""Rooms, presence and fan-out: who is watching which document, and what they are sent.

All viewers of a document form its room. The room holds the document's shared page: a
viewer in follow mode (every legacy viewer, and v1 viewers by default) sees it, and a page turn
by any follower moves them all. A new version sends page 1 of it to every viewer.

Each fan-out encodes a message once per kind of viewer (legacy, v1 following, v1 on its own)
and hands the same bytes to every viewer of that kind. Page data is read asynchronously, so a
fan-out that has been overtaken by a newer turn or version by the time its data arrives is
dropped rather than sent late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol, tasks
from .documents import Documents, Upload
from .errors import TablecastError
from .metrics import METRICS
from .store.base import Document
from .websocket import Frame

log = logging.getLogger("tablecast.hub")

PRESENCE_DELAY = 0.1  # joins and leaves within this time make one presence message
PROGRESS_INTERVAL = 0.25  # upload progress is shown to viewers at most this often


class Viewer(Protocol):
    legacy: bool
    follow: bool

    def send(self, frame: Frame) -> None:
        """Queue a message; must not raise (a closed viewer just drops it)."""
        ...


# Viewers by what they are sent: legacy (always following), v1 following, v1 browsing alone.
Kind = tuple[bool, bool]  # (legacy, following)
KINDS: tuple[Kind, ...] = ((True, True), (False, True), (False, False))


def kind_of(viewer: Viewer) -> Kind:
    return (viewer.legacy, viewer.follow or viewer.legacy)


@dataclass(eq=False)
class Room:
    document: Document
    shared_page: int
    # viewers grouped by kind, so that a fan-out is one plain loop over each group
    groups: dict[Kind, set[Viewer]] = field(default_factory=lambda: {k: set() for k in KINDS})
    turns: int = 0  # bumped by every page turn and version: older fan-outs are dropped
    versions: int = 0  # bumped by every version: older private pages are dropped
    presence_scheduled: bool = False
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress_scheduled: bool = False
    progress_sent: float = 0.0  # loop time of the last progress message
    _fields: tuple[Document, dict[str, Any]] | None = None

    @property
    def fields(self) -> dict[str, Any]:
        """What every page message says about the document, made once per version."""
        if self._fields is None or self._fields[0] is not self.document:
            self._fields = (self.document, protocol.document_fields(self.document))
        return self._fields[1]

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups.values())

    def all_viewers(self) -> list[Viewer]:
        return [viewer for group in self.groups.values() for viewer in group]

    def v1_viewers(self) -> list[Viewer]:
        return [*self.groups[False, True], *self.groups[False, False]]


class Hub:
    def __init__(self, documents: Documents, page_size: int, legacy_page_size: int) -> None:
        self.documents = documents
        self.page_size = page_size
        self.legacy_page_size = legacy_page_size
        self.rooms: dict[str, Room] = {}
        self._commits = 0  # versions committed so far, to notice one landing during a read

    # Membership

    async def join(self, viewer: Viewer, document_id: str) -> Room | None:
        """Add a viewer to its document's room (made if need be); None if there is no document."""
        room = self.rooms.get(document_id)
        while room is None:
            commits = self._commits
            document = await self.documents.get(document_id)
            if document is None:
                return None
            room = self.rooms.get(document_id)  # another viewer may have opened it meanwhile
            if room is None and commits == self._commits:
                room = self.rooms[document_id] = Room(document, document.shared_page)
                self.documents.touch(document_id)
            # else a version landed while we read: it may be this document's, so read again
        room.groups[kind_of(viewer)].add(viewer)
        self._schedule_presence(room)
        return room

    def leave(self, viewer: Viewer, room: Room) -> None:
        room.groups[kind_of(viewer)].discard(viewer)
        if len(room):
            self._schedule_presence(room)
        elif self.rooms.get(room.document.id) is room:
            del self.rooms[room.document.id]
            self.documents.touch(room.document.id)  # viewed until now

    def set_follow(self, viewer: Viewer, room: Room, follow: bool) -> None:
        room.groups[kind_of(viewer)].discard(viewer)
        viewer.follow = follow
        room.groups[kind_of(viewer)].add(viewer)

    @property
    def viewer_count(self) -> int:
        return sum(len(room) for room in self.rooms.values())

    # Pages

    def _page_size(self, legacy: bool) -> int:
        return self.legacy_page_size if legacy else self.page_size

    async def _page(
        self,
        room: Room,
        page_no: int,
        legacy: bool,
        *,
        shared: bool,
        cause: str,
        error: TablecastError | None = None,
    ) -> bytes:
        document = room.document
        window = protocol.page_window(document.version, page_no, self._page_size(legacy), legacy)
        data = await self.documents.records(document.version, window.start, window.stop)
        if legacy:
            return protocol.legacy_page(document.id, window, data, error)
        return protocol.v1_page(room.fields, window, data, shared=shared, cause=cause)

    async def send_page(
        self,
        viewer: Viewer,
        room: Room,
        page_no: int | None,
        *,
        cause: str,
        error: TablecastError | None = None,
    ) -> None:
        """One page to one viewer; ``None`` means the shared page, kept current if it turns
        while being read (a stale shared page must never arrive after a newer one)."""
        while True:
            turns, versions = room.turns, room.versions
            shared = page_no is None
            payload = await self._page(
                room,
                room.shared_page if page_no is None else page_no,
                viewer.legacy,
                shared=shared,
                cause=cause,
                error=error,
            )
            if shared and room.turns != turns:
                continue
            if room.versions == versions:  # else the new version's page 1 went to everyone
                viewer.send(Frame(payload, supersedes="page"))
            return

    async def turn_page(self, room: Room, page_no: int) -> None:
        """A follower turned the shared page: every follower moves with it."""
        last = max(
            protocol.page_window(
                room.document.version, 1, self._page_size(legacy), legacy
            ).page_count
            for legacy in (True, False)
        )
        room.shared_page = min(page_no, last)
        room.turns += 1
        tasks.spawn(
            self.documents.set_shared_page(room.document.id, room.shared_page), "save shared page"
        )
        await self._fan_out(room, cause="turn", everyone=False)

    async def version_committed(self, document: Document) -> None:
        """A new version is current: every viewer, following or not, sees its page 1."""
        self._commits += 1
        room = self.rooms.get(document.id)
        if room is None:
            return
        room.document = document
        room.shared_page = 1
        room.turns += 1
        room.versions += 1
        await self._fan_out(room, cause="version", everyone=True)

    async def _fan_out(self, room: Room, *, cause: str, everyone: bool) -> None:
        began = time.perf_counter()
        turns = room.turns
        page_no = room.shared_page
        frames: dict[Kind, Frame] = {}
        while True:  # viewers of a new kind may join while pages are being read
            kinds = [k for k in KINDS if room.groups[k] and (everyone or k[1])]
            missing = [k for k in kinds if k not in frames]
            if not missing:
                break
            for legacy, follow in missing:
                payload = await self._page(room, page_no, legacy, shared=follow, cause=cause)
                frames[legacy, follow] = Frame(payload, supersedes="page")
            if room.turns != turns:
                return  # overtaken: the newer fan-out sends what is current
        started = time.perf_counter()
        sent = sum(_send_each(room.groups[kind], frame) for kind, frame in frames.items())
        METRICS.fan_out_seconds.observe(time.perf_counter() - began)
        log.debug(
            "fan-out doc=%s cause=%s page=%d viewers=%d seconds=%.4f",
            room.document.id,
            cause,
            page_no,
            sent,
            time.perf_counter() - started,
        )

    # Presence and progress

    def _schedule_presence(self, room: Room) -> None:
        if not room.presence_scheduled:
            room.presence_scheduled = True
            asyncio.get_running_loop().call_later(PRESENCE_DELAY, self._send_presence, room)

    def _send_presence(self, room: Room) -> None:
        room.presence_scheduled = False
        _send_each(room.v1_viewers(), Frame(protocol.presence(len(room)), "presence"))

    def upload_progress(
        self, upload: Upload, state: str, error: TablecastError | None = None
    ) -> None:
        """Show an upload's progress to the v1 viewers of its document, at most every 250 ms;
        its end (done, failed, cancelled) at once."""
        room = self.rooms.get(upload.document_id)
        if room is None:
            return
        fields: dict[str, Any] = {
            "upload": upload.id,
            "filename": upload.filename,
            "received": upload.received,
            "size": upload.size,
            "records": upload.records,
            "state": state,
        }
        if error is not None:
            fields["error"] = error.as_dict()
        if state != "receiving":
            room.progress.pop(upload.id, None)
            _send_each(room.v1_viewers(), _progress(fields))
            return
        room.progress[upload.id] = fields
        if room.progress_scheduled:
            return
        # the first news of an upload goes out at once, then at most one every interval
        loop = asyncio.get_running_loop()
        wait = room.progress_sent + PROGRESS_INTERVAL - loop.time()
        if wait <= 0:
            self._send_progress(room)
        else:
            room.progress_scheduled = True
            loop.call_later(wait, self._send_progress, room)

    def _send_progress(self, room: Room) -> None:
        room.progress_scheduled = False
        room.progress_sent = asyncio.get_running_loop().time()
        for fields in room.progress.values():
            _send_each(room.v1_viewers(), _progress(fields))
        room.progress.clear()


def _progress(fields: dict[str, Any]) -> Frame:
    # the newest news of an upload supersedes older news of it for a viewer that lags behind
    return Frame(protocol.message("upload_progress", **fields), f"progress {fields['upload']}")


def _send_each(viewers: Iterable[Viewer], frame: Frame) -> int:
    """Send the frame to each viewer. One failing viewer never stops the rest."""
    sent = 0
    for viewer in list(viewers):
        try:
            viewer.send(frame)
            sent += 1
        except Exception:
            log.exception("could not send to a viewer")
    return sent
