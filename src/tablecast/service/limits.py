"""What the store may hold: the storage limits, and making room under them.

Nothing is deleted to make room unless the operator said so (``--eviction lru``, or
``--document-ttl`` for documents left unused): past a limit, what does not fit is refused, and
every table kept stays kept. Documents with viewers are never removed: the hub says which
those are (:class:`InUse`). The rules themselves (what fits, what to ask the store to remove)
are pure functions; :class:`Capacity` applies them to the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import TablecastError
from .storage import Storage

log = logging.getLogger("tablecast.service.limits")


@dataclass(frozen=True)
class Limits:
    """What the store may hold and uploads may take (0: no limit); see Settings for each."""

    max_upload_bytes: int = 2 * 1024 * 1024 * 1024  # as Settings (see docs/operations.md)
    max_documents: int = 0
    max_stored_bytes: int = 0
    document_ttl: float = 0.0
    evict: bool = False
    max_uploading_bytes: int = 0
    max_uploading_bytes_per_ip: int = 0
    upload_idle_timeout: float = 60.0
    upload_timeout: float = 3600.0


def fits(limits: Limits, stored: int, taken: int, own: int, more: int) -> bool:
    """Whether ``more`` bytes (as stored) of an upload fit under --max-stored-bytes.

    ``stored``: what the store holds; ``taken``: what uploads in progress take of the room;
    ``own``: what this upload has taken so far. Without eviction, what does not fit in the room
    left is refused. Under --eviction lru room is made once a version is stored, for the bytes
    it really took, so only an upload that could not fit even in an empty store is refused
    (never for the size an upload announces: that costs its sender nothing)."""
    limit = limits.max_stored_bytes
    if not limit:
        return True
    if not limits.evict:
        return limit - stored - taken >= more
    return own + more <= limit


@dataclass(frozen=True)
class Removal:
    """What to ask the store to remove (see Store.remove_unused)."""

    unused_before: float  # documents unused since before this time (0: none for their age)
    max_documents: int | None  # remove the least recently used until this many are left
    max_bytes: int | None  # ... and until this many bytes are


def removal(limits: Limits, now: float, documents: int, stored_bytes: int) -> Removal | None:
    """What to remove at ``now`` so that ``documents`` more documents and ``stored_bytes`` more
    bytes fit; None when the operator asked for nothing ever to be removed."""
    ttl = limits.document_ttl
    if not ttl and not limits.evict:
        return None
    evict = limits.evict
    return Removal(
        now - ttl if ttl else 0.0,
        _room_for(limits.max_documents, documents) if evict else None,
        _room_for(limits.max_stored_bytes, stored_bytes) if evict else None,
    )


def _room_for(limit: int, more: int) -> int | None:
    """What the store may hold now so that ``more`` fits under ``limit`` (0: no limit)."""
    return max(limit - more, 0) if limit else None


class InUse:
    """Which documents have viewers now (the hub says when a room opens and closes), and when
    documents were last viewed. Use times are kept here and written to the store now and then
    rather than at every join: ten thousand viewers arriving must not make ten thousand
    writes."""

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._viewed: dict[str, float] = {}

    def opened(self, document_id: str) -> None:
        self._open.add(document_id)
        self._viewed[document_id] = time.time()

    def closed(self, document_id: str) -> None:
        """Its last viewer left: viewed until now."""
        self._open.discard(document_id)
        self._viewed[document_id] = time.time()

    def documents(self) -> set[str]:
        return set(self._open)

    def take_use_times(self) -> dict[str, float]:
        """The use times gathered since last taken (document id -> time)."""
        viewed, self._viewed = self._viewed, {}
        return viewed


class Capacity:
    """The storage limits applied: refusing what does not fit, and making room."""

    def __init__(self, storage: Storage, limits: Limits, in_use: InUse) -> None:
        self.storage = storage
        self.limits = limits
        self.in_use = in_use
        # What the store held when last asked (committed versions only), and what uploads
        # committed since: uploads in progress are counted apart (see Upload.stored)
        self.stored_bytes = 0
        # told which documents were removed, to remove what else they left (their versions'
        # columns, see Views.forget)
        self.removed: list[Callable[[list[str]], None]] = []

    async def check_new_document(self) -> None:
        """At --max-documents a new document is refused, unless eviction makes room."""
        limits, storage = self.limits, self.storage
        if not limits.max_documents:
            return
        usage = await storage.write(storage.store.usage)
        if usage.documents >= limits.max_documents and limits.evict:
            await self.make_room(documents=1)
            usage = await storage.write(storage.store.usage)
        if usage.documents >= limits.max_documents:
            raise TablecastError(
                "storage_full", "the server holds as many tables as it may keep: try again later"
            )

    async def check_space(self, size: int, taken: int) -> None:
        """Refuse ``size`` bytes (as stored) that cannot fit, ``taken`` being what uploads in
        progress take of the room; the store is asked what it holds."""
        if self.limits.max_stored_bytes and not self.limits.evict:
            storage = self.storage
            self.stored_bytes = (await storage.read(storage.store.usage)).stored_bytes
        self.admit(size, taken, own=0)

    def admit(self, more: int, taken: int, own: int) -> None:
        """Refuse ``more`` bytes (as stored) of an upload that has taken ``own`` so far, past
        the limits: checked in memory, against what the store held when last asked."""
        if not fits(self.limits, self.stored_bytes, taken, own, more):
            raise TablecastError(
                "storage_full", "the server has no room for this table: try again later"
            )

    def committed(self, stored: int) -> None:
        """A version taking ``stored`` bytes is kept now: counted with the store's bytes until
        the store is next asked (check_space)."""
        self.stored_bytes += stored

    async def make_room(
        self,
        *,
        documents: int = 0,
        stored_bytes: int = 0,
        keep: Iterable[str] = (),
        quietly: bool = False,
    ) -> list[str]:
        """Remove what the operator asked to be removed (see :func:`removal`): never the
        documents in use, nor those in ``keep``. ``quietly``: as background work, which a
        shutdown may stop."""
        asked = removal(self.limits, time.time(), documents, stored_bytes)
        if asked is None:
            return []
        storage = self.storage
        try:
            await self.save_use_times()
            removed = await storage.write(
                storage.store.remove_unused,
                asked.unused_before,
                asked.max_documents,
                asked.max_bytes,
                {*self.in_use.documents(), *keep},
            )
        except TablecastError:
            if quietly and storage.closing:
                return []
            raise
        if removed:
            log.info("removed %d unused documents: %s", len(removed), " ".join(removed[:20]))
            for forget in self.removed:
                forget(removed)
        return removed

    async def save_use_times(self) -> None:
        viewed = self.in_use.take_use_times()
        if viewed:
            await self.storage.write(self.storage.store.touch, viewed)
