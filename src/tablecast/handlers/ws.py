"""``/parser/ws`` (open a new document) and ``/parser/ws/{id}`` (join one).

A client that asks for no subprotocol speaks the article's legacy protocol; one that asks for
``tablecast.v1`` speaks the current one. Both are decoded and encoded by :mod:`tablecast.protocol`;
this handler only glues them to Tornado, the hub and the uploads.
"""

from __future__ import annotations

import contextlib
import logging
import time
from asyncio import Future
from typing import TYPE_CHECKING, Any, cast

import tornado.httputil
import tornado.iostream
import tornado.websocket

from .. import protocol, tasks
from ..documents import Upload
from ..errors import TablecastError
from ..frames import Frame, independent_deflate
from ..hub import Room
from . import canonical_id, share_url

if TYPE_CHECKING:
    from ..server import Services

log = logging.getLogger("tablecast.ws")

CLOSE_NO_DOCUMENT = 4404
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 4008

# A viewer that reads more slowly than messages come (or not at all) must not hold the server's
# memory or slow the others. Past --viewer-buffer unsent bytes, a new page (or presence, or
# progress) replaces the one still waiting rather than queueing behind it; past HARD_LIMIT times
# that, or after --slow-viewer-timeout that far behind, the viewer is closed with CLOSE_TOO_SLOW.
HARD_LIMIT = 16


