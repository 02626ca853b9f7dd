"""Fire-and-forget work (saving a shared page, rolling back an abandoned upload), kept track of
so that it is neither garbage-collected mid-way nor silently lost, and awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("tablecast")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: str) -> None:
    task = asyncio.ensure_future(coro)
    _running.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _running.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("could not %s: %r", what, t.exception())

    task.add_done_callback(done)


async def drain() -> None:
    """Wait for the background work started so far."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)
