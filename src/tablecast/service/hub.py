"""Rooms, presence and fan-out: who is watching which document, and what they are sent.

All viewers of a document form its room. The room holds the document's shared page: a
viewer in follow mode (every legacy viewer, and v1 viewers by default) sees it, and a page turn
by any follower moves them all. A new version sends page 1 of it to every viewer.

In a cluster a document's viewers are spread over nodes, each with a room of its own. The hub
knows only its own node: what it must tell the others, or ask of them, goes to its
``Neighbours`` (``NO_NEIGHBOURS``, which do nothing, for a single process; in a cluster,
tablecast.service.cluster's ``OtherNodes``), and what the others did comes back through the
few methods that the cluster calls here (see *What other nodes did*).

Each fan-out encodes a message once per kind of viewer (legacy, v1 following, v1 on its own)
and hands the same bytes to every viewer of that kind. Page data is read asynchronously, so a
fan-out that has been overtaken by a newer turn or version by the time its data arrives is
dropped rather than sent late.

A viewer browsing alone in a view of its own that sorts or searches is nobody else's concern:
a new version reaches the followers (and answers its uploader) first, and such viewers catch up
after, each in its own turn on the views thread (see views.Scheduler).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol, TypeVar

from .. import tasks
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document, Version
from ..table import paging
from ..table.paging import Numbering
from ..table.view import PLAIN, View, view_from_json
from ..wire import protocol
from ..wire.websocket import Frame
from .documents import Documents
from .limits import InUse
from .pages import Pages
from .progress import News, UploadNews, news_of
from .upload import Upload

log = logging.getLogger("tablecast.service.hub")

PRESENCE_DELAY = 0.1  # joins and leaves within this time make one presence message
# How long a document stays without a newer version before the columns of one that changed
# rows are made (see Hub.version_committed)
PREPARE_QUIET = 0.5

T = TypeVar("T")


class Viewer(Protocol):
    follow: bool
    view: View  # its own, for pages not shared (legacy viewers: always the plain one)
    patches: bool  # it takes a patch of its page where that is smaller (v1 viewers only)

    @property
    def legacy(self) -> bool:
        """It speaks the article's dialect: it is sent the article's messages only."""
        ...

    def send(self, frame: Frame) -> None:
        """Queue a message; must not raise (a closed viewer just drops it)."""
        ...


class Neighbours(Protocol):
    """The other nodes of a cluster, as this node's hub sees them (see
    tablecast.service.cluster)."""

    async def viewers_elsewhere(self, document_id: str) -> dict[int, int]:
        """Viewers of the document on each other node, by node."""
        ...

    def viewers_changed(self, document_id: str, viewers: int) -> None:
        """This node's count of the document's viewers is now ``viewers``."""
        ...

    def turning(self, room: Room) -> None:
        """This node turned the room's shared page (or changed its view): it is being saved,
        and the store will announce it back."""
        ...

    def turn_not_saved(self, room: Room) -> None:
        """A turn told of by ``turning`` failed to save: nothing will be heard of it."""
        ...

    def upload_news(self, document_id: str, news: News) -> None:
        """News of an upload to the document, already shown to this node's viewers."""
        ...


class NoNeighbours:
    """A single process: nobody to tell, nobody elsewhere."""

    async def viewers_elsewhere(self, document_id: str) -> dict[int, int]:
        return {}

    def viewers_changed(self, document_id: str, viewers: int) -> None:
        pass

    def turning(self, room: Room) -> None:
        pass

    def turn_not_saved(self, room: Room) -> None:
        pass

    def upload_news(self, document_id: str, news: News) -> None:
        pass


NO_NEIGHBOURS = NoNeighbours()


class ViewerKind(NamedTuple):
    """Viewers by what they are sent: a fan-out encodes a message once per kind."""

    legacy: bool  # the article's messages, not tablecast.v1's
    following: bool  # sees the shared page and view (legacy viewers always do)


LEGACY = ViewerKind(legacy=True, following=True)
FOLLOWING = ViewerKind(legacy=False, following=True)  # v1, following the shared page
ALONE = ViewerKind(legacy=False, following=False)  # v1, browsing on its own
KINDS = (LEGACY, FOLLOWING, ALONE)


