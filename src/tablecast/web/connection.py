"""One viewer's WebSocket, once the handshake is done (see :mod:`tablecast.web.handshake`).

A :class:`Connection` is the asyncio protocol of the socket: one small object per viewer,
called back as bytes arrive (no task or coroutine is kept per connection), framing with
:mod:`tablecast.wire.websocket`, and told by the transport's flow control when a viewer falls
behind. That is what lets one process hold tens of thousands of viewers in a few KiB each.
Messages are decoded and encoded by :mod:`tablecast.wire.protocol`: a client that asks for no
subprotocol speaks the article's legacy protocol, one that asks for ``tablecast.v1`` the
current one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from .. import access, tasks
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document
from ..rates import Bucket
from ..service.documents import Upload
from ..service.hub import Room
from ..table.view import PLAIN
from ..wire import protocol, websocket
from ..wire.websocket import Frame
from . import canonical_id

if TYPE_CHECKING:
    from .services import Services, Viewer

log = logging.getLogger("tablecast.ws")

CLOSE_NO_DOCUMENT = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_STORAGE_FULL = 4507  # no room for a new document
CLOSE_WAIT = 5.0  # seconds a client has to answer our close frame before the socket is closed
QUEUE_LIMIT = 1024 * 1024  # bytes of messages waiting to be handled before reading pauses
# A text message (or a binary one read past: see websocket.Reader) must be finished within
# this many --ping-interval: one begun and never finished holds its buffer. Checked by the
# ping sweep.
MESSAGE_PINGS = 3
# Decompressing is the one thing a client can make cost far more than it sends: a compressed
# connection's messages are inflated at most this fast (bytes a second, in bursts of as much),
# and at most READ_PIECE at a time before what they make is handled
INFLATE_RATE = 32 * 1024 * 1024
READ_PIECE = 1024 * 1024

# A viewer that reads more slowly than messages come (or not at all) must not hold the server's
# memory or slow the others. Past --viewer-buffer unsent bytes (the transport says so with
# pause_writing), a new page (or presence, or progress) replaces the one still waiting rather
# than queueing behind it; past HARD_LIMIT times that, or after --slow-viewer-timeout that far
# behind, the viewer is closed with CLOSE_TOO_SLOW.
HARD_LIMIT = 16


class Connection(asyncio.Protocol):
    """One viewer's WebSocket, from the 101 answer to the socket's close."""

    __slots__ = (
        "base_url", "behind", "behind_since", "close_code", "closing", "cookie_key", "created",
        "deflate", "dropping", "editor", "follow", "handshake_answer", "inflating", "legacy",
        "limited", "made", "message_began", "opened", "paused", "pong_due", "queue", "queued",
        "reader", "remote_ip", "requests", "room", "services", "timer", "transport", "upload",
        "upload_failed", "view",
    )  # fmt: skip

    def __init__(
        self,
        services: Services,
        *,
        legacy: bool,
        deflate: dict[str, str | None] | None,
        remote_ip: str,
        base_url: str,
    ) -> None:
        settings = services.settings
        self.services = services
        self.legacy = legacy
        self.follow = True
        self.view = PLAIN  # its own view, for pages of its own
        self.deflate = deflate is not None  # send compressed frames
        # A legacy client's binary message is a whole file; a v1 client's is one chunk of one.
        self.reader = websocket.Reader(
            settings.max_message_bytes,
            settings.max_upload_bytes if legacy else settings.max_message_bytes,
            deflate=self.deflate,
            window_bits=int((deflate or {}).get("client_max_window_bits") or 15),
        )
        self.remote_ip = remote_ip
        self.base_url = base_url
        self.transport: asyncio.Transport | None = None
        self.made = False  # the transport was made: it counts in services.addresses till lost
        self.handshake_answer = b""  # the 101 response, written first of all
        # A legacy client's new document, made before the 101 (its key rides on it as a
        # cookie), or why it could not be made; None: made once open, or joining one
        self.created: tuple[Document, str] | TablecastError | None = None
        self.cookie_key: str | None = None  # the edit key the browser's cookie holds, if any
        self.room: Room | None = None
        self.upload: Upload | None = None
        self.upload_failed = False  # drop chunks still in flight after a failed upload
        self.dropping = False  # the binary message coming in is being ignored
        self.behind: dict[str, Frame] = {}  # the newest frames waiting for a slow viewer
        self.behind_since = 0.0
        self.paused = False  # the transport holds more unsent bytes than --viewer-buffer
        # Messages waiting to be handled, in order, while an earlier one is (None: idle, the
        # usual case, so that an idle viewer holds no queue); ``queued``: their bytes.
        self.queue: deque[websocket.Event] | None = None
        self.queued = 0
        self.pong_due = False
        self.closing = False
        self.close_code: int | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.opened = time.monotonic()
        self.editor = False  # may upload and turn the shared page (see tablecast.access)
        self.reader.binary_wanted = False  # until it may upload: nothing to inflate for it
        # page requests: --page-rate a second, in bursts of twice that
        self.requests = Bucket(settings.page_rate, 2 * settings.page_rate, self.opened)
        self.limited = False  # the client was told it is over the rate, and not heard since
        # decompressed bytes (see INFLATE_RATE); None: the connection is not compressed
        self.inflating = Bucket(INFLATE_RATE, INFLATE_RATE, self.opened) if deflate else None
        self.message_began = 0.0  # when the message being read began (0: none, or an upload)

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

    def open(self, document_id: str | None) -> None:
        self.transport_pause()  # until the viewer has joined
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
        key_hash = room.document.edit_key_hash
        if access.anyone_may_edit(key_hash, self.services.settings.open_edit):
            self._may_edit()
        elif self.cookie_key is not None and access.key_matches(self.cookie_key, key_hash):
            self._may_edit()  # the browser that created it, by its cookie (web/handshake.py)
        if not self.legacy:
            # the hello goes first, so the client knows the document before its first page
            url = f"{self.base_url}/parser/share/{document_id}"
            self.reply(
                protocol.hello(document_id, url, self._limits(), self.follow, self.editor, edit_key)
            )
        await hub.send_page(self, room, None, cause="join")
        log.info(
            "connect doc=%s protocol=%s ip=%s edit=%s viewers=%d",
            document_id, "legacy" if self.legacy else "v1", self.remote_ip, self.editor,
            len(room),
        )  # fmt: skip
        self.transport_resume()

    def _may_edit(self) -> None:
        self.editor = True
        self.reader.binary_wanted = True  # its binary messages are uploads: read them

    def _limits(self) -> dict[str, int]:
        settings = self.services.settings
        return {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_message_bytes": settings.max_message_bytes,
            "page_size": settings.page_size,
        }

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake; the socket closes when the client answers, or soon."""
        transport = self.transport
        if transport is None or self.closing:
            return
        self.closing = True
        self.close_code = code
        transport.write(websocket.close_frame(code, reason))
        self.timer = asyncio.get_running_loop().call_later(CLOSE_WAIT, transport.abort)
        self.transport_resume()  # for the client's answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None
        self.services.connections.discard(self)
        release_address(self.services.addresses, self.remote_ip)
        room, self.room = self.room, None
        if room is None:
            return
        self.services.hub.leave(self, room)
        if self.upload is not None:
            upload, self.upload = self.upload, None
            self.services.uploads.drop(upload)
            log.info(
                "upload abandoned doc=%s upload=%s bytes=%d",
                upload.document_id, upload.id, upload.received,
            )  # fmt: skip
        log.info(
            "disconnect doc=%s code=%s seconds=%.1f",
            room.document.id, self.close_code, time.monotonic() - self.opened,
        )  # fmt: skip

    def ping(self) -> None:
        """Called every --ping-interval: a viewer that did not answer the last ping is gone."""
        transport = self.transport
        if transport is None or self.closing:
            return
        if self.pong_due:
            log.info("no pong doc=%s: closing", self._document_id())
            transport.abort()
            return
        began = self.message_began
        timeout = MESSAGE_PINGS * self.services.settings.ping_interval
        if began and time.monotonic() - began > timeout:
            log.info("message not finished doc=%s: closing", self._document_id())
            self._fail(websocket.POLICY, "a message was begun and not finished in time")
            return
        self.pong_due = True
        transport.write(websocket.PING_FRAME)

    # Sending

    def reply(self, payload: bytes) -> None:
        self.send(Frame(payload))

    def send(self, frame: Frame) -> None:
        """Queue a frame for this viewer, never letting a slow one hold unbounded memory."""
        transport = self.transport
        if transport is None or self.closing:
            return
        settings = self.services.settings
        if self.paused and frame.supersedes:
            if time.monotonic() - self.behind_since > settings.slow_viewer_timeout:
                self._too_slow(transport.get_write_buffer_size())
            else:
                self.behind[frame.supersedes] = frame  # sent when the viewer catches up
            return
        data = frame.deflated() if self.deflate else frame.plain()
        unsent = transport.get_write_buffer_size()
        if unsent + len(data) > HARD_LIMIT * settings.viewer_buffer:
            self._too_slow(unsent)
            return
        transport.write(data)
        METRICS.bytes_out += len(data)
        METRICS.messages_out += 1

    def pause_writing(self) -> None:
        # the transport's unsent bytes passed --viewer-buffer: this viewer is behind
        self.paused = True
        self.behind_since = time.monotonic()

    def resume_writing(self) -> None:
        self.paused = False
        frames, self.behind = self.behind, {}
        for frame in frames.values():
            self.send(frame)

    def _too_slow(self, unsent: int) -> None:
        log.info("too slow doc=%s unsent=%d: closing", self._document_id(), unsent)
        self.behind = {}
        self.close(CLOSE_TOO_SLOW, "too slow: messages were not read")

    # Receiving

    def transport_pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def transport_resume(self) -> None:
        if self.transport is not None and not self.transport.is_reading():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.pong_due = False  # whatever it sent, the client is alive
        METRICS.bytes_in += len(data)
        self._read(data)

    def _read(self, data: bytes) -> None:
        """Frames in, events out (as far as the inflating budget goes), handled in order."""
        if self.transport is None:
            return
        reader, inflating = self.reader, self.inflating
        budget = None
        inflated = reader.inflated
        if inflating is not None:
            budget = int(min(inflating.available(time.monotonic()), READ_PIECE))
        try:
            events = reader.feed(data, budget)
        except websocket.ProtocolError as err:
            log.info("protocol error doc=%s: %s", self._document_id(), err.reason)
            self._fail(err.code, err.reason)
            return
        inflated = reader.inflated - inflated
        if inflating is not None:
            inflating.spend(inflated)
            METRICS.bytes_inflated += inflated
        # a message being read, unless an upload (which has timeouts of its own)
        kind = reader.message_kind
        if kind == websocket.TEXT or (kind and reader.discarding):
            self.message_began = self.message_began or time.monotonic()
        else:
            self.message_began = 0.0
        if reader.more:
            self.transport_pause()  # until what the reader holds is read (see _read_on)
        if self.queue is None and all(isinstance(e, _CONTROL) for e in events):
            for event in events:  # the usual case for a viewer: nothing to wait for
                self._control(event)
            if reader.more:
                self._read_on()
            return
        self.queued += len(data) + inflated
        if self.queue is not None:  # a message is being handled: these wait their turn
            self.queue.extend(events)
            if self.queued > QUEUE_LIMIT:
                self.transport_pause()  # the client is ahead of us: let TCP slow it down
            return
        self.queue = deque(events)
        tasks.start(self._process(), "handle a message")

    def _read_on(self) -> None:
        """Everything read so far is handled: read on, from what the reader holds first,
        once the inflating budget allows."""
        if self.transport is None:
            return
        if not self.reader.more:
            self.transport_resume()
            return
        loop = asyncio.get_running_loop()
        wait = self.inflating.wait(time.monotonic()) if self.inflating is not None else 0.0
        if wait:
            loop.call_later(wait, self._read, b"")
        else:
            loop.call_soon(self._read, b"")

    def _fail(self, code: int, reason: str) -> None:
        """The client broke the protocol: say why, and close once that is sent."""
        transport = self.transport
        if transport is None:
            return
        self.close(code, reason)
        transport.close()  # after the close frame, which is queued before it

    async def _process(self) -> None:
        """Messages one at a time, in order, until none are waiting."""
        queue = self.queue
        assert queue is not None
        while queue:
            if self.transport is None:  # the socket closed meanwhile
                return
            event = queue.popleft()
            match event:
                case websocket.Text(text) if not self.closing:
                    await self._on_text(text)
                case websocket.BinaryStart(discarded) if not self.closing:
                    await self._handle(self._on_binary_start(discarded), "upload_chunk")
                case websocket.BinaryData(data) if not self.dropping and not self.closing:
                    await self._handle(self._on_binary_data(data), "upload_chunk")
                case websocket.BinaryEnd() if self.dropping:
                    self.dropping = False
                case websocket.BinaryEnd() if not self.closing:
                    await self._handle(self._on_binary_end(), "upload_chunk")
                case websocket.Ping() | websocket.Pong() | websocket.Close():
                    self._control(event)
            if not queue:
                self.queued = 0
                self._read_on()
        self.queue = None

    def _control(self, event: websocket.Event) -> None:
        transport = self.transport
        if transport is None:
            return
        match event:
            case websocket.Ping(data):
                # flow-controlled like any message: a client that pings and never reads is
                # owed only its newest pong, and is closed as too slow like any viewer
                self.send(Frame(data, supersedes="pong", opcode=websocket.PONG))
            case websocket.Close(code):
                if not self.closing:  # the client closes: answer, then close the socket
                    self.closing = True
                    self.close_code = code
                    transport.write(websocket.close_frame(code or websocket.NORMAL))
                transport.close()  # once what is queued has gone out

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
        await self._send_error(err, request)

    async def _send_error(self, err: TablecastError, request: str) -> None:
        room = self.room
        if room is None:
            return
        if self.legacy:
            # a legacy client understands only pages: it gets the shared page, error attached
            await self.services.hub.send_page(self, room, None, cause="request", error=err)
        else:
            self.reply(protocol.error(err, request))

    async def _on_text(self, text: str) -> None:
        room = self.room
        assert room is not None
        try:
            if self.legacy:  # a page number
                page = protocol.decode_legacy_text(text)
                if self._within_rate():
                    await self._goto(room, page)
                return
            message = protocol.decode_v1_text(text)
            if isinstance(message, _RATED) and not self._within_rate():
                return
            await self._on_v1(room, message)
        except Exception as err:
            # which request failed: read again only now, so that messages are parsed once
            await self._report(err, "goto" if self.legacy else protocol.request_name(text))

    def _within_rate(self) -> bool:
        """Take one page request from the bucket. Over the rate, the first request refused
        in a row is answered rate_limited (raised); those after it are dropped unanswered,
        so that a flood costs us no more than it costs the client."""
        if self.requests.take(time.monotonic()):
            self.limited = False
            return True
        if self.limited:
            return False
        self.limited = True
        raise TablecastError(
            "rate_limited",
            f"more than {self.services.settings.page_rate:g} page requests a second: slow down",
        )

    async def _goto(self, room: Room, page: int) -> None:
        """A follower who may edit turns the shared page; anyone else pages on their own."""
        if self.follow and self.editor:
            await self.services.hub.turn_page(room, page)
        else:
            await self.services.hub.send_page(self, room, page, cause="request")

    async def _on_v1(self, room: Room, message: protocol.ClientMessage) -> None:
        hub = self.services.hub
        match message:
            case protocol.Goto(page):
                await self._goto(room, page)
            case protocol.Auth(key):
                access.check_key(key, room.document.edit_key_hash)
                self._may_edit()
                self.reply(protocol.message("access", edit=True))
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
            case protocol.UploadBegin():
                await self._begin_upload(room, message)
            case protocol.UploadEnd():
                upload = self._current_upload()
                if upload is not None:
                    self.upload = None
                    await self._commit(upload)
            case protocol.UploadCancel():
                upload = self._current_upload()
                if upload is not None:
                    self.upload = None
                    await self.services.uploads.abort(upload)
                    self.reply(protocol.message("upload_cancelled", upload=upload.id))
                    log.info(
                        "upload cancelled doc=%s upload=%s bytes=%d",
                        upload.document_id, upload.id, upload.received,
                    )  # fmt: skip
            case protocol.Ping():
                self.reply(protocol.message("pong", time=time.time()))

    def _current_upload(self) -> Upload | None:
        """The upload an end or cancel refers to; None after one that failed (already told)."""
        if self.upload is None and self.upload_failed:
            self.upload_failed = False
            return None
        if self.upload is None:
            raise TablecastError("no_upload", "no upload is in progress on this connection")
        return self.upload

    def _check_editor(self) -> None:
        if not self.editor:
            raise TablecastError(
                "edit_key_required", "this is a view link: only the edit link may upload"
            )

    async def _begin_upload(self, room: Room, begin: protocol.UploadBegin) -> None:
        self._check_editor()
        if self.upload is not None:
            raise TablecastError("upload_in_progress", "finish or cancel the current upload first")
        self.upload_failed = False
        await self.services.uploads.start(
            room.document.id,
            filename=begin.filename,
            has_header=begin.has_header,
            options=begin.options,
            size=begin.size,
            address=self.remote_ip,
            on_expire=self._upload_expired,
            ready=self._take_upload,
        )

    def _take_upload(self, upload: Upload) -> bool:
        """The upload has started (see Uploads.start): it is this connection's now, unless
        the client left meanwhile (connection_lost found no upload to roll back then)."""
        if self.transport is None:
            return False
        self.upload = upload
        if self.legacy:
            self.dropping = False  # the file's bytes are taken from here on
        else:
            self.reply(protocol.message(
                "upload_ready", upload=upload.id, chunk_bytes=protocol.CHUNK_BYTES,
                window=protocol.WINDOW,
            ))  # fmt: skip
        return True

    # Binary messages: a legacy client's whole file, or one chunk of a v1 upload, streaming in

    async def _on_binary_start(self, discarded: bool) -> None:
        assert self.room is not None
        if self.legacy:
            self.dropping = True  # until the upload has started
            self._check_editor()
            await self.services.uploads.start(
                self.room.document.id,
                filename="",
                address=self.remote_ip,
                on_expire=self._upload_expired,
                ready=self._take_upload,
            )
        elif self.upload is not None and discarded:
            # read past before this connection could upload (its auth was still being
            # handled): its bytes are gone, so the upload cannot be whole
            self.dropping = True
            upload, self.upload = self.upload, None
            self.upload_failed = True
            err = TablecastError("no_upload", "send chunks once upload_ready has come")
            await self.services.uploads.abort(upload, err)
            raise err
        elif self.upload is None:
            self.dropping = True
            if not self.upload_failed:  # chunks in flight after a failure are dropped quietly
                raise TablecastError("no_upload", "send upload_begin before the file's chunks")

    def _upload_expired(self, err: TablecastError) -> None:
        """The upload went quiet or ran too long (see Documents.expired)."""
        upload, self.upload = self.upload, None
        if upload is None:
            return
        self.services.uploads.drop(upload, err)
        if self.legacy:  # the file is one message, which can no longer be taken
            self.close(websocket.POLICY, err.message)
        else:
            self.upload_failed = True  # its chunks still in flight are dropped quietly
            self.reply(protocol.error(err, "upload_chunk"))

    async def _on_binary_data(self, data: bytes) -> None:
        upload = self.upload
        if upload is None:
            return
        try:
            await self.services.uploads.feed(upload, data)
        except TablecastError:  # rolled back, and shown so, by the service
            self.upload, self.dropping = None, True
            self.upload_failed = not self.legacy
            raise

    async def _on_binary_end(self) -> None:
        upload = self.upload
        if upload is None:
            return
        if self.legacy:  # the message was the whole file
            self.upload = None
            await self._commit(upload)
            return
        self.reply(protocol.message(
            "upload_ack", upload=upload.id, received=upload.received, records=upload.record_count
        ))  # fmt: skip
        self.services.uploads.received(upload)

    async def _commit(self, upload: Upload) -> None:
        def answer(document: Document) -> None:
            # before the viewers hear the upload is done, and before the version's page
            version = document.version
            assert version is not None
            self.reply(protocol.message(
                "upload_done", upload=upload.id, version=version.number,
                total_number=version.data_rows, seconds=round(upload.duration, 3),
            ))  # fmt: skip

        try:
            # a legacy client is answered with the version's page, as every viewer is
            await self.services.uploads.finish(upload, None if self.legacy else answer)
        except TablecastError:  # rolled back, and shown so, by the service
            self.upload_failed = False
            raise


_CONTROL = (websocket.Ping, websocket.Pong, websocket.Close)
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
