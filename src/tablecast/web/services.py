"""The services the handlers share: one object made by the server, handed to every handler.

Its own module, below both the server and the handlers, so that handlers can name it without
importing the server that imports them. An open WebSocket is seen here only as a
:class:`Viewer` (what the server does with one), for the same reason.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from ..config import Settings
from ..rates import Buckets
from ..service.documents import Documents
from ..service.edits import Edits
from ..service.exports import Exports
from ..service.hub import Hub
from ..service.pages import Pages
from ..service.uploads import Uploads
from ..wire.session import Limits


class Viewer(Protocol):
    """An open WebSocket, as the server sees it: pinged now and then, closed at shutdown, and
    cut off if it does not answer the close."""

    transport: asyncio.Transport | None

    def ping(self) -> None: ...

    def close(self, code: int, reason: str = "") -> None: ...


@dataclass
class Services:
    settings: Settings
    documents: Documents
    edits: Edits  # rows added, upserted, deleted, cells set
    hub: Hub
    uploads: Uploads  # every upload, WebSocket or HTTP, goes through it
    pages: Pages  # pages of versions, and their columns' types
    exports: Exports  # typed downloads kept as files, for HEAD and byte ranges
    connections: set[Viewer] = field(default_factory=set)  # every open WebSocket
    # open WebSockets by client address, counted from the handshake that admits one
    addresses: Counter[str] = field(default_factory=Counter)
    # per client address: new documents (--create-rate a minute), wrong edit keys over HTTP
    # (--page-rate a second, as a WebSocket's auth)
    creations: Buckets = field(default_factory=lambda: Buckets(0, 0))
    key_guesses: Buckets = field(default_factory=lambda: Buckets(0, 0))
    # what every viewer's WebSocket session is held to: one object for all of them
    session_limits: Limits = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.session_limits = Limits(
            viewer_buffer=settings.viewer_buffer,
            slow_viewer_timeout=settings.slow_viewer_timeout,
            ping_interval=settings.ping_interval,
            page_rate=settings.page_rate,
        )
