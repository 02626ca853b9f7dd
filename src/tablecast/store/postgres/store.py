"""The store a cluster's nodes share: one PostgreSQL database.

It keeps what the SQLite store keeps, the same way (see :mod:`tablecast.store.sqlite`): blocks
of a pending upload under a version whose ``number`` is NULL, numbered and made current by one
short commit. What one node changes that others show (a version, the shared page, how many
viewers it holds) is NOTIFYed on :data:`~tablecast.bus.events.CHANNEL` in the same transaction,
so no node hears of a change before it can read it.

The store does its own job, documents and versions; :mod:`.pool` lends it connections,
:mod:`.schema` makes its tables, and :mod:`.nodes` keeps the cluster's nodes (liveness, viewer
counts, announcements): that part is the store's ``nodes``, which only this store has.

Methods are synchronous and run on the caller's threads (the writer and the readers), each
borrowing a connection from a small pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import orjson

from ...bus.events import CHANNEL, PageTurned, VersionCommitted, encode
from ...errors import TablecastError
from ...model import Document, Usage, Version, VersionMeta
from ...table.blocks import Block, Run
from ...table.changes import Change, Changed, Unchanged
from ...table.originals import Part
from ...table.pieces import Pieces
from .. import sql
from ..base import document_from_row, version_from_row
from .nodes import ClusterNodes
from .pool import Pool, reachable
from .schema import migrate

Q = sql.Queries("%s")
# What makes a version that changes rows: its meta, and what it did (see PostgresStore._edit)
Made = tuple[VersionMeta, Changed]
# the tests read these plans
VERSION_QUERY, VERSIONS_QUERY, VERSIONS_BEFORE_QUERY = Q.version, Q.versions, Q.versions_before


# Nothing stays that someone uses: an upload in progress, or viewers on any node.
_IN_USE = """
EXISTS (SELECT 1 FROM versions p WHERE p.document_id = d.id AND p.number IS NULL)
OR EXISTS (SELECT 1 FROM viewers w WHERE w.document_id = d.id)
"""


class PostgresStore:
    reads_inline = False  # a read crosses the network: never on the event loop

    def __init__(self, url: str, node: int) -> None:
        self.url = url
        self.node = node
        self._pool = Pool(url, node)
        self.nodes = ClusterNodes(url, node, self._pool)
        self._reads = sql.Reads(Q, self._fetch, self._picked)
        try:
            with reachable():
                self.nodes.hold_lock(wait=True)  # first: from here on we count as alive
                self._pool.open()
                with self._pool.transaction() as conn:
                    migrate(conn)
                with self._pool.transaction() as conn:  # leftovers of a previous run as this node
                    self.nodes.forget(conn, self.node)
                self.nodes.remove_abandoned()
        except BaseException as exc:
            self.close()
            if isinstance(exc, TablecastError) and exc.code == "store_unavailable":
                # at start-up, the operator reads this: say why
                raise TablecastError(
                    "store_unavailable", f"cannot open the PostgreSQL store: {exc.__cause__}"
                ) from exc.__cause__
            raise

    def create_document(self, edit_key_hash: bytes | None) -> Document:
        document, row = sql.new_document(edit_key_hash)
        with self._pool.connection() as conn:
            conn.execute(Q.insert_document, row)
        return document

    def get_document(self, document_id: str) -> Document | None:
        rows = self._pool.read(Q.document, (document_id,))
        return document_from_row(rows[0] if rows else None)

    def versions(self, document_id: str, limit: int, before: int | None = None) -> list[Version]:
        if before is None:
            rows = self._pool.read(Q.versions, (document_id, limit))
        else:
            rows = self._pool.read(Q.versions_before, (document_id, before, limit))
        return [version_from_row(document_id, row) for row in rows]

    def version(self, document_id: str, number: int) -> Version | None:
        rows = self._pool.read(Q.version, (document_id, number))
        return version_from_row(document_id, rows[0]) if rows else None

    def share_blocks(self, version_id: int, pending_id: int) -> None:
        with self._pool.transaction() as conn:
            sql.share_version(conn, "%s", version_id, pending_id)

    def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        # one statement, so one transaction: the turn and its announcement
        payload = encode(PageTurned(document_id, self.node, page_no, view))
        with self._pool.connection() as conn:
            conn.execute(
                "WITH turned AS (UPDATE documents SET shared_page = %s, shared_view = %s"
                " WHERE id = %s RETURNING 1) SELECT pg_notify(%s, %s) FROM turned",
                (page_no, view, document_id, CHANNEL, payload),
            )

    def begin_version(self, document_id: str) -> int:
        with self._pool.connection() as conn:
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
        batch = sql.Batch(pending_id, blocks, original)
        with self._pool.transaction() as conn:
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

    def append_rows(self, document_id: str, run: Run, widths: Sequence[int], size: int) -> Document:
        def append(conn: Any, current: Sequence[Any], pending: int) -> Made:
            sql.append_blocks(conn, "%s", current[0], pending, run)
            return sql.appended_meta(current, widths, size), Changed()

        document, _ = self._edit(document_id, append)
        return document

    def change_rows(self, document_id: str, change: Change, size: int) -> tuple[Document, Changed]:
        def make(conn: Any, current: Sequence[Any], pending: int) -> Made:
            return sql.change_blocks(conn, "%s", current, pending, change, size)

        try:
            return self._edit(document_id, make)
        except Unchanged as nothing:  # (no version made)
            document = self.get_document(document_id)
            assert document is not None
            return document, nothing.changed

    def _edit(
        self, document_id: str, make: Callable[[Any, Sequence[Any], int], Made]
    ) -> tuple[Document, Changed]:
        """A version that changes the current one's rows where they are, made by ``make``
        (the connection, the current version's row, the pending id: its meta, and what it
        did) and committed in one transaction; nothing left of it if it fails."""
        pending = self.begin_version(document_id)
        try:
            with self._pool.transaction() as conn:
                # the document locked as a commit locks it (see commit_version): changes and
                # commits to it from any node go one after the other
                current = conn.execute(
                    Q.current + " FOR NO KEY UPDATE OF d", (document_id,)
                ).fetchone()
                if current is None:
                    raise TablecastError("version_not_found", "the table has no version yet")
                meta, changed = make(conn, current, pending)
                document = self._number(conn, document_id, pending, meta, edited=True)
        except BaseException:
            self.abort_version(pending)
            raise
        return document, changed

    def commit_version(
        self, pending_id: int, meta: VersionMeta, pieces: Pieces | None = None
    ) -> Document:
        with self._pool.transaction() as conn:
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
            if pieces is not None:
                sql.add_pieces(conn, "%s", pending_id, pieces)
            return self._number(conn, document_id, pending_id, meta)

    def _number(
        self,
        conn: Any,
        document_id: str,
        pending_id: int,
        meta: VersionMeta,
        edited: bool = False,
    ) -> Document:
        """In the caller's transaction, which holds the document: a pending version numbered,
        with its meta, current, and announced; the shared page back to 1, but where rows were
        changed where they are (``edited``: the group stays where it is); the document as
        this left it."""
        now = time.time()
        # a new statement: sees every version committed before we held the lock
        numbered = conn.execute(
            """UPDATE versions SET number = (SELECT COALESCE(MAX(number), 0) + 1
                                             FROM versions WHERE document_id = %(doc)s),
                   created_at = %(now)s, filename = %(filename)s, encoding = %(encoding)s,
                   delimiter = %(delimiter)s, has_header = %(has_header)s,
                   record_count = %(record_count)s, width = %(width)s, size = %(size)s,
                   first_record = %(first_record)s, ragged_rows = %(ragged_rows)s,
                   source = %(source)s
               WHERE id = %(id)s RETURNING number""",
            {
                **asdict(meta),
                "first_record": orjson.dumps(meta.first_record).decode(),
                "source": meta.source.encode() if meta.source else None,
                "doc": document_id,
                "now": now,
                "id": pending_id,
            },
        ).fetchone()
        assert numbered is not None
        conn.execute(
            "UPDATE documents SET current_version = %s, updated_at = %s, accessed_at = %s,"
            " shared_page = CASE WHEN %s THEN shared_page ELSE 1 END WHERE id = %s",
            (pending_id, now, now, edited, document_id),
        )
        # delivered when this transaction commits, never before
        payload = encode(VersionCommitted(document_id, self.node, numbered[0], edited))
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        # read inside: the document as this commit left it, whatever another node does next
        row = conn.execute(Q.document, (document_id,)).fetchone()
        document = document_from_row(row)
        assert document is not None
        return document

    def abort_version(self, pending_id: int) -> None:
        with self._pool.connection() as conn:  # its blocks go with it (ON DELETE CASCADE)
            conn.execute("DELETE FROM versions WHERE id = %s AND number IS NULL", (pending_id,))

    def full(self) -> bool:
        return False  # the database server's disk: see Store.full

    def remove_pending(self, keep: Iterable[int]) -> None:
        with self._pool.connection() as conn:  # this node's only: others' are theirs to finish
            conn.execute(
                "DELETE FROM versions WHERE number IS NULL AND node = %s AND NOT id = ANY(%s)",
                (self.node, list(keep)),
            )

    def _fetch(self, query: str, params: Sequence[Any]) -> list[Any]:
        # in binary: bytea arrives as its bytes, not as hex text to decode
        return self._pool.read(query, params, binary=True)

    def _picked(self, version_id: int, numbers: list[int]) -> list[Any]:
        return self._fetch(f"{Q.own_blocks} AND b.block = ANY(%s)", (version_id, numbers))

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
        with self._pool.connection() as conn:
            conn.execute(Q.remove_if_empty, (document_id,))

    def remove_empty_documents(self, created_before: float, keep: Iterable[str]) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"""DELETE FROM documents d WHERE created_at < %s AND NOT (id = ANY(%s::text[]))
                    AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.document_id = d.id)
                    AND NOT ({_IN_USE}) RETURNING id""",
                (created_before, list(keep)),
            ).fetchall()
        return [document_id for (document_id,) in rows]

    def usage(self) -> Usage:
        with self._pool.connection() as conn:
            return sql.usage(conn)

    def touch(self, accessed: Mapping[str, float]) -> None:
        if not accessed:
            return
        with self._pool.transaction() as conn, conn.cursor() as cursor:
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
        with self._pool.transaction() as conn:
            usage = sql.usage(conn)
            if sql.nothing_to_remove(usage, accessed_before, max_documents, max_bytes):
                return []
            # Least recently used first, walked on the server by the accessed_at index a batch
            # at a time, so a sweep reads what it removes, not every document. Each row is
            # locked as it is read (a document being committed to is in use: skipped).
            with conn.cursor(name="tablecast_lru") as walk:
                walk.itersize = 64
                walk.execute(
                    f"""SELECT d.id, d.accessed_at, {sql.DOCUMENT_BYTES}
                        FROM documents d WHERE NOT ({_IN_USE})
                        ORDER BY d.accessed_at FOR UPDATE OF d SKIP LOCKED"""
                )
                removed = sql.least_used(
                    walk, usage, accessed_before, max_documents, max_bytes, keep
                )
            conn.execute("DELETE FROM documents WHERE id = ANY(%s::text[])", (removed,))
        return removed

    def checkpoint(self) -> None:
        pass  # PostgreSQL checkpoints by itself

    def close(self) -> None:
        self._pool.close()
        self.nodes.close()
