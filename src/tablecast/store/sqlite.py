"""The default store: one SQLite file under the data directory, in WAL mode.

WAL lets readers serve pages while an upload writes blocks. Blocks of a pending upload are
written in many small transactions (so a gigabyte upload never holds one giant transaction),
under a version row whose ``number`` is NULL; only the commit, one short transaction, numbers
it and points the document at it. A crash at any moment therefore leaves either the old
version or the new one current, and :meth:`SQLiteStore.recover` removes pending leftovers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ..errors import DiskFull, TablecastError
from ..model import Document, Usage, Version, VersionMeta
from ..table.blocks import Block, Run, encode_block
from ..table.changes import Change, Changed, Unchanged
from ..table.originals import Part
from ..table.pieces import Pieces
from . import sql
from .base import document_from_row, version_from_row

log = logging.getLogger("tablecast.store")

SCHEMA_VERSION = 12
# Room an upload keeps free on the disk, besides a quarter of what it wrote: for rolling it
# back and folding the WAL into the database whatever happens (see SQLiteStore._check_room)
RESERVE_BYTES = 16 * 1024 * 1024
PAGE_BYTES = 16 * 1024
AUTOCHECKPOINT_PAGES = 256  # a checkpoint each time the WAL passes 4 MiB, as SQLite's default
WAL_KEEP_BYTES = 16 * 1024 * 1024  # a WAL grown larger by an upload is cut back to this

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    current_version INTEGER,
    shared_page INTEGER NOT NULL DEFAULT 1,
    edit_key_hash BLOB,  -- NULL: made before edit keys, editable by anyone with the link
    accessed_at REAL NOT NULL DEFAULT 0,  -- last viewed or changed, for evicting the least used
    shared_view TEXT NOT NULL DEFAULT ''  -- sorted or searched for followers ('': plain)
);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER,  -- NULL while the upload is in progress
    created_at REAL NOT NULL,
    filename TEXT NOT NULL DEFAULT '',
    encoding TEXT NOT NULL DEFAULT '',
    delimiter TEXT NOT NULL DEFAULT '',
    has_header INTEGER NOT NULL DEFAULT 1,
    record_count INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    first_record TEXT NOT NULL DEFAULT '[]',
    stored_bytes INTEGER NOT NULL DEFAULT 0,  -- its blocks' bytes, counted as they are written
    ragged_rows INTEGER,  -- rows wider or narrower than the first (NULL: not counted, schema 6)
    blocks_of INTEGER,  -- the version whose blocks and original are this one's (NULL: its own)
    pieces BLOB,  -- where its rows are, if it changed some (NULL: blocks_of's records, in order,
                  -- or the names of its chunks in piece_chunks, see sql.keep_pieces)
    source TEXT  -- what it was read from, if not text: model.Source as JSON
);
CREATE UNIQUE INDEX versions_by_number ON versions(document_id, number);
CREATE INDEX documents_by_use ON documents(accessed_at);
CREATE TABLE blocks (
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    block INTEGER NOT NULL,
    records BLOB NOT NULL,
    offsets BLOB NOT NULL,
    PRIMARY KEY (version_id, block)
);
CREATE TABLE counters (  -- the last version id given: none is ever given twice
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters VALUES ('versions', 0);
CREATE TABLE originals (
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,  -- the file exactly as uploaded, in parts
    rebuilt INTEGER NOT NULL DEFAULT 0,  -- data: how the version's records give them back
    PRIMARY KEY (version_id, part)
);
CREATE TABLE piece_chunks (  -- a much changed version's pieces, a chunk each, shared
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    chunk BLOB NOT NULL,  -- its name: a hash of its bytes
    data BLOB NOT NULL,
    PRIMARY KEY (document_id, chunk)
);
"""


