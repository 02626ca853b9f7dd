"""The store as the event loop sees it: its threads, so that the loop never waits on the disk.

Writes (and the parsing that feeds them) run on one writer thread, in order; lookups run on a
small pool of readers. Everything else in tablecast.service reaches the store through
:meth:`Storage.write` and :meth:`Storage.read`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..errors import DiskFull, TablecastError
from ..store.base import Store

log = logging.getLogger("tablecast.service.storage")

T = TypeVar("T")

FULL_DISK_EVERY = 60.0  # seconds between warnings that the disk is full


class Storage:
    def __init__(self, store: Store, *, readers: int = 4) -> None:
        self.store = store
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tablecast-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tablecast-reader")
        self.closing = False  # no more writes
        self._said_full = -FULL_DISK_EVERY  # when the log last said the disk is full

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        if self.closing:
            raise TablecastError("shutting_down", "the server is shutting down")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        except DiskFull:
            now = time.monotonic()
            if now - self._said_full > FULL_DISK_EVERY:  # the operator's to mend: said, not
                self._said_full = now  # every time
                log.warning("the disk is full: uploads and changes are refused until room is made")
            raise

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def full(self) -> bool:
        """Whether the disk is full, so that writes are refused (see Store.full)."""
        return self.store.full()

    def tidy(self) -> None:
        """After an upload ends: the store's tidying (see Store.checkpoint) goes to the writer
        thread unawaited, behind the commit, while the new version's pages go out."""
        if not self.closing:
            self._writer.submit(self._tidy)

    def _tidy(self) -> None:
        try:
            self.store.checkpoint()
        except DiskFull:  # the operator's to mend, as writes say (see write); tried again after
            log.warning("could not fold the WAL into the store: the disk is full")
        except Exception:
            log.exception("could not checkpoint the store")

    async def stop(self) -> None:
        """Take no more writes, and let the threads finish what they hold."""
        self.closing = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.shutdown)
        await loop.run_in_executor(None, self._readers.shutdown)

    def close(self) -> None:
        """Close the store: after :meth:`stop`, and after whatever else reads it."""
        self.store.close()
