"""``/parser/ws`` (open a new document) and ``/parser/ws/{id}`` (join one): the HTTP side.

Tornado answers the HTTP request. Once the opening handshake checks out (method, headers,
origin, the client's address under its connection limit and, for a new document, under its
creation rate), the socket leaves Tornado for an asyncio transport driven by a
:class:`~tablecast.web.connection.Connection`, which speaks the WebSocket protocols from then
on. A refused handshake gets an HTTP answer in the API's shape, and its connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import socket
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson
import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection

from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document
from ..wire import protocol, websocket
from ..wire.codec import codec_for
from . import base_url
from .connection import Connection, release_address

if TYPE_CHECKING:
    from tornado.httputil import HTTPServerRequest

    from ..config import Settings
    from .services import Services

log = logging.getLogger("tablecast.ws")

# The cookie that gives a legacy client's browser its way back to a document it created (the
# legacy protocol never tells it the key): HttpOnly, scoped to that document's WebSocket path
EDIT_COOKIE = "tablecast_edit"
EDIT_COOKIE_DAYS = 365


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
        services = self.services
        settings = services.settings
        origin = headers.get("Origin")
        if origin is not None and not origin_allowed(origin, self.request, settings):
            # a page on another site (or a name rebound to this server) must not drive a
            # viewer's connection (CSWSH, DNS rebinding)
            await self.refuse(TablecastError("origin_not_allowed", refusal(origin, settings)))
            return
        remote_ip = self.request.remote_ip or "-"
        per_ip = settings.max_connections_per_ip
        if per_ip and services.addresses[remote_ip] >= per_ip:
            self.set_header("Retry-After", "10")
            await self.refuse(
                TablecastError(
                    "too_many_connections",
                    f"this address already has {per_ip} connections open: close some first",
                )
            )
            return
        if document_id is None and not services.creations.take(remote_ip):
            self.set_header("Retry-After", str(math.ceil(services.creations.wait(remote_ip))))
            await self.refuse(
                TablecastError(
                    "rate_limited",
                    f"this address made {settings.create_rate:g} tables in a minute: wait a little",
                )
            )
            return
        # Counted now, before anything is awaited: handshakes arriving together must not all
        # pass the check above. The connection gives it back when it closes; one that never
        # became a connection gives it back here.
        services.addresses[remote_ip] += 1
        connection: Connection | None = None
        try:
            connection = await self._open(key, document_id, remote_ip)
        finally:
            if connection is None or not connection.made:
                release_address(services.addresses, remote_ip)
            # as Tornado's finish() does, which a stream detached never reaches: the handler
            # and its `ui` refer to each other, and with them some 35 objects a viewer were
            # left to the cycle collector, whose full passes stop every viewer's fan-out
            self._break_cycles()

    async def _open(self, key: str, document_id: str | None, remote_ip: str) -> Connection:
        headers = self.request.headers
        settings = self.services.settings
        offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        subprotocol = protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in offered else None
        legacy = subprotocol is None
        agreed = None
        if settings.compression:
            agreed = websocket.independent_deflate(headers.get("Sec-WebSocket-Extensions", ""))
        connection = Connection(
            self.services,
            codec=codec_for(subprotocol),
            deflate=agreed,
            remote_ip=remote_ip,
            base_url=base_url(settings, self.request),
        )
        extra: tuple[str, ...] = ()
        if document_id is None and legacy:
            # made before the 101, so that the key can ride on it as a cookie
            try:
                connection.created = await self.services.documents.create()
            except TablecastError as err:
                connection.created = err  # the connection closes with it once open
            else:
                extra = (self.edit_cookie(*connection.created),)
        else:
            connection.cookie_key = self.cookie_key()
        stream = self.detach()
        await start(connection, stream, websocket.response(key, subprotocol, agreed, extra))
        connection.open(document_id)
        return connection

    def edit_cookie(self, document: Document, edit_key: str) -> str:
        document_id = document.id
        secure = "; Secure" if self.request.protocol == "https" else ""
        return (
            f"Set-Cookie: {EDIT_COOKIE}={edit_key}; Path=/parser/ws/{document_id};"
            f" Max-Age={EDIT_COOKIE_DAYS * 86400}; HttpOnly; SameSite=Strict{secure}"
        )

    def cookie_key(self) -> str | None:
        """The edit key the browser keeps for this document (see EDIT_COOKIE), if any."""
        try:
            cookies = SimpleCookie(self.request.headers.get("Cookie", ""))
        except CookieError:
            return None
        morsel = cookies.get(EDIT_COOKIE)
        return morsel.value if morsel is not None and morsel.value else None

    async def refuse(self, err: TablecastError) -> None:
        """No WebSocket: an HTTP answer with the error, in the API's shape; then the
        connection is closed, so that a refused client holds nothing of ours."""
        log.info("refused %s ip=%s code=%s", self.request.path, self.request.remote_ip, err.code)
        METRICS.error(err.code)
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Connection", "close")
        connection = self.request.connection
        with contextlib.suppress(tornado.iostream.StreamClosedError):  # the client left
            await self.finish(orjson.dumps({"error": err.as_dict()}))
        if isinstance(connection, HTTP1Connection):
            connection.close()


def origin_allowed(origin: str, request: HTTPServerRequest, settings: Settings) -> bool:
    """May a page from ``origin`` open a WebSocket here?

    - ``--allowed-origin`` (or ``*``) names other sites that may;
    - with ``--public-url``, our pages are those of its origin, and only those;
    - without it, a page may if it was served by this server as the browser reached it (the
      same scheme, host and port as this request: behind a proxy, with ``--trust-proxy``, as
      ``X-Forwarded-Proto``/``-Host`` say) and that host names this server: an IP address,
      ``localhost``, the listen address, or one of ``--server-name``. A name that an attacker
      controls and has pointed at this server (DNS rebinding) names none of these.
    """
    if "*" in settings.allowed_origin:
        return True
    origin = origin.strip().lower()
    if origin in settings.allowed_origin:
        return True
    page = _origin_parts(origin)
    if page is None:
        return False
    if settings.public_url:
        return page == _origin_parts(settings.public_url.lower())
    host = request.host
    if settings.trust_proxy:
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or host
    reached = _origin_parts(f"{request.protocol}://{host}".lower())
    return page == reached and _names_this_server(page[1], settings)


def refusal(origin: str, settings: Settings) -> str:
    """What a refused origin is told: what would let a page of ours in."""
    if settings.public_url:
        return (
            f"WebSockets from {origin} refused: only pages of {settings.public_url}"
            " (--public-url) and --allowed-origin may open them"
        )
    return (
        f"WebSockets from {origin} refused: the page must come from this server, by a name it"
        " knows (--server-name or --public-url); behind a proxy, pass Host (or"
        " X-Forwarded-Host with --trust-proxy)"
    )


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or base URL, default ports filled in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # "http://[", a port that is not a number: no site we serve
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _names_this_server(host: str, settings: Settings) -> bool:
    try:
        ipaddress.ip_address(host)
        return True  # an address, not a name: nothing to rebind
    except ValueError:
        pass
    return (
        host == "localhost"
        or host.endswith(".localhost")
        or host == settings.host.lower()
        or host in settings.server_name
    )


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
    connection.early = early  # and read, ahead of anything the transport reads
    try:
        await loop.connect_accepted_socket(lambda: connection, sock=sock)
    except BaseException:
        sock.close()
        raise
