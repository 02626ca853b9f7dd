"""Uploads in progress: each one a pending version being written, and what they hold together.

An :class:`Upload` is fed bytes, then finished (committed) or aborted (rolled back). The uploads
in progress (:class:`InProgress`) are bounded by the bytes of their files they hold, one
address's and everyone's together (``too_many_uploads``), by what they will take of the store
(tablecast.service.limits), and in time (--upload-idle-timeout, --upload-timeout). What their
viewers see of them is tablecast.service.uploads's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import tasks
from ..errors import DiskFull, TablecastError
from ..metrics import METRICS
from ..model import Document
from ..table.parsing import DELIMITER_NAMES, ParseOptions
from .ingest import ColumnsFor, Ingest
from .limits import Capacity, Limits
from .reading import Readers
from .storage import Storage

log = logging.getLogger("tablecast.service.upload")

# Upload data goes to the writer thread in pieces this size, so one large frame (a legacy
# client's whole file) cannot hold the writer for seconds while other uploads wait.
PIECE_BYTES = 1024 * 1024
# A file's records take more room than the file (each a JSON array; see store.base): about
# 1.3 to 1.5 times for most tables. An upload whose records are not written yet counts so.
STORED_PER_BYTE = 1.5
# How long a commit waits for the rest of the version's columns before its page 1 goes out
# (see Upload._columns_made): some 50-100 ms of a 1M-row upload's, a second at most when the
# views thread is busy with other work
COLUMNS_WAIT = 1.0


def as_stored(size: int, received: int, written: int) -> int:
    """What ``size`` more bytes of a file will take in the store, for an upload that has
    received ``received`` bytes and written ``written``: as much more as what it has written
    so far took, or STORED_PER_BYTE times it before anything is written."""
    ratio = written / received if written else STORED_PER_BYTE
    return int(size * max(ratio, 1.0))


def too_many(limits: Limits, by_address: int, in_all: int, more: int) -> TablecastError | None:
    """The refusal of ``more`` bytes of an unfinished upload, when unfinished uploads hold
    ``by_address`` bytes from its address and ``in_all`` from everyone: past what one address's
    may hold, or everyone's together (an upload held open must not take the room of everyone
    else's). None if they may come."""
    per_ip, total = limits.max_uploading_bytes_per_ip, limits.max_uploading_bytes
    if per_ip and by_address + more > per_ip:
        return TablecastError(
            "too_many_uploads",
            f"uploads from this address in progress hold {per_ip} bytes already:"
            " let them finish first",
        )
    if total and in_all + more > total:
        return TablecastError(
            "too_many_uploads", "the server is taking as many uploads as it can: try again soon"
        )
    return None


@dataclass(frozen=True)
class Announced:
    """An upload as its client announces it."""

    filename: str
    has_header: bool = True
    options: ParseOptions | None = None  # None: detected from the file
    size: int | None = None  # the file's, if the client said
    via: str = "ws"  # ws or http, for the log
    address: str = "-"  # the client's, whose unfinished uploads are bounded together
    sheet: str = ""  # a workbook's sheet to read ("": the one the document shows, or the first)


def _remove_leftovers(files: Path) -> None:
    """Remove what stopped processes kept under ``files`` (a directory each, named by its
    process id): their uploads were rolled back with them."""
    for kept in files.glob("*"):
        if kept.name.isdigit() and left_behind(int(kept.name)):
            shutil.rmtree(kept, ignore_errors=True)