def kind_of(viewer: Viewer) -> ViewerKind:
    return ViewerKind(viewer.legacy, viewer.follow or viewer.legacy)


@dataclass(eq=False)
class OwnPages:
    """A viewer's pages of its own view, once it has sorted or searched: the one being made (at
    most one: a newer request supersedes it, unmade), and when its view last changed."""

    view: View = PLAIN
    changed: int = 0  # Hub._changes when it last changed: newest views catch up first
    versions: int = -1  # room.versions when its last page was asked for
    making: asyncio.Task[bytes] | None = None


@dataclass(eq=False)
class Room:
    document: Document
    shared_page: int
    shared_view: View = PLAIN  # what followers see: sorted, searched (tablecast.table.view)
    # viewers grouped by kind, so that a fan-out is one plain loop over each group
    groups: dict[ViewerKind, set[Viewer]] = field(default_factory=lambda: {k: set() for k in KINDS})
    turns: int = 0  # bumped by every page turn and version: older fan-outs are dropped
    versions: int = 0  # bumped by every version: older private pages are dropped
    presence_scheduled: bool = False
    elsewhere: dict[int, int] = field(default_factory=dict)  # viewers on other nodes, by node
    # versions (id, header) whose column types are being inferred for this room's viewers
    typing: set[tuple[int, bool]] = field(default_factory=set)
    own: dict[Viewer, OwnPages] = field(default_factory=dict)  # see Hub._own_page
    edited: bool = False  # its version changed rows where they are (see PREPARE_QUIET)
    # the page each viewer browsing alone last asked for: where it stays when rows change
    own_page: dict[Viewer, int] = field(default_factory=dict)
    # the page each kind of follower (and view) was last sent in a fan-out, and its version:
    # what a version that changed rows is sent as a patch of (see protocol.v1_patch)
    sent: dict[tuple[ViewerKind, View], tuple[int, bytes]] = field(default_factory=dict)
    # ... and the page of its own view each viewer browsing alone that takes patches was last
    # sent (a reference to it: pages of one view and number are one object, see _send_own)
    own_sent: dict[Viewer, tuple[int, bytes]] = field(default_factory=dict)
    _fields: tuple[Document, dict[str, Any]] | None = None

    @property
    def fields(self) -> dict[str, Any]:
        """What every page message says about the document, made once per version."""
        if self._fields is None or self._fields[0] is not self.document:
            self._fields = (self.document, protocol.document_fields(self.document))
        return self._fields[1]

    def __len__(self) -> int:
        """Viewers on this node."""
        return sum(len(group) for group in self.groups.values())

    @property
    def viewers_everywhere(self) -> int:
        return len(self) + sum(self.elsewhere.values())

    def all_viewers(self) -> list[Viewer]:
        return [viewer for group in self.groups.values() for viewer in group]

    def v1_viewers(self) -> list[Viewer]:
        return [*self.groups[FOLLOWING], *self.groups[ALONE]]


