"""What both stores do in the same SQL: written once, in either placeholder style.

Each function takes the store's placeholder (``?`` for SQLite, ``%s`` for PostgreSQL) or a
connection of either kind: sqlite3's and psycopg's both ``execute(sql, params)`` and return a
cursor with ``fetchone``. What differs between the stores (how they lock, batch or wait)
stays in each store.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any, Protocol

import numpy as np
import orjson

from ..errors import TablecastError
from ..model import Document, Usage, VersionMeta
from ..table import changes
from ..table.blocks import (
    BLOCK_RECORDS,
    Block,
    Run,
    block_range,
    blocks_of,
    cut,
    extended,
    gathered,
    join_rows,
    pick_rows,
    run_of,
)
from ..table.originals import Part
from ..table.pieces import CHUNK_LIST, CHUNKED, PIECE_BYTES, Pieces, chunk_id, chunked, listed
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
        f"UPDATE versions SET blocks_of = {owner(p)},"
        f" pieces = (SELECT pieces FROM versions WHERE id = {p}) WHERE id = {p}",
        (version_id, version_id, pending_id),
    )


def append_blocks(conn: Connection, p: str, base_id: int, version_id: int, run: Run) -> int:
    """In the caller's transaction, which holds the document: the records of ``run`` after
    those of committed version ``base_id``, for pending version ``version_id`` (see
    Store.append_rows); the bytes this stores.

    Where the base's records end where its owner's blocks end (an upload, or what was appended
    to it: a *series*), the new records go there, under the owner: the last block is filled
    up (older versions read only their own records of it), then new blocks follow, and the new
    version shares them all, as a restore does. Else (a version restored, then added to, or
    one with rows changed: see tablecast.table.pieces) the new version says where its rows
    are: the base's, and the new ones, where its last piece's blocks end if they end there,
    else in blocks of its own. Nothing is ever copied."""
    q = queries(p)
    fetch = _fetching(conn)
    found = conn.execute(q.pieces, (base_id,)).fetchone()
    assert found is not None
    pieces = _pieces_of(fetch, q, found)
    if found[0] is None and found[3] == series_length(fetch, q, found[2]):
        stored = _extend(conn, p, found[2], found[3], run)
        conn.execute(
            f"UPDATE versions SET blocks_of = {p}, stored_bytes = {p} WHERE id = {p}",
            (found[2], stored, version_id),
        )
        return stored
    last = len(pieces) - 1
    end = int(pieces.starts[last] + pieces.counts[last]) if len(pieces) else -1
    if len(pieces) and end == series_length(fetch, q, int(pieces.owners[last])):
        series = int(pieces.owners[last])
        stored = _extend(conn, p, series, end, run)
        pieces = pieces.changed(version_id, _NONE, _NONE, len(run), (series, end))
    else:
        stored = _extend(conn, p, version_id, 0, run)
        pieces = pieces.changed(version_id, _NONE, _NONE, len(run))
    return stored + _set_pieces(conn, p, version_id, pieces, stored)


_NONE = np.zeros(0, np.int64)


def series_length(fetch: Fetch, q: Queries, owner: int) -> int:
    """How many records ``owner``'s blocks hold: where rows added to its series go."""
    for block, offsets in fetch(q.series_end, (owner,)):
        return int(block) * BLOCK_RECORDS + len(offsets) // 4
    return 0


def _extend(conn: Connection, p: str, series: int, length: int, run: Run) -> int:
    """``run``'s records stored after the first ``length`` of ``series``'s blocks, where they
    end (see append_blocks); the bytes this adds."""
    insert = f"INSERT INTO blocks (version_id, block, records, offsets) VALUES ({p}, {p}, {p}, {p})"
    tail, within = divmod(length, BLOCK_RECORDS)
    taken = stored = 0
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
    return stored


def _set_pieces(conn: Connection, p: str, version_id: int, pieces: Pieces, stored: int) -> int:
    """A pending version's pieces kept, with what it stores (its records' ``stored`` bytes and
    its pieces'); the bytes the pieces take."""
    kept, size = keep_pieces(conn, p, version_id, pieces)
    conn.execute(
        f"UPDATE versions SET pieces = {p}, stored_bytes = {p} WHERE id = {p}",
        (kept, stored + size, version_id),
    )
    return size


