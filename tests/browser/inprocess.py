"""A tablecast server in the test's own process, whose views thread a test can hold."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from support import Listening
from tablecast.service.views import SHARED, Demand, Views


class InProcess(Listening):
    """A whole server in the test's own process and event loop, with a hold on its views
    thread: what sorts and searches run on (see tablecast.service.views.Scheduler)."""

    def __init__(self, port: int, views: Views) -> None:
        self.port = port
        self.views = views
        self._release = threading.Event()
        self._held: asyncio.Future[Any] | None = None

    async def hold_views(self) -> None:
        """Occupy the views thread with a piece of work that waits for ``release_views``:
        every sort and search asked for meanwhile waits behind it."""
        assert self._held is None, "the views thread is held already"
        entered = threading.Event()
        self._release.clear()

        def wait() -> None:
            entered.set()
            assert self._release.wait(60), "the views thread was never released"

        scheduler = self.views.scheduler
        self._held = scheduler.submit(Demand(SHARED, self, scheduler), wait)
        assert await asyncio.to_thread(entered.wait, 30), "the views thread never got there"

    async def release_views(self) -> None:
        self._release.set()
        if self._held is not None:
            await self._held
            self._held = None