def left_behind(pid: int) -> bool:
    """Whether what process ``pid`` wrote was left by a process that has stopped: none runs
    with that number, or it is ours (a process before us had our number)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class InProgress:
    """The uploads in progress, and what they hold."""

    def __init__(
        self,
        storage: Storage,
        capacity: Capacity,
        columns: ColumnsFor | None = None,
        files: Path | None = None,
        readers: Readers | None = None,
    ) -> None:
        """``columns``: what makes uploads' columns as they are ingested (see Ingest);
        ``files``, ``readers``: where files that are not text are kept until read, and what
        reads them (None: every file is read as text)."""
        self.storage = storage
        self.columns = columns
        self.readers = readers
        self.files = None
        if files is not None and readers is not None:
            # A directory of this process's own: the workers of one machine share the data
            # directory, and one started again must not take another's files for leftovers
            self.files = files / str(os.getpid())
            _remove_leftovers(files)
        self.capacity = capacity
        self.limits = capacity.limits
        self.uploads: set[Upload] = set()
        self.stopping = False  # uploads are being rolled back for shutdown
        # An upload could not be rolled back (the disk was full): its pending version waits
        # for remove_leftovers. At start too: the store's own recovery may have met one.
        self.leftovers = True

    async def start(self, document_id: str, announced: Announced) -> Upload:
        """A new upload to the document, refused if it cannot fit."""
        limit, size = self.limits.max_upload_bytes, announced.size
        if size is not None and size > limit:
            raise TablecastError("too_large", f"the file is larger than the limit of {limit} bytes")
        self._check_held(announced.address, size or 0)
        await self.check_space(size or 0)
        store = self.storage.store
        ingest = await self.storage.write(
            lambda: Ingest(
                store,
                document_id,
                filename=announced.filename,
                has_header=announced.has_header,
                options=announced.options or ParseOptions(),
                max_bytes=limit,
                columns=self.columns,
                files=self.files,
                sheet=announced.sheet,
            )
        )
        upload = Upload(self, ingest, document_id, announced)
        self.uploads.add(upload)
        return upload

    async def check_space(self, size: int) -> None:
        """Refuse a file of ``size`` bytes that cannot fit in the store beside the uploads in
        progress: at an upload's start when its size is known, or a restore's (as its records
        will take it: see STORED_PER_BYTE)."""
        await self.capacity.check_space(int(size * STORED_PER_BYTE), self.taken())

    def held(self, address: str | None = None) -> int:
        """Bytes of files that unfinished uploads (of one address, or all) hold."""
        return sum(u.held for u in self.uploads if address is None or u.address == address)

    def taken(self) -> int:
        """What uploads in progress take of the store's room (see Upload.stored)."""
        return sum(upload.stored for upload in self.uploads)

    def _check_held(self, address: str, more: int) -> None:
        refusal = too_many(self.limits, self.held(address), self.held(), more)
        if refusal is not None:
            raise refusal

    def admit(self, upload: Upload, more: int) -> None:
        """``more`` bytes of ``upload`` have arrived: refuse them past the limits (checked in
        memory, so for every piece)."""
        self._check_held(upload.address, more)
        self.capacity.admit(upload.as_stored(more), self.taken(), own=upload.stored)

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

    async def remove_leftovers(self) -> None:
        """Remove what uploads that could not be rolled back left (see Store.remove_pending);
        now and then, until it can be done."""
        if self.leftovers:
            keep = [upload.pending_id for upload in self.uploads]
            await self.storage.write(self.storage.store.remove_pending, keep)
            self.leftovers = False
            self.storage.tidy()

    async def stop(self) -> None:
        """The server is stopping: every upload in progress is rolled back."""
        self.stopping = True
        for upload in list(self.uploads):
            await upload.abort()
        if self.readers is not None:
            await self.readers.close()