class DocumentSocket(tornado.websocket.WebSocketHandler):
    legacy: bool = True
    follow: bool = True

    def initialize(self, services: Services) -> None:
        self.services = services
        self.deflate = False  # permessage-deflate negotiated: send compressed frames
        self.behind: dict[str, Frame] = {}  # the newest frames waiting for a slow viewer
        self.behind_since = 0.0
        self.draining = False
        self.room: Room | None = None
        self.upload: Upload | None = None
        self.upload_failed = False  # drop the chunks still in flight after a failed upload
        self.opened = time.monotonic()

    # Handshake

    def _offers_v1(self) -> bool:
        offered = self.request.headers.get("Sec-WebSocket-Protocol", "")
        return protocol.SUBPROTOCOL in (p.strip() for p in offered.split(","))

    @property
    def max_message_size(self) -> int:
        # Decided before the handshake completes, hence from the offer: a legacy client sends
        # its whole file as one message, a v1 client sends chunks.
        settings = self.services.settings
        return settings.max_message_bytes if self._offers_v1() else settings.max_upload_bytes

    def get_compression_options(self) -> dict[str, Any] | None:
        if not self.services.settings.compression:
            return None
        offer = self.request.headers.get("Sec-WebSocket-Extensions", "")
        self.deflate = independent_deflate(offer) is not None
        return {}

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, tornado.websocket.WebSocketProtocol13):
            return _Protocol(self, False, protocol.params)
        return protocol

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in subprotocols else None

    async def open(self, document_id: str | None = None) -> None:
        self.legacy = self.selected_subprotocol is None
        self.set_nodelay(True)
        documents, hub = self.services.documents, self.services.hub
        if document_id is None:
            document = await documents.create()
            document_id = document.id
            log.info("created doc=%s ip=%s", document_id, self.request.remote_ip)
        else:
            document_id = canonical_id(document_id) or ""
        room = await hub.join(self, document_id) if document_id else None
        if room is None:
            log.info("not found doc=%s ip=%s", document_id, self.request.remote_ip)
            self.close(CLOSE_NO_DOCUMENT, "no such document")
            return
        if self._is_closed():  # gone while we joined: on_close found no room to leave
            hub.leave(self, room)
            return
        self.room = room
        if not self.legacy:
            # the hello goes first, so the client knows the document before its first page
            url = share_url(self.services.settings, self.request, document_id)
            self.reply(protocol.hello(document_id, url, self._limits(), self.follow))
        await hub.send_page(self, room, None, cause="join")
        log.info(
            "connect doc=%s protocol=%s ip=%s viewers=%d",
            room.document.id,
            "legacy" if self.legacy else "v1",
            self.request.remote_ip,
            len(room),
        )

    def _limits(self) -> dict[str, int]:
        settings = self.services.settings
        return {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_message_bytes": settings.max_message_bytes,
            "page_size": settings.page_size,
        }

    def on_close(self) -> None:
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
                upload.document_id,
                upload.id,
                upload.received,
            )
        log.info(
            "disconnect doc=%s code=%s seconds=%.1f",
            room.document.id,
            self.close_code,
            time.monotonic() - self.opened,
        )

    # Sending

    def _is_closed(self) -> bool:
        return self.ws_connection is None or self.ws_connection.is_closing()

    def reply(self, payload: bytes) -> None:
        self.send(Frame(payload))

    def send(self, frame: Frame) -> None:
        """Queue a frame for this viewer, never letting a slow one hold unbounded memory."""
        connection = self.ws_connection
        if connection is None or connection.is_closing() or connection.stream is None:
            return
        stream = connection.stream
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

    def _drained(self, written: Future[None]) -> None:
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

    async def on_message(self, message: str | bytes) -> None:
        room = self.room
        if room is None:
            return
        # what the request was, for the log and the error: refined once a v1 message is decoded
        request = "upload_chunk" if isinstance(message, bytes) else "goto"
        try:
            if self.legacy:
                await self._on_legacy(room, message)
            elif isinstance(message, bytes):
                await self._on_chunk(message)
            else:
                request = "message"
                decoded = protocol.decode_v1_text(message)
                request = _request_name(decoded)
                await self._on_v1(room, decoded)
        except TablecastError as err:
            log.info(
                "error doc=%s request=%s code=%s %s",
                room.document.id,
                request,
                err.code,
                err.message,
            )
            await self._send_error(room, err, request)
        except Exception:
            log.exception("error doc=%s request=%s", room.document.id, request)
            await self._send_error(
                room, TablecastError("internal", "something went wrong"), request
            )

    async def _send_error(self, room: Room, err: TablecastError, request: str) -> None:
        if self.legacy:
            # a legacy client understands only pages: it gets the shared page, error attached
            await self.services.hub.send_page(self, room, None, cause="request", error=err)
        else:
            self.reply(protocol.error(err, request))

    async def _on_legacy(self, room: Room, message: str | bytes) -> None:
        if isinstance(message, bytes):
            upload = await self.services.documents.start_upload(room.document.id, filename="")
            self.upload = upload
            self.services.hub.upload_progress(upload, "receiving")
            try:
                await upload.feed(message)
                await self._commit(upload)
            finally:
                self.upload = None
        else:
            await self.services.hub.turn_page(room, protocol.decode_legacy_text(message))

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
                        upload.document_id,
                        upload.id,
                        upload.received,
                    )
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
        self.reply(
            protocol.message(
                "upload_ready",
                upload=upload.id,
                chunk_bytes=protocol.CHUNK_BYTES,
                window=protocol.WINDOW,
            )
        )
        self.services.hub.upload_progress(upload, "receiving")

    async def _on_chunk(self, chunk: bytes) -> None:
        upload = self.upload
        if upload is None:
            if self.upload_failed:
                return  # still in flight when the upload failed; the client was told once
            raise TablecastError("no_upload", "send upload_begin before the file's chunks")
        try:
            await upload.feed(chunk)
        except TablecastError as err:
            self.upload, self.upload_failed = None, True
            self.services.hub.upload_progress(upload, "failed", err)
            raise
        self.reply(
            protocol.message(
                "upload_ack", upload=upload.id, received=upload.received, records=upload.records
            )
        )
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
            self.reply(
                protocol.message(
                    "upload_done",
                    upload=upload.id,
                    version=version.number,
                    total_number=version.data_rows,
                    seconds=round(upload.duration, 3),
                )
            )
        hub.upload_progress(upload, "done")
        await hub.version_committed(document)


class _Protocol(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol, reading the permessage-deflate offer with ``independent_deflate``.

    Tornado's header parser drops parameters that have no value, server_no_context_takeover
    among them, and would then keep a ~256 KiB compressor alive for every connection. With the
    parameters agreed here it answers them, and keeps no compression state between messages.
    """

    def _parse_extensions_header(
        self, headers: tornado.httputil.HTTPHeaders
    ) -> list[tuple[str, dict[str, str]]]:
        agreed = independent_deflate(headers.get("Sec-WebSocket-Extensions", ""))
        # Tornado annotates values as str, but takes None for a parameter without a value
        return [] if agreed is None else [("permessage-deflate", cast(dict[str, str], agreed))]


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


def _request_name(message: Any) -> str:
    """The wire name of a decoded message, to say which request an error answers."""
    names = {
        protocol.Goto: "goto",
        protocol.Follow: "follow",
        protocol.UploadBegin: "upload_begin",
        protocol.UploadEnd: "upload_end",
        protocol.UploadCancel: "upload_cancel",
        protocol.Ping: "ping",
    }
    return names.get(type(message), "message")
