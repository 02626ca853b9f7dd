"""The one interface the rest of tablecast uses to reach what is kept (:class:`Store`), what
only a cluster's store keeps (:class:`Nodes`), and the rows both stores read and write.

A *document* is what a share link names; each upload to it becomes a new immutable *version*
(:mod:`tablecast.model`), its records kept in blocks (:mod:`tablecast.table.blocks`).

Store methods are synchronous and may block: callers run them off the event loop
(see :mod:`tablecast.service.storage`). A store may be called from several threads at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from ..model import Document, Source, Usage, Version, VersionMeta
from ..table.blocks import Block, Run
from ..table.changes import Change, Changed
from ..table.originals import Part, Rebuilt
from ..table.pieces import Pieces

OriginalRow = tuple[int, int, bytes, bool]


# A document and its current version, as both stores select it (each adds its WHERE clause in
# its own placeholder style), and the row made back into a Document.
VERSION_COLUMNS = """v.id, v.number, v.created_at, v.filename, v.encoding, v.delimiter,
       v.has_header, v.record_count, v.width, v.size, v.first_record, v.ragged_rows,
       v.source"""
DOCUMENT_SELECT = f"""
SELECT d.id, d.created_at, d.updated_at, d.shared_page, d.edit_key_hash, d.shared_view,
       {VERSION_COLUMNS}