def _add_offsets(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: blocks learn where each of their records starts."""
    conn.execute("ALTER TABLE blocks ADD COLUMN offsets BLOB NOT NULL DEFAULT x''")
    rows = conn.execute("SELECT rowid, records FROM blocks").fetchall()
    for rowid, records in rows:
        block = encode_block([line[2:-2] for line in records.decode().split("\n")])
        conn.execute("UPDATE blocks SET offsets = ? WHERE rowid = ?", (block.offsets, rowid))


def _add_access(conn: sqlite3.Connection) -> None:
    """Schema 2 to 3: edit keys, and what storage limits need (use times, bytes per version).
    Documents already shared keep no key: they stay editable by anyone with the link."""
    conn.execute("ALTER TABLE documents ADD COLUMN edit_key_hash BLOB")
    conn.execute("ALTER TABLE documents ADD COLUMN accessed_at REAL NOT NULL DEFAULT 0")
    conn.execute("UPDATE documents SET accessed_at = updated_at")
    conn.execute("CREATE INDEX documents_by_use ON documents(accessed_at)")
    conn.execute("ALTER TABLE versions ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        """UPDATE versions SET stored_bytes = (SELECT COALESCE(SUM(length(records)
           + length(offsets)), 0) FROM blocks WHERE version_id = versions.id)"""
    )


def _add_shared_view(conn: sqlite3.Connection) -> None:
    """Schema 3 to 4: followers share a sorted or searched view, not only a page."""
    conn.execute("ALTER TABLE documents ADD COLUMN shared_view TEXT NOT NULL DEFAULT ''")


def _add_originals(conn: sqlite3.Connection) -> None:
    """Schema 4 to 5: each upload's file is kept as it arrived, to download as it was."""
    conn.execute(
        "CREATE TABLE originals (version_id INTEGER NOT NULL REFERENCES versions(id)"
        " ON DELETE CASCADE, part INTEGER NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (version_id, part))"
    )


def _add_rebuilt(conn: sqlite3.Connection) -> None:
    """Schema 5 to 6: most of a file is given back by its records, and not kept twice."""
    conn.execute("ALTER TABLE originals ADD COLUMN rebuilt INTEGER NOT NULL DEFAULT 0")


def _add_ragged_rows(conn: sqlite3.Connection) -> None:
    """Schema 6 to 7: versions count their ragged rows. Those stored before say NULL, "not
    counted", rather than 0, which would say they have none: counting would read every
    version's every block as the store opens."""
    conn.execute("ALTER TABLE versions ADD COLUMN ragged_rows INTEGER")


def _add_blocks_of(conn: sqlite3.Connection) -> None:
    """Schema 7 to 8: a restored version shares the blocks of the version it restores. Those
    restored before keep their copies."""
    conn.execute("ALTER TABLE versions ADD COLUMN blocks_of INTEGER")


def _add_pieces(conn: sqlite3.Connection) -> None:
    """Schema 8 to 9: a version that changes rows stores those alone, and its pieces say
    where the rest are (see tablecast.table.pieces)."""
    conn.execute("ALTER TABLE versions ADD COLUMN pieces BLOB")


def _add_counters(conn: sqlite3.Connection) -> None:
    """Schema 9 to 10: version ids are never given twice. SQLite gives the id of the newest
    row deleted (a removed document's, an aborted upload's) to the next; caches keyed by
    version id (pages, columns, pieces) would then serve one version's records for
    another's."""
    conn.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT INTO counters SELECT 'versions', COALESCE(MAX(id), 0) FROM versions")


def _add_piece_chunks(conn: sqlite3.Connection) -> None:
    """Schema 10 to 11: the pieces of a much changed version are kept in chunks its versions
    share (see tablecast.store.sql.keep_pieces). Those kept whole stay whole."""
    conn.execute(
        "CREATE TABLE piece_chunks (document_id TEXT NOT NULL REFERENCES documents(id)"
        " ON DELETE CASCADE, chunk BLOB NOT NULL, data BLOB NOT NULL,"
        " PRIMARY KEY (document_id, chunk))"
    )


def _add_source(conn: sqlite3.Connection) -> None:
    """Schema 11 to 12: a version read from a workbook, Parquet, Arrow or JSON says so (and
    which sheet), for the file's download and its next upload."""
    conn.execute("ALTER TABLE versions ADD COLUMN source TEXT")


MIGRATIONS = {
    1: _add_offsets,
    2: _add_access,
    3: _add_shared_view,
    4: _add_originals,
    5: _add_rebuilt,
    6: _add_ragged_rows,
    7: _add_blocks_of,
    8: _add_pieces,
    9: _add_counters,
    10: _add_piece_chunks,
    11: _add_source,
}  # from this schema version to the next


def _number(
    conn: sqlite3.Connection,
    document_id: str,
    pending_id: int,
    meta: VersionMeta,
    edited: bool = False,
) -> None:
    """In the caller's transaction: a pending version numbered, with its meta, and current;
    the shared page back to 1, but where rows were changed where they are (``edited``:
    the group stays where it is)."""
    now = time.time()
    (number,) = conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE document_id = ?", (document_id,)
    ).fetchone()
    conn.execute(
        """UPDATE versions SET number = ?, created_at = ?, filename = ?, encoding = ?,
           delimiter = ?, has_header = ?, record_count = ?, width = ?, size = ?,
           first_record = ?, ragged_rows = ?, source = ? WHERE id = ?""",
        (
            number,
            now,
            meta.filename,
            meta.encoding,
            meta.delimiter,
            int(meta.has_header),
            meta.record_count,
            meta.width,
            meta.size,
            orjson.dumps(meta.first_record).decode(),
            meta.ragged_rows,
            meta.source.encode() if meta.source else None,
            pending_id,
        ),
    )
    conn.execute(
        "UPDATE documents SET current_version = ?, updated_at = ?, accessed_at = ?,"
        " shared_page = CASE WHEN ? THEN shared_page ELSE 1 END WHERE id = ?",
        (pending_id, now, now, edited, document_id),
    )


