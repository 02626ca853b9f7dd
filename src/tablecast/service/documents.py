"""Documents and their versions, as the web asks for them: made, looked up, listed, restored,
their shared page saved, and what the store holds in all.

Everything here runs off the event loop (tablecast.service.storage); what a new document or a
restored version may take of the store is checked with tablecast.service.limits.
"""

from __future__ import annotations

import logging
import time

from .. import access, tasks
from ..model import Document, Usage, Version
from ..table.originals import Part
from .limits import Capacity
from .storage import Storage

# web/connection.py names the Upload here until it is rewritten (issue 16, item 1): its home
# is tablecast.service.upload.
from .upload import Upload

__all__ = ["Documents", "Upload"]

log = logging.getLogger("tablecast.service.documents")


class Documents:
    def __init__(self, storage: Storage, capacity: Capacity) -> None:
        self.storage = storage
        self.capacity = capacity

    async def create(self) -> tuple[Document, str]:
        """A new document and its edit key (which is kept nowhere: see tablecast.access).
        At the document limit it is refused, unless eviction makes room."""
        key, key_hash = access.new_key()
        await self.capacity.check_new_document()
        storage = self.storage
        return await storage.write(storage.store.create_document, key_hash), key

    async def get(self, document_id: str) -> Document | None:
        return await self.storage.read(self.storage.store.get_document, document_id)

    async def versions(
        self, document_id: str, limit: int, before: int | None = None
    ) -> list[Version]:
        """A page of the document's versions, newest first (see Store.versions)."""
        return await self.storage.read(self.storage.store.versions, document_id, limit, before)

    async def version(self, document_id: str, number: int) -> Version | None:
        # one row by its index, never the list: a document may have tens of thousands
        return await self.storage.read(self.storage.store.version, document_id, number)

    async def original(self, version: Version, first: int, count: int) -> list[Part]:
        """Parts ``first`` to ``first + count`` of the file as uploaded (see
        Store.read_original); none for a version uploaded before files were kept."""
        return await self.storage.read(self.storage.store.read_original, version.id, first, count)

    async def restore(self, document: Document, old: Version) -> Document:
        """Make an old version current again, as a new version with its records (shared in
        the store with the old one, neither copied nor parsed again): history only grows."""
        storage, capacity = self.storage, self.capacity
        store = storage.store

        def copy() -> Document:
            pending = store.begin_version(document.id)
            try:
                store.share_blocks(old.id, pending)
                return store.commit_version(pending, old.meta)
            except BaseException:
                store.abort_version(pending)
                raise

        restored = await storage.write(copy)
        storage.tidy()
        tasks.spawn(capacity.make_room(keep={document.id}, quietly=True), "remove unused documents")
        assert restored.version is not None
        log.info(
            "restore doc=%s version=%d from=%d", document.id, restored.version.number, old.number
        )
        return restored

    async def set_shared_page(self, document_id: str, page_no: int, view: str = "") -> None:
        await self.storage.write(self.storage.store.set_shared_page, document_id, page_no, view)

    async def remove_document_if_empty(self, document_id: str) -> None:
        await self.storage.write(self.storage.store.remove_document_if_empty, document_id)

    async def remove_empty_documents(self, older_than: float, keep: set[str]) -> list[str]:
        return await self.storage.write(
            self.storage.store.remove_empty_documents, time.time() - older_than, keep
        )

    async def usage(self) -> Usage:
        """What the store holds: documents, and bytes of committed versions."""
        return await self.storage.read(self.storage.store.usage)

    def read_only(self) -> bool:
        """Whether the disk is full: pages are served, uploads and changes refused."""
        return self.storage.full()