def add_pieces(conn: Connection, p: str, version_id: int, pieces: Pieces) -> None:
    """A pending upload's pieces kept (see tablecast.table.reuse), counted with its blocks."""
    kept, size = keep_pieces(conn, p, version_id, pieces)
    conn.execute(
        f"UPDATE versions SET pieces = {p}, stored_bytes = stored_bytes + {p} WHERE id = {p}",
        (kept, size, version_id),
    )


def keep_pieces(conn: Connection, p: str, version_id: int, pieces: Pieces) -> tuple[bytes, int]:
    """In the caller's transaction: what ``versions.pieces`` keeps of a pending version's
    pieces, and the bytes they cost. Fewer than CHUNKED: the pieces themselves. Else a list
    of chunks (see tablecast.table.pieces.chunked), kept by its document once each: only
    those no version of it keeps yet are stored (a change of a few rows of a much changed
    table: a chunk or two, and the list). A chunk whose name a different chunk has (a hash
    collision: every one is compared) keeps the pieces whole."""
    encoded = pieces.encode()
    if len(pieces) < CHUNKED:
        return encoded, len(encoded)
    chunks = chunked(pieces)
    ids = [chunk_id(chunk) for chunk in chunks]
    row = conn.execute(f"SELECT document_id FROM versions WHERE id = {p}", (version_id,))
    (document_id,) = row.fetchone()
    there = _chunks(_fetching(conn), p, document_id, ids)
    named = dict(there)
    for name, chunk in zip(ids, chunks, strict=True):
        if named.setdefault(name, chunk) != chunk:  # (kept, or another of these, by that name)
            return encoded, len(encoded)
    stored = 0
    for name, chunk in named.items():
        if name not in there:
            conn.execute(
                f"INSERT INTO piece_chunks (document_id, chunk, data) VALUES ({p}, {p}, {p})",
                (document_id, name, chunk),
            )
            stored += len(chunk)
    listing = CHUNK_LIST + b"".join(ids)
    return listing, stored + len(listing)


# Chunks named in one query at most
CHUNKS_ASKED = 500


def _chunks(fetch: Fetch, p: str, document_id: str, ids: Sequence[bytes]) -> dict[bytes, bytes]:
    """The chunks of these names the document keeps (name -> bytes)."""
    found: dict[bytes, bytes] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNKS_ASKED):
        asked = unique[start : start + CHUNKS_ASKED]
        query = (
            f"SELECT chunk, data FROM piece_chunks WHERE document_id = {p}"
            f" AND chunk IN ({', '.join([p] * len(asked))})"
        )
        for name, data in fetch(query, (document_id, *asked)):
            found[bytes(name)] = bytes(data)
    return found


def pieces_from(fetch: Fetch, p: str, document_id: str, kept: bytes) -> Pieces:
    """A version's pieces from what ``versions.pieces`` keeps (see keep_pieces)."""
    ids = listed(kept)
    if ids is None:
        return Pieces.decode(kept)
    found = _chunks(fetch, p, document_id, ids)
    return Pieces.decode(b"".join(found[name] for name in ids))


def change_blocks(
    conn: Connection,
    p: str,
    base_row: Sequence[Any],
    version_id: int,
    change: changes.Change,
    size: int,
) -> tuple[VersionMeta, changes.Changed]:
    """In the caller's transaction, which holds the document: ``change`` made to committed
    version ``base_row`` (VERSION_COLUMNS: the current one) for pending version
    ``version_id``, which stores the rows it changes and adds, and its pieces (see
    tablecast.table.changes); its meta, and what the change did. Raises Unchanged, for the
    caller to roll back, where it changes nothing."""
    q = queries(p)
    fetch = _fetching(conn)
    base = version_from_row("", base_row)
    if change.keyed and change.base != base.id:
        raise changes.Stale()
    now = _pieces_of(fetch, q, conn.execute(q.pieces, (base.id,)).fetchone())
    then = now
    if change.base != base.id:
        row = conn.execute(q.pieces, (change.base,)).fetchone()
        if row is None or row[1] is None:
            raise TablecastError("version_not_found", "the version the change names is gone")
        then = _pieces_of(fetch, q, row)

    def read(pieces: Pieces, records: np.ndarray) -> list[list[str]]:
        return cells_at(fetch, q, pieces, records)

    plan = changes.plan(change, then, now, read, version_id)
    if plan.empty:
        raise changes.Unchanged(plan.changed)
    stored = _extend(conn, p, version_id, 0, run_of(plan.records))
    _set_pieces(conn, p, version_id, plan.pieces, stored)
    meta = base.meta
    first = meta.first_record
    if plan.first_changed:
        first = read(plan.pieces, np.zeros(1, np.int64))[0] if plan.pieces.total else []
    ragged = meta.ragged_rows
    if plan.first_changed:
        ragged = None  # (counted against a first record that changed: not counted)
    elif ragged is not None:
        wide = len(first)
        ragged += sum(w != wide for w in plan.widths) - sum(w != wide for w in plan.old_widths)
    meta = replace(
        meta,
        record_count=plan.pieces.total,
        width=max(meta.width, *plan.widths) if plan.widths else meta.width,
        size=meta.size + size,
        first_record=first,
        ragged_rows=ragged,
    )
    return meta, plan.changed


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


