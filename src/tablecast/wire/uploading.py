"""Where a connection's upload stands, as one small state machine. No I/O.

::

    IDLE ------ begin -----> STARTING ---- ready ----> RECEIVING
    IDLE <--- not_started -- STARTING
    IDLE <-- end, cancel, a legacy file's end, lost -- RECEIVING
    FAILED <-- fail (a limit, a bad file), expiry, a chunk read too early -- RECEIVING
    IDLE <-- end, cancel (swallowed) -- FAILED --- begin ---> STARTING

Only in RECEIVING are the binary messages' bytes taken; in any other state they are read and
dropped. FAILED is an upload that failed and whose client was told: its chunks still in flight
are dropped quietly, and the upload_end or upload_cancel it still sends is answered by nothing.
The upload itself (a :class:`tablecast.service.documents.Upload`) is the caller's: this only
holds it, and says which one each step concerns.
"""

from __future__ import annotations

from enum import Enum
from typing import Generic, TypeVar

from ..errors import TablecastError

U = TypeVar("U")


class Stage(Enum):
    IDLE = "idle"  # no upload
    STARTING = "starting"  # asked for, not started yet
    RECEIVING = "receiving"  # this connection's: its bytes are taken
    FAILED = "failed"  # failed and told: what is still in flight is dropped quietly


IDLE, STARTING, RECEIVING, FAILED = Stage.IDLE, Stage.STARTING, Stage.RECEIVING, Stage.FAILED


def chunk_too_early() -> TablecastError:
    return TablecastError("no_upload", "send chunks once upload_ready has come")


class Uploading(Generic[U]):
    __slots__ = ("stage", "upload")

    def __init__(self) -> None:
        self.stage = IDLE
        self.upload: U | None = None  # in RECEIVING only

    def begin(self) -> None:
        """An upload is asked for (upload_begin, or a legacy file's first bytes)."""
        if self.stage in (STARTING, RECEIVING):
            raise TablecastError("upload_in_progress", "finish or cancel the current upload first")
        self.stage = STARTING

    def ready(self, upload: U) -> None:
        """It has started: its bytes are taken from now on."""
        assert self.stage is STARTING, self.stage
        self.stage, self.upload = RECEIVING, upload

    def not_started(self) -> None:
        """It could not start (the client is told why)."""
        if self.stage is STARTING:
            self.stage = IDLE

    def receiving(self) -> U | None:
        """The upload a binary message's bytes go to (None: they are dropped)."""
        return self.upload

    def chunk_begins(self, discarded: bool) -> U | None:
        """A v1 chunk begins. Raises no_upload if none was begun; returns the upload when the
        chunk was read past before this connection could upload (``discarded``): its bytes
        are gone, so the upload must be rolled back, and the client told
        :func:`chunk_too_early`. Chunks in flight after a failure are dropped quietly."""
        if self.stage is RECEIVING:
            return self._leave(FAILED) if discarded else None
        if self.stage is not FAILED:
            raise TablecastError("no_upload", "send upload_begin before the file's chunks")
        return None

    def fail(self) -> U | None:
        """The upload failed (a limit, a bad file: rolled back, and the client told), or
        expired: what is still in flight is dropped quietly. Returns it (None: there was
        none in progress)."""
        if self.stage is not RECEIVING:
            return None
        return self._leave(FAILED)

    def end(self) -> U | None:
        """upload_end or upload_cancel: the upload to commit or roll back. None: it had
        failed, and the client was told already. Raises no_upload if there is none."""
        if self.stage is FAILED:
            self.stage = IDLE
            return None
        if self.stage is not RECEIVING:
            raise TablecastError("no_upload", "no upload is in progress on this connection")
        return self._leave(IDLE)

    def file_ends(self) -> U | None:
        """A legacy binary message (a whole file) ends: the upload to commit, if its bytes
        were taken (else its start was refused, and the client told so then)."""
        if self.stage is not RECEIVING:
            return None
        return self._leave(IDLE)

    def lost(self) -> U | None:
        """The connection is gone: the upload in progress, to roll back."""
        return self._leave(IDLE) if self.stage is RECEIVING else None

    def _leave(self, stage: Stage) -> U | None:
        upload, self.upload = self.upload, None
        self.stage = stage
        return upload