class Hub:
    """``in_use``: told which documents have rooms (they are never removed to make room);
    ``neighbours``: the other nodes of a cluster (tablecast.service.cluster.OtherNodes), or
    none."""

    def __init__(
        self,
        documents: Documents,
        pages: Pages,
        in_use: InUse,
        *,
        page_size: int,
        legacy_page_size: int,
        neighbours: Neighbours = NO_NEIGHBOURS,
    ) -> None:
        self.documents = documents
        self.pages = pages
        self.in_use = in_use
        self.page_size = page_size
        self.legacy_page_size = legacy_page_size
        self.rooms: dict[str, Room] = {}
        self.neighbours = neighbours
        self._commits = 0  # versions committed so far, to notice one landing during a read
        self._upload_news = UploadNews(self._send_progress_news)
        self._changes = 0  # own views changed so far (see OwnPages.changed)

    # Membership

    async def join(self, viewer: Viewer, document_id: str) -> Room | None:
        """Add a viewer to its document's room (made if need be); None if there is no document."""
        room = self.rooms.get(document_id)
        while room is None:
            commits = self._commits
            document = await self.documents.get(document_id)
            if document is None:
                return None
            elsewhere = await self.neighbours.viewers_elsewhere(document_id)
            room = self.rooms.get(document_id)  # another viewer may have opened it meanwhile
            if room is None and commits == self._commits:
                room = self.rooms[document_id] = Room(
                    document, document.shared_page, shared_view_of(document)
                )
                room.elsewhere = elsewhere
                self.in_use.opened(document_id)
            # else a version landed while we read: it may be this document's, so read again
        room.groups[kind_of(viewer)].add(viewer)
        self.schedule_presence(room)
        return room

    def leave(self, viewer: Viewer, room: Room) -> None:
        room.groups[kind_of(viewer)].discard(viewer)
        room.own_page.pop(viewer, None)
        room.own_sent.pop(viewer, None)
        own = room.own.pop(viewer, None)
        if own is not None and own.making is not None:
            own.making.cancel()  # nobody to show it to
        if len(room):
            self.schedule_presence(room)
        elif self.rooms.get(room.document.id) is room:
            del self.rooms[room.document.id]
            self.in_use.closed(room.document.id)  # viewed until now
            self.neighbours.viewers_changed(room.document.id, 0)

    def set_follow(self, viewer: Viewer, room: Room, follow: bool) -> None:
        room.groups[kind_of(viewer)].discard(viewer)
        viewer.follow = follow
        room.groups[kind_of(viewer)].add(viewer)
        own = room.own.get(viewer)
        if own is not None and own.making is not None:
            own.making.cancel()  # a page of its own would now arrive after the shared one

    @property
    def viewer_count(self) -> int:
        return sum(len(room) for room in self.rooms.values())

    # Pages

    async def _page(
        self,
        room: Room,
        page_no: int,
        legacy: bool,
        *,
        shared: bool,
        cause: str,
        view: View = PLAIN,
        error: TablecastError | None = None,
        viewer: Viewer | None = None,
    ) -> bytes:
        """``viewer``: whose own view this is a page of, if it is one (see _own_page)."""
        document = room.document
        if legacy:  # the article's clients see the plain table, and count its header line
            page = await self.pages.page(
                document.version, PLAIN, page_no, self.legacy_page_size, Numbering.RECORDS
            )
            return protocol.legacy_page(document.id, page.window, page.data, error)
        version = view.on(document.version)
        page = await self.pages.page(
            version, view, page_no, self.page_size, Numbering.ROWS, viewer=viewer
        )
        fields = room.fields
        if version is not document.version:  # the header switched: other columns
            fields = protocol.document_fields(replace(document, version=version))
        types = page.types
        if version is not None:
            typing = (version.id, version.meta.has_header)
            if typing in room.typing:
                # the room's viewers are about to be told them: a page carrying them too
                # would tell this viewer twice
                types = None
            elif types is None:  # once, however many viewers are sent pages
                room.typing.add(typing)
                tasks.spawn(self._tell_types(room, version), "infer column types")
        return protocol.v1_page(
            fields,
            page.window,
            page.data,
            shared=shared,
            cause=cause,
            view=view,
            types=types,
            row_numbers=page.row_numbers,
        )

    async def _tell_types(self, room: Room, version: Version) -> None:
        """Column types take a pass over the version: pages go out without them meanwhile,
        and its viewers are sent them once known. Those of a version that changed rows are
        found once no newer version came for a moment (see PREPARE_QUIET): in a burst of
        changes, those of its last version only."""
        try:
            if room.edited:
                await asyncio.sleep(PREPARE_QUIET)
                if room.document.version is None or room.document.version.id != version.id:
                    return  # a newer one came: its pages say, or tell, its own
            types = await self.pages.types(version)
        except TablecastError:  # shutting down, or the store is away: pages say no types
            return
        finally:  # known now (or to be tried again by the next page)
            room.typing.discard((version.id, version.meta.has_header))
        if room.document.version is not None and room.document.version.id == version.id:
            # each viewer is told them as its view sets them (its pages say the same)
            told: dict[tuple[str, ...], list[Viewer]] = {}
            for viewer in room.v1_viewers():
                view = _seen_with(room, kind_of(viewer), viewer)
                told.setdefault(tuple(view.typed(types) or ()), []).append(viewer)
            for effective, viewers in told.items():
                message = protocol.message(
                    "types",
                    version=version.number,
                    header=version.meta.has_header,
                    types=list(effective),
                )
                _send_each(viewers, Frame(message))

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
        while being read (a stale shared page must never arrive after a newer one); a number,
        a page of the viewer's own view (see _own_page)."""
        if page_no is not None:
            versions = room.versions
            room.own_page[viewer] = page_no
            payload = await self._own_page(viewer, room, page_no, cause=cause, error=error)
            # else superseded, or the new version's page 1 went to everyone
            if payload is not None and room.versions == versions:
                _send_own(viewer, room, payload)
            return
        while True:
            turns, versions = room.turns, room.versions
            payload = await self._page(
                room,
                room.shared_page,
                viewer.legacy,
                shared=True,
                cause=cause,
                view=room.shared_view,
                error=error,
            )
            if room.turns != turns:
                continue
            if room.versions == versions:  # else the new version's page 1 went to everyone
                viewer.send(Frame(payload, supersedes="page"))
                kind = kind_of(viewer)
                if not kind.legacy and (kind, room.shared_view) not in room.sent:
                    # the followers' page, for a patch of the next version (see _patches)
                    number = room.document.version.number if room.document.version else 0
                    room.sent[kind, room.shared_view] = (number, payload)
            return

    async def _own_page(
        self,
        viewer: Viewer,
        room: Room,
        page_no: int,
        *,
        cause: str,
        error: TablecastError | None = None,
    ) -> bytes | None:
        """Page ``page_no`` of the viewer's own view; None if superseded before it was made.

        A view that sorts or searches is computed on the views thread behind shared work,
        taking this viewer's own turns (see views.Scheduler), and a viewer has one such page
        in the making at most: asking for another, or a new version landing, cancels it, and
        its work not yet done is never done. However often a viewer changes its view, it
        holds back no one but itself."""
        view = viewer.view
        own = room.own.get(viewer)
        if own is None and view.picks:
            own = room.own[viewer] = OwnPages()
        if own is not None:
            if own.view != view:
                self._changes += 1
                own.view, own.changed = view, self._changes
            own.versions = room.versions
            if own.making is not None:
                own.making.cancel()
                own.making = None
        work = self._page(
            room, page_no, viewer.legacy, shared=False, cause=cause, view=view, error=error,
            viewer=viewer,
        )  # fmt: skip
        if own is None or not view.picks:
            return await work  # nothing to sort or search: read at once
        making, made = _cancellable(work)
        own.making = making
        try:
            return await made
        except asyncio.CancelledError:
            making.cancel()
            raise
        finally:
            if own.making is making:
                own.making = None

    def _catch_up_own_views(self, room: Room, *, edited: bool = False) -> None:
        """After a version's page went to the followers: page 1 of it in their own views to
        the viewers browsing alone that sort or search, newest view first, each in its own
        turns (see _own_page), unless it asked for a page of the version itself meanwhile.
        Where rows were changed where they are (``edited``), every viewer browsing alone is
        sent the page it was on, of the new version, in its own view."""
        versions = room.versions
        viewers = [viewer for viewer in room.groups[ALONE] if edited or viewer.view.picks]
        own = room.own
        viewers.sort(key=lambda viewer: own[viewer].changed if viewer in own else 0, reverse=True)
        for viewer in viewers:
            if viewer not in own or own[viewer].versions != versions:
                page_no = room.own_page.get(viewer, 1) if edited else 1
                tasks.spawn(
                    self._catch_up_own_view(viewer, room, versions, page_no),
                    "show a new version in a viewer's own view",
                )

    async def _catch_up_own_view(
        self, viewer: Viewer, room: Room, versions: int, page_no: int
    ) -> None:
        view = viewer.view
        payload = await self._own_page(viewer, room, page_no, cause="version")
        if (
            payload is not None
            and room.versions == versions
            and viewer.view == view
            and viewer in room.groups[ALONE]
        ):
            _send_own(viewer, room, payload)

    async def turn_page(self, room: Room, page_no: int) -> None:
        """A follower turned the shared page: every follower moves with it."""
        room.shared_page = min(page_no, self._last_page(room.document.version))
        room.turns += 1
        self.neighbours.turning(room)
        tasks.spawn(self._save_shared_page(room), "save shared page")
        await self._fan_out(room, cause="turn", everyone=False)

    async def set_view(self, room: Room, view: View) -> None:
        """A follower sorted or searched (or switched the header): every follower sees it,
        from its page 1."""
        view.check(view.on(room.document.version))
        room.shared_view = view
        room.shared_page = 1
        room.turns += 1
        self.neighbours.turning(room)
        tasks.spawn(self._save_shared_page(room), "save shared view")
        await self._fan_out(room, cause="view", everyone=False)

    def _last_page(self, version: Version | None) -> int:
        """The shared page's last number: the longer count, legacy's or v1's."""
        return max(
            paging.page_window(version, 1, self.legacy_page_size, Numbering.RECORDS).page_count,
            paging.page_window(version, 1, self.page_size, Numbering.ROWS).page_count,
        )

    async def _save_shared_page(self, room: Room) -> None:
        try:
            await self.documents.set_shared_page(
                room.document.id, room.shared_page, room.shared_view.encode()
            )
        except BaseException:
            self.neighbours.turn_not_saved(room)
            raise

    async def version_committed(
        self, document: Document, *, edited: bool = False, here: bool = True
    ) -> None:
        """A new version is current: every viewer, following or not, sees its page 1 (and its
        columns are made now, for the first sort or search); where rows were changed where
        they are (``edited``: added, deleted, cells set; or a shared page the store kept,
        told by another node), the shared page of it instead, and each viewer browsing alone
        its own page: nobody is moved, but those on the last page of the table in file
        order, who stay on its last page as rows are added (a move the node that made the
        change saves, ``here``, as a turn; another node makes it too, and hears it saved)."""
        self._commits += 1
        room = self.rooms.get(document.id)
        if room is None or version_number(room.document) >= version_number(document):
            self.pages.prepare(document.version)
            return  # in a cluster, the store's announcement of it may have come first
        # rows changed where they are: the group stays on its page, unless it was on the last
        # page of the table in file order, which it follows as rows come (`tail -f`)
        shared_page = room.shared_page if edited else document.shared_page
        last, at_end = self._last_page(room.document.version), self._last_page(document.version)
        moved = edited and shared_page == last != at_end and not room.shared_view.picks
        if moved:
            shared_page = at_end
        if edited:
            for viewer, page_no in room.own_page.items():
                if page_no == last and not viewer.view.picks:
                    room.own_page[viewer] = at_end
        room.document = document
        room.shared_page = shared_page
        room.edited = edited
        room.shared_view = _fitting(room.shared_view, document)
        for viewer in room.v1_viewers():
            viewer.view = _fitting(viewer.view, document)
        room.turns += 1
        room.versions += 1
        versions = room.versions
        for own in room.own.values():
            if own.making is not None:
                own.making.cancel()  # a page of the version before: it would not be sent
        if moved and here:  # saved once, by the node that made the change, as a turn
            self.neighbours.turning(room)
            tasks.spawn(self._save_shared_page(room), "save shared page")
        # rows changed where they are: the followers' page of it, and each viewer browsing
        # alone its own (an upload is a new table: page 1 to everyone)
        try:
            await self._fan_out(room, cause="version", everyone=not edited)
        finally:
            # its columns made once its page is out, not meanwhile: what every viewer waits
            # for first is the page (the columns, for a sort or search only, which makes
            # them when it asks); a version that changed rows, once no other came for a
            # moment: made while its page went out (and the next), they took the CPU its
            # fan-out to 10,000 viewers needed (p99 172 ms without them, 334 ms with)
            self.pages.prepare(document.version, PREPARE_QUIET if edited else 0.0)
        if room.versions == versions:
            self._catch_up_own_views(room, edited=edited)

    async def _fan_out(self, room: Room, *, cause: str, everyone: bool) -> None:
        """The shared page to every follower (``everyone``: a version's page 1 to every viewer,
        but those browsing alone in views that sort or search: they catch up after, see
        _catch_up_own_views). A view changing leaves legacy viewers be: they only ever see the
        plain table."""
        began = time.perf_counter()
        turns = room.turns
        page_no = room.shared_page
        frames: dict[tuple[ViewerKind, View], Frame] = {}
        while True:  # viewers of a new kind (or view) may join while pages are being read
            wanted = {
                (kind, _seen_with(room, kind, viewer))
                for kind in _kinds(cause, everyone)
                for viewer in _one_per_view(room.groups[kind], kind)
                if kind.following or not viewer.view.picks
            }
            missing = wanted - frames.keys()
            if not missing:
                break
            for kind, view in missing:
                legacy, follow = kind
                payload = await self._page(
                    room, page_no, legacy, shared=follow, cause=cause, view=view
                )
                frames[kind, view] = Frame(payload, supersedes="page")
            if room.turns != turns:
                return  # overtaken: the newer fan-out sends what is current
        patches = self._patches(room, frames, cause)
        started = time.perf_counter()
        sent = 0
        for kind in _kinds(cause, everyone):
            sent += _send_by_view(room, kind, frames, patches)
        METRICS.fan_out_seconds.observe(time.perf_counter() - began)
        log.debug(
            "fan-out doc=%s cause=%s page=%d viewers=%d seconds=%.4f",
            room.document.id,
            cause,
            page_no,
            sent,
            time.perf_counter() - started,
        )

    def _patches(
        self, room: Room, frames: dict[tuple[ViewerKind, View], Frame], cause: str
    ) -> dict[tuple[ViewerKind, View], Frame]:
        """The followers' frames of a new version as patches of the pages they were sent
        (where smaller: see protocol.v1_patch), for the viewers that take them; the pages
        remembered for the next."""
        version = room.document.version
        number = version.number if version is not None else 0
        patches = {}
        for (kind, view), frame in frames.items():
            if kind.legacy or not kind.following:
                continue
            before = room.sent.get((kind, view)) if cause == "version" else None
            patch = _patch_of(before, number, frame.payload)
            if patch is not None:
                patches[kind, view] = Frame(patch, supersedes="page")
            room.sent[kind, view] = (number, frame.payload)
        for key in [key for key in room.sent if key not in frames]:
            del room.sent[key]  # (a view nobody follows any more)
        return patches

    # Presence and progress

    def schedule_presence(self, room: Room) -> None:
        if not room.presence_scheduled:
            room.presence_scheduled = True
            asyncio.get_running_loop().call_later(PRESENCE_DELAY, self._send_presence, room)

    def _send_presence(self, room: Room) -> None:
        room.presence_scheduled = False
        count = room.viewers_everywhere
        _send_each(room.v1_viewers(), Frame(protocol.presence(count), "presence"))
        self.neighbours.viewers_changed(room.document.id, len(room))

    def upload_progress(
        self, upload: Upload, state: str, error: TablecastError | None = None
    ) -> None:
        """Show an upload's progress to the v1 viewers of its document, on every node, paced
        (see tablecast.service.progress)."""
        self._upload_news.report(upload.document_id, news_of(upload, state, error))

    def _send_progress_news(self, document_id: str, news: list[News]) -> None:
        room = self.rooms.get(document_id)
        for fields in news:
            if room is not None:
                self.show_progress(room, fields)
            self.neighbours.upload_news(document_id, fields)

    def show_progress(self, room: Room, fields: News) -> None:
        _send_each(room.v1_viewers(), _progress(fields))

    # What other nodes did (told by tablecast.service.cluster)

    def heard_of_a_version(self) -> None:
        """Another node committed a version of a document without a room here: a join
        reading that document meanwhile must read it again."""
        self._commits += 1

    def moved_elsewhere(
        self, room: Room, page_no: int, view: View
    ) -> Coroutine[Any, Any, None] | None:
        """Another node left the shared page at ``page_no`` in ``view``: if that is not what
        the room shows, it shows it now, and the fan-out to its followers is returned (to be
        awaited or spawned); else None."""
        if (page_no, view) == (room.shared_page, room.shared_view):
            return None
        cause = "turn" if view == room.shared_view else "view"
        room.shared_page, room.shared_view = page_no, view
        room.turns += 1
        return self._fan_out(room, cause=cause, everyone=False)


