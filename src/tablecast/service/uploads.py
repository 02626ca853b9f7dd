"""Uploads as a use case: a file becomes a new version, and its document's viewers hear how.

WebSocket and HTTP clients alike start, feed and finish (or give up) uploads through
:class:`Uploads`; what viewers are shown of an upload in progress (tablecast.v1's
``upload_progress``, paced by tablecast.service.progress and spread by the hub) is reported
here, and only here, so that each way an upload ends is reported once and the same way for
every client.

The caller has checked the client's rights (an edit key, the creation rate) before it starts
an upload; the limits an upload itself meets (its size, what uploads in progress hold, the
store's room) are checked by tablecast.service.upload as its bytes arrive. What is said to the
client is the caller's: where that must come before the viewers hear of it (``upload_ready``,
``upload_done``), the caller hands it over as a callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .. import tasks
from ..errors import TablecastError
from ..model import Document, Version
from ..table.parsing import ParseOptions
from .documents import Documents
from .hub import Hub
from .upload import Announced, InProgress, Upload

log = logging.getLogger("tablecast.service.uploads")


# Versions looked through, newest first, for the workbook a version was read from (versions
# made by edits keep its sheets but not its file)
WORKBOOK_LOOKBACK = 100
ORIGINAL_PARTS = 4  # parts of a file (about 1 MiB each) read again at a time


class Uploads:
    def __init__(self, in_progress: InProgress, hub: Hub, documents: Documents) -> None:
        self.in_progress = in_progress
        self.hub = hub
        self.documents = documents

    async def another_sheet(self, document: Document, sheet: str, address: str) -> Document:
        """The document's workbook read again, ``sheet`` this time: a new version, made as an
        upload of the same file would make it (its limits, its progress shown to viewers, its
        rows shared with the version before where they are the same). The workbook is the
        file of the newest version read from one whose file is kept."""
        version = await self._workbook(document)
        sheets = version.meta.source.sheets if version.meta.source else ()
        if sheet not in sheets:
            raise TablecastError(
                "bad_option",
                f"the workbook has no sheet {sheet!r}: its sheets are "
                + ", ".join(repr(name) for name in sheets),
            )
        started: list[Upload] = []  # (for its timeout, which may come before it is returned)

        def expired(err: TablecastError) -> None:
            for upload in started:
                self.drop(upload, err)

        upload = await self.start(
            document.id,
            filename=version.meta.filename,
            has_header=version.meta.has_header,
            sheet=sheet,
            via="sheet",
            address=address,
            on_expire=expired,
        )
        assert upload is not None
        started.append(upload)
        try:
            first = 0
            while parts := await self.documents.original(version, first, ORIGINAL_PARTS):
                for part in parts:
                    if isinstance(part, bytes):  # (a workbook's parts are all its bytes)
                        await self.feed(upload, part)
                first += len(parts)
        except BaseException:
            await self.abort(upload)
            raise
        return await self.finish(upload)

    async def _workbook(self, document: Document) -> Version:
        """The newest version read from a workbook whose file is kept."""
        current = document.version
        if current is None or current.meta.source is None or not current.meta.source.sheets:
            raise TablecastError("bad_option", "this table was not read from a workbook")
        for version in await self.documents.versions(document.id, WORKBOOK_LOOKBACK):
            source = version.meta.source
            if (
                source is not None
                and source.sheets
                and await self.documents.original(version, 0, 1)
            ):
                return version
        raise TablecastError(
            "original_not_kept",
            "the workbook this table was read from is no longer kept: upload it again",
        )

    async def start(
        self,
        document_id: str,
        *,
        filename: str,
        has_header: bool = True,
        options: ParseOptions | None = None,
        sheet: str = "",
        size: int | None = None,
        via: str = "ws",
        address: str = "-",
        on_expire: Callable[[TablecastError], None],
        ready: Callable[[Upload], bool] | None = None,
    ) -> Upload | None:
        """A new upload to the document, shown to its viewers as receiving.

        ``on_expire``: ends it from the client's side when it times out (see Upload.expire),
        by calling :meth:`drop` or :meth:`abort` and telling the client. ``ready``: takes the
        upload for the client and tells it so, before any viewer hears of the upload; False
        when the client left while the upload was starting: it is then rolled back unseen,
        and None returned."""
        announced = Announced(filename, has_header, options, size, via, address, sheet)
        upload = await self.in_progress.start(document_id, announced)
        if ready is not None and not ready(upload):
            await upload.abort()
            log.info("upload abandoned doc=%s upload=%s bytes=0", upload.document_id, upload.id)
            return None
        upload.on_expire = on_expire
        self._show(upload, "receiving")
        return upload

    async def feed(self, upload: Upload, data: bytes) -> None:
        """Bytes of the file. What they cannot be taken for (a limit, a bad file, a full
        disk) rolls the upload back, is shown to viewers as failed, and is raised."""
        try:
            await upload.feed(data)
        except TablecastError as err:
            self._show(upload, "failed", err)
            raise

    def received(self, upload: Upload) -> None:
        """A piece of the file as its client counts them (an HTTP body's chunk, a v1 chunk
        message) is in: viewers hear how far the upload has come (paced)."""
        self._show(upload, "receiving")

    async def finish(
        self, upload: Upload, answer: Callable[[Document], None] | None = None
    ) -> Document:
        """Commit: the new version becomes current. ``answer`` tells the uploader (before the
        viewers hear the upload is done); then every viewer is sent the new version. What
        fails rolls the upload back, is shown as failed and is raised."""
        try:
            document = await upload.finish()
        except TablecastError as err:
            self._show(upload, "failed", err)
            raise
        try:
            if answer is not None:
                answer(document)
            self._show(upload, "done")
        finally:
            # the version is committed whatever answering it did: this node's viewers are shown
            # it from here and only from here (the store's notice of it is for other nodes)
            await self.hub.version_committed(document)
        return document

    async def abort(self, upload: Upload, err: TablecastError | None = None) -> None:
        """Roll back, then show the upload as failed with ``err`` or, without one, cancelled
        (its client asked, or went away)."""
        await upload.abort()
        self._show(upload, "failed" if err else "cancelled", err)

    def drop(self, upload: Upload, err: TablecastError | None = None) -> None:
        """As :meth:`abort`, from a callback that cannot wait (a socket lost, a timeout):
        viewers are told now, and the rollback follows in the background."""
        self._show(upload, "failed" if err else "cancelled", err)
        tasks.spawn(upload.abort(), "roll back an upload that ended")

    def __len__(self) -> int:
        """Uploads in progress."""
        return len(self.in_progress.uploads)

    def _show(self, upload: Upload, state: str, err: TablecastError | None = None) -> None:
        # what the document's v1 viewers, on every node, see of the upload (paced: see
        # tablecast.service.progress)
        self.hub.upload_progress(upload, state, err)