class Upload:
    """An upload in progress. Feed it bytes, then finish (commit) or abort (roll back)."""

    def __init__(
        self, in_progress: InProgress, ingest: Ingest, document_id: str, announced: Announced
    ) -> None:
        self.id = secrets.token_hex(4)
        self.via = announced.via
        self.address = announced.address
        self.document_id = document_id
        self.filename = announced.filename
        self.size = announced.size
        self.started = self.last_data = time.monotonic()
        # What ends the upload from the client's side when it times out (see expire)
        self.on_expire: Callable[[TablecastError], None] | None = None
        self._in_progress = in_progress
        self._storage = in_progress.storage
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
        """What ``size`` more bytes of the file will take in the store (see as_stored)."""
        return as_stored(size, self._ingest.received, self._ingest.written)

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
                self._in_progress.admit(self, len(piece))
                self._in_flight = len(piece)
                try:
                    await self._storage.write(self._ingest.feed, piece)
                finally:
                    self._in_flight = 0
                readers = self._in_progress.readers
                if self._ingest.kind is not None and readers is not None:
                    readers.warm()  # (to read it the moment it has all arrived)
        except BaseException:
            await self.abort()
            raise

    def expire(self) -> None:
        """Timed out (see InProgress.expired): the client's side says so and rolls it back."""
        limits = self._in_progress.limits
        idle = time.monotonic() - self.last_data
        err = TablecastError(
            "upload_timeout",
            f"the upload sent nothing for {idle:.0f} s"
            if idle > limits.upload_idle_timeout
            else f"the upload took longer than {limits.upload_timeout:.0f} s",
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
            path = await self._storage.write(self._ingest.ended)
            if path is not None:
                await self._read(path)
            document = await self._storage.write(self._ingest.finish)
        except BaseException:
            await self.abort()
            raise
        await self._columns_made()
        self._end()
        capacity = self._in_progress.capacity
        capacity.committed(self.stored)
        METRICS.uploads["committed"] += 1
        METRICS.upload_seconds.observe(self.duration)
        self._storage.tidy()
        # the new version may have taken the store past its limits: the unused make way (never
        # this document, whose uploader has just been told it is there)
        tasks.spawn(capacity.make_room(keep={document.id}, quietly=True), "remove unused documents")
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

    async def _read(self, path: str) -> None:
        """The file, not text, read by the reader process, its records added as they come
        (each piece a turn of the writer thread: other uploads and edits go on between)."""
        readers = self._in_progress.readers
        assert readers is not None and self._ingest.kind is not None
        reading = readers.read(path, self._ingest.kind, self._ingest.sheet)
        capacity = self._in_progress.capacity
        async with contextlib.aclosing(reading):
            async for data in reading:
                self._check_open()
                if isinstance(data, bytes):  # (records take their size in the store)
                    capacity.admit(len(data), self._in_progress.taken(), own=self.stored)
                await self._storage.write(self._ingest.add_records, data)

    async def _columns_made(self) -> None:
        """Wait (COLUMNS_WAIT at most) for the rest of the version's columns (see Columns),
        which the views thread may still be making at the commit (a piece or two, some
        50-100 ms for a large upload): so that its page 1 goes out with its first sort, search
        and profile ready. Not longer: the views thread may be busy with a long piece of other
        work, and the version is committed."""
        columns = self._ingest.columns
        if columns is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            # (shielded: a timeout must not cancel the future the views thread will set)
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(columns.done)), COLUMNS_WAIT)

    async def abort(self) -> None:
        if self._done:
            return
        self._end()
        METRICS.uploads["rolled_back"] += 1
        try:
            await self._storage.write(self._ingest.abort)
        except DiskFull:  # removed once it can be (see InProgress.remove_leftovers)
            self._in_progress.leftovers = True
            log.warning("could not roll back upload %s yet: the disk is full", self.id)
            return
        except TablecastError:  # shutting down: recovery at the next start removes it
            return
        except Exception:
            log.exception("could not roll back upload %s", self.id)
            return
        self._storage.tidy()

    def _check_open(self) -> None:
        # after an abort (the client left, the server is stopping) nothing may be written
        if self._done and self._in_progress.stopping:
            raise TablecastError("shutting_down", "the server is shutting down")
        if self._done:
            raise TablecastError("no_upload", "this upload has ended")

    def _end(self) -> None:
        self._done = True
        self._in_progress.uploads.discard(self)

    @property
    def duration(self) -> float:
        return time.monotonic() - self.started