FROM documents d LEFT JOIN versions v ON v.id = d.current_version
"""
# Committed versions of a document (each store adds its placeholder and the rest). Every
# lookup by document and number, one or a page, is a walk of versions_by_number, the unique
# index on (document_id, number): it reads the rows it returns, however many versions there are.
VERSIONS_SELECT = f"""
SELECT {VERSION_COLUMNS} FROM versions v
WHERE v.number IS NOT NULL AND v.document_id = """


def version_from_row(document_id: str, row: Sequence[Any]) -> Version:
    """A Version from VERSION_COLUMNS."""
    meta = VersionMeta(
        filename=row[3],
        encoding=row[4],
        delimiter=row[5],
        has_header=bool(row[6]),
        record_count=row[7],
        width=row[8],
        size=row[9],
        first_record=orjson.loads(row[10]),
        ragged_rows=row[11],
        source=Source.decode(row[12]),
    )
    return Version(row[0], document_id, row[1], row[2], meta)


def document_from_row(row: Sequence[Any] | None) -> Document | None:
    if row is None:
        return None
    version = version_from_row(row[0], row[6:]) if row[6] is not None else None
    return Document(row[0], row[1], row[2], row[3], version, row[4], row[5])


class Store(Protocol):
    """Every store keeps the same things the same way; a cluster's nodes share one store
    (PostgreSQL), and whatever one node changes that others show (a new version, the shared
    page, how many viewers it holds) the store announces to every node (see tablecast.bus), in
    the same transaction as the change, so no node hears of it before it can read it. A
    single-process store (SQLite) has nobody to tell, and keeps no viewer counts: its
    ``nodes`` is None."""

    # Reads quick enough to make on the event loop itself (local, cached by the OS), rather
    # than on a thread: see Pages.records_json (tablecast.service.pages).
    reads_inline: bool
    # This process among the nodes sharing the store (0 for a store only one process opens).
    node: int

    # What only a store that several nodes share keeps (see Nodes); None: one process only.
    @property
    def nodes(self) -> Nodes | None: ...

    def create_document(self, edit_key_hash: bytes | None) -> Document: ...

    def get_document(self, document_id: str) -> Document | None: ...

    def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        """What followers see: the page, of the view (JSON, "": plain; see tablecast.table.view).
        A new version keeps the view and goes back to page 1 (one that adds rows, to the
        version before, keeps the page too)."""
        ...

    def versions(self, document_id: str, limit: int, before: int | None = None) -> list[Version]:
        """Up to ``limit`` committed versions of the document, newest first: those numbered
        below ``before`` (None: from the newest). The next page is ``before`` the last one's
        number; each page reads only its own rows, however deep in the history it is."""
        ...

    def version(self, document_id: str, number: int) -> Version | None:
        """The committed version with this number (None: the document has none), read alone."""
        ...

    def share_blocks(self, version_id: int, pending_id: int) -> None:
        """Give a pending upload every block (and the original file) of a committed version,
        shared, not copied: restoring an old version makes a new one with the same records,
        without parsing or storing anything again."""
        ...

    def begin_version(self, document_id: str) -> int:
        """Start an upload; returns its pending id. Nothing of it is visible until commit."""
        ...

    def write_blocks(
        self,
        pending_id: int,
        blocks: Sequence[tuple[int, Block]],
        original: Sequence[tuple[int, Part]] = (),
    ) -> None:
        """Add blocks to a pending upload and, in the same transaction, ``original``: the
        next parts (numbered from 0) of the file exactly as it arrived, each its bytes or
        the records that give them back (see tablecast.table.originals)."""
        ...

    def read_original(self, version_id: int, first: int, count: int) -> list[Part]:
        """Parts ``first`` to ``first + count`` of the file as uploaded, in order (fewer at
        its end; none at all for a version uploaded before originals were kept)."""
        ...

    def commit_version(
        self, pending_id: int, meta: VersionMeta, pieces: Pieces | None = None
    ) -> Document:
        """Atomically number the version and make it current; returns the document after.
        ``pieces``: where its records are, where it shares some with another version of the
        document (see tablecast.table.reuse); None: in its own blocks, in order."""
        ...

    def append_rows(self, document_id: str, run: Run, widths: Sequence[int], size: int) -> Document:
        """Atomically, a new current version: the current one's records, then ``run``'s
        (records of ``widths`` cells, ``size`` bytes as sent). Appends commute: each adds to
        whatever version is current when it commits. It stores the new records alone, and
        shares the rest with the version it adds to (see store.sql.append_blocks). Raises
        version_not_found where the document has no version to add to."""
        ...

    def change_rows(self, document_id: str, change: Change, size: int) -> tuple[Document, Changed]:
        """Atomically, a new current version: the current one with ``change`` made (cells
        set, rows replaced, deleted or added; ``size`` bytes as sent), and what it did. It
        stores the rows it changes or adds alone, and where every row is (see
        tablecast.table.pieces). Rows are named as ``change.base`` numbered them, and
        followed to where they are now. A change that changes nothing (each cell set holds
        its value already) makes no version: the document is returned as it is. Raises
        version_not_found where the document has no version, row_not_found where a row named
        is not there (deleted since)."""
        ...

    def abort_version(self, pending_id: int) -> None: ...

    def remove_pending(self, keep: Iterable[int]) -> None:
        """Delete this node's pending versions but those in ``keep`` (uploads in progress):
        what a rollback or a recovery met a full disk for, and left, unseen, taking room."""
        ...

    def read_rows(self, version_id: int, start: int, stop: int) -> bytes:
        """Records ``start`` to ``stop`` (0-based, stop exclusive) as one JSON array."""
        ...

    def read_picked(self, version_id: int, records: Sequence[int]) -> bytes:
        """These records (0-based, in this order, from anywhere in the version) as one JSON
        array: a page of a sorted or searched view (see tablecast.table.view)."""
        ...

    def read_blocks(self, version_id: int, first: int, last: int) -> list[tuple[int, bytes, bytes]]:
        """Blocks ``first`` to ``last`` (numbers, both included; fewer at the version's end),
        in order, as read_all gives them: a version a piece at a time."""
        ...

    def read_all(self, version_id: int) -> list[tuple[int, bytes, bytes]]:
        """Every block (number, records, offsets), in order: the whole version, for
        tablecast.table.view."""
        ...

    def read_pieces(self, version_id: int) -> Pieces:
        """Where the version's records are kept, as pieces (see tablecast.table.pieces): its
        own, or its owner's records in order for a version that changed no rows."""
        ...

    def full(self) -> bool:
        """Whether the disk holding the store has no room for more (uploads are refused,
        pages still served): what /healthz says. A store whose disk is another server's
        cannot tell, and says False; its writes still answer storage_full when it is."""
        ...

    def checkpoint(self) -> None:
        """Tidy up after an upload's large writes (SQLite folds its WAL into the database).
        Called once the upload has ended and its version is out, so nobody waits for it."""
        ...

    def remove_document_if_empty(self, document_id: str) -> None:
        """Delete a document that has no version, committed or pending (its upload failed)."""
        ...

    def remove_empty_documents(self, created_before: float, keep: Iterable[str]) -> list[str]:
        """Delete documents never uploaded to, created before a time, not in ``keep``."""
        ...

    def usage(self) -> Usage: ...

    def touch(self, accessed: Mapping[str, float]) -> None:
        """Record when documents were last viewed (document id -> time)."""
        ...

    def remove_unused(
        self,
        accessed_before: float,
        max_documents: int | None,
        max_bytes: int | None,
        keep: Iterable[str],
    ) -> list[str]:
        """Delete documents not in ``keep`` (those with viewers) and with no upload in
        progress: every one last used before ``accessed_before``, then the least recently
        used until the store is within ``max_documents`` and ``max_bytes`` (None: no limit)."""
        ...

    def close(self) -> None: ...


class Nodes(Protocol):
    """A cluster's nodes, as the store they share knows them: only a store that several
    processes open has them (PostgreSQL; see tablecast.store.postgres.nodes)."""

    node: int  # this process among them

    def remove_abandoned(self) -> bool:
        """Forget what nodes that have stopped left behind: uploads they had in progress,
        and their viewer counts (announced as 0). True if this node had itself been cut off
        from the store long enough to look stopped: whatever it told the others (its viewer
        counts) it must tell again. (A store only one process opens has no nodes: it recovers
        its uploads when opened.)"""
        ...

    def save_viewers(self, counts: Mapping[str, int]) -> None:
        """How many viewers of each document this node holds now (0: none), for the other
        nodes' presence counts and so that no node evicts a document viewed elsewhere."""
        ...

    def viewers_elsewhere(self, document_ids: Iterable[str]) -> dict[str, dict[int, int]]:
        """Viewers of each document held by other nodes: document id -> node -> viewers
        (documents nobody else views are left out)."""
        ...

    def announce(self, payload: str) -> None:
        """Tell every node something no transaction carries (upload progress)."""
        ...


def original_rows(pending_id: int, parts: Sequence[tuple[int, Part]]) -> list[OriginalRow]:
    """Parts of an original file as the originals table holds them: (version_id, part,
    data, rebuilt), where a rebuilt part's data says how (see tablecast.table.originals)."""
    return [
        (pending_id, number, part, False)
        if isinstance(part, bytes)
        else (pending_id, number, part.encode(), True)
        for number, part in parts
    ]


def original_part(data: bytes, rebuilt: bool) -> Part:
    return Rebuilt.decode(data) if rebuilt else data