Q = sql.Queries("?")
# What makes a version that changes rows: its meta, and what it did (see SQLiteStore._edit)
Made = tuple[VersionMeta, Changed]
# the tests read these plans
VERSION_QUERY, VERSIONS_QUERY, VERSIONS_BEFORE_QUERY = Q.version, Q.versions, Q.versions_before


@contextmanager
def _writing() -> Iterator[None]:
    """A write that meets a full disk is storage_full (507), not a bug: SQLite says
    SQLITE_FULL (its WAL or database could not grow), the OS ENOSPC."""
    try:
        yield
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        raise DiskFull() from exc
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFull() from exc


def _roll_back(conn: sqlite3.Connection) -> None:
    """Undo a failed transaction, if SQLite has not already (on SQLITE_FULL it may have:
    a ROLLBACK then would fail too, and hide the real error)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("could not roll back a transaction", exc_info=True)


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range, where there is one."""
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writing_back(path: str) -> None:
    """Have the OS start writing a file's dirty pages to the disk, without waiting for them:
    an upload's blocks pile up in the WAL, unsynced (synchronous=NORMAL), until its commit
    syncs them all (synchronous=FULL), and the version waited for that sync, some 50-120 ms
    for 75 MB here. Written back as they come, there is little left to sync at the commit.
    (What PostgreSQL's backend_flush_after does, with the same call; elsewhere, nothing.)"""
    if _SYNC_FILE_RANGE is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
    finally:
        os.close(fd)


def _free_bytes(path: Path) -> int:
    """Room left on the disk that holds the store (as an unprivileged writer sees it)."""
    return shutil.disk_usage(path.parent).free


