"""Rows changed where they are, as scripts and people change them: rows added, rows upserted
by a key column, rows deleted, cells set. Each change is one new version that stores only
the rows it changes (see tablecast.table.pieces), committed on the writer thread
(tablecast.service.storage) against whatever version is current then.

Rows are named as pages number them (from 1, under the header) in the version the person or
script saw (``base``); the store follows each to where it is now (see
tablecast.table.changes), so a change made against an older version changes the row meant.
What cannot be read or does not fit changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from ..errors import TablecastError
from ..model import Document, Version
from ..table.blocks import record_cells, run_of
from ..table.changes import Change, Changed, Stale
from ..table.parsing import ParseOptions
from ..table.rows import rows_of
from .storage import Storage
from .views import Views

log = logging.getLogger("tablecast.service.edits")

# Times a change by key finds its rows again when other changes keep committing before it
KEYED_TRIES = 8


def current(document: Document) -> Version:
    if document.version is None:
        raise TablecastError("version_not_found", "the table has no version yet to change")
    return document.version


def record_of(version: Version, row: int) -> int:
    """Row ``row`` (from 1, as pages number them) of the version, as its record."""
    if not 1 <= row <= version.data_rows:
        raise TablecastError(
            "row_not_found",
            f"version {version.number} has no row {row}: it has {version.data_rows}",
        )
    return row - 1 + version.first_data_record


class Edits:
    def __init__(self, storage: Storage, views: Views) -> None:
        self.storage = storage
        self.views = views

    async def append_rows(
        self, document: Document, body: bytes, options: ParseOptions | None = None
    ) -> Document:
        """Rows added after the current version's, as a new version storing them alone (see
        Store.append_rows): the body read as rows (tablecast.table.rows) against the version's
        header and stored, both on the writer thread."""
        version = current(document)
        store = self.storage.store

        def append() -> Document:
            records, widths = rows_of(body, _header(version), options)
            return store.append_rows(document.id, run_of(records), widths, len(body))

        appended = await self.storage.write(append)
        self.storage.tidy()
        _log("rows added", appended, version, len(body))
        return appended

    async def upsert(
        self, document: Document, body: bytes, key: int, options: ParseOptions | None = None
    ) -> tuple[Document, Changed]:
        """Rows sent, by the value of their ``key`` cell: each row of the table with that
        value takes the row's cells (all of them, where several have it), and a row whose
        value no row has is added. Where the body sends one value twice, its last row counts."""
        version = current(document)
        if key >= version.meta.width:
            raise TablecastError("bad_option", f"the table has no column {key}")
        records, _ = await self.storage.read(rows_of, body, _header(version), options)
        last: dict[str, int] = {}
        for i, record in enumerate(records):
            cells = record_cells(record)
            if key >= len(cells):
                raise TablecastError(
                    "bad_table", f"row {i + 1} sent has no cell in the key column {key}"
                )
            last[cells[key]] = i
        values = list(last)

        async def upserted(version: Version) -> Change:
            matched = await self.views.keyed_rows(version, key, values)
            found = {place for _, place in matched}
            new = [records[last[value]] for place, value in enumerate(values) if place not in found]
            return Change(
                base=version.id,
                replaced=[(record, records[last[values[place]]]) for record, place in matched],
                added=new,
                add_missing=True,
                keyed=True,
            )

        return await self._keyed(document, upserted, len(body), "rows upserted")

    async def set_cells(
        self, document: Document, base: Version, cells: Sequence[tuple[int, int, str]]
    ) -> tuple[Document, Changed]:
        """Cells (row as ``base`` numbered it, column from 0, value) set."""
        change = Change(
            base=base.id,
            cells=[(record_of(base, row), column, value) for row, column, value in cells],
        )
        size = sum(len(value) for _, _, value in cells)
        return await self.change(document, change, size, "cells set")

    async def delete_rows(
        self, document: Document, base: Version, rows: Sequence[int]
    ) -> tuple[Document, Changed]:
        """Rows (as ``base`` numbered them) deleted; a row deleted since is gone already."""
        change = Change(base=base.id, deleted=[record_of(base, row) for row in rows])
        return await self.change(document, change, 0, "rows deleted")

    async def delete_keyed(
        self, document: Document, key: int, values: Sequence[str]
    ) -> tuple[Document, Changed]:
        """Every row whose ``key`` cell is one of ``values`` deleted."""
        if key >= current(document).meta.width:
            raise TablecastError("bad_option", f"the table has no column {key}")
        unique = list(dict.fromkeys(values))

        async def deleted(version: Version) -> Change:
            matched = await self.views.keyed_rows(version, key, unique)
            return Change(base=version.id, deleted=[record for record, _ in matched], keyed=True)

        return await self._keyed(document, deleted, 0, "rows deleted")

    async def _keyed(
        self,
        document: Document,
        make: Callable[[Version], Awaitable[Change]],
        size: int,
        what: str,
    ) -> tuple[Document, Changed]:
        """A change of rows found by their key's value (``make``: the change, against a
        version), committed against the version it found them in: where another change
        committed meantime (a row with a key it found nowhere may have been added), they are
        found again in the version current now, KEYED_TRIES times at most."""
        for _ in range(KEYED_TRIES):
            try:
                return await self.change(document, await make(current(document)), size, what)
            except Stale:
                found = await self.storage.read(self.storage.store.get_document, document.id)
                if found is None:
                    raise TablecastError("not_found", "no such document") from None
                document = found
        raise TablecastError(
            "edit_conflict", "the table kept changing while its keys were looked up: send it again"
        )

    async def change(
        self, document: Document, change: Change, size: int, what: str
    ) -> tuple[Document, Changed]:
        """``change`` committed, on the writer thread (see Store.change_rows)."""
        version = current(document)
        changed_document, changed = await self.storage.write(
            self.storage.store.change_rows, document.id, change, size
        )
        self.storage.tidy()
        _log(what, changed_document, version, size)
        return changed_document, changed


def _header(version: Version) -> list[str] | None:
    return version.meta.first_record if version.meta.has_header else None


def _log(what: str, document: Document, before: Version, size: int) -> None:
    assert document.version is not None
    log.info(
        "%s doc=%s version=%d records=%+d bytes=%d",
        what,
        document.id,
        document.version.number,
        document.version.meta.record_count - before.meta.record_count,
        size,
    )
