"""One upload on its way into the store: parse each chunk, group records into blocks, write.

Synchronous and CPU-bound; :mod:`tablecast.documents` runs it on the store's writer thread so
the event loop keeps serving viewers. Nothing here is visible to readers before :meth:`finish`
commits; :meth:`abort` (or a crash, through the store's recovery) leaves no trace.
"""

from __future__ import annotations

from .errors import TablecastError
from .parsing import ParseOptions, TableParser
from .store.base import (
    BLOCK_RECORDS,
    Document,
    Store,
    VersionMeta,
    encode_block,
    record_cells,
)


class Ingest:
    def __init__(
        self,
        store: Store,
        document_id: str,
        *,
        filename: str,
        has_header: bool,
        options: ParseOptions,
        max_bytes: int,
    ) -> None:
        self.store = store
        self.filename = filename
        self.has_header = has_header
        self.max_bytes = max_bytes
        self.parser = TableParser(options)
        self.pending_id = store.begin_version(document_id)
        self._records: list[str] = []  # the blocks being filled
        self._blocks_written = 0
        self._first_record: list[str] | None = None

    @property
    def received(self) -> int:
        return self.parser.bytes_in

    @property
    def records(self) -> int:
        return self.parser.records

    def feed(self, data: bytes) -> None:
        if self.parser.bytes_in + len(data) > self.max_bytes:
            raise TablecastError(
                "too_large", f"the file is larger than the limit of {self.max_bytes} bytes"
            )
        self._add(self.parser.feed(data))

    def finish(self) -> Document:
        self._add(self.parser.close())
        self._write(final=True)
        assert self.parser.encoding is not None and self.parser.delimiter is not None
        meta = VersionMeta(
            filename=self.filename,
            encoding=self.parser.encoding,
            delimiter=self.parser.delimiter,
            has_header=self.has_header,
            record_count=self.parser.records,
            width=self.parser.max_width,
            size=self.parser.bytes_in,
            first_record=self._first_record or [],
        )
        return self.store.commit_version(self.pending_id, meta)

    def abort(self) -> None:
        self.store.abort_version(self.pending_id)

    def _add(self, records: list[str]) -> None:
        if not records:
            return
        if self._first_record is None:
            self._first_record = record_cells(records[0])
        self._records.extend(records)
        if len(self._records) >= BLOCK_RECORDS:
            self._write(final=False)

    def _write(self, final: bool) -> None:
        """Write every full block (and, at the end, the last partial one) in one transaction."""
        full = len(self._records) // BLOCK_RECORDS * BLOCK_RECORDS
        cut = len(self._records) if final else full
        if cut == 0:
            return
        blocks = [
            (self._blocks_written + i, encode_block(self._records[start : start + BLOCK_RECORDS]))
            for i, start in enumerate(range(0, cut, BLOCK_RECORDS))
        ]
        self.store.write_blocks(self.pending_id, blocks)
        self._blocks_written += len(blocks)
        del self._records[:cut]
