"""Views of a version: which rows, in which order. Sorting, searching, and the header switch.

A :class:`View` is what a viewer asks for (over HTTP as query parameters, in tablecast.v1 as a
``view`` message); parsing it is pure. :class:`Views` computes the rows a view shows, as record
numbers in order, with tablecast.table.columns (Apache Arrow), off the event loop, and keeps
what it computed: a version's columns and column types, each sort order (version, column,
order) and each search's matches, and the rows of each view. A page of a view is then a slice
of an array and a read of its records: a new sort costs one pass over a column; turning its
pages costs what a plain page does.

A version's columns are made once per node, while it is uploaded (see StreamedColumns), and
kept in the node's cache directory as an Arrow IPC file, which is memory-mapped: the OS's page
cache, not this process's heap, holds a version's columns once made, and a restarted node finds
them there. The pages a pass over them reads are given back as it goes (TableText.let_go): they
would count in the process's RSS for as long as the file stays mapped. A missing file (a node
that never saw the upload, a deleted cache, a ragged upload) is made again from the version's
blocks, which never change, right after the commit (see prepare). Either way they are made and
written a piece at a time (see STREAM_BYTES): what a build holds is about one piece, whatever the
version's size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import mmap
import os
import shutil
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from .. import tasks
from ..errors import TablecastError
from ..model import Version
from ..store.base import Store
from ..table import profiles
from ..table.blocks import Run
from ..table.columns import (
    KINDS,
    ROWS,
    Array,
    Counts,
    TableText,
    column_counts,
    give_back,
    kinds_of,
    merged_counts,
    piece_counts,
    shown,
    table_of,
    table_of_lines,
    text_columns,
)
from ..table.diff import (
    CHUNK_BYTES,
    Changes,
    Hashes,
    align,
    alike,
    changed_cells,
    pair_by,
    record_hashes,
)
from ..table.pieces import by_identity, matched, shared
from ..table.view import View

log = logging.getLogger("tablecast.table.view")

T = TypeVar("T")

# What an array takes beyond its data (the object, its shape and strides): counted, so that
# memory held by many small arrays is not missed
ARRAY_OVERHEAD = sys.getsizeof(np.empty(0)) + 32
# What a memory-mapped version's columns count against --view-memory: their data is the OS's
# page cache's (see the module's docstring), what is ours is the mapping and the table's
# objects. Counted all the same, so that the least recently used are let go in turn.
MAPPED_BYTES = 64 * 1024
COLUMNS_SUFFIX = ".arrow"
# A version's records for exports of sorted views (see Views._records_file): their text, and
# where each starts
TEXT_SUFFIX, STARTS_SUFFIX = ".records", ".starts"
# Versions of a document whose files the cache keeps at most, the newest: a version's files
# are about as large as its records, while a version that adds rows stores little more than
# them in the store, so unbounded, a document's cache would grow by its whole table at each
# row added (a million rows: some 100 MB a row).
CACHED_VERSIONS = 4
# A version's columns are made from those of the version before it (see Views._derived) if
# all but this many of its records are that version's: a change of rows, not a new upload
DERIVED_RECORDS = 1 << 16
# ... and of this many slices at most: a column of many chunks sorts slower (each change adds
# two), so past it they are made whole again, a copy (a much changed table: every change)
DERIVED_CHUNKS = 64
# ... and their counts by kind merged from that version's, where it has this many columns at
# most (the values a change took away are looked for column by column)
DERIVED_WIDTH = 256
# Documents whose newest version's columns this node remembers, to make the next one's from
LATEST_KEPT = 1024
# In every cache file's name: a change to what the files hold, or to the rules their counts
# follow, takes a new one, so that files made by an older tablecast are made again, not read
CACHE_FORMAT = "c3"  # c3: the search column is each line as stored
# A version's columns are made and written this many bytes of its blocks at a time, each piece
# let go once in the file: what making them holds is about one piece, whatever the version's
# size (some 35-50 MiB at the peak for 4 MiB of blocks, on the one views thread: a node's, not
# each upload's). Smaller pieces hold less but cost more: 1 MiB ones held some 12 MiB and made
# bench ingest's page 1 come at 3.4-4.6 s against 2.2-2.7 s. Also what is left to make of an
# upload's columns at its commit: about 50 ms of work.
STREAM_BYTES = 4 << 20
# Pieces of an upload's columns waiting for the views thread, past which the store's writer
# waits before it hands over more: what an upload faster than the views thread holds in blocks
# (8 MiB), and what may be left at its commit besides the last piece. Measured on a million
# rows: with 2, a fresh version's columns were ready 5-20 ms after the commit;
# with 8, 0.6 s of pieces were left at the commit. The price: an upload goes no faster than its
# columns are made (bench ingest, 2 cores shared with its 100 viewers: 2.3-2.7 s against
# 1.4-1.5 s when they were made after the commit).
WAITING_PIECES = 2
# How long a rolled-back upload waits for its columns' file to be deleted (see
# StreamedColumns.abort): the views thread's piece under way, and its turn
ABORT_WAIT = 10.0

# Lanes of work on the views thread, most urgent first: what followers, HTTP requests and
# column types wait for; then the pages of viewers' own views; then column profiles (the
# app's strips, asked by every browser as a version lands: on a 13.7M-row version they are
# tens of seconds of work, which a first sort must not wait behind)
SHARED, OWN, SUMMARY = 0, 1, 2


class Scheduler:
    """The views thread: one piece of work at a time, the most urgent first.

    Pieces wait in lanes (SHARED before OWN before SUMMARY). In a lane, owners take turns, a
    piece each: documents for shared work, viewers for their own views, so that no one
    document or viewer queues work ahead of the others, however much it asks for. Long work
    comes in pieces, each a turn, or gives way between its steps (see give_way). A piece's
    lane can be raised while it waits (see Demand), and a piece whose future is cancelled
    before it starts never runs.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._lanes: tuple[OrderedDict[object, deque[_Piece]], ...] = (
            OrderedDict(),
            OrderedDict(),
            OrderedDict(),
        )
        self._closed = False
        self._running: list[int] = []  # the lanes of the pieces running (see give_way)
        self._thread = threading.Thread(target=self._work, name="tablecast-views", daemon=True)
        self._thread.start()

    def submit(self, demand: Demand, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        piece = _Piece(fn, args, future, loop, demand)
        with self._ready:
            if self._closed:
                raise TablecastError("shutting_down", "the server is shutting down")
            self._file(piece, demand.lane)
            demand.waiting = piece
            self._ready.notify()
        future.add_done_callback(lambda f: self._withdraw(piece) if f.cancelled() else None)
        return future

    def post(self, demand: Demand, fn: Callable[[], object], dropped: Callable[[], object]) -> None:
        """Work that settles itself (see StreamedColumns), from any thread: ``fn`` runs on the
        views thread in its turn, or ``dropped`` runs instead if the scheduler closes first."""
        piece = _Piece(fn, (), None, None, demand, dropped=dropped)
        with self._ready:
            if self._closed:
                raise TablecastError("shutting_down", "the server is shutting down")
            self._file(piece, demand.lane)
            self._ready.notify()

    def _file(self, piece: _Piece, lane: int) -> None:
        piece.lane = lane
        self._lanes[lane].setdefault(piece.demand.owner, deque()).append(piece)

    def _unfile(self, piece: _Piece) -> bool:
        lane = self._lanes[piece.lane]
        queue = lane.get(piece.demand.owner)
        if queue is None or piece not in queue:
            return False  # running, or run
        queue.remove(piece)
        if not queue:
            del lane[piece.demand.owner]
        return True

    def _withdraw(self, piece: _Piece) -> None:
        with self._ready:
            self._unfile(piece)

    def raised(self, piece: _Piece, lane: int) -> None:
        """A piece's demand became more urgent: it waits in that lane now."""
        with self._ready:
            if lane < piece.lane and self._unfile(piece):
                self._file(piece, lane)

    def _next(self, before: int = SUMMARY + 1) -> _Piece | None:
        """The next piece to run (of a lane more urgent than ``before``), taken from its lane
        (no longer waiting: see Demand)."""
        for lane in self._lanes[:before]:
            if lane:
                owner, queue = next(iter(lane.items()))
                piece = queue.popleft()
                del lane[owner]
                if queue:  # its next piece waits for the other owners' turns
                    lane[owner] = queue
                if piece.demand.waiting is piece:
                    piece.demand.waiting = None
                return piece
        return None

    def _work(self) -> None:
        while True:
            with self._ready:
                piece = self._next()
                while piece is None and not self._closed:
                    self._ready.wait()
                    piece = self._next()
                if piece is None:
                    return
            self._run(piece)

    def _run(self, piece: _Piece) -> None:
        self._running.append(piece.lane)
        try:
            piece.run()
        finally:
            self._running.pop()

    def give_way(self) -> None:
        """Run now, ahead of the rest of the piece running, the pieces waiting in lanes more
        urgent than its own: a long piece calls this between its steps (a column profile of
        13.7 million cells takes seconds; a first sort or search asked meanwhile waited for
        it all). On the views thread, inside a piece; elsewhere it does nothing."""
        if threading.current_thread() is not self._thread or not self._running:
            return
        lane = self._running[-1]
        while True:
            with self._ready:
                piece = None if self._closed else self._next(before=lane)
                if piece is None:
                    return
            self._run(piece)

    def close(self) -> None:
        """Refuse new work; pieces still waiting fail with shutting_down."""
        with self._ready:
            self._closed = True
            waiting = [piece for lane in self._lanes for queue in lane.values() for piece in queue]
            for lane in self._lanes:
                lane.clear()
            self._ready.notify()
        for piece in waiting:
            piece.settle(None, TablecastError("shutting_down", "the server is shutting down"))

    def join(self) -> None:
        """Wait for the piece running now, if any: the store it reads is closed next."""
        self._thread.join()


@dataclass(eq=False)
class _Piece:
    """One piece of work: run on the views thread, its outcome handed to the event loop."""

    fn: Callable[..., Any]
    args: tuple[object, ...]
    future: asyncio.Future[Any] | None  # None: posted work (see Scheduler.post)
    loop: asyncio.AbstractEventLoop | None
    demand: Demand
    lane: int = SHARED
    dropped: Callable[[], object] | None = None

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except BaseException as exc:  # handed to whoever waits for it
            self.settle(None, exc)
        else:
            self.settle(result, None)

    def settle(self, result: object, exc: BaseException | None) -> None:
        future, loop = self.future, self.loop
        if future is None or loop is None:  # posted work: it settles itself, if it runs
            if exc is not None and self.dropped is not None:
                self.dropped()
            return

        def settle() -> None:
            if future.done():  # cancelled meanwhile: nobody wants it
                return
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to tell
            loop.call_soon_threadsafe(settle)


@dataclass(eq=False)
class Demand:
    """Who waits for a computation, as the scheduler ranks its pieces: its lane (the most
    urgent of its waiters') and whose turn its pieces take. A computation that waits for
    another (a sort for its version's text) lends it its lane: a follower's page joining a
    viewer's own sort moves the sort, and what the sort waits for, to the shared lane."""

    lane: int
    owner: object
    scheduler: Scheduler
    needs: set[Demand] = field(default_factory=set)  # computations it waits for
    waiting: _Piece | None = None  # its piece waiting to run, if one is

    def raise_to(self, lane: int) -> None:
        if lane >= self.lane:
            return
        self.lane = lane
        piece = self.waiting
        if piece is not None:
            self.scheduler.raised(piece, lane)
        for need in list(self.needs):
            need.raise_to(lane)


@dataclass(eq=False)
class _Making:
    """A computation under way (see Views._kept_or): its task, its demand, how many wait."""

    task: asyncio.Future[Any]
    demand: Demand
    waiters: int = 0


class Views:
    """What views of which versions this node has computed, within a memory budget (least
    recently used first out). Computing runs on a thread of its own (see Scheduler), one piece
    at a time, so a burst of new sorts never takes more than a core from the viewers, and
    what followers wait for goes ahead of what one viewer asks for itself."""

    def __init__(self, store: Store, memory: int, cache: Path | None = None) -> None:
        """``cache``: the directory keeping versions' columns (None: kept in memory only)."""
        self.store = store
        self.memory = memory
        self.cache = cache
        self.scheduler = Scheduler()
        self._kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._sizes: dict[tuple[Any, ...], int] = {}
        self._used = 0
        self._pending: dict[tuple[Any, ...], _Making] = {}
        # by document: the newest version whose columns were made, for the next one's (see
        # _derived); versions whose columns were made so, until their counts are made
        self._latest: dict[str, Version] = {}
        self._derivations: dict[int, tuple[Version, pa.Table | None, list[int]]] = {}
        self._closed = False
        # uploads' columns being made as they are ingested, by version id (see streaming)
        self._streaming: dict[int, StreamedColumns] = {}
        # each document's current version's columns being made after its commit (see prepare)
        self._preparing: dict[str, asyncio.Future[Any]] = {}
        if cache is not None:
            remove_leftovers(cache)

    def _asking(self, version: Version, viewer: object | None = None) -> Demand:
        """A request's demand: shared work, taking its document's turns, unless it is for a
        viewer's own view."""
        if viewer is None:
            return Demand(SHARED, version.document_id, self.scheduler)
        return Demand(OWN, viewer, self.scheduler)

    async def _run(self, demand: Demand, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise TablecastError("shutting_down", "the server is shutting down")
        return await self.scheduler.submit(demand, fn, *args)

    async def _in_pieces(self, demand: Demand, pieces: Iterator[T | None]) -> T:
        """Work done a piece at a time (see TableText.building), each piece a turn."""

        def step() -> T | None:
            try:
                return next(pieces)
            except StopIteration:  # (a future cannot hold one)
                raise RuntimeError("the work ended without a result") from None

        while True:
            result: T | None = await self._run(demand, step)
            if result is not None:
                return result

    async def _kept_or(
        self, key: tuple[Any, ...], make: Callable[[Demand], Awaitable[T]], asker: Demand
    ) -> T:
        """What ``key`` names, made once however many ask at a time, then kept. A computation
        nobody waits for any more is cancelled: its pieces not yet run never run."""
        if key in self._kept:
            self._kept.move_to_end(key)
            found: T = self._kept[key]
            return found
        making = self._pending.get(key)
        if making is None:
            demand = Demand(asker.lane, asker.owner, self.scheduler)
            making = _Making(asyncio.ensure_future(make(demand)), demand)
            self._pending[key] = making
            making.task.add_done_callback(lambda f: self._made(key, f))
        else:
            making.demand.raise_to(asker.lane)
        asker.needs.add(making.demand)
        making.waiters += 1
        try:
            result: T = await asyncio.shield(making.task)
        finally:
            asker.needs.discard(making.demand)
            making.waiters -= 1
            if not making.waiters and not making.task.done():
                making.task.cancel()
        return result

    def _made(self, key: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        del self._pending[key]
        if future.cancelled() or future.exception() is not None:
            return
        value = future.result()
        if isinstance(value, np.ndarray):
            size = value.nbytes + ARRAY_OVERHEAD
        elif isinstance(value, TableText):
            size = MAPPED_BYTES if value.mapped else value.nbytes
        elif isinstance(value, (Blocks, Differences)):
            size = value.nbytes
        else:
            size = 64 * (len(value) + 1)
        self._kept[key], self._sizes[key] = value, size
        self._used += size
        self._evict()

    def _evict(self) -> None:
        while self._used > self.memory and len(self._kept) > 1:
            old, _ = self._kept.popitem(last=False)
            self._used -= self._sizes.pop(old)

    def prepare(self, version: Version | None, quiet: float = 0.0) -> None:
        """A version was just committed: make its columns and column types now, before anyone
        asks (a first sort or search then waits for none of it), as shared work. (For an
        upload made here, they are mostly made already: this reads their files.) ``quiet``:
        only once the document has had no newer version for that long (rows changed in a
        burst: made once it ends; meanwhile a sort or search makes them when it asks)."""
        if version is None or self._closed:
            return
        document = version.document_id
        earlier = self._preparing.get(document)
        if earlier is not None:
            # a newer version of the document is current: the older one's columns are made if
            # someone asks for them, not now (rows added in a burst cost one making, not one
            # each: what is not run of it yet never runs)
            earlier.cancel()
        task = tasks.spawn(self._prepare(version, quiet), "make a version's columns")
        self._preparing[document] = task

        def done(finished: asyncio.Future[Any]) -> None:
            if self._preparing.get(document) is finished:
                del self._preparing[document]

        task.add_done_callback(done)

    async def _prepare(self, version: Version, quiet: float) -> None:
        if quiet:
            await asyncio.sleep(quiet)  # (cancelled by a newer version's: see prepare)
        try:
            await self.types(version)
        except TablecastError as err:  # shutting down, or the store is away: made when asked
            log.info("version %d's columns not made: %s", version.id, err.message)

    def restored(self, old: Version, new: Version) -> None:
        """``new`` was made of ``old``'s records (a restore): its columns and counts are
        ``old``'s, so its files are linked to ``old``'s where this node has them, not made
        again from its blocks (a million rows: some 2 s before a first sort could start)."""
        if self.cache is None or self._closed:
            return
        for path in (self.cache / old.document_id).glob(f"{old.id}.{CACHE_FORMAT}*"):
            ending = path.name[len(str(old.id)) :]
            with contextlib.suppress(OSError):  # (then they are made from its blocks)
                os.link(path, path.with_name(f"{new.id}{ending}"))

    def streaming(self, document_id: str, version_id: int, first: int) -> StreamedColumns | None:
        """What makes an upload's columns as it is ingested (its pending version
        ``version_id``; ``first``: its first data record), on the views thread; None if this
        node keeps no files (its columns are made when first asked, in memory). Called on the
        store's writer thread."""
        if self.cache is None or self._closed:
            return None
        path = self.cache / document_id / f"{version_id}.{CACHE_FORMAT}"
        demand = Demand(SHARED, document_id, self.scheduler)
        streamed = StreamedColumns(path, first, self.scheduler, demand)
        self._streaming[version_id] = streamed
        streamed.done.add_done_callback(lambda _: self._streaming.pop(version_id, None))
        return streamed

    async def text(self, version: Version) -> TableText:
        return await self._text(version, self._asking(version))

    async def _text(self, version: Version, asker: Demand) -> TableText:
        async def build(demand: Demand) -> TableText:
            began = time.perf_counter()
            text = None
            streamed = self._streaming.get(version.id)
            if streamed is not None:  # being made as it was ingested: what is left of it
                await asyncio.shield(asyncio.wrap_future(streamed.done))
            if self.cache is not None:
                text = await self._run(demand, self._mapped, version)
            base = self._latest.get(version.document_id)
            old = self._kept.get(("text", base.id)) if base is not None else None
            if text is None and old is not None and base is not None and base.id != version.id:
                text = await self._run(demand, self._derived, version, base, old)
            if text is None:
                text = await self._in_pieces(demand, self._building(version))
                # Arrow's allocator keeps what is freed for its next arrays: what making the
                # columns took would stay in the process's RSS
                await self._run(demand, pa.default_memory_pool().release_unused)
            if self.cache is not None:
                await self._run(demand, self._keep_few, version)
            latest = self._latest.pop(version.document_id, None)
            self._latest[version.document_id] = (
                version if latest is None or latest.number < version.number else latest
            )
            while len(self._latest) > LATEST_KEPT:
                del self._latest[next(iter(self._latest))]
            log.debug(
                "columns version=%d records=%d bytes=%d mapped=%s seconds=%.3f",
                version.id,
                text.record_count,
                text.nbytes,
                text.mapped,
                time.perf_counter() - began,
            )
            return text

        return await self._kept_or(("text", version.id), build, asker)

    def _derived(self, version: Version, base: Version, old: TableText) -> TableText | None:
        """The version's columns made from ``base``'s (``old``), where the two share most of
        their records (a change of a few rows: see tablecast.table.pieces): slices of
        ``old`` for what they share, and what is not shared made from the store's records.
        A million rows with one cell changed: a few milliseconds, not seconds. Where the slices
        would be too many for sorts to run fast, they are copied whole (tens of milliseconds).
        None where they share too little (another upload): made from the version's blocks."""
        if base.meta.width != version.meta.width or old.width != version.meta.width:
            return None
        new_pieces, old_pieces = self.store.read_pieces(version.id), self.store.read_pieces(base.id)
        runs = shared(new_pieces, old_pieces)
        total = new_pieces.total
        kept = sum(count for _, _, count in runs)
        if total - kept > DERIVED_RECORDS:
            return None
        parts, fresh, at = [], [], 0
        for new_at, old_at, count in runs:
            if new_at > at:
                fresh.append(self._records_table(version, at, new_at))
                parts.append(fresh[-1])
            parts.append(old.table.slice(old_at, count))
            at = new_at + count
        if at < total:
            fresh.append(self._records_table(version, at, total))
            parts.append(fresh[-1])
        try:
            table = pa.concat_tables(parts) if parts else table_of([], version.meta.width)
            made = pa.concat_tables(fresh) if fresh else None
        except (pa.ArrowInvalid, ValueError):  # (columns of other types: made from its blocks)
            return None
        whole = bool(table.num_columns) and table.column(0).num_chunks > DERIVED_CHUNKS
        if whole:  # a copy of the columns (tens of ms a million rows), not a pass over blocks
            table = table.combine_chunks()
        gone, _, stored_anew = matched(new_pieces, old_pieces, runs)
        recount = self._changed_columns(version, base, old.table, table, gone, stored_anew)
        if recount is not None:  # its counts: the version before's and the new records'
            self._derivations[version.id] = (base, made, recount)
            while len(self._derivations) > LATEST_KEPT:  # (versions whose types nobody asked)
                del self._derivations[next(iter(self._derivations))]
        if whole:
            return TableText(table)
        return TableText(table, mapped=old.mapped, mapping=old.mapping)

    def _changed_columns(
        self,
        version: Version,
        base: Version,
        old: pa.Table,
        new: pa.Table,
        gone: npt.NDArray[np.int64],
        stored_anew: list[tuple[int, int]],
    ) -> list[int] | None:
        """The columns where ``base``'s records that ``version`` does not share held a value
        it no longer holds (a row ``gone``, or a cell of a row ``stored_anew`` changed: see
        pieces.matched): where counts merged from the two cannot say the version's kinds, and
        are counted again whole. None where they are not worth merging: its first record
        changed, or its table is wide."""
        first = version.first_data_record
        width = version.meta.width
        if base.first_data_record != first or width > DERIVED_WIDTH:
            return None
        if (len(gone) and gone[0] < first) or any(was < first for was, _ in stored_anew):
            return None
        was_at = pa.array([was for was, _ in stored_anew], pa.int64())
        now_at = pa.array([now for _, now in stored_anew], pa.int64())
        recount = []
        for number in range(width):
            removed = old.column(number).take(pa.array(gone, pa.int64())).to_pylist()
            before = old.column(number).take(was_at).to_pylist()
            after = new.column(number).take(now_at).to_pylist()
            if any(removed) or before != after:
                recount.append(number)
        return recount

    def _derived_counts(
        self,
        version: Version,
        text: TableText,
        base: Version,
        made: pa.Table | None,
        recount: list[int],
    ) -> Counts | None:
        """The counts by kind of a version whose columns were made from ``base``'s (see
        _derived): base's (from its file) merged with those of the records it stores anew (see
        merged_counts), and counted again whole in the columns where they disagree or where a
        value base held is gone (``recount``); None if base's are not at hand."""
        first = version.first_data_record
        counts = self._saved_counts(base, first)
        if counts is None:
            return None
        pieces = [counts]
        if made is not None:
            pieces.append(piece_counts(made, 0, version.meta.width))
        merged, disagree = merged_counts(pieces, version.meta.delimiter)
        for number in sorted({*disagree, *recount}):
            merged[:, number] = column_counts(text.table, number, first)
        return merged

    def _records_table(self, version: Version, first: int, stop: int) -> pa.Table:
        """Records ``first`` to ``stop`` of the version as Arrow columns (see table_of)."""
        rows = orjson.loads(self.store.read_rows(version.id, first, stop))
        return table_of([b"\n".join(orjson.dumps(row) for row in rows)], version.meta.width)

    def _keep_few(self, version: Version) -> None:
        """The files of the document's versions but the CACHED_VERSIONS newest (and this
        one) go: made again from the store when asked for again."""
        assert self.cache is not None
        by_version: dict[int, list[Path]] = {}
        try:
            for path in (self.cache / version.document_id).iterdir():
                head = path.name.split(".", 1)[0]  # (a file being written starts with ".")
                if head.isdigit():
                    by_version.setdefault(int(head), []).append(path)
        except OSError:
            return
        # (this one among them, whether its files are written yet or not: made from another's
        # columns, it has its counts' file only, written after this)
        kept = {*sorted({*by_version, version.id}, reverse=True)[:CACHED_VERSIONS], version.id}
        for number, paths in by_version.items():
            if number not in kept:
                for path in paths:
                    path.unlink(missing_ok=True)  # (a mapping of it stays good)

    # A version's files in the cache: its columns, and its columns' counts by kind

    def _path(self, version: Version, suffix: str) -> Path:
        assert self.cache is not None
        return self.cache / version.document_id / f"{version.id}.{CACHE_FORMAT}{suffix}"

    def _spilled(self, version: Version, rows: Array) -> Array:
        """Rows a view shows, to be kept (see _kept_or): if they are many, in a file of the
        node's cache, mapped, not in the heap. A 13.7M-row version's order is 55 MB; kept in
        the heap beside the next sort's work, it took the 1 GB run to 515 MiB of RSS. Mapped,
        only the pages a page of the view reads are the process's, and the OS's page cache
        holds the rest. The file is removed as soon as it is mapped: its room is given back
        when the mapping goes (evicted, or the process gone), with nothing to tidy. In the
        heap still where the node keeps no files, or the file cannot be written."""
        if self.cache is None or rows.nbytes < SPILL_BYTES or not len(rows):
            return rows
        path = _temporary(self._path(version, ".rows"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rows.tofile(path)
            with open(path, "rb") as file:
                mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            kept: Array = np.frombuffer(mapping, dtype=rows.dtype)  # (read-only)
        except OSError as exc:  # (a full disk)
            log.info("a view's rows kept in memory, not in a file: %s", exc)
            return rows
        finally:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return kept

    def _mapped(self, version: Version) -> TableText | None:
        """The version's columns from its file, memory-mapped; None if it has none (or one
        that cannot be read: it is made again)."""
        path = self._path(version, COLUMNS_SUFFIX)
        try:
            # mapped by Python, not Arrow, so that pages read can be given back (see
            # TableText.let_go); unmapped once the table and the mapping are let go
            with open(path, "rb") as file:
                mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            table = ipc.open_file(pa.py_buffer(mapping)).read_all()
        except FileNotFoundError:
            return None
        except (OSError, ValueError, pa.ArrowException) as exc:  # (ValueError: an empty file)
            log.warning("version %d's columns file is unreadable, made again: %s", version.id, exc)
            return None
        return TableText(table, mapped=True, mapping=mapping)

    def _building(self, version: Version) -> Iterator[TableText | None]:
        """The version's columns made from its blocks a piece at a time (None after each),
        each piece written to the version's file and let go, then the file memory-mapped: what
        this holds is about one piece (see STREAM_BYTES), whatever the version's size. Kept in
        memory if the node keeps no files, or the file cannot be written (a full disk)."""
        pieces = _pieces_of(self.store, version)
        if self.cache is None:
            yield from _in_memory(pieces)
            return
        file = ColumnsFile(self._path(version, ""))
        try:
            for table in pieces:
                file.write(table)
                del table
                yield None
            file.close()
        except OSError as exc:
            file.discard()
            log.warning("version %d's columns not kept on disk: %s", version.id, exc)
            yield from _in_memory(_pieces_of(self.store, version))
            return
        except BaseException:  # (cancelled: nobody waits for them any more)
            file.discard()
            raise
        text = self._mapped(version)
        if text is None:  # (written, but it does not read back)
            yield from _in_memory(_pieces_of(self.store, version))
            return
        yield text

    def _saved_counts(self, version: Version, first: int) -> Counts | None:
        if self.cache is None:
            return None
        try:
            found = orjson.loads(self._path(version, f".{first}.counts").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        counts = np.array(found, dtype=np.int64)
        if counts.shape != (len(KINDS), version.meta.width):
            return None
        return counts

    def _save_counts(self, version: Version, first: int, counts: Counts) -> None:
        if self.cache is None:
            return
        body = orjson.dumps(counts.tolist())
        try:
            _write_atomically(self._path(version, f".{first}.counts"), lambda f: f.write(body))
        except OSError as exc:
            log.warning("version %d's column counts not kept on disk: %s", version.id, exc)

    def forget(self, documents: list[str]) -> None:
        """Documents were removed: so are their versions' files."""
        if self.cache is None:
            return
        for document in documents:
            shutil.rmtree(self.cache / document, ignore_errors=True)

    async def forget_removed(self) -> None:
        """Files of documents the store no longer holds (removed by another node, which
        tells this one nothing: see Capacity.removed) are removed too, as summary work."""
        if self.cache is None or self._closed:
            return
        await self._run(Demand(SUMMARY, self, self.scheduler), self._forget_removed)

    def _forget_removed(self) -> None:
        assert self.cache is not None
        try:
            held = [path.name for path in self.cache.iterdir() if path.is_dir()]
        except OSError:  # (no cache yet)
            return
        # (a document is in the store before an upload to it makes any of its files here)
        gone = [document for document in held if self.store.get_document(document) is None]
        if gone:
            log.info("removed the columns of %d documents removed elsewhere", len(gone))
            self.forget(gone)

    def known_types(self, version: Version | None) -> list[str] | None:
        """The version's column types if known by now (see types), else None."""
        if version is None:
            return []
        kinds = self._kept.get(("types", version.id, version.meta.has_header))
        return None if kinds is None else shown(kinds)

    async def types(self, version: Version) -> list[str]:
        """Each column's type (see columns.TYPES) over the version's rows, as inferred."""
        return shown(await self._types(version, self._asking(version)))

    async def _types(self, version: Version, asker: Demand) -> list[str]:
        """Each column's kind, as its sorts read it (see columns.KINDS)."""

        async def infer(demand: Demand) -> list[str]:
            text = await self._text(version, demand)
            first = version.first_data_record
            counts: Counts | None = None
            if self.cache is not None:
                counts = await self._run(demand, self._saved_counts, version, first)
            derived = self._derivations.pop(version.id, None)
            if counts is None and derived is not None:
                counts = await self._run(demand, self._derived_counts, version, text, *derived)
                if counts is not None and self.cache is not None:  # (the next one's start)
                    await self._run(demand, self._save_counts, version, first, counts)
            if counts is None:
                counts = await self._in_pieces(demand, text.counting(first, version.meta.width))
                await self._run(demand, text.let_go)
                if self.cache is not None:
                    await self._run(demand, self._save_counts, version, first, counts)
            return kinds_of(counts, version.meta.delimiter)

        return await self._kept_or(("types", version.id, version.meta.has_header), infer, asker)

    async def rows(self, version: Version, view: View, *, viewer: object | None = None) -> Array:
        """The records (0-based, header excluded) the view shows, in order. ``viewer``: whose
        own view it is, if it is one (its work waits behind shared work, and takes that
        viewer's turns); None for what followers or an HTTP request see."""
        view.check(version)
        key = ("rows", version.id, version.meta.has_header, view)
        asker = self._asking(version, viewer)
        return await self._kept_or(key, lambda demand: self._rows(version, view, demand), asker)

    async def _rows(self, version: Version, view: View, demand: Demand) -> Array:
        text = await self._text(version, demand)
        searched = bool(view.q or view.filters or view.facets)
        if view.sort is None and searched:  # the matches, in order: no array of every row
            return await self._matches(version, text, view, demand)
        if view.sort is None:
            return _data_rows(version, text)
        set_to = view.type_of(view.sort)
        rows = await self._order(version, text, view.sort, view.descending, set_to, demand)
        if searched:
            matches = await self._matches(version, text, view, demand)
            shown = np.zeros(text.record_count, dtype=bool)
            shown[matches] = True
            rows = rows[shown[rows]]
        return rows

    async def _order(
        self,
        version: Version,
        text: TableText,
        column: int,
        desc: bool,
        set_to: str | None,
        asker: Demand,
    ) -> Array:
        """The version's rows sorted by a column, read as its inferred kind, or as ``set_to``,
        the type a person set for it: then its values that do not read as that type sort with
        the missing ones (unless it is the inferred type: a decimal comma stays one)."""
        key = ("order", version.id, version.meta.has_header, column, desc, set_to)

        async def sort(demand: Demand) -> Array:
            kind = (await self._types(version, demand))[column]
            strict = set_to is not None and shown([kind]) != [set_to]
            if strict:
                assert set_to is not None
                kind = set_to
            rows = range(version.first_data_record, text.record_count)  # (no array of them)

            def order() -> Array:
                return self._spilled(version, text.order(column, rows, kind, desc, strict))

            return await self._run(demand, order)

        return await self._kept_or(key, sort, asker)

    async def _matches(self, version: Version, text: TableText, view: View, asker: Demand) -> Array:
        key = ("matches", version.id, version.meta.has_header, view.q, view.filters, view.facets)
        first = version.first_data_record

        def search() -> Array:
            found: Array | None = text.search(view.q, first) if view.q else None
            for column, needle in view.filters:
                these = text.search(needle, first, column)
                found = these if found is None else np.intersect1d(found, these)
            if view.facets:  # one mask for them all: each a pass over its column
                picked = None
                for column, values in view.facets:
                    chosen = profiles.chosen(text.column(column).slice(first), values)
                    picked = chosen if picked is None else pc.and_(picked, chosen)
                these = (np.asarray(pc.indices_nonzero(picked).to_numpy()) + first).astype(ROWS)
                found = these if found is None else np.intersect1d(found, these)
            assert found is not None
            text.let_go()
            return self._spilled(version, found)

        async def run(demand: Demand) -> Array:
            return await self._run(demand, search)

        return await self._kept_or(key, run, asker)

    async def blocks(self, version: Version) -> Blocks:
        """Every record of the version, kept: an export of a sorted view picks records from
        all over it, thousands at a time. Kept in a file of the node's cache, read a record at
        a time (see _records_file); in memory if the node keeps no files."""

        async def read(demand: Demand) -> Blocks:
            if self.cache is None:
                return Blocks.of(await self._run(demand, self.store.read_all, version.id))
            return await self._in_pieces(demand, self._records_file(version))

        return await self._kept_or(("blocks", version.id), read, self._asking(version))

    def _records_file(self, version: Version) -> Iterator[Blocks | None]:
        """The version's records from their files (its blocks' records, each followed by a
        line break, and where each starts, see Blocks.opened); made from the store first if there
        are none, a piece of blocks at a time (None after each), so that neither making them
        nor an export reading them holds the version: a sorted download of a 13.7M-row one
        held all of its 1.1 GB of records in the heap. Where they cannot be written (a full
        disk), in memory."""
        text_path = self._path(version, TEXT_SUFFIX)
        starts_path = self._path(version, STARTS_SUFFIX)
        found = Blocks.opened(text_path, starts_path)
        if found is not None:
            yield found
            return
        text_file, starts_file = _temporary(text_path), _temporary(starts_path)
        try:
            text_path.parent.mkdir(parents=True, exist_ok=True)
            with open(text_file, "wb") as text, open(starts_file, "wb") as starts:
                base = 0
                for blocks in _blocks_of(self.store, version):
                    for _, records, offsets in blocks:
                        text.write(records + b"\n")
                        where = np.frombuffer(offsets, dtype="<u4").astype("<i8") + base
                        starts.write(where.tobytes())
                        base += len(records) + 1
                    del blocks
                    yield None
                starts.write(np.array([base], dtype="<i8").tobytes())
            os.replace(text_file, text_path)
            os.replace(starts_file, starts_path)  # (last: both are there, or not both)
        except OSError as exc:
            log.warning("version %d's records not kept on disk: %s", version.id, exc)
            yield Blocks.of(self.store.read_all(version.id))
            return
        finally:
            text_file.unlink(missing_ok=True)
            starts_file.unlink(missing_ok=True)
        made = Blocks.opened(text_path, starts_path)
        yield made if made is not None else Blocks.of(self.store.read_all(version.id))

    # Column profiles and facet counts (see tablecast.table.profiles)

    async def profile(
        self, version: Version, view: View, columns: Sequence[int]
    ) -> list[dict[str, Any]]:
        """The profiles of ``columns`` over the rows the view shows, whatever their order, each
        column a piece of work after every page's (SUMMARY). ``version`` as the view reads it
        (View.on)."""
        view.check(version)
        asker = Demand(SUMMARY, version.document_id, self.scheduler)
        unsorted = _unsorted(view)
        return list(
            await asyncio.gather(*(self._profile(version, unsorted, n, asker) for n in columns))
        )

    async def _profile(
        self, version: Version, view: View, column: int, asker: Demand
    ) -> dict[str, Any]:
        key = ("profile", version.id, version.meta.has_header, view, column)

        async def make(demand: Demand) -> dict[str, Any]:
            text = await self._text(version, demand)
            inferred = (await self._types(version, demand))[column]
            kind = _override(view, column, inferred)
            rows = await self._unsorted_rows(version, view, demand)
            first = version.first_data_record

            def passed(arrays: Sequence[pa.Array]) -> None:
                text.let_go(arrays)
                self.scheduler.give_way()  # (each chunk read: a search asked waits no longer)

            def profile() -> dict[str, Any]:
                cells = _cells(text, column, rows, first)
                try:
                    return profiles.profile(cells, kind, inferred, passed)
                finally:
                    del cells
                    text.let_go()  # the pages of the column it read (see TableText.let_go)

            return await self._run(demand, profile)

        return await self._kept_or(key, make, asker)

    async def facet_counts(
        self, version: Version, view: View, column: int, limit: int
    ) -> dict[str, Any]:
        """How many rows hold each value of column ``column`` under the view without its own
        facet on that column (so that another of its values can be picked), most frequent
        first, ``limit`` of them, as shared work; which of them the view picked."""
        view.check(version)
        if column >= version.meta.width:  # (check says so only of columns it names)
            raise TablecastError("bad_option", f"the table has no column {column}")
        others = _unsorted(view.without_facet(column))
        key = ("facets", version.id, version.meta.has_header, others, column, limit)

        async def make(demand: Demand) -> dict[str, Any]:
            text = await self._text(version, demand)
            rows = await self._unsorted_rows(version, others, demand)
            first = version.first_data_record

            def count() -> dict[str, Any]:
                cells = _cells(text, column, rows, first)
                try:
                    return profiles.facet_counts(cells, limit, text.let_go)
                finally:
                    del cells
                    text.let_go()

            return await self._run(demand, count)

        counts = await self._kept_or(key, make, self._asking(version))
        picked = set(view.facet(column))
        values = [{**value, "selected": value["value"] in picked} for value in counts["values"]]
        return {**counts, "values": values}

    # What changed between two versions (see tablecast.table.diff)

    async def diff(self, old: Version, new: Version, key: int | None, limit: int) -> dict[str, Any]:
        """Rows of ``old`` removed, rows of ``new`` added, and rows changed with their changed
        cells, matched by content or, with ``key`` (a column), by that column's value. Counts
        are whole; each list holds its first ``limit`` rows. Work after every page's
        (SUMMARY): the versions' records read and hashed a piece at a time (hashes kept), and
        the answer kept, so that everyone who comes back to a link after a new version (the
        app asks what changed since) costs one diff, not one each."""
        if key is not None and (key >= old.meta.width or key >= new.meta.width):
            raise TablecastError("bad_option", f"the table has no column {key}")
        asker = Demand(SUMMARY, new.document_id, self.scheduler)

        async def make(demand: Demand) -> Differences:
            answer = await self._diff(old, new, key, limit, demand)
            return Differences(answer, DIFF_OVERHEAD * len(orjson.dumps(answer)))

        found = await self._kept_or(("diff", old.id, new.id, key, limit), make, asker)
        return found.answer

    async def _diff(
        self, old: Version, new: Version, key: int | None, limit: int, demand: Demand
    ) -> dict[str, Any]:
        # rows that keep their identity: from where they are kept, at once
        quick = await self._run(demand, self._by_identity, old, new, key, limit)
        if quick is not None:
            return quick
        old_blocks, new_blocks = await self.blocks(old), await self.blocks(new)
        old_hashes = await self._hashes(old, old_blocks, demand)
        new_hashes = await self._hashes(new, new_blocks, demand)
        first_old, first_new = old.first_data_record, new.first_data_record
        a, b = old_hashes[first_old:], new_hashes[first_new:]

        def aligned() -> Changes:
            # what the hashes say is the same row (staying, or moved) is confirmed by its bytes
            alignment = align(a, b)
            pairs_a, pairs_b = alignment.matched()
            alignment.unmatch(
                _differing(old_blocks, pairs_a + first_old, new_blocks, pairs_b + first_new)
            )
            moves = alignment.moves()
            differ = set(_differing_pairs(old_blocks, new_blocks, moves, first_old, first_new))
            alignment.moved_rows(move for i, move in enumerate(moves) if i not in differ)
            if key is not None:  # (the rows that differ are paired by their key)
                return alignment.changes()

            def cells(old_rows: list[int], new_rows: list[int]) -> tuple[Any, Any]:
                return _cells_of(old_blocks, old_rows, first_old), _cells_of(
                    new_blocks, new_rows, first_new
                )

            return alike(alignment.changes(), cells)

        changes = await self._run(demand, aligned)
        removed, added, changed = changes.removed, changes.added, changes.changed
        if key is not None:  # paired by the key's value instead, wherever the rows are
            old_rows = [*removed, *(row for row, _ in changed)]
            new_rows = [*added, *(row for _, row in changed)]
            old_keys = await self._key_cells(old, key, old_rows, demand)
            new_keys = await self._key_cells(new, key, new_rows, demand)
            paired, removed, added = pair_by(old_rows, old_keys, new_rows, new_keys)
            differ = set(_differing_pairs(old_blocks, new_blocks, paired, first_old, first_new))
            changed = [pair for i, pair in enumerate(paired) if i in differ]  # not only moved
        return await self._run(
            demand,
            _told,
            old_blocks,
            new_blocks,
            first_old,
            first_new,
            removed,
            added,
            changed,
            limit,
        )

    def _by_identity(
        self, old: Version, new: Version, key: int | None, limit: int
    ) -> dict[str, Any] | None:
        """A diff of two versions one was made of the other by changing rows (or a restore of
        such, or an upload over it: see tablecast.table.reuse), rows matched by their
        identity (see tablecast.table.pieces): what is shared is not read at all, only the
        rows stored anew, however large the table. A row removed and the same row added
        elsewhere only moved, as by content: it is neither. With ``key``, the rows that
        differ are paired by that cell instead, as by content. None where the versions share
        no records (uploads of unrelated files, compared by content), or differ in more than
        IDENTITY_ROWS rows or IDENTITY_BYTES of them (compared by content too, a piece at a
        time, whatever their size)."""
        found = by_identity(self.store.read_pieces(new.id), self.store.read_pieces(old.id))
        if found is None:
            return None
        gone, made, pairs = found
        first_old, first_new = old.first_data_record, new.first_data_record
        removed = (gone[gone >= first_old] - first_old).tolist()
        added = (made[made >= first_new] - first_new).tolist()
        paired = [(a - first_old, b - first_new) for a, b in pairs if a >= first_old]
        if len(removed) + len(added) + len(paired) > IDENTITY_ROWS:
            return None
        budget = [IDENTITY_BYTES]
        was = self._picked_cells(old, [a for a, _ in paired], first_old, budget)
        now = self._picked_cells(new, [b for _, b in paired], first_new, budget)
        if was is None or now is None:
            return None
        differ = [
            i for i, (before, after) in enumerate(zip(was, now, strict=True)) if before != after
        ]
        changed = [paired[i] for i in differ]
        was, now = [was[i] for i in differ], [now[i] for i in differ]
        # rows removed and added that may pair (a row that moved; with a key, rows of one
        # value) are read whole; otherwise the first few, to list
        whole = key is not None or (bool(removed) and bool(added))
        gone_cells = self._picked_cells(
            old, removed if whole else removed[:limit], first_old, budget
        )
        made_cells = self._picked_cells(new, added if whole else added[:limit], first_new, budget)
        if gone_cells is None or made_cells is None:
            return None
        if key is not None:
            old_of = dict(
                zip([*removed, *(a for a, _ in changed)], [*gone_cells, *was], strict=True)
            )
            new_of = dict(zip([*added, *(b for _, b in changed)], [*made_cells, *now], strict=True))
            keyed, removed, added = pair_by(
                list(old_of),
                [_cell(cells, key) for cells in old_of.values()],
                list(new_of),
                [_cell(cells, key) for cells in new_of.values()],
            )
            changed = [(a, b) for a, b in keyed if old_of[a] != new_of[b]]
            was, now = [old_of[a] for a, _ in changed], [new_of[b] for _, b in changed]
            gone_cells, made_cells = (
                [old_of[row] for row in removed],
                [new_of[row] for row in added],
            )
        elif whole:
            (removed, gone_cells), (added, made_cells) = _unmoved(
                removed, gone_cells, added, made_cells
            )
        shown_added, shown_removed = _listed(made_cells[:limit]), _listed(gone_cells[:limit])
        listed = min(len(_listed(was[:limit])), len(_listed(now[:limit])))
        return {
            "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
            "added": [
                {"row": row + 1, "cells": cells}
                for row, cells in zip(added, shown_added, strict=False)
            ],
            "removed": [
                {"row": row + 1, "cells": cells}
                for row, cells in zip(removed, shown_removed, strict=False)
            ],
            "changed": [
                {
                    "row": b + 1,
                    "from_row": a + 1,
                    "cells": changed_cells(before, after),
                    "new_cells": after,
                }
                for (a, b), before, after in zip(changed[:listed], was, now, strict=False)
            ],
            "truncated": (len(shown_added), len(shown_removed), listed)
            != (len(added), len(removed), len(changed)),
        }

    def _picked_cells(
        self, version: Version, rows: Sequence[int], first: int, budget: list[int]
    ) -> list[list[str]] | None:
        """The cells of these rows of the version, read from the store a few at a time; None
        once what was read passes ``budget`` (bytes left, shared by the calls of one diff)."""
        found: list[list[str]] = []
        for start in range(0, len(rows), IDENTITY_BATCH):
            records = [row + first for row in rows[start : start + IDENTITY_BATCH]]
            data = self.store.read_picked(version.id, records)
            budget[0] -= len(data)
            if budget[0] < 0:
                return None
            found += orjson.loads(data)
        return found

    async def _hashes(self, version: Version, blocks: Blocks, asker: Demand) -> Hashes:
        async def make(demand: Demand) -> Hashes:
            return await self._in_pieces(demand, _hashing(blocks))

        return await self._kept_or(("hashes", version.id), make, asker)

    async def _key_cells(
        self, version: Version, key: int, rows: list[int], asker: Demand
    ) -> list[str | None]:
        text = await self._text(version, asker)
        first = version.first_data_record

        def cells() -> list[str | None]:
            records = np.asarray(rows, dtype=np.int64) + first
            try:
                found: list[str | None] = pc.take(text.column(key), records).to_pylist()
                return found
            finally:
                text.let_go()

        return await self._run(asker, cells)

    async def keyed_rows(
        self, version: Version, key: int, values: Sequence[str]
    ) -> list[tuple[int, int]]:
        """The version's rows (as records, under its header) whose ``key`` cell is one of
        ``values``, each with the place of its value there, in order: what an upsert
        replaces (see Documents.upsert). Shared work: a writer waits for it."""
        asker = self._asking(version)
        text = await self._text(version, asker)
        first = version.first_data_record

        def find() -> list[tuple[int, int]]:
            try:
                column = text.column(key)
                where = pc.index_in(column, value_set=pa.array(values, pa.string()))
                places = where.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            finally:
                text.let_go()
            records = np.flatnonzero(places >= 0)
            records = records[records >= first]
            return list(zip(records.tolist(), places[records].tolist(), strict=True))

        return await self._run(asker, find)

    async def _unsorted_rows(self, version: Version, view: View, asker: Demand) -> Array | None:
        """The rows a view without a sort shows, in order; None: every row (no copy made)."""
        if not view.picks:
            return None
        key = ("rows", version.id, version.meta.has_header, view)
        return await self._kept_or(key, lambda demand: self._rows(version, view, demand), asker)

    def close(self) -> None:
        self._closed = True
        self.scheduler.close()

    def join(self) -> None:
        """After close: wait for the work still running (a piece, never the queue)."""
        self.scheduler.join()


class Blocks:
    """A version's records (see Views.blocks): their bytes, each record followed by a line
    break, with where each starts (and where one after the last would). In memory, or read
    from their file a record at a time (see Views._records_file)."""

    def __init__(self, text: npt.NDArray[np.uint8] | int, starts: npt.NDArray[Any]) -> None:
        """``text``: the bytes, or a file descriptor of their file (closed with this)."""
        self.starts = starts
        self._text = text if isinstance(text, np.ndarray) else None
        self._file = text if isinstance(text, int) else None
        if self._file is not None:
            weakref.finalize(self, os.close, self._file)
        held = self._text.nbytes if self._text is not None else 0
        self.nbytes = held + starts.nbytes + ARRAY_OVERHEAD

    @classmethod
    def of(cls, blocks: list[tuple[int, bytes, bytes]]) -> Blocks:
        """From blocks as Store.read_all gives them, in memory."""
        text = np.frombuffer(b"\n".join(r for _, r, _ in blocks) + b"\n", dtype=np.uint8)
        starts, base = [], 0
        for _, records, offsets in blocks:
            starts.append(np.frombuffer(offsets, dtype="<u4").astype(np.int64) + base)
            base += len(records) + 1
        joined = np.concatenate([*starts, [base]]) if starts else np.zeros(1, np.int64)
        return cls(text, joined.astype(np.int64))

    @classmethod
    def opened(cls, text_path: Path, starts_path: Path) -> Blocks | None:
        """From their files: where records start read into memory (4 bytes a record), the
        records read from theirs when picked; None if they are not there (or do not agree: a
        file cut short is made again)."""
        try:
            file = os.open(text_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            starts = _starts_read(starts_path, os.fstat(file).st_size)
        except (OSError, ValueError):
            starts = None
        if starts is None:
            log.warning("the records files %s do not agree, made again", text_path.name)
            os.close(file)
            return None
        return cls(file, starts)

    def read(self, first: int, stop: int) -> bytes:
        """Records ``first`` to ``stop`` (exclusive), each followed by its line break."""
        at, end = int(self.starts[first]), int(self.starts[stop])
        if self._file is not None:
            return os.pread(self._file, end - at, at)
        assert self._text is not None
        return self._text[at:end].tobytes()

    def pieces(self, size: int) -> Iterator[tuple[int, int]]:
        """The records in consecutive pieces of about ``size`` bytes (at least a record
        each), as (first, stop)."""
        count = len(self.starts) - 1
        first = 0
        while first < count:
            limit = int(self.starts[first]) + size
            stop = int(np.searchsorted(self.starts, limit, side="right")) - 1
            stop = min(max(stop, first + 1), count)
            yield first, stop
            first = stop

    def pick(self, picked: Array) -> bytes:
        """Records ``picked``, in that order, as one JSON array. In memory: their bytes
        gathered at once (what store.base.records_json does for the few blocks a store reads;
        for thousands of records at a time from a whole version, this gather is about five
        times faster). From their file: read a record each (a page of the OS's cache, copied:
        a mapping of the file held 64 KiB of it in the process's RSS for each record read, the
        kernel mapping pages around each one it faults in, and giving them back made a sorted
        download of 13.7M rows fault 13.7M times: 64 s against 15)."""
        if not len(picked):
            return b"[]"
        starts = self.starts[picked].astype(np.int64)
        lengths = self.starts[picked + 1] - starts  # the record and its line break
        _given_back(picked)
        if self._file is not None:
            file, read = self._file, os.pread
            where = zip(starts.tolist(), lengths.tolist(), strict=True)
            body = b"".join([read(file, size, at) for at, size in where])
        else:
            assert self._text is not None
            shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            body = self._text[shift + np.arange(int(lengths.sum()))].tobytes()
        return b"[" + body[:-1].replace(b"\n", b",") + b"]"


@dataclass(frozen=True)
class Differences:
    """A diff's answer, kept (see Views.diff), and about what it takes in memory."""

    answer: dict[str, Any]
    nbytes: int


# What an answer takes in memory, as Python objects, for each byte of it as JSON, at most
# (measured with tracemalloc: 2.3 for cells of 60 characters, 9.3 for cells of one)
DIFF_OVERHEAD = 10
# The cells a diff lists of each kind of row at most (besides its limit of rows): a version's
# rows may be 16 MiB each, and a diff's answer is made in memory
LISTED_BYTES = 16 << 20


def _listed(rows: list[list[str]]) -> list[list[str]]:
    """The first rows (cells), as many as a diff lists (see _within_listed)."""
    return rows[: _within_listed([len(orjson.dumps(cells)) for cells in rows])]


def _within_listed(sizes: Any) -> int:
    """How many of the first rows, of these sizes, a diff lists: LISTED_BYTES of them, one
    at least."""
    if not len(sizes):
        return 0
    return max(int(np.searchsorted(np.cumsum(sizes), LISTED_BYTES, side="right")), 1)


def _cell(cells: list[str], column: int) -> str | None:
    """A row's cell in ``column`` (None: a ragged row has none)."""
    return cells[column] if column < len(cells) else None


def _unmoved(
    removed: list[int], gone: list[list[str]], added: list[int], made: list[list[str]]
) -> tuple[tuple[list[int], list[list[str]]], tuple[list[int], list[list[str]]]]:
    """Rows removed and rows added, each with its cells, but the rows that only moved: the
    same cells removed at one place and added at another."""
    moved, _, _ = pair_by(removed, [tuple(c) for c in gone], added, [tuple(c) for c in made])
    if not moved:
        return (removed, gone), (added, made)
    from_rows, to_rows = {a for a, _ in moved}, {b for _, b in moved}

    def left(rows: list[int], cells: list[list[str]], out: set[int]) -> Any:
        kept = [(row, found) for row, found in zip(rows, cells, strict=True) if row not in out]
        return [row for row, _ in kept], [found for _, found in kept]

    return left(removed, gone, from_rows), left(added, made, to_rows)


# A diff by identity (see Views._by_identity) reads the rows that differ, these many at most,
# and these many bytes of them (LISTED_BYTES for each kind, and those it compares), a few
# records at a time: more, and it is a diff by content, a piece of the versions at a time
IDENTITY_ROWS = 50_000
IDENTITY_BYTES = 4 * LISTED_BYTES
IDENTITY_BATCH = 16


def _told(
    old: Blocks,
    new: Blocks,
    first_old: int,
    first_new: int,
    removed: list[int],
    added: list[int],
    changed: list[tuple[int, int]],
    limit: int,
) -> dict[str, Any]:
    """A diff's answer: counts, and the first rows of each kind (``limit`` at most, and
    LISTED_BYTES of records) with their cells, numbered from 1 as pages number rows."""

    def listed(blocks: Blocks, rows: Sequence[int], first: int) -> int:
        records = np.asarray(rows[:limit], dtype=np.int64) + first
        return _within_listed(blocks.starts[records + 1] - blocks.starts[records])

    shown_added = added[: listed(new, added, first_new)]
    shown_removed = removed[: listed(old, removed, first_old)]
    shown = changed[
        : min(
            listed(old, [a for a, _ in changed], first_old),
            listed(new, [b for _, b in changed], first_new),
        )
    ]
    was = _cells_of(old, [a for a, _ in shown], first_old)
    now = _cells_of(new, [b for _, b in shown], first_new)
    return {
        "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
        "added": [
            {"row": row + 1, "cells": row_cells}
            for row, row_cells in zip(
                shown_added, _cells_of(new, shown_added, first_new), strict=True
            )
        ],
        "removed": [
            {"row": row + 1, "cells": row_cells}
            for row, row_cells in zip(
                shown_removed, _cells_of(old, shown_removed, first_old), strict=True
            )
        ],
        "changed": [
            {
                "row": b + 1,
                "from_row": a + 1,
                "cells": changed_cells(before, after),
                "new_cells": after,
            }
            for (a, b), before, after in zip(shown, was, now, strict=True)
        ],
        "truncated": (len(shown_added), len(shown_removed), len(shown))
        != (len(added), len(removed), len(changed)),
    }


def _cells_of(blocks: Blocks, rows: Sequence[int], first: int) -> list[list[str]]:
    """The cells of ``rows`` (0-based, under a header of ``first`` records) of a version."""
    found: list[list[str]] = orjson.loads(blocks.pick(np.asarray(rows, dtype=np.int64) + first))
    return found


def _hashing(blocks: Blocks) -> Iterator[Hashes | None]:
    """Each record's hash (see tablecast.table.diff), a piece of records at a time."""
    parts = []
    for first, stop in blocks.pieces(CHUNK_BYTES):
        text = np.frombuffer(blocks.read(first, stop), np.uint8)
        parts.append(record_hashes(text, blocks.starts[first : stop + 1] - blocks.starts[first]))
        yield None
    yield np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def _differing(
    old: Blocks, records_a: Array, new: Blocks, records_b: Array, runs: bool = True
) -> list[int]:
    """Which pairs of records (``records_a[i]`` of old, ``records_b[i]`` of new) differ:
    those of different lengths, and those whose bytes do, compared a run of consecutive
    pairs at a time (``runs``; else a pair at a time), a piece of about CHUNK_BYTES each
    side, record by record only in a piece that differs."""
    if not len(records_a):
        return []
    lengths_a = old.starts[records_a + 1] - old.starts[records_a]
    lengths_b = new.starts[records_b + 1] - new.starts[records_b]
    differing = np.nonzero(lengths_a != lengths_b)[0].tolist()
    if not runs:
        breaks = np.arange(1, len(records_a))
    else:
        breaks = np.nonzero((np.diff(records_a) != 1) | (np.diff(records_b) != 1))[0] + 1
    bounds = [0, *breaks.tolist(), len(records_a)]
    for start, end in itertools.pairwise(bounds):
        i = start
        while i < end:
            # as many pairs as make about CHUNK_BYTES of the old version's records
            limit = int(old.starts[records_a[i]]) + CHUNK_BYTES
            stop = int(np.searchsorted(old.starts, limit, side="right")) - 1
            j = min(max(i + 1, i + stop - int(records_a[i])), end)
            a0, b0 = int(records_a[i]), int(records_b[i])
            count = j - i
            here = old.read(a0, a0 + count)
            there = new.read(b0, b0 + count)
            if here != there:  # which of them: cut from what was read
                at_a = (old.starts[a0 : a0 + count + 1] - old.starts[a0]).tolist()
                at_b = (new.starts[b0 : b0 + count + 1] - new.starts[b0]).tolist()
                for k in range(count):
                    if here[at_a[k] : at_a[k + 1]] != there[at_b[k] : at_b[k + 1]]:
                        differing.append(i + k)
            i = j
    return sorted(set(differing))


def _differing_pairs(
    old: Blocks, new: Blocks, pairs: list[tuple[int, int]], first_old: int, first_new: int
) -> list[int]:
    """Which of ``pairs`` of rows differ, by their bytes."""
    if not pairs:
        return []
    rows_a, rows_b = np.array(pairs, dtype=np.int64).T
    return _differing(old, rows_a + first_old, new, rows_b + first_new, runs=False)


# Starts read from their file at a time (see _starts_read)
STARTS_READ = 1 << 20


def _starts_read(path: Path, size: int) -> npt.NDArray[Any] | None:
    """Where each record starts, from their file (little-endian int64s, the last ``size``,
    the records file's): 4 bytes a record where that is under 4 GiB (55 MB less for 13.7M
    records), read a piece at a time into them (the whole file read at once, then narrowed,
    held 110 MB more for a moment). None if the file is not whole."""
    with open(path, "rb") as file:
        count = os.fstat(file.fileno()).st_size // 8
        if not count:
            return None
        file.seek((count - 1) * 8)
        if int(np.fromfile(file, dtype="<i8", count=1)[0]) != size:
            return None
        file.seek(0)
        starts = np.empty(count, dtype=np.uint32 if size < 1 << 32 else np.int64)
        for at in range(0, count, STARTS_READ):
            piece = np.fromfile(file, dtype="<i8", count=min(STARTS_READ, count - at))
            starts[at : at + len(piece)] = piece
    return starts


def _given_back(rows: Array) -> None:
    """The process's pages of ``rows`` (read) given back, if they are a slice of rows kept in
    a mapped file (see Views._spilled): a sorted download reads its version's order from end
    to end, and those pages (55 MB of a 13.7M-row one) stayed in its RSS."""
    mapping: Any = rows
    while mapping is not None and not isinstance(mapping, mmap.mmap):
        # an array's base: the array it is a slice of, the memoryview of the mapping, or
        # what else holds its memory (Arrow's buffer of a column read without a copy)
        mapping = mapping.obj if isinstance(mapping, memoryview) else getattr(mapping, "base", None)
    if mapping is None or mapping.closed or not rows.flags.c_contiguous:
        return
    # (whole pages: a neighbouring slice's page given back is read in again)
    give_back(mapping, rows.ctypes.data, rows.nbytes)


def _unsorted(view: View) -> View:
    """The view's rows in file order: what a profile or facet counts describe."""
    return replace(view, sort=None, descending=False)


def _cells(text: TableText, column: int, rows: Array | None, first: int) -> pa.ChunkedArray:
    """Cell ``column`` of the rows a view shows in file order: of every record from ``first``
    on if ``rows`` is None (a plain view's: no copy made), a slice of consecutive ones, or
    those of a search or a facet picked a record batch at a time (see TableText.picked)."""
    cells = text.column(column)
    if rows is None:
        return cells.slice(first)
    if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):  # consecutive, in order
        return cells.slice(int(rows[0]), len(rows))
    return text.picked(column, rows)


def _override(view: View, column: int, inferred: str) -> str:
    """The kind a column's values are read as in the view: the type a person set for it, if
    the view sets one, else the inferred kind (as sorts read it: see Views._order)."""
    chosen = view.type_of(column)
    if chosen is None or chosen == shown([inferred])[0]:  # a decimal comma stays one
        return inferred
    return chosen


def _data_rows(version: Version, text: TableText) -> Array:
    return np.arange(version.first_data_record, text.record_count, dtype=ROWS)


def _blocks_of(store: Store, version: Version) -> Iterator[list[tuple[int, bytes, bytes]]]:
    """The version's blocks (as Store.read_blocks gives them), about STREAM_BYTES of them at a
    time, in order, read from the store a piece at a time."""
    first, count = 0, 16  # blocks: as many as make a piece, once their size is seen
    while True:
        blocks = store.read_blocks(version.id, first, first + count - 1)
        if not blocks:
            return
        size = sum(len(records) for _, records, _ in blocks)
        first += len(blocks)
        count = max(1, min(1 << 16, STREAM_BYTES * len(blocks) // max(size, 1)))
        held = [blocks]
        del blocks
        yield held.pop()  # (held by whoever takes it, not by this frame meanwhile)


def _pieces_of(store: Store, version: Version) -> Iterator[pa.Table]:
    """The version's records as Arrow tables (see table_of) of about STREAM_BYTES of its
    blocks each, in order, read from the store a piece at a time."""
    width = version.meta.width
    for blocks in _blocks_of(store, version):
        records = [records for _, records, _ in blocks]
        del blocks
        made = [table_of(records, width)]
        del records
        yield made.pop()  # (held by whoever takes it, not by this frame while it is written)


def _in_memory(pieces: Iterator[pa.Table]) -> Iterator[TableText | None]:
    """The pieces' columns together, in memory (a node that keeps no files, a full disk)."""
    tables = []
    for table in pieces:
        tables.append(table)
        yield None
    yield TableText(pa.concat_tables(tables) if tables else table_of([]))


# Rows of a view kept in a mapped file, not the heap, from this size on (see Views._spilled):
# 4M rows and more
SPILL_BYTES = 16 << 20


def _temporary(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: a name of this process's
    and thread's (see remove_leftovers)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def remove_leftovers(cache: Path) -> None:
    """Remove the files of an older format, and the temporary files (see _temporary) that
    processes no longer running left in the cache: a crash in the middle of a write. A
    process that runs (another node's, sharing the directory) may be writing its own; this
    one, just started, writes none yet, so those bearing its pid are a predecessor's (a
    container's server is often pid 1 every time)."""
    for path in cache.glob("*/.*.tmp"):
        pid = path.name.rsplit(".", 3)[-3]
        if not pid.isdigit():
            continue
        if int(pid) != os.getpid() and _running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            log.info("deleted a columns file a crash left unfinished: %s", path)
    # and the files of an older format (see CACHE_FORMAT), which this one never reads
    for path in cache.glob("*/[!.]*"):
        if path.name.split(".")[1:2] != [CACHE_FORMAT]:
            with contextlib.suppress(OSError):
                path.unlink()
                log.info("deleted a columns file of an older format: %s", path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


class ColumnsFile:
    """A version's columns file written a piece at a time: record batches of an Arrow IPC file
    kept open, under a temporary name until it is whole (then renamed: whoever reads the
    version's file finds the whole file or none). ``base``: its path but for the suffix.

    Used on the views thread only."""

    def __init__(self, base: Path) -> None:
        self.path = base.with_name(base.name + COLUMNS_SUFFIX)
        self.temporary = _temporary(self.path)
        self._sink: Any = None
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Arrow's own file, not Python's: each buffer written without the GIL or a copy
            # into Python's buffer (74 ms of CPU for a 1M-row version's file, against 120-177)
            self._sink = pa.OSFile(str(self.temporary), "wb")
            self._schema = table.schema
            self._writer = ipc.new_file(self._sink, table.schema)
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        _write_piece(self._writer, table)

    def close(self) -> None:
        """The file whole, in its place."""
        if self._writer is None:  # a version of no records
            self.write(table_of([]))
        self._writer.close()
        self._sink.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        """Nothing of it left (not under its name, if it was put there)."""
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            if self._sink is not None:
                self._sink.close()
        self.temporary.unlink(missing_ok=True)


def _write_piece(writer: Any, table: pa.Table) -> None:
    writer.write_table(table)


class StreamedColumns:
    """An upload's columns, made while it is ingested (see Views.streaming): the store's
    writer thread hands over the records it writes in blocks (:meth:`add`); about every
    STREAM_BYTES of them become a piece of the columns on the views thread (which the second
    core runs while the writer parses), appended to the version's file, and counted by kind.
    At :meth:`finish` the writer makes the last piece (the views thread writes it): then the
    file is renamed into place, its counts merged (see merged_counts) and written, and
    :attr:`done` is True. A record wider
    than the first piece's widest (a ragged file), a failure or :meth:`abort` give up: nothing
    is left, and :attr:`done` is False (the version's columns are made from its blocks when asked).

    The width of every piece is the widest record's the parser had seen when the first piece
    was handed over: a file's columns are known from its first records, in all but ragged
    files."""

    def __init__(self, base: Path, first: int, scheduler: Scheduler, demand: Demand) -> None:
        self.done: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._file = ColumnsFile(base)
        self._counts_path = base.with_name(f"{base.name}.{first}.counts")
        self._first = first
        self._scheduler = scheduler
        self._demand = demand
        # the writer thread's: the records' lines, and where each one's line break is
        self._lines: list[memoryview] = []
        self._breaks: list[Array] = []
        self._bytes = 0
        self._width: int | None = None
        self._handed = 0  # pieces handed over
        # both threads'
        self._ready = threading.Condition()
        self._waiting = 0  # pieces handed over, not made yet
        self._given_up = False
        # the views thread's
        self._counts: list[Counts] = []
        self._text: set[int] = set()  # columns a piece found text (see text_columns)

    # On the store's writer thread

    def add(self, records: Run, count: int, width: int) -> None:
        """The first ``count`` of ``records`` were written, in order; ``width``: the widest
        record parsed so far. (Their lines are the run's, not a copy, until handed over; where
        each ends is known: the views thread need not look for them.)"""
        if self._given_up:
            return
        if self._width is None:
            self._width = width
        elif width > self._width:
            self.abort()
            return
        end = int(records.starts[count])
        self._lines.append(memoryview(records.data)[:end])
        self._breaks.append(records.starts[1 : count + 1] + (self._bytes - 1))
        self._bytes += end
        if self._bytes >= STREAM_BYTES:
            self._hand_over()

    def finish(self, width: int, delimiter: str) -> None:
        """Every block was added; ``width``: the version's widest record's cells. The last
        piece is made here, while the views thread makes those before it (the commit waits
        for them all: some 40 ms less of a large upload's); it is written, then the file put
        in its place, on the views thread (see done)."""
        if self._given_up:  # (by a piece that failed: done is settled once it is let go)
            self._post(lambda: self._close(delimiter))
            return
        if self._width is not None and width != self._width:
            self.abort()
            return
        self._width = width
        if self._lines:
            lines, breaks, first = self._joined()
            try:
                # (the columns found text so far: a copy, the views thread adds to them)
                table, counts = _made(lines, breaks, first, width, frozenset(self._text))
            except Exception as exc:
                log.warning("an upload's columns not made as it came: %s", exc)
                self.abort()
                return
            with self._ready:
                self._waiting += 1
            self._post(lambda: self._keep((table, counts)))
        self._post(lambda: self._close(delimiter))

    def abort(self) -> None:
        """The upload was rolled back (or its columns cannot be streamed): nothing is left,
        once this returns (or ABORT_WAIT has passed): an upload refused for a full disk
        answers storage_full with the room its columns took given back, so that the next
        write finds it (the views thread may have a piece or two of them still to make)."""
        with self._ready:
            self._given_up = True
            self._ready.notify_all()
        self._post(self._discard)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self.done.result(timeout=ABORT_WAIT)

    def _joined(self) -> tuple[bytearray, Array, int]:
        """The next piece: the lines added since the last one, as one text, where their breaks
        are, and the first of its records counted (the first piece's may be a header)."""
        lines, breaks = bytearray().join(self._lines), np.concatenate(self._breaks)
        self._lines, self._breaks, self._bytes = [], [], 0
        first = self._first if self._handed == 0 else 0
        self._handed += 1
        return lines, breaks, first

    def _hand_over(self) -> None:
        lines, breaks, first = self._joined()
        width = self._width
        assert width is not None
        with self._ready:
            # the views thread is behind: wait (what an upload holds stays bounded)
            while self._waiting >= WAITING_PIECES and not self._given_up:
                self._ready.wait()
            if self._given_up:
                return
            self._waiting += 1
        self._post(lambda: self._piece(lines, breaks, first, width))

    def _post(self, fn: Callable[[], object]) -> None:
        try:
            self._scheduler.post(self._demand, fn, self._dropped)
        except TablecastError:  # shutting down: a temporary file is removed at the next start
            self._dropped()

    # On the views thread

    def _piece(self, lines: bytearray, breaks: Array, first: int, width: int) -> None:
        made = None
        try:
            if not self._given_up:
                made = _made(lines, breaks, first, width, self._text)
        except Exception as exc:
            self._give_up(exc)
        self._keep(made)

    def _keep(self, made: tuple[pa.Table, Counts] | None) -> None:
        """A piece made (None: not), its columns appended to the file, its counts kept."""
        try:
            if made is not None and not self._given_up:
                table, counts = made
                self._file.write(table)
                self._counts.append(counts)
                self._text.update(text_columns(counts))
        except Exception as exc:
            self._give_up(exc)
        finally:
            with self._ready:
                self._waiting -= 1
                self._ready.notify_all()

    def _give_up(self, exc: Exception) -> None:
        """(OSError: a full disk) The version's columns are made from its blocks when asked."""
        log.warning("an upload's columns not made as it came: %s", exc)
        self._given_up = True
        self._file.discard()

    def _close(self, delimiter: str) -> None:
        try:
            if self._given_up:
                self._file.discard()
                self._settle(False)
                return
            self._file.close()
            counts, recount = merged_counts(self._counts, delimiter)
            if recount:  # its pieces disagree: counted over the whole file
                with pa.memory_map(str(self._file.path)) as source:
                    table = ipc.open_file(source).read_all()
                    for number in recount:
                        counts[:, number] = column_counts(table, number, self._first)
                    del table
            body = orjson.dumps(counts.tolist())
            _write_atomically(self._counts_path, lambda f: f.write(body))
        except Exception as exc:
            log.warning("an upload's columns not made as it came: %s", exc)
            self._discard()
            return
        finally:
            self._counts.clear()
        self._settle(True)

    def _discard(self) -> None:
        self._given_up = True
        self._file.discard()
        if self.done.done() and self.done.result():  # (a commit failed after)
            self._file.path.unlink(missing_ok=True)
            self._counts_path.unlink(missing_ok=True)
        self._settle(False)

    def _dropped(self) -> None:
        """Its work will not run (shutting down): nor is its file left (the piece being made,
        if one is, writes to it unnamed)."""
        with self._ready:
            self._given_up = True
            self._waiting = 0
            self._ready.notify_all()
        self._file.temporary.unlink(missing_ok=True)
        self._settle(False)

    def _settle(self, made: bool) -> None:
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            self.done.set_result(made)


def _made(
    lines: bytearray, breaks: Array, first: int, width: int, found_text: Collection[int]
) -> tuple[pa.Table, Counts]:
    """A piece of an upload's columns (see StreamedColumns): its table, and its counts by
    kind from record ``first`` on, the columns found text before left out."""
    table = table_of_lines([(lines, breaks)], width)
    return table, piece_counts(table, first, width, found_text)


def _write_atomically(path: Path, write: Callable[[Any], Any]) -> None:
    """Write a file under a name of its own, then rename it to ``path``: whoever reads
    ``path`` finds the whole file or none. (Not synced: it is a cache, checked as it is read,
    an Arrow file by its magic at both ends, and made again if it does not read.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        with open(temporary, "wb") as sink:
            write(sink)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
