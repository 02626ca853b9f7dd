"""One upload on its way into the store: parse each chunk, group records into blocks, write.
Records the document's current version holds already are not written again: the new version
says where they are (see tablecast.table.reuse).

A file that is not delimited text (a workbook, Parquet, Arrow, JSON: see
tablecast.table.formats), known by its first bytes, is kept in a file as it arrives instead,
read once it has ended by the reader process (tablecast.service.reading), and its records
added as that hands them back (:meth:`add_records`), the same way from there on.

Synchronous and CPU-bound; :mod:`tablecast.service.upload` runs it on the store's writer
thread so the event loop keeps serving viewers. Nothing here is visible to readers before
:meth:`finish` commits; :meth:`abort` (or a crash, through the store's recovery) leaves no trace.
"""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from ..errors import TablecastError
from ..model import Document, Source, Version, VersionMeta
from ..store.base import Store
from ..table import formats
from ..table.blocks import BLOCK_RECORDS, NO_RECORDS, Block, Run, joined
from ..table.originals import Part
from ..table.parsing import SNIFF_BYTES, ParseOptions, TableParser
from ..table.reuse import Reuse

# What arrived of the file (the part its records do not give back: see tablecast.table.originals) is
# written with the blocks it made, or on its own past this size
ORIGINAL_PART_BYTES = 4 * 1024 * 1024
# Blocks written to the store at a time, each time one transaction: a write costs some 0.5 ms
# besides its blocks (checking the disk's room, BEGIN, COMMIT), which a block at a time
# (an upload's 64 KiB chunks make two or three) made 0.7 s of a 75 MB upload's 1.6 s of
# writing. Until written, what they hold is the upload's (~1.2 MiB at most).
WRITE_BLOCKS = 16


class Columns(Protocol):
    """What makes a version's columns while it is ingested (tablecast.service.views's
    StreamedColumns): told of each run of records as its blocks are written, then of the end,
    or that the upload was rolled back. On this (the store's writer) thread; its work is on
    another, which sets ``done`` (True: the columns are whole) once it has finished."""

    done: concurrent.futures.Future[bool]

    def add(self, records: Run, count: int, width: int) -> None:
        """The first ``count`` of ``records`` were written in blocks (what follows them is
        not the columns'), in order; ``width``: the widest record so far."""

    def finish(self, width: int, delimiter: str) -> None:
        """Every block was added: the version's widest record, and its delimiter."""

    def abort(self) -> None: ...


