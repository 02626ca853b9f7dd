"""The store a cluster's nodes share: one PostgreSQL database.

It keeps what the SQLite store keeps, the same way (see :mod:`tablecast.store.sqlite`): blocks
of a pending upload under a version whose ``number`` is NULL, numbered and made current by one
short commit. What one node changes that others show (a version, the shared page, how many
viewers it holds) is NOTIFYed on :data:`~tablecast.bus.events.CHANNEL` in the same transaction,
so no node hears of a change before it can read it.

Each node holds a session advisory lock, ``(NODE_LOCKS, node)``, for as long as it runs: a node
whose lock anyone can take is gone, and what it left (uploads in progress, viewer counts) is
removed by whichever node notices first (:meth:`PostgresStore.remove_abandoned`).

Methods are synchronous and run on the caller's threads (the writer and the readers), each
borrowing a connection from a small pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import orjson

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # the optional dependency is not installed
    raise RuntimeError("a PostgreSQL store needs psycopg: install tablecast[postgres]") from exc

from ..bus.events import CHANNEL, PageTurned, VersionCommitted, ViewersCounted, encode
from ..errors import DiskFull, TablecastError
from ..originals import Part
from .base import (
    Block,
    Document,
    Usage,
    Version,
    VersionMeta,
    block_range,
    blocks_of,
    document_from_row,
    join_rows,
    original_part,
    pick_rows,
    version_from_row,
)
from .sql import (
    DOCUMENT_BYTES,
    Batch,
    Queries,
    copy_version,
    least_used,
    new_document,
    nothing_to_remove,
)
from .sql import usage as _usage

Connection = psycopg.Connection[tuple[Any, ...]]

SCHEMA_VERSION = 5  # PostgreSQL's own count, independent of SQLite's user_version
# Advisory lock keys. Two-int keys (NODE_LOCKS, node) mark live nodes; the one-bigint key space
# is separate from the two-int one, so SCHEMA_LOCK cannot collide with any node.
NODE_LOCKS = 0x74636E64  # "tcnd"
SCHEMA_LOCK = 0x7463736D  # "tcsm": held while the schema is created or migrated
POOL_MIN, POOL_MAX = 2, 8  # 4 reader threads and 1 writer use it; more would only sit idle
WAIT_SECONDS = 3.0  # longest a call waits for a connection before store_unavailable
CONNECT_SECONDS = 5  # longest one connection attempt takes (an unreachable host)
# After a lost connection the pool retries with exponential backoff until this, then gives up
# and the next call starts afresh: a database back after a restart is used within seconds.
RECONNECT_SECONDS = 5.0
CHECK_IDLE_SECONDS = 1.0  # a pooled connection idle longer is checked before use
NODE_LOCK_WAIT = "5s"  # at open: time for a killed predecessor with our node number to go

ORIGINALS = """
CREATE TABLE originals (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    part integer NOT NULL,
    data bytea NOT NULL,  -- the file exactly as uploaded, in parts
    PRIMARY KEY (version_id, part)
);
-- as blocks: compressing a file of tens of MB costs seconds of the database's CPU per upload
ALTER TABLE originals ALTER data SET STORAGE EXTERNAL;
"""
# rebuilt: the part's data says how the version's records give its bytes back
REBUILT = "ALTER TABLE originals ADD COLUMN rebuilt boolean NOT NULL DEFAULT false;"
# rows wider or narrower than the first; NULL: stored before they were counted (schema 4),
# rather than 0, which would say there are none
RAGGED_ROWS = "ALTER TABLE versions ADD COLUMN ragged_rows bigint;"
SCHEMA = (
    """
