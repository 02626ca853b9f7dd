"""Typed downloads kept as files: a version's Parquet, Arrow or XLSX file of a view, under
``data/exports/DOCUMENT/NAME`` (NAME: the download's strong ETag's, see
tablecast.web.downloads), so that ``HEAD`` and byte ranges (``Range``: what Polars' and
DuckDB's readers ask a URL for) are answered from it, and a second download reads a file rather
than encoding the version again. A version never changes and its encoding is deterministic, so a
file kept is good for as long as its version is.

Files are written under a temporary name (``.NAME.PID.tmp``) and renamed when whole; one
making at a time per file (a second request for it waits for the first's). What the directory
holds is bounded (``--export-cache-bytes``): past it, the least recently used files are removed
(one being sent stays readable to its reader: it is open). A document's files go with it (see
Capacity.removed), and those of documents another node removed are removed as tidying work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from ..store.base import Store
from .upload import left_behind

log = logging.getLogger(__name__)


class Exports:
    def __init__(self, store: Store, directory: Path | None, max_bytes: int) -> None:
        """``directory``: where the files are kept (None: a temporary directory, made when
        first written to); ``max_bytes``: what they may hold together (0: none is kept once
        sent)."""
        self.store = store
        self._directory = directory
        self.max_bytes = max_bytes
        # every file kept, by path, the least recently used first, and its size
        self._files: OrderedDict[Path, int] = OrderedDict()
        self._bytes = 0
        self._making: dict[Path, asyncio.Future[None]] = {}
        if directory is not None:
            self._found()

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="tablecast-exports-"))
        return self._directory

    @property
    def held(self) -> int:
        """Bytes the files kept hold."""
        return self._bytes

    def kept(self, document: str, name: str) -> BinaryIO | None:
        """The file ``name`` of ``document``, open, if it is kept (and now the most recently
        used); None if not."""
        path = self._path(document, name)
        if path in self._making:
            return None
        try:
            file = path.open("rb")
        except OSError:
            self._dropped(path)
            return None
        if path not in self._files:  # (another node's, sharing the directory)
            self._files[path] = os.fstat(file.fileno()).st_size
            self._bytes += self._files[path]
        self._files.move_to_end(path)
        self._evict(keep=path)
        return file

    async def made(
        self, document: str, name: str, write: Callable[[BinaryIO], Awaitable[None]]
    ) -> BinaryIO:
        """The file ``name`` of ``document``, open: kept, or being made (waited for), or made
        now by ``write`` (which writes it whole to the file it is given)."""
        path = self._path(document, name)
        while (making := self._making.get(path)) is not None:
            await asyncio.shield(making)  # (its failure is its maker's to tell)
        found = self.kept(document, name)
        if found is not None:
            return found
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._making[path] = done
        temporary = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w+b") as file:
                await write(file)
            temporary.rename(path)
            opened = path.open("rb")  # (before any eviction: an open file stays readable)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        finally:
            del self._making[path]
            done.set_result(None)
        size = os.fstat(opened.fileno()).st_size
        self._dropped(path)
        self._files[path] = size
        self._bytes += size
        self._evict(keep=None if size > self.max_bytes else path)
        return opened

    def forget(self, documents: list[str]) -> None:
        """Documents were removed: so are their files."""
        for document in documents:
            for path in [p for p in self._files if p.parent.name == document]:
                self._dropped(path)
            if self._directory is not None:
                shutil.rmtree(self._directory / document, ignore_errors=True)

    async def forget_removed(self) -> None:
        """Files of documents the store no longer holds (removed by another node, which tells
        this one nothing: see Capacity.removed) are removed too."""
        gone = await asyncio.to_thread(self._removed)
        if gone:
            log.info("removed the downloads kept of %d documents removed elsewhere", len(gone))
            self.forget(gone)

    def _removed(self) -> list[str]:
        if self._directory is None:
            return []
        try:
            held = [path.name for path in self.directory.iterdir() if path.is_dir()]
        except OSError:  # (no directory yet)
            return []
        # (a document is in the store before any download of it is made)
        return [document for document in held if self.store.get_document(document) is None]

    def _path(self, document: str, name: str) -> Path:
        return self.directory / document / name

    def _dropped(self, path: Path) -> None:
        size = self._files.pop(path, None)
        if size is not None:
            self._bytes -= size

    def _evict(self, keep: Path | None) -> None:
        """The least recently used files removed until the rest fit (``keep`` is not)."""
        while self._bytes > self.max_bytes and self._files:
            path = next(iter(self._files))
            if path == keep:
                if len(self._files) == 1:
                    break
                self._files.move_to_end(path)
                continue
            self._dropped(path)
            with contextlib.suppress(OSError):
                path.unlink()

    def _found(self) -> None:
        """The files a node before this one left, the least recently used first (by when last
        read, or written), counted; the temporary files of processes no longer running (a
        crash in the middle of a write) removed."""
        found = []
        for path in self.directory.glob("*/*"):
            try:
                if path.name.endswith(".tmp"):
                    pid = path.name.rsplit(".", 2)[-2]
                    if pid.isdigit() and left_behind(int(pid)):
                        path.unlink()
                    continue
                stat = path.stat()
            except OSError:
                continue
            found.append((max(stat.st_atime, stat.st_mtime), path, stat.st_size))
        for _, path, size in sorted(found):
            self._files[path] = size
            self._bytes += size
        self._evict(keep=None)
