"""Pages of versions, ready to send: the page cache, reads shared, and views' pages.

Pages are cached as ready-to-send JSON (when a new version lands, ten thousand viewers ask for
page 1 at once), and concurrent requests for one page share one read. A page of a view that
sorts or searches is a slice of the rows tablecast.service.views computes; a page says its
columns' types once they are known.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from ..model import Version
from ..table import paging
from ..table.columns import Array, TableText
from ..table.paging import Numbering
from ..table.view import View
from .storage import Storage
from .views import Blocks, Views

CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Page:
    """A page ready to send: which rows, their records as JSON, (for a view that sorts or
    searches) each row's number in the version, as the viewer counts rows, and its columns'
    types (None: not known yet, see Pages.types)."""

    window: paging.PageWindow
    data: bytes
    row_numbers: list[int] | None = None
    types: list[str] | None = None


class Pages:
    def __init__(self, storage: Storage, views: Views) -> None:
        self.storage = storage
        self.views = views
        self._cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._reading: dict[tuple[int, int, int], asyncio.Future[bytes]] = {}

    async def page(
        self,
        version: Version | None,
        view: View,
        page_no: int,
        page_size: int,
        numbering: Numbering,
        *,
        viewer: object | None = None,
    ) -> Page:
        """Page ``page_no`` of a version as ``view`` shows it, counted as ``numbering`` says
        (a view that sorts or searches shows rows: only the plain view may count records).
        ``version`` must already be as the view reads it (View.on). ``viewer``: whose own view
        it is, if it is one (see Views.rows)."""
        if version is None or not view.picks:
            window = paging.page_window(version, page_no, page_size, numbering)
            data = await self.records_json(version, window.start, window.stop)
            return Page(window, data, types=self.views.known_types(version))
        assert numbering is Numbering.ROWS, "a view's rows are counted under the header"
        rows = await self.views.rows(version, view, viewer=viewer)
        window = paging.rows_window(len(rows), page_no, page_size)
        picked = rows[window.start : window.stop]
        first = version.first_data_record
        data = await self._picked_json(version, picked.tolist())
        # known once the rows are: a sort infers them first
        types = self.views.known_types(version)
        return Page(window, data, (picked + 1 - first).tolist(), types)

    def restored(self, old: Version, new: Version | None) -> None:
        """``new`` holds ``old``'s records again (see Views.restored)."""
        if new is not None:
            self.views.restored(old, new)

    def prepare(self, version: Version | None, quiet: float = 0.0) -> None:
        """A version was just committed: its columns and types are made now, before anyone
        asks for a page of a view (see Views.prepare; ``quiet``: once no newer one came for
        that long)."""
        self.views.prepare(version, quiet)

    async def types(self, version: Version | None) -> list[str]:
        """Each column's type (integer, decimal, date or text) over the version's rows: a pass
        over the version, the first time."""
        return [] if version is None else await self.views.types(version)

    async def sorted_rows(self, version: Version, view: View) -> tuple[Array, Blocks] | None:
        """For a view that sorts or searches: the records it shows, in order, and every block
        of the version, kept (an export picks its records from all over it); None for the
        plain view, whose records are read in order (records_json)."""
        if not view.picks:
            return None
        rows = await self.views.rows(version, view)
        return rows, await self.views.blocks(version)

    async def columns(self, version: Version, view: View) -> tuple[TableText, Array | None]:
        """A version's cells as Arrow columns (what typed downloads read: see
        tablecast.table.export_binary), and, for a view that sorts or searches, the records it
        shows, in order (None: the version's rows, in order). Its records file, which text
        downloads read a sorted view's records from, is not made."""
        rows = await self.views.rows(version, view) if view.picks else None
        return await self.views.text(version), rows

    async def records_json(self, version: Version | None, start: int, stop: int) -> bytes:
        """Records ``start`` to ``stop`` of a version as one JSON array, ready to embed.

        A store whose reads are local and quick (SQLite: a page is one or two blocks of a few
        tens of KiB, almost always in the OS's page cache) is read right here on the loop: that
        costs less than handing the read to a thread, whose Python work would then contend
        with the loop for the GIL. Other stores are read on the pool, and concurrent requests
        for one page share one read.
        """
        if version is None or stop <= start:
            return b"[]"
        key = (version.id, start, stop)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        store = self.storage.store
        if store.reads_inline:
            value = store.read_rows(version.id, start, stop)
            self._remember(key, value)
            return value
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(
                self.storage.read(store.read_rows, version.id, start, stop)
            )
            self._reading[key] = reading
            reading.add_done_callback(lambda f: self._read_done(key, f))
        # shield: one viewer leaving must not cancel the read the others are waiting for
        return await asyncio.shield(reading)

    async def _picked_json(self, version: Version, picked: list[int]) -> bytes:
        """The picked records (a page of a view), in that order, read as records_json reads."""
        store = self.storage.store
        if store.reads_inline:
            return store.read_picked(version.id, picked)
        return await self.storage.read(store.read_picked, version.id, picked)

    def _read_done(self, key: tuple[int, int, int], future: asyncio.Future[bytes]) -> None:
        del self._reading[key]
        if not future.cancelled() and future.exception() is None:
            self._remember(key, future.result())

    def _remember(self, key: tuple[int, int, int], value: bytes) -> None:
        self._cache[key] = value
        self._cache_bytes += len(value)
        while self._cache_bytes > CACHE_BYTES:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)
