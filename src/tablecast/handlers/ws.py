"""``/parser/ws`` (open a new document) and ``/parser/ws/{id}`` (join one).

Tornado answers the HTTP request. Once the opening handshake checks out, the stream is detached
and becomes a :class:`Connection`: one small object per viewer that reads with callbacks (no
task or coroutine is kept per connection) and frames with :mod:`tablecast.websocket`. That is
what lets one process hold tens of thousands of viewers in a few KiB each. Messages are decoded
and encoded by :mod:`tablecast.protocol`: a client that asks for no subprotocol speaks the
article's legacy protocol, one that asks for ``tablecast.v1`` the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast
from urllib.parse import urlparse

import tornado.iostream
import tornado.web

from .. import protocol, tasks, websocket
from ..documents import Upload
from ..errors import TablecastError
from ..hub import Room
from ..websocket import Frame
from . import base_url, canonical_id

if TYPE_CHECKING:
    from ..server import Services

log = logging.getLogger("tablecast.ws")

CLOSE_NO_DOCUMENT = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_WAIT = 5.0  # seconds a client has to answer our close frame before the socket is closed
READ_SIZE = 64 * 1024

# A viewer that reads more slowly than messages come (or not at all) must not hold the server's
# memory or slow the others. Past --viewer-buffer unsent bytes, a new page (or presence, or
# progress) replaces the one still waiting rather than queueing behind it; past HARD_LIMIT times
# that, or after --slow-viewer-timeout that far behind, the viewer is closed with CLOSE_TOO_SLOW.
HARD_LIMIT = 16


class Handshake(tornado.web.RequestHandler):
    """The HTTP side: check the opening handshake, answer 101, hand the stream over."""

    def initialize(self, services: Services) -> None:
        self.services = services

    def get(self, document_id: str | None = None) -> None:
        headers = self.request.headers
        try:
            key = websocket.check_request(self.request.method or "", headers)
        except websocket.HandshakeError as err:
            self.set_status(err.status)
            if err.status == 426:
                self.set_header("Sec-WebSocket-Version", "13")
            self.finish(str(err))
            return
        origin = headers.get("Origin")
        if (
            origin is not None
            and urlparse(origin).netloc.lower() != headers.get("Host", "").lower()
        ):
            # a page on another site must not drive a viewer's connection (CSWSH)
            self.set_status(403)
            self.finish("cross-origin WebSocket refused")
            return
        settings = self.services.settings
        offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        subprotocol = protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in offered else None
        agreed = None
        if settings.compression:
            agreed = websocket.independent_deflate(headers.get("Sec-WebSocket-Extensions", ""))
        connection = Connection(
            self.services,
            legacy=subprotocol is None,
            deflate=agreed,
            remote_ip=self.request.remote_ip or "-",
            base_url=base_url(settings, self.request),
        )
        stream = self.detach()
        stream.write(websocket.response(key, subprotocol, agreed))
        connection.start(stream, document_id)


class Connection:
    """One viewer's WebSocket, from the 101 answer to the socket's close."""

    __slots__ = (
        "base_url", "behind", "behind_since", "busy", "close_code", "closing", "deflate",
        "draining", "dropping", "follow", "legacy", "opened", "pong_due", "reader", "reading",
        "remote_ip", "room", "services", "stream", "timer", "upload", "upload_failed",
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
        self.stream: tornado.iostream.IOStream | None = None
        self.room: Room | None = None
        self.upload: Upload | None = None
        self.upload_failed = False  # drop chunks still in flight after a failed upload
        self.dropping = False  # the binary message coming in is being ignored
        self.behind: dict[str, Frame] = {}  # the newest frames waiting for a slow viewer
        self.behind_since = 0.0
        self.draining = False
        self.pong_due = False
        self.reading = False  # a read is pending
        self.busy = False  # messages are being handled (the next read comes after)
        self.closing = False
        self.close_code: int | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.opened = time.monotonic()

    # Life

    def start(self, stream: tornado.iostream.IOStream, document_id: str | None) -> None:
        self.stream = stream
        stream.set_nodelay(True)
        stream.set_close_callback(self._stream_closed)
        self.services.connections.add(self)
        tasks.spawn(self._open(document_id), "open a WebSocket")

    async def _open(self, document_id: str | None) -> None:
        documents, hub = self.services.documents, self.services.hub
        if document_id is None:
            document = await documents.create()
            document_id = document.id
            log.info("created doc=%s ip=%s", document_id, self.remote_ip)
        else:
            document_id = canonical_id(document_id) or ""
        room = await hub.join(self, document_id) if document_id else None
        if room is None:
            log.info("not found doc=%s ip=%s", document_id, self.remote_ip)
            self.close(CLOSE_NO_DOCUMENT, "no such document")
            return
        if self.stream is None:  # gone while we joined: it had no room to leave then
            hub.leave(self, room)
            return
        self.room = room
        if not self.legacy:
            # the hello goes first, so the client knows the document before its first page
            url = f"{self.base_url}/parser/share/{document_id}"
            self.reply(protocol.hello(document_id, url, self._limits(), self.follow))
        await hub.send_page(self, room, None, cause="join")
        log.info(
            "connect doc=%s protocol=%s ip=%s viewers=%d",
            document_id, "legacy" if self.legacy else "v1", self.remote_ip, len(room),
        )  # fmt: skip
        self._read()

    def _limits(self) -> dict[str, int]:
        settings = self.services.settings
        return {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_message_bytes": settings.max_message_bytes,
            "page_size": settings.page_size,
        }

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake; the socket closes when the client answers, or soon."""
        stream = self.stream
        if stream is None or self.closing:
            return
        self.closing = True
        self.close_code = code
        write(stream, websocket.close_frame(code, reason), unsent_bytes(stream))
        self.timer = asyncio.get_running_loop().call_later(CLOSE_WAIT, stream.close)
        if not self.reading and not self.busy:
            self._read()  # for the client's answer

    def _fail(self, code: int, reason: str) -> None:
        """The client broke the protocol: say why, and close once that is sent."""
        stream = self.stream
        if stream is None:
            return
        self.close(code, reason)
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            stream.write(b"").add_done_callback(lambda _: stream.close())

    def _stream_closed(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.stream = None
        self.services.connections.discard(self)
        room, self.room = self.room, None
        if room is None:
            return
        self.services.hub.leave(self, room)
        if self.upload is not None:
            upload, self.upload = self.upload, None
            self.services.hub.upload_progress(upload, "cancelled")
            tasks.spawn(upload.abort(), "roll back an abandoned upload")
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
        stream = self.stream
        if stream is None or self.closing:
            return
        if self.pong_due:
            log.info("no pong doc=%s: closing", self.room.document.id if self.room else "-")
            stream.close()
            return
        self.pong_due = True
        write(stream, websocket.PING_FRAME, unsent_bytes(stream))

    # Sending

    def reply(self, payload: bytes) -> None:
        self.send(Frame(payload))

    def send(self, frame: Frame) -> None:
        """Queue a frame for this viewer, never letting a slow one hold unbounded memory."""
        stream = self.stream
        if stream is None or self.closing:
            return
        data = frame.deflated() if self.deflate else frame.plain()
        backlog = unsent_bytes(stream)
        settings = self.services.settings
        if backlog > settings.viewer_buffer and frame.supersedes:
            now = time.monotonic()
            self.behind_since = self.behind_since or now
            if now - self.behind_since > settings.slow_viewer_timeout:
                self._too_slow(backlog)
                return
            self.behind[frame.supersedes] = frame
            self._when_drained(stream)
            return
        if backlog + len(data) > HARD_LIMIT * settings.viewer_buffer:
            self._too_slow(backlog)
            return
        write(stream, data, backlog)

    def _when_drained(self, stream: tornado.iostream.IOStream) -> None:
        if self.draining:
            return
        self.draining = True
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            stream.write(b"").add_done_callback(self._drained)  # done once all is sent

    def _drained(self, written: asyncio.Future[None]) -> None:
        self.draining = False
        if written.cancelled() or written.exception() is not None:
            return
        frames, self.behind, self.behind_since = self.behind, {}, 0.0
        for frame in frames.values():
            self.send(frame)

    def _too_slow(self, backlog: int) -> None:
        document = self.room.document.id if self.room else "-"
        log.info("too slow doc=%s unsent=%d: closing", document, backlog)
        self.behind = {}
        self.close(CLOSE_TOO_SLOW, "too slow: messages were not read")

    # Receiving

    def _read(self) -> None:
        stream = self.stream
        if stream is None:
            return
        try:
            reading = cast("asyncio.Future[bytes]", stream.read_bytes(READ_SIZE, partial=True))
        except tornado.iostream.StreamClosedError:
            return  # the close callback cleans up
        self.reading = True
        reading.add_done_callback(self._received)

    def _received(self, reading: asyncio.Future[bytes]) -> None:
        self.reading = False
        if reading.cancelled() or reading.exception() is not None or self.stream is None:
            return
        self.pong_due = False  # whatever it sent, the client is alive
        try:
            events = self.reader.feed(reading.result())
        except websocket.ProtocolError as err:
            log.info("protocol error doc=%s: %s", self._document_id(), err.reason)
            self._fail(err.code, err.reason)
            return
        if all(isinstance(e, websocket.Ping | websocket.Pong | websocket.Close) for e in events):
            for event in events:  # the usual case for a viewer: no task needed
                self._control(event)
            self._read()
        else:
            self.busy = True
            tasks.spawn(self._process(events), "handle a message")

    async def _process(self, events: list[websocket.Event]) -> None:
        """Messages one at a time, in order; the next read waits, so a client is paced."""
        for event in events:
            if self.stream is None:  # the socket closed meanwhile
                return
            match event:
                case websocket.Text(text) if not self.closing:
                    await self._on_text(text)
                case websocket.BinaryStart() if not self.closing:
                    await self._handle(self._on_binary_start(), "upload_chunk")
                case websocket.BinaryData(data) if not self.dropping and not self.closing:
                    await self._handle(self._on_binary_data(data), "upload_chunk")
                case websocket.BinaryEnd() if self.dropping:
                    self.dropping = False
                case websocket.BinaryEnd() if not self.closing:
                    await self._handle(self._on_binary_end(), "upload_chunk")
                case websocket.Ping() | websocket.Pong() | websocket.Close():
                    self._control(event)
        self.busy = False
        self._read()

    def _control(self, event: websocket.Event) -> None:
        stream = self.stream
        if stream is None:
            return
        match event:
            case websocket.Ping(data):
                write(stream, websocket.control(websocket.PONG, data), unsent_bytes(stream))
            case websocket.Close(code):
                if not self.closing:  # the client closes: answer, then close the socket
                    self.closing = True
                    self.close_code = code
                    frame = websocket.close_frame(code or websocket.NORMAL)
                    write(stream, frame, unsent_bytes(stream))
                with contextlib.suppress(tornado.iostream.StreamClosedError):
                    stream.write(b"").add_done_callback(lambda _: stream.close())

    def _document_id(self) -> str:
        return self.room.document.id if self.room else "-"

    async def _handle(self, work: Awaitable[None], request: str) -> None:
        """Await one message's work, turning what goes wrong into a typed error for the client.
        ``request``: what the client asked for, as the error names it."""
        try:
            await work
        except TablecastError as err:
            log.info(
                "error doc=%s request=%s code=%s %s",
                self._document_id(), request, err.code, err.message,
            )  # fmt: skip
            await self._send_error(err, request)
        except Exception:
            log.exception("error doc=%s request=%s", self._document_id(), request)
            await self._send_error(TablecastError("internal", "something went wrong"), request)

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
        if self.legacy:  # a page number
            await self._handle(self._turn_to(room, text), "goto")
            return
        try:
            message = protocol.decode_v1_text(text)
        except TablecastError as err:
            await self._handle(_raise(err), "message")
            return
        await self._handle(self._on_v1(room, message), _request_name(message))

    async def _turn_to(self, room: Room, text: str) -> None:
        await self.services.hub.turn_page(room, protocol.decode_legacy_text(text))

    async def _on_v1(self, room: Room, message: protocol.ClientMessage) -> None:
        hub = self.services.hub
        match message:
            case protocol.Goto(page):
                if self.follow:
                    await hub.turn_page(room, page)
                else:
                    await hub.send_page(self, room, page, cause="request")
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
                    await upload.abort()
                    hub.upload_progress(upload, "cancelled")
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

    async def _begin_upload(self, room: Room, begin: protocol.UploadBegin) -> None:
        if self.upload is not None:
            raise TablecastError("upload_in_progress", "finish or cancel the current upload first")
        self.upload_failed = False
        upload = await self.services.documents.start_upload(
            room.document.id,
            filename=begin.filename,
            has_header=begin.has_header,
            options=begin.options,
            size=begin.size,
        )
        self.upload = upload
        self.reply(protocol.message(
            "upload_ready", upload=upload.id, chunk_bytes=protocol.CHUNK_BYTES,
            window=protocol.WINDOW,
        ))  # fmt: skip
        self.services.hub.upload_progress(upload, "receiving")

    # Binary messages: a legacy client's whole file, or one chunk of a v1 upload, streaming in

    async def _on_binary_start(self) -> None:
        assert self.room is not None
        if self.legacy:
            self.dropping = True  # until the upload has started
            upload = await self.services.documents.start_upload(self.room.document.id, filename="")
            self.upload, self.dropping = upload, False
            self.services.hub.upload_progress(upload, "receiving")
        elif self.upload is None:
            self.dropping = True
            if not self.upload_failed:  # chunks in flight after a failure are dropped quietly
                raise TablecastError("no_upload", "send upload_begin before the file's chunks")

    async def _on_binary_data(self, data: bytes) -> None:
        upload = self.upload
        if upload is None:
            return
        try:
            await upload.feed(data)
        except TablecastError as err:
            self.upload, self.dropping = None, True
            self.upload_failed = not self.legacy
            self.services.hub.upload_progress(upload, "failed", err)
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
            "upload_ack", upload=upload.id, received=upload.received, records=upload.records
        ))  # fmt: skip
        self.services.hub.upload_progress(upload, "receiving")

    async def _commit(self, upload: Upload) -> None:
        hub = self.services.hub
        try:
            document = await upload.finish()
        except TablecastError as err:
            self.upload_failed = False
            hub.upload_progress(upload, "failed", err)
            raise
        version = document.version
        assert version is not None
        if not self.legacy:
            self.reply(protocol.message(
                "upload_done", upload=upload.id, version=version.number,
                total_number=version.data_rows, seconds=round(upload.duration, 3),
            ))  # fmt: skip
        hub.upload_progress(upload, "done")
        await hub.version_committed(document)