CREATE TABLE schema_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),  -- a single row
    version integer NOT NULL
);
CREATE TABLE documents (
    id text PRIMARY KEY,
    created_at double precision NOT NULL,  -- epoch seconds, as SQLite's REAL
    updated_at double precision NOT NULL,
    current_version bigint,
    shared_page integer NOT NULL DEFAULT 1,
    edit_key_hash bytea,  -- NULL: editable by anyone with the link
    accessed_at double precision NOT NULL DEFAULT 0,  -- last viewed or changed, for LRU eviction
    shared_view text NOT NULL DEFAULT ''  -- sorted or searched for followers ('': plain)
);
CREATE INDEX documents_by_use ON documents (accessed_at);
CREATE TABLE versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    number integer,  -- NULL while the upload is in progress
    node integer,  -- the node that wrote it: while number is NULL, whose upload it is
    created_at double precision NOT NULL,
    filename text NOT NULL DEFAULT '',
    encoding text NOT NULL DEFAULT '',
    delimiter text NOT NULL DEFAULT '',
    has_header boolean NOT NULL DEFAULT true,
    record_count bigint NOT NULL DEFAULT 0,
    width integer NOT NULL DEFAULT 0,
    size bigint NOT NULL DEFAULT 0,
    first_record text NOT NULL DEFAULT '[]',
    stored_bytes bigint NOT NULL DEFAULT 0  -- its blocks' bytes, counted as they are written
);
CREATE UNIQUE INDEX versions_by_number ON versions (document_id, number);
CREATE INDEX versions_pending ON versions (node) WHERE number IS NULL;
CREATE TABLE blocks (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    block integer NOT NULL,
    records bytea NOT NULL,
    offsets bytea NOT NULL,
    PRIMARY KEY (version_id, block)
);
-- Kept as they are, as SQLite keeps them (and as stored_bytes counts them): compressing a block
-- made writes 2-3 times slower and page reads ~15% slower, for space the byte limit ignores.
ALTER TABLE blocks ALTER records SET STORAGE EXTERNAL;
CREATE TABLE viewers (  -- how many viewers of a document each node holds, when not 0
    document_id text REFERENCES documents ON DELETE CASCADE,
    node integer,
    viewers integer NOT NULL,
    PRIMARY KEY (document_id, node)
);
"""
    + ORIGINALS
    + REBUILT
    + RAGGED_ROWS
)

# from this schema version to the next: its DDL
MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE documents ADD COLUMN shared_view text NOT NULL DEFAULT ''",
    2: ORIGINALS,
    3: REBUILT,
    4: RAGGED_ROWS,
}

Q = Queries("%s")
# the tests read these plans
VERSION_QUERY, VERSIONS_QUERY, VERSIONS_BEFORE_QUERY = Q.version, Q.versions, Q.versions_before


# Nothing stays that someone uses: an upload in progress, or viewers on any node.
_IN_USE = """
EXISTS (SELECT 1 FROM versions p WHERE p.document_id = d.id AND p.number IS NULL)
OR EXISTS (SELECT 1 FROM viewers w WHERE w.document_id = d.id)
"""


@contextmanager
def _reachable() -> Iterator[None]:
    """A database that cannot be reached is the user's 503, not a traceback. (PoolTimeout,
    AdminShutdown and lost connections are all OperationalErrors.) The message is for users:
    where the database is and what libpq said stay in the chained cause, for the log."""
    try:
        yield
    except psycopg.errors.DiskFull as exc:  # an OperationalError too, but the user's 507
        raise DiskFull() from exc
    except psycopg.OperationalError as exc:
        raise _unavailable() from exc


def _unavailable() -> TablecastError:
    return TablecastError(
        "store_unavailable", "the database is unavailable just now: try again shortly"
    )


class PostgresStore:
    reads_inline = False  # a read crosses the network: never on the event loop

    def __init__(self, url: str, node: int) -> None:
        self.url = url
        self.node = node
        self._liveness: Connection | None = None
        self._used: dict[int, float] = {}  # when each pooled connection was last used, by id
        self._liveness_lock = threading.Lock()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            timeout=WAIT_SECONDS,
            reconnect_timeout=RECONNECT_SECONDS,
            check=self._check,
            kwargs={
                "autocommit": True,  # one statement, one round trip; transactions say so
                "connect_timeout": CONNECT_SECONDS,
                "application_name": f"tablecast node {node}",
            },
            open=False,
        )
        try:
            with _reachable():
                self._hold_node_lock(wait=True)  # first: from here on we count as alive
                self._pool.open()
                self._migrate()
                with self._transaction() as conn:  # leftovers of a previous run as this node
                    self._forget(conn, self.node)
                self.remove_abandoned()
        except BaseException as exc:
            self.close()
            if isinstance(exc, TablecastError) and exc.code == "store_unavailable":
                # at start-up, the operator reads this: say why
                raise TablecastError(
                    "store_unavailable", f"cannot open the PostgreSQL store: {exc.__cause__}"
                ) from exc.__cause__
            raise

    def _check(self, conn: Connection) -> None:
        """Before a connection is handed out: one a database restart broke is replaced rather
        than failing a request. Checking costs a round trip (a third of a page read), so only
        a connection idle for a while is checked: one in steady use would have failed already.
        """
        if time.monotonic() - self._used.get(id(conn), 0.0) > CHECK_IDLE_SECONDS:
            ConnectionPool.check_connection(conn)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with _reachable(), self._pool.connection() as conn:
            try:
                yield conn
            finally:
                self._used[id(conn)] = time.monotonic()

    def _read(self, query: str, params: Sequence[Any], *, binary: bool = False) -> list[Any]:
        """The rows of a read. A read is safe to make twice: on a connection that a database
        restart broke it is made once more, on a fresh one, rather than failing a viewer."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    try:
                        return conn.execute(query, params, binary=binary).fetchall()
                    finally:
                        self._used[id(conn)] = time.monotonic()
            except PoolTimeout as exc:  # waited long enough already
                raise _unavailable() from exc
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise _unavailable() from exc
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._connection() as conn, conn.transaction():
            yield conn

    def _hold_node_lock(self, *, wait: bool) -> bool:
        """Take (NODE_LOCKS, node) on a connection of its own, if we do not hold it; whether
        it had to be taken again. ``wait`` (at open): a predecessor just killed may hold it a
        moment longer; anyone holding it after that is another live process with our node
        number, a mistake worth stopping for. Later (``wait`` False) we only try: the writer
        thread must not stall."""
        with self._liveness_lock, _reachable():
            if self._liveness is not None:
                try:
                    self._liveness.execute("")  # an empty query: is it still there?
                    return False
                except psycopg.OperationalError:
                    self._liveness.close()  # lost (a restart): the lock went with it
                    self._liveness = None
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_SECONDS,
                application_name=f"tablecast node {self.node} liveness",
            )
            try:
                if wait:
                    conn.execute(f"SET lock_timeout = '{NODE_LOCK_WAIT}'")
                    try:
                        conn.execute("SELECT pg_advisory_lock(%s, %s)", (NODE_LOCKS, self.node))
                    except psycopg.errors.LockNotAvailable:
                        raise RuntimeError(
                            f"another process holds node {self.node} of this database"
                        ) from None
                    got = True
                else:
                    row = conn.execute(
                        "SELECT pg_try_advisory_lock(%s, %s)", (NODE_LOCKS, self.node)
                    ).fetchone()
                    got = bool(row and row[0])
            except BaseException:
                conn.close()
                raise
            if got:
                self._liveness = conn
            else:  # a session of ours the database has not yet seen end: try again later
                conn.close()
            return got

    def _migrate(self) -> None:
        # Several workers start at once: one creates or migrates, the others wait and see it done.
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            row = conn.execute("SELECT to_regclass('schema_version')").fetchone()
            version = 0
            if row and row[0] is not None:
                found = conn.execute("SELECT version FROM schema_version").fetchone()
                version = found[0] if found else 0
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database has schema version {version};"
                    f" this tablecast knows up to {SCHEMA_VERSION}: upgrade tablecast"
                )
            if version == 0:
                conn.execute(SCHEMA)  # several statements: allowed without parameters
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
                return
            for step in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[step])
            conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    def _forget(self, conn: Connection, node: int) -> None:
        """In the caller's transaction, delete a node's uploads in progress (blocks cascade)
        and its viewer counts, announcing each as 0. Only for a node known to be gone (or
        ourselves, at open)."""
        conn.execute("DELETE FROM versions WHERE node = %s AND number IS NULL", (node,))
        gone = conn.execute(
            "DELETE FROM viewers WHERE node = %s RETURNING document_id", (node,)
        ).fetchall()
        if gone:
            payloads = [encode(ViewersCounted(doc, node, 0)) for (doc,) in gone]
            conn.execute(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, payloads)
            )

    def remove_abandoned(self) -> bool:
        # a restarted database forgot our lock: take it again, and say so (other nodes may
        # have taken us for gone meanwhile, and forgotten our viewer counts)
        lost = self._hold_node_lock(wait=False)
        with self._connection() as conn:
            nodes = conn.execute(
                "SELECT node FROM versions WHERE number IS NULL AND node <> %(me)s"
                " UNION SELECT node FROM viewers WHERE node <> %(me)s",
                {"me": self.node},
            ).fetchall()
            for (node,) in nodes:
                with conn.transaction():
                    # Taken: nobody holds that node's lock, it is gone. (Held until we commit,
                    # so a node restarting with that number waits for us to finish.)
                    row = conn.execute(
                        "SELECT pg_try_advisory_xact_lock(%s, %s)", (NODE_LOCKS, node)
                    ).fetchone()
                    if row and row[0]:
                        self._forget(conn, node)
        return lost

    def create_document(self, edit_key_hash: bytes | None) -> Document:
        document, row = new_document(edit_key_hash)
        with self._connection() as conn:
            conn.execute(Q.insert_document, row)
        return document

    def get_document(self, document_id: str) -> Document | None:
        rows = self._read(Q.document, (document_id,))
        return document_from_row(rows[0] if rows else None)

    def versions(self, document_id: str, limit: int, before: int | None = None) -> list[Version]:
        if before is None:
            rows = self._read(Q.versions, (document_id, limit))
        else:
            rows = self._read(Q.versions_before, (document_id, before, limit))
        return [version_from_row(document_id, row) for row in rows]

    def version(self, document_id: str, number: int) -> Version | None:
        rows = self._read(Q.version, (document_id, number))
        return version_from_row(document_id, rows[0]) if rows else None

    def copy_blocks(self, version_id: int, pending_id: int) -> None:
        with self._transaction() as conn:
            conn.execute("SET LOCAL synchronous_commit = off")  # as write_blocks
            copy_version(conn, "%s", version_id, pending_id)

    def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        # one statement, so one transaction: the turn and its announcement
        payload = encode(PageTurned(document_id, self.node, page_no, view))
        with self._connection() as conn:
            conn.execute(
                "WITH turned AS (UPDATE documents SET shared_page = %s, shared_view = %s"
                " WHERE id = %s RETURNING 1) SELECT pg_notify(%s, %s) FROM turned",
                (page_no, view, document_id, CHANNEL, payload),
            )

    def begin_version(self, document_id: str) -> int:
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO versions (document_id, created_at, node) VALUES (%s, %s, %s)"
                " RETURNING id",
                (document_id, time.time(), self.node),
            ).fetchone()
        assert row is not None
        pending_id: int = row[0]
        return pending_id

    def write_blocks(
        self,
        pending_id: int,
        blocks: Sequence[tuple[int, Block]],
        original: Sequence[tuple[int, Part]] = (),
    ) -> None:
        batch = Batch(pending_id, blocks, original)
        with self._transaction() as conn:
            # Not waiting for each batch to reach the disk (a third of an upload's time): the
            # version's own commit is synchronous, and flushing it flushes every batch before
            # it. A crash before that loses only blocks of a version nobody can see yet. (As
            # SQLite's synchronous=NORMAL for blocks, FULL for the commit.)
            conn.execute("SET LOCAL synchronous_commit = off")
            # COPY in binary: the blocks' bytes go as they are, no escaping, one stream
            with conn.cursor().copy(
                "COPY blocks (version_id, block, records, offsets) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["bigint", "integer", "bytea", "bytea"])
                for row in batch.blocks:
                    copy.write_row(row)
            if batch.originals:
                conn.cursor().executemany(Q.insert_originals, batch.originals)
            batch.count(conn, "%s")

    def commit_version(self, pending_id: int, meta: VersionMeta) -> Document:
        now = time.time()
        with self._transaction() as conn:
            # Lock the document: another node committing to it waits for us, then numbers its
            # version after ours. (NO KEY UPDATE: viewer counts and new uploads, which only
            # reference the row, need not wait.)
            row = conn.execute(
                "SELECT v.document_id FROM versions v JOIN documents d ON d.id = v.document_id"
                " WHERE v.id = %s AND v.number IS NULL FOR NO KEY UPDATE",
                (pending_id,),
            ).fetchone()
            if row is None:
                raise TablecastError("no_upload", "this upload was cancelled")
            (document_id,) = row
            # a new statement: sees every version committed before we held the lock
            numbered = conn.execute(
                """UPDATE versions SET number = (SELECT COALESCE(MAX(number), 0) + 1
                                                 FROM versions WHERE document_id = %(doc)s),
                       created_at = %(now)s, filename = %(filename)s, encoding = %(encoding)s,
                       delimiter = %(delimiter)s, has_header = %(has_header)s,
                       record_count = %(record_count)s, width = %(width)s, size = %(size)s,
                       first_record = %(first_record)s, ragged_rows = %(ragged_rows)s
                   WHERE id = %(id)s RETURNING number""",
                {
                    **asdict(meta),
                    "first_record": orjson.dumps(meta.first_record).decode(),
                    "doc": document_id,
                    "now": now,
                    "id": pending_id,
                },
            ).fetchone()
            assert numbered is not None
            conn.execute(
                "UPDATE documents SET current_version = %s, updated_at = %s, accessed_at = %s,"
                " shared_page = 1 WHERE id = %s",
                (pending_id, now, now, document_id),
            )
            # delivered when this transaction commits, never before
            payload = encode(VersionCommitted(document_id, self.node, numbered[0]))
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            # read inside: the document as this commit left it, whatever another node does next
            row = conn.execute(Q.document, (document_id,)).fetchone()
            document = document_from_row(row)
        assert document is not None
        return document

    def abort_version(self, pending_id: int) -> None:
        with self._connection() as conn:  # its blocks go with it (ON DELETE CASCADE)
            conn.execute("DELETE FROM versions WHERE id = %s AND number IS NULL", (pending_id,))

    def full(self) -> bool:
        return False  # the database server's disk: see Store.full

    def remove_pending(self, keep: Iterable[int]) -> None:
        with self._connection() as conn:  # this node's only: others' are theirs to finish
            conn.execute(
                "DELETE FROM versions WHERE number IS NULL AND node = %s AND NOT id = ANY(%s)",
                (self.node, list(keep)),
            )

    def read_rows(self, version_id: int, start: int, stop: int) -> bytes:
        if stop <= start:
            return b"[]"
        first, last = block_range(start, stop)
        blocks = self._read(
            Q.blocks,
            (version_id, first, last),
            binary=True,  # bytea arrives as its bytes, not as hex text to decode
        )
        return join_rows(blocks, start, stop)

    def read_picked(self, version_id: int, records: Sequence[int]) -> bytes:
        if not records:
            return b"[]"
        blocks = self._read(
            "SELECT block, records, offsets FROM blocks WHERE version_id = %s AND block = ANY(%s)",
            (version_id, blocks_of(records)),
            binary=True,
        )
        return pick_rows(blocks, records)

    def read_original(self, version_id: int, first: int, count: int) -> list[Part]:
        rows = self._read(Q.original, (version_id, first, count), binary=True)
        return [original_part(data, rebuilt) for data, rebuilt in rows]

    def read_all(self, version_id: int) -> list[tuple[int, bytes, bytes]]:
        rows = self._read(Q.all_blocks, (version_id,), binary=True)
        return [(block, records, offsets) for block, records, offsets in rows]

    def remove_document_if_empty(self, document_id: str) -> None:
        with self._connection() as conn:
            conn.execute(Q.remove_if_empty, (document_id,))

    def remove_empty_documents(self, created_before: float, keep: Iterable[str]) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                f"""DELETE FROM documents d WHERE created_at < %s AND NOT (id = ANY(%s::text[]))
                    AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.document_id = d.id)
                    AND NOT ({_IN_USE}) RETURNING id""",
                (created_before, list(keep)),
            ).fetchall()
        return [document_id for (document_id,) in rows]

    def usage(self) -> Usage:
        with self._connection() as conn:
            return _usage(conn)

    def touch(self, accessed: Mapping[str, float]) -> None:
        if not accessed:
            return
        with self._transaction() as conn, conn.cursor() as cursor:
            # in id order, so two nodes touching the same documents never deadlock;
            # executemany pipelines the statements: one round trip, not one per document
            cursor.executemany(
                "UPDATE documents SET accessed_at = GREATEST(accessed_at, %s) WHERE id = %s",
                [(accessed[document_id], document_id) for document_id in sorted(accessed)],
            )

    def remove_unused(
        self,
        accessed_before: float,
        max_documents: int | None,
        max_bytes: int | None,
        keep: Iterable[str],
    ) -> list[str]:
        with self._transaction() as conn:
            usage = _usage(conn)
            if nothing_to_remove(usage, accessed_before, max_documents, max_bytes):
                return []
            # Least recently used first, walked on the server by the accessed_at index a batch
            # at a time, so a sweep reads what it removes, not every document. Each row is
            # locked as it is read (a document being committed to is in use: skipped).
            with conn.cursor(name="tablecast_lru") as walk:
                walk.itersize = 64
                walk.execute(
                    f"""SELECT d.id, d.accessed_at, {DOCUMENT_BYTES}
                        FROM documents d WHERE NOT ({_IN_USE})
                        ORDER BY d.accessed_at FOR UPDATE OF d SKIP LOCKED"""
                )
                removed = least_used(walk, usage, accessed_before, max_documents, max_bytes, keep)
            conn.execute("DELETE FROM documents WHERE id = ANY(%s::text[])", (removed,))
        return removed

    def save_viewers(self, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        ids = list(counts)
        payloads = [encode(ViewersCounted(d, self.node, counts[d])) for d in ids]
        with self._connection() as conn:
            # One statement, one transaction. Documents since deleted are left out (locked
            # KEY SHARE, so one being deleted is waited for and then skipped, not an error).
            conn.execute(
                """WITH counted AS (
                       SELECT c.id, c.n, c.payload FROM documents d
                       JOIN unnest(%(ids)s::text[], %(counts)s::int[], %(payloads)s::text[])
                            AS c(id, n, payload) ON c.id = d.id
                       FOR KEY SHARE OF d),
                   saved AS (
                       INSERT INTO viewers (document_id, node, viewers)
                       SELECT id, %(node)s, n FROM counted WHERE n > 0
                       ON CONFLICT (document_id, node) DO UPDATE SET viewers = EXCLUDED.viewers),
                   cleared AS (
                       DELETE FROM viewers WHERE node = %(node)s
                       AND document_id IN (SELECT id FROM counted WHERE n = 0))
                   SELECT count(pg_notify(%(channel)s, payload)) FROM counted""",
                {
                    "ids": ids,
                    "counts": [counts[d] for d in ids],
                    "payloads": payloads,
                    "node": self.node,
                    "channel": CHANNEL,
                },
            )

    def viewers_elsewhere(self, document_ids: Iterable[str]) -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        rows = self._read(
            "SELECT document_id, node, viewers FROM viewers"
            " WHERE document_id = ANY(%s::text[]) AND node <> %s",
            (list(document_ids), self.node),
        )
        for document_id, node, viewers in rows:
            found.setdefault(document_id, {})[node] = viewers
        return found

    def announce(self, payload: str) -> None:
        with self._connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def checkpoint(self) -> None:
        pass  # PostgreSQL checkpoints by itself

    def close(self) -> None:
        self._pool.close()
        with self._liveness_lock:
            if self._liveness is not None:
                self._liveness.close()  # our node lock goes with the session
                self._liveness = None
