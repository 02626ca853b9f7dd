"""A change to a table's rows (cells set, rows replaced, deleted or added), worked out against
the version it is made on: which records the new version stores, where every row of it is
(its pieces: see :mod:`tablecast.table.pieces`), and what it did. Pure: the store reads the
records asked for and writes what the plan says, in the transaction that commits it.

An edit names rows as the version its maker saw numbered them (``base``); by the time it
commits, other changes may have added, deleted or moved rows. Rows are followed by their
identity, so an edit made against an older version changes the row it meant, wherever that
row is now, and edits to different cells never conflict. Where two edits set the same cell,
the later commit wins, and it says which cells held a value it did not see (``overwritten``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson

from ..errors import TablecastError
from .pieces import Pieces

# A version's records at these places, as their cells: how a plan reads what it changes.
Read = Callable[[Pieces, np.ndarray], list[list[str]]]

# Rows one change may set, replace or delete (rows added are not counted: they are stored as
# they come). Each is read, and followed through the pieces one by one, in the commit's
# transaction, on the writer every upload and change waits for: a change of a million rows
# would hold it for seconds. A table that changes that much is uploaded again.
MAX_CHANGED_ROWS = 100_000


@dataclass(frozen=True)
class Change:
    """What one request changes, atomically. Rows are records of version ``base`` (0-based,
    the header record included); a new row is its cells in stored form (see
    tablecast.table.rows)."""

    base: int  # the store's id of the version the records are numbered in
    cells: Sequence[tuple[int, int, str]] = ()  # (record, column, value)
    replaced: Sequence[tuple[int, str]] = ()  # (record, its new cells)
    deleted: Sequence[int] = ()
    added: Sequence[str] = ()
    # a replaced row deleted since base is added instead (an upsert), rather than refused
    add_missing: bool = False
    # rows found by their key's value in base: committed only if base is current still (else
    # Stale), as another change may have added a row with a key it found nowhere
    keyed: bool = False


@dataclass
class Changed:
    """What a change did, for the answer to whoever made it."""

    updated: int = 0  # rows whose cells changed (set or replaced)
    deleted: int = 0
    added: int = 0
    # cells this change set that another had changed since base: (record in the new version,
    # column, the value it replaced, the value set)
    overwritten: list[tuple[int, int, str | None, str]] = field(default_factory=list)


class Stale(Exception):
    """A keyed change (see Change.keyed) whose base is no longer current: its keys are to be
    found again, in the version current now."""


class Unchanged(Exception):
    """A change that changes nothing (see Plan.empty): the store makes no version of it."""

    def __init__(self, changed: Changed) -> None:
        super().__init__("nothing changed")
        self.changed = changed


@dataclass
class Plan:
    pieces: Pieces  # the new version's rows
    records: list[str]  # what it stores in its own blocks, in order (stored form)
    widths: list[int]  # their cells each
    old_widths: list[int]  # cells of the rows it replaced or deleted
    first_changed: bool  # whether record 0 changed or went (the header, or the first row)
    changed: Changed

    @property
    def empty(self) -> bool:
        """Whether it changes nothing (every cell set holds its value already): no version."""
        changed = self.changed
        return not (changed.updated or changed.deleted or changed.added)


def _stored(cells: list[str]) -> str:
    return orjson.dumps(cells).decode()[2:-2]


def plan(change: Change, base: Pieces, current: Pieces, read: Read, owner: int) -> Plan:
    """The plan for ``change``, made on ``base``, committed on ``current`` (the same pieces
    when no one changed the table since), storing its records under ``owner``."""
    result = Changed()
    if len({r for r, _, _ in change.cells}) + len(change.replaced) + len(change.deleted) > (
        MAX_CHANGED_ROWS
    ):
        raise TablecastError(
            "too_large",
            f"a change sets, replaces or deletes {MAX_CHANGED_ROWS:,} rows at most:"
            " upload the table again instead",
        )
    records = _now(base, current, [r for r, _, _ in change.cells], "set")
    replaced_at = _now(base, current, [r for r, _ in change.replaced], "replace", missing_ok=True)
    deleted_at = _now(base, current, list(change.deleted), "delete", missing_ok=True)

    new_rows: dict[int, list[str]] = {}
    added = list(change.added)
    for (_, row), at in zip(change.replaced, replaced_at.tolist(), strict=True):
        if at < 0:
            if not change.add_missing:
                raise TablecastError("row_not_found", "a row to replace was deleted since")
            added.append(row)
        else:
            new_rows[at] = _cells(row)
    if change.cells:
        places = np.unique(records)
        now = dict(zip(places.tolist(), read(current, places), strict=True))
        if current is base:
            then = now
        else:
            then_places = np.unique(np.asarray([r for r, _, _ in change.cells], np.int64))
            then = dict(zip(then_places.tolist(), read(base, then_places), strict=True))
        for (was_at, column, value), at in zip(change.cells, records.tolist(), strict=True):
            cells = new_rows.setdefault(at, list(now[at]))
            theirs = now[at][column] if column < len(now[at]) else None
            seen = then[was_at][column] if column < len(then[was_at]) else None
            if theirs != seen and theirs != value:
                result.overwritten.append((at, column, theirs, value))
            cells.extend([""] * (column + 1 - len(cells)))
            cells[column] = value
    deleted = np.setdiff1d(deleted_at[deleted_at >= 0], np.asarray(list(new_rows), np.int64))
    order = sorted(new_rows)
    gone = order + deleted.tolist()
    old = read(current, np.asarray(gone, np.int64)) if gone else []
    # a row given the cells it has is no change (an upsert sending what is there already)
    same = {at for at, cells in zip(order, old, strict=False) if new_rows[at] == cells}
    if same:
        order = [at for at in order if at not in same]
        old = [cells for at, cells in zip(gone, old, strict=True) if at not in same]
    result.updated = len(order)
    result.deleted = len(deleted)
    result.added = len(added)
    stored = [_stored(new_rows[at]) for at in order] + added
    widths = [len(new_rows[at]) for at in order] + [_width(row) for row in added]
    pieces = current.changed(owner, np.asarray(order, np.int64), deleted, len(added))
    return Plan(
        pieces=pieces,
        records=stored,
        widths=widths,
        old_widths=[len(cells) for cells in old],
        first_changed=bool(order and order[0] == 0) or bool(len(deleted) and deleted[0] == 0),
        changed=result,
    )


def _cells(row: str) -> list[str]:
    cells: list[str] = orjson.loads('["' + row + '"]')
    return cells


def _width(row: str) -> int:
    return len(_cells(row))


def _now(
    base: Pieces, current: Pieces, records: list[int], doing: str, missing_ok: bool = False
) -> np.ndarray:
    """Where the rows at ``records`` of base are now (-1: deleted since, if that is no error)."""
    at = np.asarray(records, np.int64)
    if not len(at):
        return at
    if at.min() < 0 or at.max() >= base.total:
        raise TablecastError("row_not_found", f"no row to {doing}: the table has fewer rows")
    if current is base:
        return at
    now = current.records_of(base.identities(at))
    if not missing_ok and (now < 0).any():
        raise TablecastError("row_not_found", f"a row to {doing} was deleted since")
    return now