def shared_view_of(document: Document) -> View:
    """The document's shared view as the store keeps it; plain if it no longer fits."""
    try:
        return _fitting(view_from_json(document.shared_view), document)
    except (TablecastError, ValueError):
        return PLAIN


def _fitting(view: View, document: Document) -> View:
    """The view, if it fits the document's version (its columns are there), else plain."""
    try:
        view.check(view.on(document.version))
    except TablecastError:
        return PLAIN
    return view


def _kinds(cause: str, everyone: bool) -> list[ViewerKind]:
    """The kinds of viewer a fan-out is for."""
    return [k for k in KINDS if (everyone or k.following) and not (cause == "view" and k.legacy)]


def _seen_with(room: Room, kind: ViewerKind, viewer: Viewer | None) -> View:
    """The view a fan-out shows a viewer of this kind (followers: all the same one)."""
    legacy, follow = kind
    if legacy:
        return PLAIN
    if follow or viewer is None:
        return room.shared_view
    return viewer.view


def _send_own(viewer: Viewer, room: Room, payload: bytes) -> None:
    """A page of the viewer's own view, as a patch of the page of it the viewer was sent
    before where it takes patches, that page was of the version before, and a patch is smaller
    (see protocol.v1_patch, which also checks it is the same page of the same view)."""
    frame = Frame(payload, supersedes="page")
    if viewer.patches and not viewer.legacy:
        number = version_number(room.document)
        patch = _patch_of(room.own_sent.get(viewer), number, payload)
        if patch is not None:
            frame = Frame(patch, supersedes="page")
        room.own_sent[viewer] = (number, payload)
    viewer.send(frame)


