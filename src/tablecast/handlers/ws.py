"""``/parser/ws`` (open a new document) and ``/parser/ws/{id}`` (join one): the HTTP side.

Tornado answers the HTTP request. Once the opening handshake checks out (method, headers,
origin, the client's address under its connection limit), the socket leaves Tornado for an
asyncio transport driven by a :class:`~tablecast.handlers.viewer.Connection`, which speaks the
WebSocket protocols from then on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import orjson
import tornado.iostream
import tornado.web

from .. import protocol, websocket
from ..errors import TablecastError
from ..metrics import METRICS
from . import base_url
from .viewer import Connection

if TYPE_CHECKING:
    from ..config import Settings
    from ..server import Services

log = logging.getLogger("tablecast.ws")


class Handshake(tornado.web.RequestHandler):
    """The HTTP side: check the opening handshake, answer 101, hand the stream over."""

    def initialize(self, services: Services) -> None:
        self.services = services

    async def get(self, document_id: str | None = None) -> None:
        headers = self.request.headers
        try:
            key = websocket.check_request(self.request.method or "", headers)
        except websocket.HandshakeError as err:
            self.set_status(err.status)
            if err.status == 426:
                self.set_header("Sec-WebSocket-Version", "13")
            self.finish(str(err))
            return
        settings = self.services.settings
        origin = headers.get("Origin")
        if origin is not None and not origin_allowed(origin, headers.get("Host", ""), settings):
            # a page on another site must not drive a viewer's connection (CSWSH)
            self.refuse(TablecastError("origin_not_allowed", f"WebSockets from {origin} refused"))
            return
        remote_ip = self.request.remote_ip or "-"
        per_ip = settings.max_connections_per_ip
        if per_ip and self.services.addresses[remote_ip] >= per_ip:
            self.set_header("Retry-After", "10")
            self.refuse(
                TablecastError(
                    "too_many_connections",
                    f"this address already has {per_ip} connections open: close some first",
                )
            )
            return
        offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        subprotocol = protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in offered else None
        agreed = None
        if settings.compression:
            agreed = websocket.independent_deflate(headers.get("Sec-WebSocket-Extensions", ""))
        connection = Connection(
            self.services,
            legacy=subprotocol is None,
            deflate=agreed,
            remote_ip=remote_ip,
            base_url=base_url(settings, self.request),
        )
        stream = self.detach()
        await start(connection, stream, websocket.response(key, subprotocol, agreed))
        connection.open(document_id)

    def refuse(self, err: TablecastError) -> None:
        """No WebSocket: an HTTP answer with the error, in the API's shape."""
        log.info("refused %s ip=%s code=%s", self.request.path, self.request.remote_ip, err.code)
        METRICS.error(err.code)
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps({"error": err.as_dict()}))


def origin_allowed(origin: str, host: str, settings: Settings) -> bool:
    """May a page from ``origin`` open a WebSocket here? Our own pages may (the origin names
    the host the browser asked for, or --public-url's), and those --allowed-origin adds."""
    if "*" in settings.allowed_origin:
        return True
    origin = origin.strip().lower()
    try:
        if urlparse(origin).netloc == host.lower():
            return True
    except ValueError:  # "http://[", say: no browser sends it, so no site we serve
        return False
    if origin in settings.allowed_origin:
        return True
    own = urlparse(settings.public_url.lower())
    return bool(own.netloc) and origin == f"{own.scheme}://{own.netloc}"


async def start(connection: Connection, stream: tornado.iostream.IOStream, answer: bytes) -> None:
    """Move the socket from Tornado's stream to an asyncio transport driving ``connection``.

    asyncio's transport reads once per readiness event and reports flow control (pause_writing
    when a viewer's unsent bytes pass a mark); Tornado's stream tries a read that can only fail
    each time another is asked for, and says nothing of what is unsent.
    """
    sock = socket.socket(fileno=os.dup(stream.socket.fileno()))
    # Only a client that broke RFC 6455 sends frames before the 101, but keep what came.
    early = bytes(getattr(stream, "_read_buffer", b""))
    stream.close()
    loop = asyncio.get_running_loop()
    connection.handshake_answer = answer  # written as the transport is made
    await loop.connect_accepted_socket(lambda: connection, sock=sock)
    if early:
        connection.data_received(early)
