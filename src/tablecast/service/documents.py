"""The store as the event loop sees it: async, cached, never blocking the loop.

Writes (and the parsing that feeds them) run on one writer thread, in order; document lookups
run on a small pool of readers. Pages are cached as ready-to-send JSON (when a new version
lands, ten thousand viewers ask for page 1 at once), and read as ``records`` explains.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .. import access, tasks
from ..errors import DiskFull, TablecastError
from ..metrics import METRICS
from ..model import Document, Version
from ..store.base import Nodes, Store
from ..table import paging
from ..table.parsing import DELIMITER_NAMES, ParseOptions
from ..table.view import View
from .ingest import Ingest
from .views import Views

log = logging.getLogger("tablecast.service.documents")

T = TypeVar("T")

# Upload data goes to the writer thread in pieces this size, so one large frame (a legacy
# client's whole file) cannot hold the writer for seconds while other uploads wait.
PIECE_BYTES = 1024 * 1024
CACHE_BYTES = 64 * 1024 * 1024
# A file's records take more room than the file (each a JSON array; see store.base): about
# 1.3 to 1.5 times for most tables. An upload whose records are not written yet counts so.
STORED_PER_BYTE = 1.5
VIEW_MEMORY = 512 * 1024 * 1024


@dataclass(frozen=True)
class Page:
    """A page ready to send: which rows, their records as JSON, and (for a view that sorts or
    searches) each row's number in the version, as the viewer counts rows."""

    window: paging.PageWindow
    data: bytes
    row_numbers: list[int] | None = None


@dataclass(frozen=True)
class Limits:
    """What the store may hold and uploads may take (0: no limit); see Settings for each.

    Nothing is deleted to make room unless ``evict`` (``--eviction lru``) says so: past a
    limit, what does not fit is refused, and every table kept stays kept."""

    max_upload_bytes: int = 256 * 1024 * 1024
    max_documents: int = 0
    max_stored_bytes: int = 0
    document_ttl: float = 0.0
    evict: bool = False
    max_uploading_bytes: int = 0
    max_uploading_bytes_per_ip: int = 0
    upload_idle_timeout: float = 60.0
    upload_timeout: float = 3600.0