def _patch_of(before: tuple[int, bytes] | None, number: int, page: bytes) -> bytes | None:
    """Version ``number``'s page as a patch of the page sent before (its version and it),
    where that was of the version before and a patch is smaller (see protocol.v1_patch)."""
    if before is None or before[0] != number - 1:
        return None
    return protocol.v1_patch(before[1], page)


def _one_per_view(viewers: set[Viewer], kind: ViewerKind) -> list[Viewer]:
    """A viewer for each view among them: followers all share one."""
    if kind.following:
        return [next(iter(viewers))] if viewers else []
    return list({viewer.view: viewer for viewer in viewers}.values())


def _send_by_view(
    room: Room,
    kind: ViewerKind,
    frames: dict[tuple[ViewerKind, View], Frame],
    patches: dict[tuple[ViewerKind, View], Frame],
) -> int:
    if kind.following:
        key = (kind, _seen_with(room, kind, None))
        frame, patch = frames.get(key), patches.get(key)
        if frame is None:
            return 0
        if patch is None:
            return _send_each(room.groups[kind], frame)
        viewers = room.groups[kind]
        return _send_each((v for v in viewers if v.patches), patch) + _send_each(
            (v for v in viewers if not v.patches), frame
        )
    sent = 0
    for viewer in list(room.groups[kind]):
        frame = frames.get((kind, viewer.view))
        if frame is not None:
            sent += _send_each((viewer,), frame)
    return sent


def _cancellable(work: Coroutine[Any, Any, T]) -> tuple[asyncio.Task[T], asyncio.Future[T | None]]:
    """``work`` as a task that may be cancelled, and a future of its result that never is (None
    if the work was cancelled). Whoever awaits the future (a connection's handler, started by
    tasks.start) must not be cancelled itself when the work it waits for is."""
    making = asyncio.ensure_future(work)
    made: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()

    def settle(task: asyncio.Task[T]) -> None:
        if made.done():
            return
        if task.cancelled():
            made.set_result(None)
        elif (exc := task.exception()) is not None:
            made.set_exception(exc)
        else:
            made.set_result(task.result())

    making.add_done_callback(settle)
    return making, made


def version_number(document: Document) -> int:
    """The number of the document's current version; 0 before the first."""
    return document.version.number if document.version is not None else 0


def _progress(fields: News) -> Frame:
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
