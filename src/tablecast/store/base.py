"""What every store keeps, and the one interface the rest of tablecast uses to reach it.

A *document* is what a share link names. Each upload to it becomes a new immutable *version*;
the document points at its current one. A version keeps every non-blank record of the file,
the first one included, in *blocks* of :data:`BLOCK_RECORDS` records, each record already
encoded as a JSON array so that a page is served by joining bytes, with no parsing at all.

Store methods are synchronous and may block: callers run them off the event loop
(see :mod:`tablecast.documents`). A store may be called from several threads at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

BLOCK_RECORDS = 256


@dataclass(frozen=True)
class VersionMeta:
    """What an upload learned about its file, saved when the version is committed."""

    filename: str
    encoding: str
    delimiter: str
    has_header: bool
    record_count: int  # non-blank records, the first one included
    width: int  # cells in the widest record
    size: int  # bytes received
    first_record: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Version:
    id: int  # the store's own key; users see ``number``
    document_id: str
    number: int  # 1, 2, 3... per document
    created_at: float
    meta: VersionMeta

    @property
    def data_rows(self) -> int:
        """Rows under the header: what the HTTP API and tablecast.v1 count."""
        return self.meta.record_count - (1 if self.meta.has_header else 0)

    @property
    def columns(self) -> list[str]:
        """The header's names, numbered past its end; 1..n when the file has no header."""
        header = self.meta.first_record if self.meta.has_header else []
        return header + [str(i + 1) for i in range(len(header), self.meta.width)]


@dataclass(frozen=True)
class Document:
    id: str
    created_at: float
    updated_at: float
    shared_page: int
    version: Version | None  # None until the first upload is committed


class Store(Protocol):
    def create_document(self) -> Document: ...

    def get_document(self, document_id: str) -> Document | None: ...

    def set_shared_page(self, document_id: str, page_no: int) -> None: ...

    def begin_version(self, document_id: str) -> int:
        """Start an upload; returns its pending id. Nothing of it is visible until commit."""
        ...

    def write_blocks(self, pending_id: int, blocks: Sequence[tuple[int, bytes]]) -> None: ...

    def commit_version(self, pending_id: int, meta: VersionMeta) -> Document:
        """Atomically number the version and make it current; returns the document after."""
        ...

    def abort_version(self, pending_id: int) -> None: ...

    def read_records(self, version_id: int, start: int, stop: int) -> list[bytes]:
        """Records ``start`` to ``stop`` (0-based, stop exclusive) as JSON arrays."""
        ...

    def remove_document_if_empty(self, document_id: str) -> None:
        """Delete a document that has no version, committed or pending (its upload failed)."""
        ...

    def remove_empty_documents(self, created_before: float, keep: Iterable[str]) -> list[str]:
        """Delete documents never uploaded to, created before a time, not in ``keep``."""
        ...

    def close(self) -> None: ...


def encode_block(records: Iterable[list[str]]) -> bytes:
    """One JSON array per line: orjson escapes line breaks inside cells, so lines are records."""
    return b"\n".join(map(orjson.dumps, records))


def decode_block(blob: bytes) -> list[bytes]:
    return blob.split(b"\n")


def block_range(start: int, stop: int) -> tuple[int, int]:
    """The first and last block holding records ``start`` to ``stop`` (exclusive)."""
    return start // BLOCK_RECORDS, (stop - 1) // BLOCK_RECORDS


def slice_blocks(blocks: Iterable[tuple[int, bytes]], start: int, stop: int) -> list[bytes]:
    """From (block number, blob) pairs in order, the records ``start`` to ``stop``."""
    records: list[bytes] = []
    first = None
    for number, blob in blocks:
        if first is None:
            first = number
        records.extend(decode_block(blob))
    if first is None:
        return []
    offset = start - first * BLOCK_RECORDS
    return records[offset : offset + (stop - start)]
