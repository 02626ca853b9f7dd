"""Fire-and-forget work (saving a shared page, rolling back an abandoned upload), kept track of
so that it is neither garbage-collected mid-way nor silently lost, and awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from .errors import TablecastError

log = logging.getLogger("tablecast")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Future[Any]:
    """``coro`` run in the background; its task (to cancel it, say)."""
    task = asyncio.ensure_future(coro)
    _running.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        _running.discard(t)
        if t.cancelled() or t.exception() is None:
            return
        exc = t.exception()
        # a typed error is the server working as it should (the store is restarting, say);
        # anything else is a bug
        level = logging.WARNING if isinstance(exc, TablecastError) else logging.ERROR
        log.log(level, "could not %s: %r", what, exc)

    task.add_done_callback(done)
    return task


async def drain() -> None:
    """Wait for the background work started so far."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


def start(coro: Coroutine[Any, Any, Any], what: str) -> None:
    """Run ``coro`` now, inside this callback, as far as it goes without waiting; if it must
    wait, a task carries on from there (what Python 3.12's eager tasks do, on 3.11 too).

    A page request served from SQLite never waits, so it is answered in the same turn of the
    event loop that read it, rather than a turn later behind every other ready callback: with
    thousands of viewers that halves, and evens out, the time a request takes.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except Exception as exc:
        log.error("could not %s: %r", what, exc)
        return
    if waiting is not None:
        # take the future over from the coroutine, as a task's step does: until this flag is
        # cleared, the future refuses to be awaited again
        waiting._asyncio_future_blocking = False
    spawn(_carry_on(coro, waiting), what)


async def _carry_on(coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Drive ``coro`` on from where it yielded ``waiting`` (a future, or None for a bare yield)."""
    while True:
        if waiting is None:
            await asyncio.sleep(0)
        else:
            try:
                await waiting
            except asyncio.CancelledError:
                coro.close()
                raise
            except Exception:
                pass  # the coroutine meets it itself, from the future, when resumed
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        if waiting is not None:
            waiting._asyncio_future_blocking = False