class Documents:
    def __init__(
        self, store: Store, limits: Limits, *, readers: int = 4, view_memory: int = VIEW_MEMORY
    ) -> None:
        self.store = store
        self.limits = limits
        self.views = Views(store, view_memory)
        # Documents with viewers now (the hub says which), never removed to make room.
        self.in_use: Callable[[], Iterable[str]] = tuple
        # When documents were last viewed, written to the store now and then rather than at
        # every join: ten thousand viewers arriving must not make ten thousand writes.
        self._accessed: dict[str, float] = {}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tablecast-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tablecast-reader")
        self._cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._reading: dict[tuple[int, int, int], asyncio.Future[bytes]] = {}
        self.uploads: set[Upload] = set()
        # What the store held when last asked (committed versions only), and what uploads
        # committed since: uploads in progress are counted apart (see Upload.stored)
        self.stored_bytes = 0
        self.stopping = False  # uploads are being rolled back for shutdown
        self._closing = False  # no more writes
        self._said_full = -60.0  # when the log last said the disk is full
        # An upload could not be rolled back (the disk was full): its pending version waits
        # for remove_leftovers. At start too: the store's own recovery may have met one.
        self.leftovers = True

    async def write(self, fn: Callable[..., T], *args: object) -> T:
        if self._closing:
            raise TablecastError("shutting_down", "the server is shutting down")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        except DiskFull:
            now = time.monotonic()
            if now - self._said_full > 60:  # the operator's to mend: said, not every time
                self._said_full = now
                log.warning("the disk is full: uploads and changes are refused until room is made")
            raise

    async def remove_leftovers(self) -> None:
        """Remove what uploads that could not be rolled back left (see Store.remove_pending);
        now and then, until it can be done."""
        if self.leftovers:
            keep = [upload.pending_id for upload in self.uploads]
            await self.write(self.store.remove_pending, keep)
            self.leftovers = False
            self.tidy()

    async def read(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def create(self) -> tuple[Document, str]:
        """A new document and its edit key (which is kept nowhere: see tablecast.access).
        At the document limit it is refused, unless eviction makes room."""
        key, key_hash = access.new_key()
        limits = self.limits
        if limits.max_documents:
            usage = await self.write(self.store.usage)
            if usage.documents >= limits.max_documents and limits.evict:
                await self.make_room(documents=1)
                usage = await self.write(self.store.usage)
            if usage.documents >= limits.max_documents:
                raise TablecastError(
                    "storage_full",
                    "the server holds as many tables as it may keep: try again later",
                )
        return await self.write(self.store.create_document, key_hash), key

    def touch(self, document_id: str) -> None:
        """The document was just viewed: it is not to be evicted as unused."""
        self._accessed[document_id] = time.time()

    async def make_room(
        self,
        *,
        documents: int = 0,
        stored_bytes: int = 0,
        keep: Iterable[str] = (),
        quietly: bool = False,
    ) -> list[str]:
        """Remove what the operator asked to be removed (see Store.remove_unused): documents
        unused past ``--document-ttl`` and, only under ``--eviction lru``, the least recently
        used until ``documents`` more documents and ``stored_bytes`` more bytes fit under the
        limits. ``keep``: besides those with viewers. ``quietly``: as background work, which a
        shutdown may stop."""
        limits = self.limits
        ttl = limits.document_ttl
        if not ttl and not limits.evict:
            return []
        evict = limits.evict
        try:
            await self._save_use_times()
            removed = await self.write(
                self.store.remove_unused,
                time.time() - ttl if ttl else 0.0,
                _room_for(limits.max_documents, documents) if evict else None,
                _room_for(limits.max_stored_bytes, stored_bytes) if evict else None,
                {*self.in_use(), *keep},
            )
        except TablecastError:
            if quietly and self._closing:
                return []
            raise
        if removed:
            log.info("removed %d unused documents: %s", len(removed), " ".join(removed[:20]))
        return removed

    # What a cluster's nodes share (see store.base.Nodes). A single-process store has none of
    # it, so these cost it nothing, not even a trip to a thread; nor do they once the store is
    # closing (viewers leaving during a shutdown: the other nodes hear of it when this one is
    # gone). They run on a reader, not behind an upload's writes on the writer: presence is
    # prompt.

    @property
    def _nodes(self) -> Nodes | None:
        return None if self._closing else self.store.nodes

    async def viewers_elsewhere(self, document_ids: list[str]) -> dict[str, dict[int, int]]:
        nodes = self._nodes
        if nodes is None or not document_ids:
            return {}
        return await self.read(nodes.viewers_elsewhere, document_ids)

    async def save_viewers(self, counts: dict[str, int]) -> None:
        if (nodes := self._nodes) is not None:
            await self.read(nodes.save_viewers, counts)

    async def announce(self, payload: str) -> None:
        if (nodes := self._nodes) is not None:
            await self.read(nodes.announce, payload)

    async def remove_abandoned(self) -> bool:
        """See Nodes.remove_abandoned."""
        nodes = self._nodes
        return nodes is not None and await self.read(nodes.remove_abandoned)

    async def versions(
        self, document_id: str, limit: int, before: int | None = None
    ) -> list[Version]:
        """A page of the document's versions, newest first (see Store.versions)."""
        return await self.read(self.store.versions, document_id, limit, before)

    async def version(self, document_id: str, number: int) -> Version | None:
        # one row by its index, never the list: a document may have tens of thousands
        return await self.read(self.store.version, document_id, number)

    async def restore(self, document: Document, old: Version) -> Document:
        """Make an old version current again, as a new version with its records (copied in
        the store, not parsed again): history only grows."""
        await self._check_space(old.meta.size)

        def copy() -> Document:
            pending = self.store.begin_version(document.id)
            try:
                self.store.copy_blocks(old.id, pending)
                return self.store.commit_version(pending, old.meta)
            except BaseException:
                self.store.abort_version(pending)
                raise

        restored = await self.write(copy)
        self.tidy()
        tasks.spawn(self.make_room(keep={document.id}, quietly=True), "remove unused documents")
        assert restored.version is not None
        log.info(
            "restore doc=%s version=%d from=%d", document.id, restored.version.number, old.number
        )
        return restored

    async def get(self, document_id: str) -> Document | None:
        return await self.read(self.store.get_document, document_id)

    async def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        await self.write(self.store.set_shared_page, document_id, page_no, view)

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
        if self.store.reads_inline:
            value = self.store.read_rows(version.id, start, stop)
            self._remember(key, value)
            return value
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(
                self.read(self.store.read_rows, version.id, start, stop)
            )
            self._reading[key] = reading
            reading.add_done_callback(lambda f: self._read_done(key, f))
        # shield: one viewer leaving must not cancel the read the others are waiting for
        return await asyncio.shield(reading)

    async def page(
        self,
        version: Version | None,
        view: View,
        page_no: int,
        page_size: int,
        legacy: bool,
        *,
        viewer: object | None = None,
    ) -> Page:
        """Page ``page_no`` of a version as ``view`` shows it (legacy viewers: never a view).
        ``version`` must already be as the view reads it (View.on). ``viewer``: whose own
        view it is, if it is one (see Views.rows)."""
        if version is None or legacy or not view.picks:
            window = paging.page_window(version, page_no, page_size, legacy)
            return Page(window, await self.records_json(version, window.start, window.stop))
        rows = await self.views.rows(version, view, viewer=viewer)
        window = paging.rows_window(len(rows), page_no, page_size)
        picked = rows[window.start : window.stop]
        first = version.first_data_record
        return Page(
            window, await self.views.records_json(version, picked), (picked + 1 - first).tolist()
        )

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

    async def start_upload(
        self,
        document_id: str,
        *,
        filename: str,
        has_header: bool = True,
        options: ParseOptions | None = None,
        size: int | None = None,
        via: str = "ws",
        address: str = "-",
    ) -> Upload:
        """``address``: the client's, whose unfinished uploads are bounded together."""
        limit = self.limits.max_upload_bytes
        if size is not None and size > limit:
            raise TablecastError("too_large", f"the file is larger than the limit of {limit} bytes")
        self._check_uploading(address, size or 0)
        await self._check_space(size or 0)
        ingest = await self.write(
            lambda: Ingest(
                self.store,
                document_id,
                filename=filename,
                has_header=has_header,
                options=options or ParseOptions(),
                max_bytes=limit,
            )
        )
        upload = Upload(self, ingest, document_id, filename, size, via, address)
        self.uploads.add(upload)
        return upload

    async def _save_use_times(self) -> None:
        accessed, self._accessed = self._accessed, {}
        if accessed:
            await self.write(self.store.touch, accessed)

    def _uploading(self, address: str | None = None) -> int:
        """Bytes of files that unfinished uploads (of one address, or all) hold."""
        return sum(u.held for u in self.uploads if address is None or u.address == address)

    def _check_uploading(self, address: str, more: int) -> None:
        """Refuse ``more`` bytes of an unfinished upload past what unfinished uploads may
        hold: one address's, and everyone's together (an upload held open must not take the
        room of everyone else's)."""
        limits = self.limits
        per_ip, total = limits.max_uploading_bytes_per_ip, limits.max_uploading_bytes
        if per_ip and self._uploading(address) + more > per_ip:
            raise TablecastError(
                "too_many_uploads",
                f"uploads from this address in progress hold {per_ip} bytes already:"
                " let them finish first",
            )
        if total and self._uploading() + more > total:
            raise TablecastError(
                "too_many_uploads", "the server is taking as many uploads as it can: try again soon"
            )

    def _room(self) -> int:
        """Bytes the store may still take, counting what uploads in progress take of it."""
        taken = sum(upload.stored for upload in self.uploads)
        return self.limits.max_stored_bytes - self.stored_bytes - taken

    def _checks_room(self) -> bool:
        """Whether uploads are refused past --max-stored-bytes. Under --eviction lru they are
        not: room is made once a version is stored, for the bytes it really took (never for
        the size an upload announces: that costs its sender nothing)."""
        return bool(self.limits.max_stored_bytes) and not self.limits.evict

    async def _check_space(self, size: int) -> None:
        """Refuse an upload that cannot fit: at its start when its size is known (a file's
        size, as its records will take it: see STORED_PER_BYTE)."""
        limit = self.limits.max_stored_bytes
        size = int(size * STORED_PER_BYTE)
        if self._checks_room():
            self.stored_bytes = (await self.read(self.store.usage)).stored_bytes
            if self._room() < size:
                raise _no_room()
        elif limit and size > limit:  # not even in an empty store
            raise _no_room()

    def admit(self, upload: Upload, more: int) -> None:
        """``more`` bytes of ``upload`` have arrived: refuse them past the limits (checked in
        memory, so for every piece)."""
        self._check_uploading(upload.address, more)
        limit = self.limits.max_stored_bytes
        more = upload.as_stored(more)
        if self._checks_room():
            if self._room() < more:
                raise _no_room()
        elif limit and upload.stored + more > limit:
            raise _no_room()

    def expired(self, now: float) -> list[Upload]:
        """Uploads that have sent nothing for --upload-idle-timeout, or run past
        --upload-timeout: each holds a pending version and its address's share."""
        limits = self.limits
        return [
            upload
            for upload in self.uploads
            if now - upload.last_data > limits.upload_idle_timeout
            or now - upload.started > limits.upload_timeout
        ]

    async def remove_document_if_empty(self, document_id: str) -> None:
        await self.write(self.store.remove_document_if_empty, document_id)

    async def remove_empty_documents(self, older_than: float, keep: set[str]) -> list[str]:
        return await self.write(self.store.remove_empty_documents, time.time() - older_than, keep)

    def tidy(self) -> None:
        """After an upload ends: the store's tidying (see Store.checkpoint) goes to the writer
        thread unawaited, behind the commit, while the new version's pages go out."""
        if not self._closing:
            self._writer.submit(self._tidy)

    def _tidy(self) -> None:
        try:
            self.store.checkpoint()
        except Exception:
            log.exception("could not checkpoint the store")

    async def close(self) -> None:
        """Roll back uploads still in progress, stop views work, wait for background work,
        let the writer finish, close the store.

        Background work (tablecast.tasks) is awaited while the writer still takes writes: a
        shared page whose save was spawned just before the shutdown (even one not started
        yet) is written, not refused as shutting_down. Views work is stopped first, so that
        nothing waited for is a long sort: what waits on it ends with shutting_down."""
        self.stopping = True
        for upload in list(self.uploads):
            await upload.abort()
        self.views.close()
        await tasks.drain()
        try:
            await self._save_use_times()
        except TablecastError as err:  # the store is away: only eviction order suffers
            log.warning("could not save when documents were last viewed: %s", err.message)
        self._closing = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.shutdown)
        await loop.run_in_executor(None, self._readers.shutdown)
        # a piece of views work still running reads the store: it ends before the store does
        await loop.run_in_executor(None, self.views.join)
        self.store.close()


