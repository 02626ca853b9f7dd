"""What both stores do in the same SQL: written once, in either placeholder style.

Each function takes the store's placeholder (``?`` for SQLite, ``%s`` for PostgreSQL) or a
connection of either kind: sqlite3's and psycopg's both ``execute(sql, params)`` and return a
cursor with ``fetchone``. What differs between the stores (how they lock, batch or wait)
stays in each store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from ..model import Document, Usage
from ..table.blocks import Block, block_range, join_rows
from ..table.originals import Part
from .base import DOCUMENT_SELECT, VERSIONS_SELECT, OriginalRow, original_part, original_rows


class Cursor(Protocol):
    def fetchone(self) -> Any: ...


# A store's way to run a read: (query, parameters) -> its rows.
Fetch = Callable[[str, Sequence[Any]], Iterable[Any]]


class Connection(Protocol):
    """What sqlite3's and psycopg's connections share, as these functions use them."""

    def execute(self, query: Any, params: Any = ..., /) -> Cursor: ...


# Every committed version's bytes, and the documents: what storage limits count.
USAGE = (
    "SELECT (SELECT count(*) FROM documents),"
    " (SELECT CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) FROM versions"
    " WHERE number IS NOT NULL)"
)
# A document's bytes, as the LRU walk selects it beside d.id and d.accessed_at.
DOCUMENT_BYTES = """(SELECT CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) FROM versions v
                    WHERE v.document_id = d.id)"""


def usage(conn: Connection) -> Usage:
    row = conn.execute(USAGE).fetchone()
    assert row is not None
    return Usage(row[0], row[1])


def least_used(
    rows: Iterable[tuple[str, float, int]],
    usage: Usage,
    accessed_before: float,
    max_documents: int | None,
    max_bytes: int | None,
    keep: Iterable[str],
) -> list[str]:
    """From (document id, last used, bytes), least recently used first: those to remove,
    every one last used before ``accessed_before`` and then as many as take the store within
    its limits. Stops at the first that may stay, so a walk reads only what it removes."""
    keep = set(keep)
    removed = []
    for document_id, accessed_at, stored in rows:
        if document_id in keep:
            continue
        if accessed_at >= accessed_before and not usage.over(max_documents, max_bytes):
            break
        removed.append(document_id)
        usage = Usage(usage.documents - 1, usage.stored_bytes - stored)
    return removed


def nothing_to_remove(
    usage: Usage, accessed_before: float, max_documents: int | None, max_bytes: int | None
) -> bool:
    """Within the limits, and no time limit: the LRU walk need not start."""
    return not usage.over(max_documents, max_bytes) and not accessed_before


def owner(p: str) -> str:
    """The version whose blocks and original file a version's are, as SQL: itself, or the
    version it shares them with (``blocks_of``: a restore's). Never a chain: a version shares
    with an owner, never with another that shares (see share_version)."""
    return f"(SELECT COALESCE(blocks_of, id) FROM versions WHERE id = {p})"


def share_version(conn: Connection, p: str, version_id: int, pending_id: int) -> None:
    """A pending upload takes a committed version's blocks and original file, shared, not
    copied: it stores none of its own (its stored_bytes stay 0), and reads the owner's (see
    Store.share_blocks)."""
    conn.execute(
        f"UPDATE versions SET blocks_of = {owner(p)} WHERE id = {p}", (version_id, pending_id)
    )


class Batch:
    """One write_blocks call's rows, and the bytes it adds to its version."""

    def __init__(
        self,
        pending_id: int,
        blocks: Sequence[tuple[int, Block]],
        original: Sequence[tuple[int, Part]],
    ) -> None:
        self.pending_id = pending_id
        self.blocks = [(pending_id, n, block.records, block.offsets) for n, block in blocks]
        self.originals: list[OriginalRow] = original_rows(pending_id, original)
        self.bytes = sum(len(block.records) + len(block.offsets) for _, block in blocks) + sum(
            len(row[2]) for row in self.originals
        )

    def count(self, conn: Connection, p: str) -> None:
        """In the transaction that writes them: the version's stored_bytes grows by them."""
        conn.execute(
            f"UPDATE versions SET stored_bytes = stored_bytes + {p} WHERE id = {p}",
            (self.bytes, self.pending_id),
        )


class Queries:
    """The statements both stores make, in one placeholder style."""

    def __init__(self, p: str) -> None:
        self.document = DOCUMENT_SELECT + f"WHERE d.id = {p}"
        # By versions_by_number, newest first (see VERSIONS_SELECT); the tests check the plans.
        self.version = VERSIONS_SELECT + f"{p} AND v.number = {p}"
        self.versions = VERSIONS_SELECT + f"{p} ORDER BY v.number DESC LIMIT {p}"
        self.versions_before = (
            VERSIONS_SELECT + f"{p} AND v.number < {p} ORDER BY v.number DESC LIMIT {p}"
        )
        self.insert_document = (
            "INSERT INTO documents (id, created_at, updated_at, accessed_at, edit_key_hash)"
            f" VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self.blocks = (
            "SELECT block, records, offsets FROM blocks"
            f" WHERE version_id = {owner(p)} AND block BETWEEN {p} AND {p} ORDER BY block"
        )
        self.all_blocks = (
            "SELECT block, records, offsets FROM blocks"
            f" WHERE version_id = {owner(p)} ORDER BY block"
        )
        self.original = (
            f"SELECT data, rebuilt FROM originals WHERE version_id = {owner(p)} AND part >= {p}"
            f" ORDER BY part LIMIT {p}"
        )
        self.insert_originals = (
            f"INSERT INTO originals (version_id, part, data, rebuilt) VALUES ({p}, {p}, {p}, {p})"
        )
        # a document with no version, committed or pending
        self.remove_if_empty = f"""DELETE FROM documents WHERE id = {p}
               AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.document_id = documents.id)"""


def new_document(edit_key_hash: bytes | None) -> tuple[Document, tuple[object, ...]]:
    """A document not yet uploaded to, and its row for Queries.insert_document."""
    now = time.time()
    document = Document(str(uuid.uuid4()), now, now, 1, None, edit_key_hash)
    return document, (document.id, now, now, now, edit_key_hash)


def read_rows(fetch: Fetch, q: Queries, version_id: int, start: int, stop: int) -> bytes:
    """See Store.read_rows: only the blocks that hold them are read."""
    if stop <= start:
        return b"[]"
    first, last = block_range(start, stop)
    return join_rows(fetch(q.blocks, (version_id, first, last)), start, stop)


def read_original(fetch: Fetch, q: Queries, version_id: int, first: int, count: int) -> list[Part]:
    """See Store.read_original."""
    return [
        original_part(data, rebuilt)
        for data, rebuilt in fetch(q.original, (version_id, first, count))
    ]