async def keep_alive(connections: set[Connection], interval: float) -> None:
    """Ping every viewer every ``interval`` seconds: one sweep for all, not a task for each.
    Pings keep idle viewers alive behind proxies, and find those that vanished."""
    while True:
        await asyncio.sleep(interval)
        for i, connection in enumerate(list(connections)):
            connection.ping()
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let other work in between, however many there are


async def _raise(err: Exception) -> None:
    raise err


def _request_name(message: protocol.ClientMessage) -> str:
    """The wire name of a decoded message, to say which request an error answers."""
    names = {
        protocol.Goto: "goto", protocol.Follow: "follow", protocol.UploadBegin: "upload_begin",
        protocol.UploadEnd: "upload_end", protocol.UploadCancel: "upload_cancel",
        protocol.Ping: "ping",
    }  # fmt: skip
    return names.get(type(message), "message")


# Tornado's IOStream keeps a count of the bytes it has not handed to the kernel yet but does not
# expose it, and every IOStream.write costs a Future and a scheduled callback. Fanning a page out
# to ten thousand viewers wants neither, so these two functions reach past it, and nothing else
# in tablecast does.


def unsent_bytes(stream: tornado.iostream.IOStream) -> int:
    """Bytes queued on a stream and not yet taken by the kernel."""
    return len(stream._write_buffer)


def write(stream: tornado.iostream.IOStream, data: bytes, unsent: int) -> None:
    """Write to the socket at once when nothing is queued before (the usual case); queue what
    the kernel does not take, in order, on the stream, which also handles errors and closing."""
    if not unsent:
        try:
            sent = stream.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # let the stream meet the error and close itself as it always does
        if sent == len(data):
            return
        data = data[sent:]
    with contextlib.suppress(tornado.iostream.StreamClosedError):
        stream.write(data)