def _no_room() -> TablecastError:
    return TablecastError("storage_full", "the server has no room for this table: try again later")


def _room_for(limit: int, more: int) -> int | None:
    """What the store may hold now so that ``more`` fits under ``limit`` (0: no limit)."""
    return max(limit - more, 0) if limit else None


class Upload:
    """An upload in progress. Feed it bytes, then finish (commit) or abort (roll back)."""

    def __init__(
        self,
        documents: Documents,
        ingest: Ingest,
        document_id: str,
        filename: str,
        size: int | None,
        via: str,
        address: str = "-",
    ) -> None:
        self.id = secrets.token_hex(4)
        self.via = via  # ws or http, for the log
        self.address = address  # the client's, for the bounds on unfinished uploads
        self.document_id = document_id
        self.filename = filename
        self.size = size  # announced by the client, if it did
        self.started = self.last_data = time.monotonic()
        # What ends the upload from the client's side when it times out (see expire)
        self.on_expire: Callable[[TablecastError], None] | None = None
        self._documents = documents
        self._ingest = ingest
        self._done = False
        self._in_flight = 0  # bytes given to the writer thread, not yet received by the parser

    @property
    def received(self) -> int:
        return self._ingest.received

    @property
    def pending_id(self) -> int:
        return self._ingest.pending_id

    @property
    def held(self) -> int:
        """Bytes of its file it holds, for the limits on unfinished uploads: those received,
        and the piece on its way to the writer thread."""
        return self._ingest.received + self._in_flight

    def as_stored(self, size: int) -> int:
        """What ``size`` more bytes of the file will take in the store: as much more as what
        it has written so far took, or STORED_PER_BYTE times it before anything is written."""
        ingest = self._ingest
        ratio = ingest.written / ingest.received if ingest.written else STORED_PER_BYTE
        return int(size * max(ratio, 1.0))

    @property
    def stored(self) -> int:
        """What it takes of the store's room: the bytes it has received or written to the
        store (records take more room than their file), whichever is more, and the piece on
        its way."""
        return max(self._ingest.received, self._ingest.written) + self._in_flight

    @property
    def record_count(self) -> int:
        return self._ingest.record_count

    async def feed(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        try:
            for i in range(0, len(data), PIECE_BYTES):
                self._check_open()
                piece = data[i : i + PIECE_BYTES]
                self._documents.admit(self, len(piece))
                self._in_flight = len(piece)
                try:
                    await self._documents.write(self._ingest.feed, piece)
                finally:
                    self._in_flight = 0
        except BaseException:
            await self.abort()
            raise

    def expire(self) -> None:
        """Timed out (see Documents.expired): the client's side says so and rolls it back."""
        idle = time.monotonic() - self.last_data
        err = TablecastError(
            "upload_timeout",
            f"the upload sent nothing for {idle:.0f} s"
            if idle > self._documents.limits.upload_idle_timeout
            else f"the upload took longer than {self._documents.limits.upload_timeout:.0f} s",
        )
        log.info("upload timed out doc=%s upload=%s bytes=%d", self.document_id, self.id,
                 self.received)  # fmt: skip
        if self.on_expire is not None:
            self.on_expire(err)
        else:
            tasks.spawn(self.abort(), "roll back an upload that timed out")

    async def finish(self) -> Document:
        """Commit: the new version becomes current. On failure nothing changes."""
        self._check_open()
        if self.size is not None and self.received != self.size:
            await self.abort()
            raise TablecastError(
                "upload_size_mismatch",
                f"{self.received} bytes arrived but the upload announced {self.size}",
            )
        try:
            document = await self._documents.write(self._ingest.finish)
        except BaseException:
            await self.abort()
            raise
        self._end()
        # kept now: counted with the store's bytes until the store is next asked (_check_space)
        self._documents.stored_bytes += self.stored
        METRICS.uploads["committed"] += 1
        METRICS.upload_seconds.observe(self.duration)
        self._documents.tidy()
        # the new version may have taken the store past its limits: the unused make way (never
        # this document, whose uploader has just been told it is there)
        tasks.spawn(
            self._documents.make_room(keep={document.id}, quietly=True), "remove unused documents"
        )
        version = document.version
        assert version is not None
        log.info(
            "upload doc=%s version=%d via=%s bytes=%d records=%d encoding=%s delimiter=%s"
            " seconds=%.3f",
            document.id,
            version.number,
            self.via,
            version.meta.size,
            version.meta.record_count,
            version.meta.encoding,
            DELIMITER_NAMES[version.meta.delimiter],
            self.duration,
        )
        return document

    async def abort(self) -> None:
        if self._done:
            return
        self._end()
        METRICS.uploads["rolled_back"] += 1
        try:
            await self._documents.write(self._ingest.abort)
        except DiskFull:  # removed once it can be (see Documents.remove_leftovers)
            self._documents.leftovers = True
            log.warning("could not roll back upload %s yet: the disk is full", self.id)
            return
        except TablecastError:  # shutting down: recovery at the next start removes it
            return
        except Exception:
            log.exception("could not roll back upload %s", self.id)
            return
        self._documents.tidy()

    def _check_open(self) -> None:
        # after an abort (the client left, the server is stopping) nothing may be written
        if self._done and self._documents.stopping:
            raise TablecastError("shutting_down", "the server is shutting down")
        if self._done:
            raise TablecastError("no_upload", "this upload has ended")

    def _end(self) -> None:
        self._done = True
        self._documents.uploads.discard(self)

    @property
    def duration(self) -> float:
        return time.monotonic() - self.started
