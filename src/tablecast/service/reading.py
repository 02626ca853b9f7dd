"""Files that are not delimited text, read by the reader process (tablecast.reader), apart
from the server: bounded in memory and CPU time, a few at a time, their records handed back
as they come.

Why a process: see tablecast.reader. Why a few at a time: each may take --reader-memory, and
a node's memory is every viewer's; an upload waits for its turn (its client sees the upload
end, then its version, as it would after a long parse).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import TablecastError
from ..table.parsing import MAX_CELL_CHARS, MAX_COLUMNS

READ_BYTES = 1024 * 1024  # records read from the process at a time
HEAD_BYTES = 16 * 1024 * 1024  # the head line's most (a workbook's sheet names)


@dataclass(frozen=True)
class ReaderLimits:
    """What one reader process may take: ``memory``, its address space in bytes; ``cpu``,
    seconds of CPU time (and twice that of waiting, in all); ``at_once``, processes per node."""

    memory: int = 2 * 1024 * 1024 * 1024
    cpu: int = 120
    at_once: int = 2


class Readers:
    """The reader processes of one node: at most ``limits.at_once`` at a time, and one
    started ahead (:meth:`warm`), waiting for a file: a Python process with its libraries
    imported takes 0.2 s to start, a tenth of what a 100,000-row workbook takes to read."""

    def __init__(self, limits: ReaderLimits) -> None:
        self.limits = limits
        self._turns = asyncio.Semaphore(limits.at_once)
        self._spare: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[asyncio.subprocess.Process] | None = None

    def warm(self) -> None:
        """A file to read is on its way: have a reader process ready for it."""
        if self._starting is None and (self._spare is None or self._spare.returncode is not None):
            self._starting = asyncio.ensure_future(_start())
            self._starting.add_done_callback(self._started)

    def _started(self, starting: asyncio.Task[asyncio.subprocess.Process]) -> None:
        self._starting = None
        if not starting.cancelled() and starting.exception() is None:
            self._spare = starting.result()

    async def _process(self) -> asyncio.subprocess.Process:
        """The spare, if it is ready and alive, else a new one."""
        if self._starting is not None:
            await asyncio.wait([self._starting])
        spare, self._spare = self._spare, None
        if spare is not None and spare.returncode is None:
            return spare
        return await _start()

    async def close(self) -> None:
        """The node is stopping: the spare goes too."""
        if self._starting is not None:
            await asyncio.wait([self._starting])
        if self._spare is not None and self._spare.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._spare.kill()
            await self._spare.wait()
        self._spare = None

    async def read(self, path: str, kind: str, sheet: str = "") -> AsyncGenerator[Any, None]:
        """The table in the file at ``path`` (of ``kind``, see tablecast.table.formats.sniff):
        first its head (a dict, see Table.head), then its records as stored, in pieces of
        whole lines. Its failures are TablecastErrors; a process past its limits,
        ``too_large``. Closing the iterator stops the process."""
        limits = self.limits
        args = {
            "path": path,
            "kind": kind,
            "sheet": sheet,
            "max_columns": MAX_COLUMNS,
            "max_chars": MAX_CELL_CHARS,
            "memory": limits.memory,
            "cpu": limits.cpu,
        }
        async with self._turns:
            process = await self._process()
            assert process.stdin is not None
            assert process.stdout is not None and process.stderr is not None
            errors = asyncio.ensure_future(_last_said(process.stderr))
            with contextlib.suppress(ConnectionError):  # (dead: its end says why)
                process.stdin.write(orjson.dumps(args) + b"\n")
                await process.stdin.drain()
                process.stdin.close()
            try:
                async with asyncio.timeout(2 * limits.cpu):
                    head = await process.stdout.readline()
                    if head.endswith(b"\n"):
                        yield orjson.loads(head)
                        carry = b""
                        while data := await process.stdout.read(READ_BYTES):
                            data = carry + data
                            end = data.rfind(b"\n") + 1
                            carry = data[end:]
                            if end:
                                yield data[:end]
                    status = await process.wait()
                    if status != 0 or not head.endswith(b"\n"):
                        raise _failure(status, await errors, limits)
            except TimeoutError:
                raise TablecastError("too_large", _too_long(limits)) from None
            finally:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
                errors.cancel()


async def _start() -> asyncio.subprocess.Process:
    """A reader process, its libraries imported, waiting for what to read on its input."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tablecast.reader",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, limit=HEAD_BYTES,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )  # fmt: skip


async def _last_said(stream: asyncio.StreamReader) -> bytes:
    """The end of what the process writes to its standard error, read to its end (a process
    blocked on a full pipe would never end)."""
    said = b""
    while data := await stream.read(64 * 1024):
        said = (said + data)[-64 * 1024 :]
    return said


def _failure(status: int, said: bytes, limits: ReaderLimits) -> TablecastError:
    """Why the reader process failed: what it said, else what its end says."""
    line = said.strip().rsplit(b"\n", 1)[-1]
    if status == 1 and line.startswith(b"{"):
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, ValueError):
            fields = orjson.loads(line)
            return TablecastError(fields["code"], fields["message"])
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return TablecastError("too_large", _too_long(limits))
    # Out of memory, the usual end of a process past its address space: a library that
    # cannot allocate aborts (Rust), or Python's MemoryError is raised where it is not met
    return TablecastError(
        "too_large",
        f"the file needs more than {limits.memory // 2**20} MiB of memory to read: it is too"
        " large to read here (or damaged); a CSV or Parquet export of it may do",
    )


def _too_long(limits: ReaderLimits) -> str:
    return (
        f"the file takes longer than {limits.cpu} s to read: it is too large to read here"
        " (or damaged); a CSV or Parquet export of it may do"
    )