class SQLiteStore:
    reads_inline = True
    node = 0  # one process has this file open: nobody else to tell, no viewers elsewhere
    nodes = None

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._reads = sql.Reads(Q, self._fetch, self._picked)
        self._migrate()
        self.recover()
        free = _free_bytes(path)
        if free < RESERVE_BYTES:
            log.warning(
                "the disk holding %s has %d bytes free: pages are served, but uploads and"
                " changes are refused until room is made",
                path,
                free,
            )

    def _connect(self) -> sqlite3.Connection:
        """One connection per thread: sqlite3 connections must not be shared across threads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Each thread keeps its own; check_same_thread=False only so close() can end them all.
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            # A block (~24 KiB) spans two 16 KiB pages rather than seven 4 KiB ones: a page
            # read makes fewer trips through SQLite's cache (~15% more pages/s). Only takes
            # effect on a new file; an existing one keeps the size it was made with.
            conn.execute(f"PRAGMA page_size={PAGE_BYTES}")
            conn.execute("PRAGMA journal_mode=WAL")
            # Durable at each version commit (see commit_version), cheap for block writes.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            # Some builds (Debian's) zero every freed page: rolling back or removing a large
            # version would write it all again (a 250 MB upload killed mid-way made the next
            # start take 4 s). FAST zeroes only what costs no extra I/O.
            conn.execute("PRAGMA secure_delete=FAST")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _transaction(self, *, large: bool = False) -> Iterator[sqlite3.Connection]:
        """``large``: part of an upload. Its commit leaves checkpointing to :meth:`checkpoint`:
        copying the WAL into the database as it passes 4 MiB (SQLite's habit) costs an upload
        half its write time, fsyncs included, and the version would wait for it."""
        conn = self._connect()
        with _writing():
            conn.execute(f"PRAGMA wal_autocheckpoint={0 if large else AUTOCHECKPOINT_PAGES}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _roll_back(conn)
                raise

    def _execute(self, sql: str, parameters: Sequence[object] = ()) -> sqlite3.Cursor:
        """One write outside a transaction of ours (it is its own)."""
        with _writing():
            return self._connect().execute(sql, parameters)

    def _check_room(self, pending_id: int, size: int) -> None:
        """Before an upload writes ``size`` more bytes: make sure that what is written can
        always be undone and folded into the database, however full the disk gets.

        An upload's writes pile up in the WAL (see _transaction), and folding the WAL into the
        database (a checkpoint) takes as much room again; rolling the upload back takes WAL
        room too (a quarter of what it wrote, with RESERVE_BYTES to spare). So when the disk's
        free room falls short of all that, the WAL is folded in now and cut to nothing; if it
        still falls short, the upload is refused (storage_full) while it can be undone, rather
        than meeting the wall half-way through a transaction."""
        (written,) = self._connect().execute(
            "SELECT stored_bytes FROM versions WHERE id = ?", (pending_id,)
        ).fetchone() or (0,)
        needed = size + RESERVE_BYTES + written // 4
        if _free_bytes(self.path) >= self._wal_bytes() + needed:
            return
        with _writing():
            self._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if _free_bytes(self.path) < self._wal_bytes() + needed:
            raise DiskFull()

    def full(self) -> bool:
        return _free_bytes(self.path) < self._wal_bytes() + RESERVE_BYTES

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    def _migrate(self) -> None:
        with self._transaction() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version};"
                    f" this tablecast knows up to {SCHEMA_VERSION}: upgrade tablecast"
                )
            if version == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def recover(self) -> None:
        """Forget uploads that were in progress when the last process stopped. (Large: the
        checkpoint after it can wait; the server should start serving at once.) On a full
        disk they stay, unseen, until remove_pending can remove them: the server starts all
        the same, and serves what it holds."""
        try:
            self.remove_pending(())
        except TablecastError as err:
            log.warning("could not remove unfinished uploads yet: %s", err.message)

    def remove_pending(self, keep: Iterable[int]) -> None:
        keep = list(keep)
        kept = f" AND id NOT IN ({','.join('?' * len(keep))})" if keep else ""
        with self._transaction(large=True) as conn:
            conn.execute(
                "DELETE FROM blocks WHERE version_id IN"
                f" (SELECT id FROM versions WHERE number IS NULL{kept})",
                keep,
            )
            conn.execute(f"DELETE FROM versions WHERE number IS NULL{kept}", keep)

    def create_document(self, edit_key_hash: bytes | None) -> Document:
        document, row = sql.new_document(edit_key_hash)
        self._execute(Q.insert_document, row)
        return document

    def get_document(self, document_id: str) -> Document | None:
        return document_from_row(self._connect().execute(Q.document, (document_id,)).fetchone())

    def versions(self, document_id: str, limit: int, before: int | None = None) -> list[Version]:
        conn = self._connect()
        if before is None:
            rows = conn.execute(Q.versions, (document_id, limit))
        else:
            rows = conn.execute(Q.versions_before, (document_id, before, limit))
        return [version_from_row(document_id, row) for row in rows]

    def version(self, document_id: str, number: int) -> Version | None:
        row = self._connect().execute(Q.version, (document_id, number)).fetchone()
        return None if row is None else version_from_row(document_id, row)

    def share_blocks(self, version_id: int, pending_id: int) -> None:
        with self._transaction() as conn:
            sql.share_version(conn, "?", version_id, pending_id)

    def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        self._execute(
            "UPDATE documents SET shared_page = ?, shared_view = ? WHERE id = ?",
            (page_no, view, document_id),
        )

    def begin_version(self, document_id: str) -> int:
        with self._transaction() as conn:  # (an id never given before: see _add_counters)
            # (past any row's id too: one written by other means, as tests and older
            # tablecasts do, is never collided with)
            (version_id,) = conn.execute(
                "UPDATE counters SET value = MAX(value, (SELECT COALESCE(MAX(id), 0)"
                " FROM versions)) + 1 WHERE name = 'versions' RETURNING value"
            ).fetchone()
            conn.execute(
                "INSERT INTO versions (id, document_id, created_at) VALUES (?, ?, ?)",
                (version_id, document_id, time.time()),
            )
        return int(version_id)

    def write_blocks(
        self,
        pending_id: int,
        blocks: Sequence[tuple[int, Block]],
        original: Sequence[tuple[int, Part]] = (),
    ) -> None:
        batch = sql.Batch(pending_id, blocks, original)
        self._check_room(pending_id, batch.bytes)
        with self._transaction(large=True) as conn:
            conn.executemany(
                "INSERT INTO blocks (version_id, block, records, offsets) VALUES (?, ?, ?, ?)",
                batch.blocks,
            )
            if batch.originals:
                conn.executemany(Q.insert_originals, batch.originals)
            batch.count(conn, "?")
        _start_writing_back(f"{self.path}-wal")

    def commit_version(
        self, pending_id: int, meta: VersionMeta, pieces: Pieces | None = None
    ) -> Document:
        # This commit, and the blocks written before it, survive a power cut as well as a crash.
        self._execute("PRAGMA synchronous=FULL")
        try:
            with self._transaction(large=True) as conn:
                row = conn.execute(
                    "SELECT document_id FROM versions WHERE id = ? AND number IS NULL",
                    (pending_id,),
                ).fetchone()
                if row is None:
                    raise TablecastError("no_upload", "this upload was cancelled")
                (document_id,) = row
                if pieces is not None:
                    sql.add_pieces(conn, "?", pending_id, pieces)
                _number(conn, document_id, pending_id, meta)
        finally:
            self._execute("PRAGMA synchronous=NORMAL")
        document = self.get_document(document_id)
        assert document is not None
        return document

    def append_rows(self, document_id: str, run: Run, widths: Sequence[int], size: int) -> Document:
        def append(conn: sqlite3.Connection, current: Sequence[Any], pending: int) -> Made:
            sql.append_blocks(conn, "?", current[0], pending, run)
            return sql.appended_meta(current, widths, size), Changed()

        document, _ = self._edit(document_id, 2 * len(run.data), append)
        return document

    def change_rows(self, document_id: str, change: Change, size: int) -> tuple[Document, Changed]:
        def make(conn: sqlite3.Connection, current: Sequence[Any], pending: int) -> Made:
            return sql.change_blocks(conn, "?", current, pending, change, size)

        try:
            return self._edit(document_id, 2 * size + 64 * 1024, make)
        except Unchanged as nothing:  # (no version made)
            document = self.get_document(document_id)
            assert document is not None
            return document, nothing.changed

    def _edit(
        self,
        document_id: str,
        room: int,
        make: Callable[[sqlite3.Connection, Sequence[Any], int], Made],
    ) -> tuple[Document, Changed]:
        """A version that changes the current one's rows where they are, made by ``make``
        (the connection, the current version's row, the pending id: its meta, and what it
        did) and committed in one transaction, as a commit is (``room``: bytes it may write,
        see _check_room); nothing left of it if it fails."""
        pending = self.begin_version(document_id)
        try:
            self._check_room(pending, room)
            self._execute("PRAGMA synchronous=FULL")  # (as a commit)
            try:
                with self._transaction(large=True) as conn:
                    current = conn.execute(Q.current, (document_id,)).fetchone()
                    if current is None:
                        raise TablecastError("version_not_found", "the table has no version yet")
                    meta, changed = make(conn, current, pending)
                    _number(conn, document_id, pending, meta, edited=True)
            finally:
                self._execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self.abort_version(pending)
            raise
        document = self.get_document(document_id)
        assert document is not None
        return document, changed

    def abort_version(self, pending_id: int) -> None:
        with self._transaction(large=True) as conn:
            conn.execute("DELETE FROM blocks WHERE version_id = ?", (pending_id,))
            conn.execute("DELETE FROM versions WHERE id = ? AND number IS NULL", (pending_id,))

    def _fetch(self, query: str, params: Sequence[object]) -> sqlite3.Cursor:
        return self._connect().execute(query, params)

    def _picked(self, version_id: int, numbers: list[int]) -> sqlite3.Cursor:
        return self._connect().execute(
            f"{Q.own_blocks} AND b.block IN ({','.join('?' * len(numbers))})",
            (version_id, *numbers),
        )

    def read_rows(self, version_id: int, start: int, stop: int) -> bytes:
        return self._reads.rows(version_id, start, stop)

    def read_picked(self, version_id: int, records: Sequence[int]) -> bytes:
        return self._reads.picked(version_id, records)

    def read_original(self, version_id: int, first: int, count: int) -> list[Part]:
        return sql.read_original(self._fetch, Q, version_id, first, count)

    def read_blocks(self, version_id: int, first: int, last: int) -> list[tuple[int, bytes, bytes]]:
        return self._reads.blocks(version_id, first, last)

    def read_all(self, version_id: int) -> list[tuple[int, bytes, bytes]]:
        return self._reads.all(version_id)

    def read_pieces(self, version_id: int) -> Pieces:
        return self._reads.layout(version_id)

    def remove_document_if_empty(self, document_id: str) -> None:
        self._execute(Q.remove_if_empty, (document_id,))

    def remove_empty_documents(self, created_before: float, keep: Iterable[str]) -> list[str]:
        keep = set(keep)
        with self._transaction() as conn:
            candidates = [
                document_id
                for (document_id,) in conn.execute(
                    """SELECT id FROM documents d WHERE created_at < ?
                       AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.document_id = d.id)""",
                    (created_before,),
                )
                if document_id not in keep
            ]
            conn.executemany("DELETE FROM documents WHERE id = ?", [(d,) for d in candidates])
        return candidates

    def usage(self) -> Usage:
        return sql.usage(self._connect())

    def touch(self, accessed: Mapping[str, float]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE documents SET accessed_at = MAX(accessed_at, ?) WHERE id = ?",
                [(at, document_id) for document_id, at in accessed.items()],
            )

    def remove_unused(
        self,
        accessed_before: float,
        max_documents: int | None,
        max_bytes: int | None,
        keep: Iterable[str],
    ) -> list[str]:
        with self._transaction() as conn:
            usage = sql.usage(conn)
            if sql.nothing_to_remove(usage, accessed_before, max_documents, max_bytes):
                return []
            # least recently used first, by index (see sql.least_used); never one with an upload
            # in progress
            rows = conn.execute(
                f"""SELECT d.id, d.accessed_at, {sql.DOCUMENT_BYTES}
                    FROM documents d
                    WHERE NOT EXISTS (SELECT 1 FROM versions p
                                      WHERE p.document_id = d.id AND p.number IS NULL)
                    ORDER BY d.accessed_at"""
            )
            removed = sql.least_used(rows, usage, accessed_before, max_documents, max_bytes, keep)
            rows.close()  # before deleting what it walks over
            conn.executemany("DELETE FROM documents WHERE id = ?", [(d,) for d in removed])
        return removed

    def checkpoint(self) -> None:
        # PASSIVE: readers are never made to wait; whatever they still use is copied next time.
        # When the disk is short of room, TRUNCATE: the WAL's room is given back at once.
        tight = _free_bytes(self.path) < 2 * self._wal_bytes() + RESERVE_BYTES
        with _writing():
            self._connect().execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if tight else 'PASSIVE'})")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