# Who makes an upload's columns as it is ingested: given the document, the pending version and
# its first data record; None makes none (they are made after the commit).
ColumnsFor = Callable[[str, int, int], Columns | None]


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
        columns: ColumnsFor | None = None,
        files: Path | None = None,
        sheet: str = "",
    ) -> None:
        """``files``: where a file that is not text is kept until it is read (None: every
        file is read as text); ``sheet``: a workbook's sheet to read ("": the sheet the
        current version shows, or the workbook's first)."""
        self.store = store
        self.options = options
        self.files = files
        self.filename = filename
        self.has_header = has_header
        self.max_bytes = max_bytes
        self.parser = TableParser(options, filename=filename)
        self.pending_id = store.begin_version(document_id)
        base = _current(store, document_id)
        self.reuse = _reuse(store, base, self.pending_id)
        source = base.meta.source if base is not None else None
        self.sheet = sheet or (source.sheet if source is not None else "")
        self.columns = columns(document_id, self.pending_id, int(has_header)) if columns else None
        self._runs: list[Run] = []  # the records parsed, not yet compared or written
        self._run_records = 0
        self._own: list[Run] = []  # the records to store, not yet a full block
        self.written = 0  # bytes of blocks and of the file written to the store so far
        self._blocks_written = 0
        # The file as it arrived, from byte _kept_from on: all that is not written yet and,
        # while its records give the file back, not given back yet
        self._kept: deque[bytes] = deque()
        self._kept_from = 0
        self._kept_bytes = 0
        self._parts_written = 0
        self._rebuilt_written = False
        self._first_record: list[str] | None = None
        # The file's first bytes, until they say whether it is text (see formats.sniff)
        self._head: bytearray | None = bytearray() if files is not None else None
        self.kind: str | None = None  # not text: what the reader process reads it as
        self.path: str | None = None  # and where it is kept until then
        self._file: BinaryIO | None = None
        self._received = 0
        self._table: dict[str, Any] | None = None  # what the reader said of the table
        self._carry = b""  # the reader's records: the start of a line
        self._records = 0  # and how many it gave
        self._records_bytes = 0

    @property
    def received(self) -> int:
        return self._received

    @property
    def record_count(self) -> int:
        return self._records if self.kind is not None else self.parser.record_count

    @property
    def width(self) -> int:
        """The widest record so far."""
        return self._table["width"] if self._table is not None else self.parser.max_width

    def feed(self, data: bytes) -> None:
        if self._received + len(data) > self.max_bytes:
            raise TablecastError(
                "too_large", f"the file is larger than the limit of {self.max_bytes} bytes"
            )
        self._received += len(data)
        self._kept.append(data)
        self._kept_bytes += len(data)
        if self._head is not None:
            self._head += data
            if len(self._head) < SNIFF_BYTES:
                return
            data = self._start()
        if self._file is not None:
            self._file.write(data)
        else:
            self._add(self.parser.feed_run(data))
        rebuilt = self.parser.rebuilt
        if rebuilt.going:
            self._let_go(rebuilt.end)
        elif self._kept_bytes >= ORIGINAL_PART_BYTES:  # long records: no block for a while
            self._write(final=False, original=True)

    def _start(self) -> bytes:
        """What the file's first bytes say it is: text, parsed as it comes, or a file to
        read once it has ended (kept meanwhile, as it comes). Its first bytes, to go on with."""
        assert self._head is not None and self.files is not None
        head = bytes(self._head)
        self._head = None
        self.kind = formats.sniff(head)
        if self.kind == formats.JSON and (self.options.delimiter or self.options.encoding):
            self.kind = None  # (the uploader says it is text)
        if self.kind is not None:
            self.parser.rebuilt.stop()  # (its records give none of it back)
            self.files.mkdir(parents=True, exist_ok=True)
            fd, self.path = tempfile.mkstemp(dir=self.files, prefix=f"{self.pending_id}.")
            self._file = os.fdopen(fd, "wb")
        return head

    def ended(self) -> str | None:
        """The file has ended: where it is kept, if it is to be read by the reader process
        (then :meth:`add_records`, and :meth:`finish`)."""
        if self._head is not None:
            data = self._start()
            if self._file is not None:
                self._file.write(data)
            else:
                self._add(self.parser.feed_run(data))
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.path

    def add_records(self, data: bytes | dict[str, Any]) -> None:
        """What the reader process hands back: first what it found (a dict: see
        tablecast.table.formats.Table.head), then records as stored, whole lines."""
        if isinstance(data, dict):
            self._table = data
            if data["header"] and not self.has_header and self.columns is not None:
                self.columns.abort()  # (made from the wrong first row: made after the commit)
                self.columns = None
            return
        if self._records_bytes + len(data) > self.max_bytes:
            raise TablecastError(
                "too_large",
                f"the table's cells take more than the limit of {self.max_bytes} bytes",
            )
        self._records_bytes += len(data)
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
        starts = np.zeros(len(ends) + 1, np.int64)
        starts[1:] = ends + 1
        self._records += len(ends)
        self._add(Run(data, starts))

    def finish(self) -> Document:
        self.ended()
        table = self._table
        if table is None:
            self._add(self.parser.close_run())
        elif not self._records:
            raise TablecastError("empty_file", "the file holds no rows")
        self._write(final=True)
        if table is None:
            assert self.parser.encoding is not None and self.parser.delimiter is not None
            encoding, delimiter = self.parser.encoding, self.parser.delimiter
            has_header, ragged, source = self.has_header, self.parser.ragged_records, None
        else:
            encoding, delimiter = "utf-8", "\t"  # (as its downloads are by default)
            has_header = table["header"] or self.has_header
            ragged = table["ragged"]
            source = Source(table["format"], table["sheet"], tuple(table["sheets"]))
        if self.columns is not None:
            self.columns.finish(self.width, delimiter)
        meta = VersionMeta(
            filename=self.filename,
            encoding=encoding,
            delimiter=delimiter,
            has_header=has_header,
            record_count=self.record_count,
            width=self.width,
            size=self._received,
            first_record=self._first_record or [],
            ragged_rows=ragged,
            source=source,
        )
        pieces = self.reuse.pieces() if self.reuse is not None else None
        document = self.store.commit_version(self.pending_id, meta, pieces)
        self.forget()
        return document

    def abort(self) -> None:
        self.forget()
        if self.columns is not None:
            self.columns.abort()
        self.store.abort_version(self.pending_id)

    def forget(self) -> None:
        """Remove the file kept for the reader process, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            Path(self.path).unlink(missing_ok=True)
            self.path = None

    def _add(self, records: Run) -> None:
        if not len(records):
            return
        if self._first_record is None:
            self._first_record = records.first_cells()
        self._runs.append(records)
        self._run_records += len(records)
        if self._run_records >= BLOCK_RECORDS * WRITE_BLOCKS:
            self._write(final=False)

    def _let_go(self, end: int) -> None:
        """Forget the file's bytes before ``end``: its records give them back."""
        kept = self._kept
        while kept and self._kept_from + len(kept[0]) <= end:
            self._kept_from += len(kept[0])
            self._kept_bytes -= len(kept.popleft())

    def _original_parts(self, final: bool) -> list[tuple[int, Part]]:
        """What to write of the file now: once its records stop giving it back (or it has
        ended), how much they do give back, then each time the bytes kept since."""
        rebuilt = self.parser.rebuilt
        if rebuilt.going and not final:
            return []
        parts: list[Part] = []
        if not self._rebuilt_written:
            self._rebuilt_written = True
            if rebuilt.record_count:
                if rebuilt.going and rebuilt.end != self.parser.bytes_in:
                    raise RuntimeError("the records give back the file short of its end")
                rebuilt.stop()  # the part is written: what follows is kept as it is
                parts.append(rebuilt)
                self._let_go(rebuilt.end)
                if self._kept:  # the first bytes kept start within a chunk
                    self._kept[0] = self._kept[0][rebuilt.end - self._kept_from :]
                    self._kept_from = rebuilt.end
            elif self._kept_from:
                raise RuntimeError("bytes let go that no records give back")
        if self._kept:
            parts.append(b"".join(self._kept))
            self._kept.clear()
            self._kept_bytes = 0
        numbered = list(enumerate(parts, self._parts_written))
        self._parts_written += len(parts)
        return numbered

    def _write(self, final: bool, original: bool = False) -> None:
        """Write every full block (and, at the end, the last partial one) in one transaction,
        with what is to be written of the file (see _original_parts)."""
        full = self._run_records // BLOCK_RECORDS * BLOCK_RECORDS
        cut = self._run_records if final else full
        if cut == 0 and not (final or original):
            return
        # (nothing to cut, as when long records fill no block: what is held is not copied)
        records = joined(self._runs) if cut else NO_RECORDS
        blocks = self._blocks(records.first(cut), final)
        parts = self._original_parts(final)
        if blocks or parts:
            self.store.write_blocks(self.pending_id, blocks, parts)
            self.written += sum(len(block.records) + len(block.offsets) for _, block in blocks)
            self.written += sum(len(part) for _, part in parts if isinstance(part, bytes))
        if self.columns is not None and cut:  # (once written: a failed write adds none)
            self.columns.add(records, cut, self.width)
        self._blocks_written += len(blocks)
        if cut:
            self._runs = [records.after(cut)] if cut < len(records) else []
            self._run_records -= cut

    def _blocks(self, records: Run, final: bool) -> list[tuple[int, Block]]:
        """The blocks to write now, numbered, of the records to store: ``records`` but those
        the current version holds already, after those kept from before; every full block
        (at the end, the last one too)."""
        if self.reuse is not None and len(records):
            records = self.reuse.add(records, last=final)
        if len(records):
            self._own.append(records)
        own = joined(self._own)
        count = len(own) if final else len(own) // BLOCK_RECORDS * BLOCK_RECORDS
        self._own = [own.after(count)] if count < len(own) else []
        return list(enumerate(own.blocks(count), self._blocks_written))


def _current(store: Store, document_id: str) -> Version | None:
    document = store.get_document(document_id)
    return document.version if document is not None else None


def _reuse(store: Store, base: Version | None, pending_id: int) -> Reuse | None:
    """What compares an upload's records with the document's current version's, ``base``,
    if it has one (see tablecast.table.reuse)."""
    if base is None or not base.meta.record_count:
        return None
    return Reuse(store.read_pieces(base.id), partial(store.read_blocks, base.id), pending_id)