def _fetching(conn: Connection) -> Fetch:
    def fetch(query: str, params: Sequence[Any]) -> list[Any]:
        return conn.execute(query, params).fetchall()

    return fetch


def _pieces_of(fetch: Fetch, q: Queries, row: Sequence[Any]) -> Pieces:
    """A version's pieces from Queries.pieces' row: kept, or its owner's records in order."""
    if row[0] is not None:
        return pieces_from(fetch, q.p, row[4], bytes(row[0]))
    return Pieces.whole(row[2], row[3])


def pieced_blocks(
    fetch: Fetch, q: Queries, pieces: Pieces, numbers: Iterable[int]
) -> list[tuple[int, bytes, bytes]]:
    """Blocks ``numbers`` of a version of these pieces, as read_all gives a version's blocks:
    made from its records, wherever they are kept (its owners' blocks are read a run of
    them at a time)."""
    wanted = _spans(sorted(set(numbers)))
    segments = [
        pieces.segments(first * BLOCK_RECORDS, (last + 1) * BLOCK_RECORDS) for first, last in wanted
    ]
    needed: dict[int, set[int]] = {}
    for owner, place, count in (s for found in segments for s in found):
        needed.setdefault(owner, set()).update(
            range(place // BLOCK_RECORDS, (place + count - 1) // BLOCK_RECORDS + 1)
        )
    kept: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    for owner, numbers_there in needed.items():
        for first, last in _spans(sorted(numbers_there)):
            for block, records, offsets in fetch(q.owner_blocks, (owner, first, last)):
                kept[(owner, block)] = (bytes(records), bytes(offsets))
    made = []
    for (first, _), found in zip(wanted, segments, strict=True):
        run = gathered(found, kept)
        for i, block in enumerate(run.blocks(len(run))):
            made.append((first + i, block.records, block.offsets))
    return made


def _spans(numbers: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted numbers as runs of consecutive ones, (first, last)."""
    spans: list[tuple[int, int]] = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1] = (spans[-1][0], number)
        else:
            spans.append((number, number))
    return spans


def cells_at(fetch: Fetch, q: Queries, pieces: Pieces, records: np.ndarray) -> list[list[str]]:
    """The cells of these records of a version of these pieces."""
    picked = records.tolist()
    blocks = pieced_blocks(fetch, q, pieces, blocks_of(picked))
    found: list[list[str]] = orjson.loads(pick_rows(blocks, picked))
    return found


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
        self.p = p
        # A version's blocks, where they are (its owner's: see owner), each with how many
        # records the version reads (its record_count; NULL for a pending upload, whose
        # blocks are all its own): see own
        self.own_blocks = (
            "SELECT b.block, b.records, b.offsets,"
            " CASE WHEN v.number IS NULL THEN NULL ELSE v.record_count END"
            " FROM versions v JOIN blocks b ON b.version_id = COALESCE(v.blocks_of, v.id)"
            f" WHERE v.id = {p}"
        )
        # where a version's records are: its pieces (NULL: its owner's, in order), whether it
        # is committed, its owner, its records, its document (see _pieces_of)
        self.pieces = (
            "SELECT pieces, number, COALESCE(blocks_of, id), record_count, document_id"
            f" FROM versions WHERE id = {p}"
        )
        self.owner_blocks = (
            "SELECT block, records, offsets FROM blocks"
            f" WHERE version_id = {p} AND block BETWEEN {p} AND {p} ORDER BY block"
        )
        self.series_end = (
            "SELECT block, offsets FROM blocks WHERE version_id = {p} ORDER BY block DESC LIMIT 1"
        ).replace("{p}", p)
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


@cache
def queries(p: str) -> Queries:
    return Queries(p)


def new_document(edit_key_hash: bytes | None) -> tuple[Document, tuple[object, ...]]:
    """A document not yet uploaded to, and its row for Queries.insert_document."""
    now = time.time()
    document = Document(str(uuid.uuid4()), now, now, 1, None, edit_key_hash)
    return document, (document.id, now, now, now, edit_key_hash)


# Versions whose pieces a store keeps in memory at most (a few KiB each, most None), and their
# pieces' bytes at most (a much changed table's are some MiB a version)
PIECES_KEPT = 4096
PIECES_KEPT_BYTES = 64 << 20


class Reads:
    """How both stores read a version's records. Most versions' are their owner's blocks in
    order: one query reads them, cut to the version's own (see own). A version that changed
    rows reads them through its pieces (see pieced_blocks), kept here once read: a committed
    version never changes, and no store gives its id to another (PostgreSQL's identity;
    SQLite's counter, see sqlite._add_counters)."""

    def __init__(
        self, q: Queries, fetch: Fetch, picked: Callable[[int, list[int]], Iterable[Any]]
    ) -> None:
        """``picked(version_id, numbers)``: those blocks, as Queries.own_blocks reads them."""
        self.q = q
        self._fetch = fetch
        self._picked = picked
        self._kept: dict[int, Pieces | None] = {}
        self._kept_bytes = 0
        self._lock = threading.Lock()

    def pieces(self, version_id: int) -> Pieces | None:
        """The version's pieces; None: its owner's records, in order."""
        try:
            return self._kept[version_id]
        except KeyError:
            pass
        found = None
        committed = False
        for row in self._fetch(self.q.pieces, (version_id,)):
            found = None if row[0] is None else _pieces_of(self._fetch, self.q, row)
            committed = row[1] is not None
        if committed:
            size = len(found) * PIECE_BYTES if found is not None else 0
            with self._lock:
                self._kept[version_id] = found
                self._kept_bytes += size
                while len(self._kept) > PIECES_KEPT or self._kept_bytes > PIECES_KEPT_BYTES:
                    gone = self._kept.pop(next(iter(self._kept)))
                    self._kept_bytes -= len(gone) * PIECE_BYTES if gone is not None else 0
        return found

    def layout(self, version_id: int) -> Pieces:
        """See Store.read_pieces."""
        for row in self._fetch(self.q.pieces, (version_id,)):
            return _pieces_of(self._fetch, self.q, row)
        return Pieces.of([])

    def blocks(self, version_id: int, first: int, last: int) -> list[tuple[int, bytes, bytes]]:
        """See Store.read_blocks."""
        pieces = self.pieces(version_id)
        if pieces is None:
            return own(self._fetch(self.q.blocks, (version_id, first, last)))
        return pieced_blocks(self._fetch, self.q, pieces, range(first, last + 1))

    def all(self, version_id: int) -> list[tuple[int, bytes, bytes]]:
        """See Store.read_all."""
        pieces = self.pieces(version_id)
        if pieces is None:
            return own(self._fetch(self.q.all_blocks, (version_id,)))
        last = (pieces.total - 1) // BLOCK_RECORDS
        return pieced_blocks(self._fetch, self.q, pieces, range(0, last + 1))

    def rows(self, version_id: int, start: int, stop: int) -> bytes:
        """See Store.read_rows: only the blocks that hold them are read."""
        if stop <= start:
            return b"[]"
        return join_rows(self.blocks(version_id, *block_range(start, stop)), start, stop)

    def picked(self, version_id: int, records: Sequence[int]) -> bytes:
        """See Store.read_picked."""
        if not records:
            return b"[]"
        numbers = blocks_of(records)
        pieces = self.pieces(version_id)
        if pieces is None:
            return pick_rows(own(self._picked(version_id, numbers)), records)
        return pick_rows(pieced_blocks(self._fetch, self.q, pieces, numbers), records)


def read_original(fetch: Fetch, q: Queries, version_id: int, first: int, count: int) -> list[Part]:
    """See Store.read_original."""
    return [
        original_part(data, rebuilt)
        for data, rebuilt in fetch(q.original, (version_id, first, count))
    ]
