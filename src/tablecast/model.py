"""What a user works with, as every layer names it: a document (what a share link names) and
its versions (one per upload, immutable), with what each upload learned about its file; and
what the store holds in all, for its limits.

Plain values, no I/O: the stores make them from their rows, the services pass them around,
the wire and the web describe them to clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Source:
    """What a version was read from when that was not delimited text (see
    tablecast.table.formats): the file's format (``xlsx``, ``parquet``, ``json``...), and for
    a workbook the sheet read and the workbook's worksheets."""

    format: str
    sheet: str = ""
    sheets: tuple[str, ...] = ()

    def encode(self) -> str:
        return orjson.dumps({"format": self.format, "sheet": self.sheet,
                             "sheets": self.sheets}).decode()  # fmt: skip

    @classmethod
    def decode(cls, text: str | None) -> Source | None:
        if not text:
            return None
        fields = orjson.loads(text)
        return cls(fields["format"], fields["sheet"], tuple(fields["sheets"]))


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
    # Records after the first whose cells are more or fewer than its (see TableParser): with a
    # header, the data rows that do not fit it. None: stored before tablecast counted them.
    ragged_rows: int | None = None
    source: Source | None = None  # None: a text table (TSV, CSV...)


@dataclass(frozen=True)
class Version:
    id: int  # the store's own key; users see ``number``
    document_id: str
    number: int  # 1, 2, 3... per document
    created_at: float
    meta: VersionMeta

    @property
    def first_data_record(self) -> int:
        """Where the rows begin among the stored records: 1 under a header, else 0."""
        return 1 if self.meta.has_header else 0

    @property
    def data_rows(self) -> int:
        """Rows under the header: what the HTTP API and tablecast.v1 count."""
        return self.meta.record_count - self.first_data_record

    @property
    def columns(self) -> list[str]:
        """The header as downloads write it (and JSON Lines' keys): the header's cells,
        numbered past its end; 1..n when the file has no header. (What people see heading the
        columns is :attr:`column_names`.)"""
        header = self.meta.first_record if self.meta.has_header else []
        return header + [str(i + 1) for i in range(len(header), self.meta.width)]

    @property
    def column_names(self) -> list[str]:
        """What heads each column for people: the header's names and, for the cells of longer
        rows past its end, ``Column 12 (no header)``, which reads as no real name would; with
        no header, ``Column 1``... (the number counts from 1, as people do)."""
        if not self.meta.has_header:
            return [f"Column {i + 1}" for i in range(self.meta.width)]
        header = self.meta.first_record
        return header + [f"Column {i + 1} (no header)" for i in range(len(header), self.meta.width)]


@dataclass(frozen=True)
class Document:
    id: str
    created_at: float
    updated_at: float
    shared_page: int
    version: Version | None  # None until the first upload is committed
    edit_key_hash: bytes | None = None  # see tablecast.access; None: anyone may edit
    # how followers see it, sorted or searched (tablecast.table.view, as JSON); "": plain
    shared_view: str = ""


@dataclass(frozen=True)
class Usage:
    """What the store holds, for its limits."""

    documents: int
    # every committed version's blocks and original file; uploads in progress are counted
    # apart, by the bytes they have received (see tablecast.service.upload.InProgress)
    stored_bytes: int

    def over(self, max_documents: int | None, max_bytes: int | None) -> bool:
        """Past either limit (None: no limit)."""
        return (max_documents is not None and self.documents > max_documents) or (
            max_bytes is not None and self.stored_bytes > max_bytes
        )
