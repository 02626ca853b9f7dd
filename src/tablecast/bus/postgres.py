"""The cluster's bus: PostgreSQL's LISTEN/NOTIFY, on one connection of the node's own.

The connection is kept: when it drops (the database restarted, the network failed) it is made
again, with growing pauses, and once it listens again the cluster resynchronises every open
document from the store, since notifications sent meanwhile are lost. TCP keepalives notice a
connection that died without a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg.conninfo import make_conninfo

from ..errors import TablecastError
from ..metrics import METRICS
from .events import CHANNEL, Listener, decode, kind

log = logging.getLogger("tablecast.bus")

# A dead peer is noticed within about 5 + 3 * 2 seconds rather than the OS's two hours.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds between attempts to listen again


class PostgresBus:
    def __init__(self, url: str) -> None:
        self.url = url
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, listener: Listener) -> None:
        self._task = asyncio.ensure_future(self._run(listener))
        waiting = asyncio.ensure_future(self._listening.wait())
        await asyncio.wait([waiting, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            await self._task  # it ended before listening: its error says why

    async def _run(self, listener: Listener) -> None:
        pause = RETRY_FIRST
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    make_conninfo(self.url, connect_timeout=5, **KEEPALIVES), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if not first:
                        METRICS.bus_reconnects += 1
                        log.warning("listening to the other nodes again; resynchronising")
                        await listener.resync()
                    first = False
                    pause = RETRY_FIRST
                    async for notify in conn.notifies():
                        event = decode(notify.payload)
                        if event is None:
                            continue
                        METRICS.bus_events[kind(event)] += 1
                        try:
                            listener.on_event(event)
                        except Exception:
                            log.exception("could not apply %r", event)
            except psycopg.OperationalError as exc:
                if first and not self._listening.is_set():  # at start: the operator reads it
                    raise TablecastError(
                        "store_unavailable", f"cannot listen for the other nodes' events: {exc}"
                    ) from exc
                log.warning("lost the other nodes' events (%s); trying again", exc)
            except TablecastError as err:  # the store, while resynchronising
                log.warning("could not resynchronise (%s); trying again", err.message)
            except Exception:
                log.exception("the event bus failed; trying again")
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.OperationalError):
                await self._task
