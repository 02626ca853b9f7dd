"""A tablecast server in the test's own process, whose views thread a test can hold."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import Any

from support import InProcessServer
from tablecast.service.views import SHARED, Demand, Views


class InProcess(InProcessServer):
    """The tests' in-process server (support.InProcessServer), with a hold on its views
    thread: what sorts and searches run on (see tablecast.service.views.Scheduler). ``views``
    is the one the server made, set by the ``in_process`` fixture."""

    views: Views

    def __init__(self, data_dir: Path, *args: str) -> None:
        super().__init__(data_dir, *args)
        self._release = threading.Event()
        self._held: concurrent.futures.Future[Any] | None = None

    async def hold_views(self) -> None:
        """Occupy the views thread with a piece of work that waits for ``release_views``:
        every sort and search asked for meanwhile waits behind it."""
        assert self._held is None, "the views thread is held already"
        assert self._loop is not None, "the server is not running"
        entered = threading.Event()
        self._release.clear()

        def wait() -> None:
            entered.set()
            assert self._release.wait(60), "the views thread was never released"

        scheduler = self.views.scheduler

        async def submit() -> Any:  # in the server's loop, as its own work is
            return await scheduler.submit(Demand(SHARED, self, scheduler), wait)

        self._held = asyncio.run_coroutine_threadsafe(submit(), self._loop)
        assert await asyncio.to_thread(entered.wait, 30), "the views thread never got there"

    async def release_views(self) -> None:
        self._release.set()
        if self._held is not None:
            await asyncio.wrap_future(self._held)
            self._held = None
