"""One viewer's WebSocket, once the handshake is done (see :mod:`tablecast.web.handshake`).

A :class:`Connection` is the asyncio protocol of the socket: one small object per viewer,
called back as bytes arrive (no task or coroutine is kept per connection), and told by the
transport's flow control when a viewer falls behind. That is what lets one process hold tens
of thousands of viewers in a few KiB each. It is the thin I/O layer around three pure parts:
its :class:`~tablecast.wire.session.Session` (the WebSocket: framing, the close handshake,
pings, flow control, the incoming queue, the budgets), the codec of its dialect
(:mod:`tablecast.wire.codec`: a client that asks for no subprotocol speaks the article's legacy
protocol, one that asks for ``tablecast.v1`` the current one), and where its upload stands
(:mod:`tablecast.wire.uploading`). It feeds the session, writes what the session says, and
turns the requests the codec reads into calls of the services.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from .. import access, tasks
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document
from ..service.documents import Upload
from ..service.hub import Room
from ..table.view import PLAIN
from ..wire import protocol, websocket
from ..wire.codec import ChunkBegin, ChunkEnd, Codec, FileEnd
from ..wire.session import CLOSED, OPEN, Session
from ..wire.uploading import Uploading, chunk_too_early
from ..wire.websocket import Frame
from . import canonical_id

if TYPE_CHECKING:
    from .services import Services, Viewer

log = logging.getLogger("tablecast.ws")

CLOSE_NO_DOCUMENT = 4404
CLOSE_STORAGE_FULL = 4507  # no room for a new document


class Connection(asyncio.Protocol):
    """One viewer's WebSocket, from the 101 answer to the socket's close."""

    __slots__ = (
        "base_url", "codec", "cookie_key", "created", "early", "editor", "follow",
        "handshake_answer", "made", "opened", "patches", "remote_ip", "room", "services",
        "session", "timer", "timer_at", "transport", "uploading", "view",
    )  # fmt: skip

    def __init__(
        self,
        services: Services,
        *,
        codec: Codec,
        deflate: dict[str, str | None] | None,
        remote_ip: str,
        base_url: str,
    ) -> None:
        settings = services.settings
        self.services = services
        self.codec = codec  # the dialect it speaks, chosen at the handshake
        # For the hub, which encodes a page once per kind of viewer (its Viewer protocol asks
        # for an attribute): the connection itself asks its codec, never this.
        self.follow = True
        self.view = PLAIN  # its own view, for pages of its own
        self.patches = False  # it asked for patches rather than whole pages (v1 "patches")
        reader = websocket.Reader(
            settings.max_message_bytes,
            codec.binary_limit(settings.max_message_bytes, settings.max_upload_bytes),
            deflate=deflate is not None,
            window_bits=int((deflate or {}).get("client_max_window_bits") or 15),
        )
        reader.binary_wanted = False  # until it may upload: nothing to inflate for it
        self.opened = time.monotonic()
        self.session = Session(
            reader, services.session_limits, self.opened, deflate=deflate is not None
        )
        self.remote_ip = remote_ip
        self.base_url = base_url
        self.transport: asyncio.Transport | None = None
        self.made = False  # the transport was made: it counts in services.addresses till lost
        self.handshake_answer = b""  # the 101 response, written first of all
        # what the client sent before the 101 (RFC 6455 says not to), read by Tornado with the
        # request: read before anything the transport reads
        self.early = b""
        # A legacy client's new document, made before the 101 (its key rides on it as a
        # cookie), or why it could not be made; None: made once open, or joining one
        self.created: tuple[Document, str] | TablecastError | None = None
        self.cookie_key: str | None = None  # the edit key the browser's cookie holds, if any
        self.room: Room | None = None
        self.uploading: Uploading[Upload] = Uploading()
        self.editor = False  # may upload and turn the shared page (see tablecast.access)
        # the session's wake-up call (see Session.wake_at): only while it waits for something
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None

    @property
    def legacy(self) -> bool:
        """It speaks the article's dialect (the hub encodes its pages so)."""
        return self.codec.legacy

    # Life

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.made = True
        # The 101 goes first, here, before the connection is one of services.connections: a
        # ping sweep (or anything else) writing in between would put a frame ahead of it, and
        # the client would fail the handshake.
        self.transport.write(self.handshake_answer)
        buffer = self.services.settings.viewer_buffer
        self.transport.set_write_buffer_limits(high=buffer, low=buffer // 4)
        # (counted in services.addresses by the handshake, before it answered)
        self.services.connections.add(self)
        METRICS.connections += 1
        self._act()  # not read until the viewer has joined (see Session.open)
        # uvloop starts reading once this returns, paused or not: paused again before its next
        # read (bytes it reads meanwhile wait in the session, after those that came early)
        asyncio.get_running_loop().call_soon(self._act)
        if self.early:
            self.data_received(self.early)

    def open(self, document_id: str | None) -> None:
        tasks.spawn(self._open(document_id), "open a WebSocket")

    async def _open(self, document_id: str | None) -> None:
        documents, hub = self.services.documents, self.services.hub
        edit_key = None
        if document_id is None:
            created = self.created
            try:
                if isinstance(created, TablecastError):
                    raise created
                document, edit_key = created or await documents.create()
            except TablecastError as err:
                log.info("not created ip=%s code=%s", self.remote_ip, err.code)
                self.close(CLOSE_STORAGE_FULL, err.message)
                return
            document_id = document.id
            self._may_edit()  # who opens a new document owns it
            log.info("created doc=%s ip=%s", document_id, self.remote_ip)
        else:
            document_id = canonical_id(document_id) or ""
        room = await hub.join(self, document_id) if document_id else None
        if room is None:
            log.info("not found doc=%s ip=%s", document_id, self.remote_ip)
            self.close(CLOSE_NO_DOCUMENT, "no such document")
            return
        if self.transport is None:  # gone while we joined: it had no room to leave then
            hub.leave(self, room)
            return
        self.room = room
        self.session.document = document_id
        key_hash = room.document.edit_key_hash
        if access.anyone_may_edit(key_hash, self.services.settings.open_edit):
            self._may_edit()
        elif self.cookie_key is not None and access.key_matches(self.cookie_key, key_hash):
            self._may_edit()  # the browser that created it, by its cookie (web/handshake.py)
        # the hello (v1) goes first, so the client knows the document before its first page
        url = f"{self.base_url}/parser/share/{document_id}"
        self._tell(self.codec.hello(
            document_id=document_id, url=url, limits=self._limits(), follow=self.follow,
            edit=self.editor, edit_key=edit_key,
        ))  # fmt: skip
        await hub.send_page(self, room, None, cause="join")
        log.info(
            "connect doc=%s protocol=%s ip=%s edit=%s viewers=%d",
            document_id, self.codec.name, self.remote_ip, self.editor, len(room),
        )  # fmt: skip
        if self.session.open():
            self._take_messages()
        self._act()

    def _may_edit(self) -> None:
        self.editor = True
        reader = self.session.reader
        if reader is not None:
            reader.binary_wanted = True  # its binary messages are uploads: read them

    def _limits(self) -> dict[str, int]:
        settings = self.services.settings
        return {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_message_bytes": settings.max_message_bytes,
            "page_size": settings.page_size,
        }

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake; the socket closes when the client answers, or soon."""
        if self.transport is None:
            return
        self.session.close(code, reason, time.monotonic())
        self._act()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = self.timer_at = None
        self.transport = None
        self.services.connections.discard(self)
        release_address(self.services.addresses, self.remote_ip)
        room, self.room = self.room, None
        if room is None:
            return
        self.services.hub.leave(self, room)
        upload = self.uploading.lost()
        if upload is not None:
            self.services.uploads.drop(upload)
            log.info(
                "upload abandoned doc=%s upload=%s bytes=%d",
                upload.document_id, upload.id, upload.received,
            )  # fmt: skip
        log.info(
            "disconnect doc=%s code=%s seconds=%.1f",
            room.document.id, self.session.close_code, time.monotonic() - self.opened,
        )  # fmt: skip

    def ping(self) -> None:
        """Called every --ping-interval (see keep_alive)."""
        if self.transport is None:
            return
        self.session.ping(time.monotonic())
        self._act()

    def _act(self) -> None:
        """Do what the session says: write, shut or close the socket, read it or not, and
        wake it when it asks."""
        session, transport = self.session, self.transport
        if transport is None:
            return
        data = session.data_to_send()
        if data:
            transport.write(data)
        if session.aborted:
            transport.abort()
            return
        if session.state is CLOSED:
            transport.close()  # once what is written has gone out
            return
        if session.eof_due and transport.can_write_eof():
            session.eof_due = False
            transport.write_eof()  # once what is written has gone out
        if session.reading:
            if not transport.is_reading():
                transport.resume_reading()
        elif transport.is_reading():
            transport.pause_reading()
        wake_at = session.wake_at
        if wake_at != self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = wake_at
            self.timer = None
            if wake_at is not None:
                delay = max(0.0, wake_at - time.monotonic())
                self.timer = asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self) -> None:
        self.timer = self.timer_at = None
        if self.transport is not None and self.session.wake(time.monotonic()):
            self._take_messages()
        self._act()

    # Sending

    def _tell(self, payload: bytes | None) -> None:
        """Send what the codec made (None: its dialect has no such message)."""
        if payload is not None:
            self.send(Frame(payload))

    def send(self, frame: Frame) -> None:
        """Queue a frame for this viewer (see Session.send): usually one write, at once."""
        transport = self.transport
        if transport is None:
            return
        session = self.session
        data = session.sendable(frame, transport.get_write_buffer_size())
        if data is not None:  # a fan-out's every viewer, almost always
            transport.write(data)
            return
        session.send(frame, time.monotonic(), transport.get_write_buffer_size())
        if session.state is OPEN:
            data = session.data_to_send()
            if data:
                transport.write(data)
        else:
            self._act()  # too slow: closed

    def pause_writing(self) -> None:
        # the transport's unsent bytes passed --viewer-buffer: this viewer is behind
        self.session.writing_paused(time.monotonic())

    def resume_writing(self) -> None:
        transport = self.transport
        if transport is None:
            return
        self.session.writing_resumed(time.monotonic(), transport.get_write_buffer_size())
        self._act()

    # Receiving

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        session = self.session
        if session.receive_data(data, time.monotonic()):
            # handled at once (tasks.start runs it up to its first wait), and it acts on what
            # the session says; unless so much came that reading must pause first
            if not session.reading:
                self._act()
            self._take_messages()
        else:
            self._act()

    def _take_messages(self) -> None:
        tasks.start(self._handle_messages(), "handle a message")

    async def _handle_messages(self) -> None:
        """Messages one at a time, in order, until none are waiting."""
        session = self.session
        while self.transport is not None:  # (the socket may close meanwhile)
            event = session.next_message(time.monotonic())
            if event is None:
                self._act()  # all handled: read on (and write what control frames answered)
                return
            if session.has_output:
                self._act()  # control frames answered on the way
            match event:
                case websocket.Text(text):
                    await self._on_text(text)
                case websocket.BinaryStart(discarded):
                    await self._on_binary(self.codec.binary_begins(discarded))
                case websocket.BinaryData(data):
                    upload = self.uploading.receiving()
                    if upload is not None:
                        await self._handle(self._feed(upload, data), "upload_chunk")
                case websocket.BinaryEnd():
                    await self._on_binary(self.codec.binary_ends())

    def _document_id(self) -> str:
        return self.room.document.id if self.room else "-"

    async def _handle(self, work: Awaitable[None], request: str) -> None:
        """Await one message's work; what goes wrong becomes a typed error for the client.
        ``request``: what the client asked for, as the error names it."""
        try:
            await work
        except Exception as err:
            await self._report(err, request)

    async def _report(self, err: Exception, request: str) -> None:
        METRICS.error(err.code if isinstance(err, TablecastError) else "internal")
        if not isinstance(err, TablecastError):
            log.exception("error doc=%s request=%s", self._document_id(), request, exc_info=err)
            err = TablecastError("internal", "something went wrong")
        else:
            log.info(
                "error doc=%s request=%s code=%s %s",
                self._document_id(), request, err.code, err.message,
            )  # fmt: skip
        room = self.room
        if room is None:
            return
        told = self.codec.error(err, request)
        if told is None:  # its dialect has no error message (legacy): the shared page carries it
            await self.services.hub.send_page(self, room, None, cause="request", error=err)
        else:
            self._tell(told)

    async def _on_text(self, text: str) -> None:
        room = self.room
        assert room is not None
        try:
            message = self.codec.request(text)
            if isinstance(message, _RATED) and not self.session.allow_request(time.monotonic()):
                return
            await self._on_request(room, message)
        except Exception as err:
            # which request failed: read again only now, so that messages are parsed once
            await self._report(err, self.codec.request_name(text))

    async def _on_binary(
        self, message: protocol.UploadBegin | ChunkBegin | ChunkEnd | FileEnd
    ) -> None:
        room = self.room
        assert room is not None
        await self._handle(self._on_request(room, message), "upload_chunk")

    async def _goto(self, room: Room, page: int) -> None:
        """A follower who may edit turns the shared page; anyone else pages on their own."""
        if self.follow and self.editor:
            await self.services.hub.turn_page(room, page)
        else:
            await self.services.hub.send_page(self, room, page, cause="request")

    async def _on_request(self, room: Room, message: Request) -> None:
        hub = self.services.hub
        match message:
            case protocol.Goto(page):
                await self._goto(room, page)
            case protocol.Auth(key):
                access.check_key(key, room.document.edit_key_hash)
                self._may_edit()
                self._tell(self.codec.reply("access", edit=True))
                log.info("editor doc=%s ip=%s", room.document.id, self.remote_ip)
            case protocol.SetView(view):
                if self.follow and self.editor:
                    await hub.set_view(room, view)
                else:
                    view.check(view.on(room.document.version))
                    self.view = view
                    await hub.send_page(self, room, 1, cause="request")
            case protocol.Follow(follow):
                hub.set_follow(self, room, follow)
                if follow:
                    await hub.send_page(self, room, None, cause="follow")
            case protocol.Patches(patches):
                self.patches = patches
            case protocol.Ping():
                self._tell(self.codec.reply("pong", time=time.time()))
            case protocol.UploadBegin():
                await self._begin_upload(room, message)
            case ChunkBegin(discarded):
                upload = self.uploading.chunk_begins(discarded)
                if upload is not None:  # its bytes are gone: the upload cannot be whole
                    err = chunk_too_early()
                    await self.services.uploads.abort(upload, err)
                    raise err
            case ChunkEnd():
                upload = self.uploading.receiving()
                if upload is not None:
                    self._tell(self.codec.reply(
                        "upload_ack", upload=upload.id, received=upload.received,
                        records=upload.record_count,
                    ))  # fmt: skip
                    self.services.uploads.received(upload)
            case protocol.UploadEnd():
                upload = self.uploading.end()
                if upload is not None:
                    await self._commit(upload)
            case FileEnd():
                upload = self.uploading.file_ends()
                if upload is not None:
                    await self._commit(upload)
            case protocol.UploadCancel():
                upload = self.uploading.end()
                if upload is not None:
                    await self.services.uploads.abort(upload)
                    self._tell(self.codec.reply("upload_cancelled", upload=upload.id))
                    log.info(
                        "upload cancelled doc=%s upload=%s bytes=%d",
                        upload.document_id, upload.id, upload.received,
                    )  # fmt: skip

    def _check_editor(self) -> None:
        if not self.editor:
            raise TablecastError(
                "edit_key_required", "this is a view link: only the edit link may upload"
            )

    async def _begin_upload(self, room: Room, begin: protocol.UploadBegin) -> None:
        self._check_editor()
        self.uploading.begin()
        started = None
        try:
            started = await self.services.uploads.start(
                room.document.id,
                filename=begin.filename,
                has_header=begin.has_header,
                options=begin.options,
                sheet=begin.sheet,
                size=begin.size,
                address=self.remote_ip,
                on_expire=self._upload_expired,
                ready=self._take_upload,
            )
        finally:
            if started is None:
                self.uploading.not_started()

    def _take_upload(self, upload: Upload) -> bool:
        """The upload has started (see Uploads.start): it is this connection's now, unless
        the client left meanwhile (connection_lost found no upload to roll back then)."""
        if self.transport is None:
            return False
        self.uploading.ready(upload)
        self._tell(self.codec.reply(
            "upload_ready", upload=upload.id, chunk_bytes=protocol.CHUNK_BYTES,
            window=protocol.WINDOW,
        ))  # fmt: skip
        return True

    def _upload_expired(self, err: TablecastError) -> None:
        """The upload went quiet or ran too long (see Documents.expired)."""
        upload = self.uploading.fail()  # its chunks still in flight are dropped quietly
        if upload is None:
            return
        self.services.uploads.drop(upload, err)
        told = self.codec.upload_expired(err)
        if isinstance(told, websocket.Close):
            self.close(told.code or websocket.POLICY, told.reason)
        else:
            self._tell(told)

    async def _feed(self, upload: Upload, data: bytes) -> None:
        try:
            await self.services.uploads.feed(upload, data)
        except TablecastError:  # rolled back, and shown so, by the service
            self.uploading.fail()
            raise

    async def _commit(self, upload: Upload) -> None:
        def answer(document: Document) -> None:
            # before the viewers hear the upload is done, and before the version's page (a
            # legacy client is answered with that page, as every viewer is)
            version = document.version
            assert version is not None
            self._tell(self.codec.reply(
                "upload_done", upload=upload.id, version=version.number,
                total_number=version.data_rows, seconds=round(upload.duration, 3),
            ))  # fmt: skip

        # what fails is rolled back, and shown so, by the service
        await self.services.uploads.finish(upload, answer)


# What a connection is asked: a text message's request, or what its binary messages mean
Request = protocol.ClientMessage | ChunkBegin | ChunkEnd | FileEnd
# Requests that are answered with a page (or could be used to guess at keys): rate limited.
_RATED = (protocol.Goto, protocol.SetView, protocol.Follow, protocol.Auth)


def release_address(addresses: Counter[str], address: str) -> None:
    """One connection fewer from ``address`` (see services.addresses)."""
    addresses[address] -= 1
    if addresses[address] <= 0:
        del addresses[address]


async def keep_alive(connections: set[Viewer], interval: float) -> None:
    """Ping every viewer every ``interval`` seconds: one sweep for all, not a task for each.
    Pings keep idle viewers alive behind proxies, and find those that vanished."""
    while True:
        await asyncio.sleep(interval)
        for i, connection in enumerate(list(connections)):
            connection.ping()
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let other work in between, however many there are
