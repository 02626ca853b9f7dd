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
from dataclasses import replace
from typing import Any, Protocol

from ..model import Document, Usage, VersionMeta
from ..table.blocks import BLOCK_RECORDS, Block, Run, block_range, cut, extended, join_rows
from ..table.originals import Part
from .base import (
    DOCUMENT_SELECT,
    VERSION_COLUMNS,
    VERSIONS_SELECT,
    OriginalRow,
    original_part,
    original_rows,
    version_from_row,
)


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


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


def append_blocks(conn: Connection, p: str, base_id: int, version_id: int, run: Run) -> int:
    """In the caller's transaction, which holds the document: the records of ``run`` after
    those of committed version ``base_id``, for pending version ``version_id`` (see
    Store.append_rows); the bytes this stores.

    Where the base is the longest version of its blocks' series (the versions sharing one
    owner's blocks: an upload, and what was appended to it), the new records go where the
    series ends, under the owner: the last block is filled up (older versions read only their
    own records of it), then new blocks follow, and the new version shares them all. Else (a
    version restored, then added to) the base's records are copied into a series of the new
    version's own first."""
    found = conn.execute(
        f"SELECT COALESCE(blocks_of, id), record_count, document_id FROM versions WHERE id = {p}",
        (base_id,),
    ).fetchone()
    assert found is not None
    owner, count, document_id = found
    # (the document's versions, by versions_by_number: a series is a document's)
    (longest,) = conn.execute(
        f"SELECT MAX(record_count) FROM versions WHERE document_id = {p}"
        f" AND number IS NOT NULL AND COALESCE(blocks_of, id) = {p}",
        (document_id, owner),
    ).fetchone()
    insert = f"INSERT INTO blocks (version_id, block, records, offsets) VALUES ({p}, {p}, {p}, {p})"
    stored = 0
    if count == longest:
        series = owner
    else:
        series = version_id
        for number, records, offsets in own(
            (*row, count)
            for row in conn.execute(
                f"SELECT block, records, offsets FROM blocks WHERE version_id = {p}"
                f" AND block <= {p} ORDER BY block",
                (owner, (count - 1) // BLOCK_RECORDS),
            ).fetchall()
        ):
            conn.execute(insert, (series, number, records, offsets))
            stored += len(records) + len(offsets)
    tail, within = divmod(count, BLOCK_RECORDS)
    taken = 0
    if within:  # the last block, filled up
        row = conn.execute(
            f"SELECT records, offsets FROM blocks WHERE version_id = {p} AND block = {p}",
            (series, tail),
        ).fetchone()
        assert row is not None
        records, offsets = cut(bytes(row[0]), bytes(row[1]), within)
        taken = min(len(run), BLOCK_RECORDS - within)
        block = extended(records, offsets, run, taken)
        conn.execute(
            f"UPDATE blocks SET records = {p}, offsets = {p}"
            f" WHERE version_id = {p} AND block = {p}",
            (block.records, block.offsets, series, tail),
        )
        stored += len(block.records) + len(block.offsets) - len(records) - len(offsets)
        tail += 1
    rest = run.after(taken)
    for number, block in enumerate(rest.blocks(len(rest)), start=tail):
        conn.execute(insert, (series, number, block.records, block.offsets))
        stored += len(block.records) + len(block.offsets)
    conn.execute(
        f"UPDATE versions SET blocks_of = {p}, stored_bytes = {p} WHERE id = {p}",
        (series if series != version_id else None, stored, version_id),
    )
    return stored


def appended_meta(row: Sequence[Any], widths: Sequence[int], size: int) -> VersionMeta:
    """The meta of a version that adds records of ``widths`` cells, ``size`` bytes as sent,
    to the version of VERSION_COLUMNS ``row``: as long as both, as wide as the widest, its
    ragged rows counted against its first record (unless they never were)."""
    base = version_from_row("", row).meta
    first = len(base.first_record)
    ragged = (
        None if base.ragged_rows is None else base.ragged_rows + sum(w != first for w in widths)
    )
    return replace(
        base,
        record_count=base.record_count + len(widths),
        width=max(base.width, *widths) if widths else base.width,
        size=base.size + size,
        ragged_rows=ragged,
    )


def own(rows: Iterable[Sequence[Any]]) -> list[tuple[int, bytes, bytes]]:
    """Blocks read with Queries.own_blocks, as the version reads them: cut to its own
    records, however many later versions added to the last of them (see append_blocks)."""
    found = []
    for block, records, offsets, reads in rows:
        if reads is not None:
            keep = reads - block * BLOCK_RECORDS
            if keep <= 0:
                continue
            records, offsets = cut(bytes(records), bytes(offsets), keep)
        found.append((block, records, offsets))
    return found


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
        # A version's blocks, where they are (its owner's: see owner), each with how many
        # records the version reads (its record_count; NULL for a pending upload, whose
        # blocks are all its own): see own
        self.own_blocks = (
            "SELECT b.block, b.records, b.offsets,"
            " CASE WHEN v.number IS NULL THEN NULL ELSE v.record_count END"
            " FROM versions v JOIN blocks b ON b.version_id = COALESCE(v.blocks_of, v.id)"
            f" WHERE v.id = {p}"
        )
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
        self.blocks = f"{self.own_blocks} AND b.block BETWEEN {p} AND {p} ORDER BY b.block"
        self.all_blocks = f"{self.own_blocks} ORDER BY b.block"
        # the current version of a document, as rows are added to it
        self.current = (
            f"SELECT {VERSION_COLUMNS} FROM documents d JOIN versions v ON v.id = d.current_version"
            f" WHERE d.id = {p}"
        )
        # (a version that rows were added to has no file as uploaded: only a version holding
        # its owner's records, the owner or a restore of it, reads the owner's; a pending one
        # is not counted yet)
        self.original = (
            "SELECT data, rebuilt FROM originals WHERE version_id = (SELECT o.id FROM versions v"
            " JOIN versions o ON o.id = COALESCE(v.blocks_of, v.id)"
            f" WHERE v.id = {p} AND (v.number IS NULL OR o.record_count = v.record_count))"
            f" AND part >= {p} ORDER BY part LIMIT {p}"
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
    return join_rows(own(fetch(q.blocks, (version_id, first, last))), start, stop)


def read_original(fetch: Fetch, q: Queries, version_id: int, first: int, count: int) -> list[Part]:
    """See Store.read_original."""
    return [
        original_part(data, rebuilt)
        for data, rebuilt in fetch(q.original, (version_id, first, count))
    ]
