"""Events between the nodes (processes, machines) that share one store.

Whatever one node changes that viewers on other nodes must see (a new version, the shared
page, its viewer count, an upload's progress) the store announces, inside the transaction that
makes the change (see tablecast.store.base.Store). The bus is the other end: it hears those
announcements and hands them to the node's cluster (tablecast.service.cluster), which applies
them to its hub. A single process with SQLite needs none of it: ``LocalBus`` hears nothing, and the
hub's own fan-out is all there is.

``Listener.resync`` is called when the bus has been deaf for a while (the database restarted):
whatever it missed, the cluster reads back from the store.
"""

from __future__ import annotations

from typing import Protocol

from ..config import Settings
from .events import Listener


class Bus(Protocol):
    async def start(self, listener: Listener) -> None:
        """Listen from now on; returns once listening, so nothing announced after is missed."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: nobody else announces anything."""

    async def start(self, listener: Listener) -> None:
        pass

    async def close(self) -> None:
        pass


def open_bus(settings: Settings) -> Bus:
    if settings.store_url:
        from .postgres import PostgresBus

        return PostgresBus(settings.store_url)
    return LocalBus()
