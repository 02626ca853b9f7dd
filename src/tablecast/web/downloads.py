"""Downloads: ``GET /parser/api/docs/{id}/download``, a version as the file uploaded or as a
view shows it, streamed, with a file name people can keep: as text (TSV, CSV, JSON Lines, see
tablecast.table.export) or typed (Parquet, Arrow, XLSX, see tablecast.table.export_binary).
``.../download.parquet`` (and ``.arrow``, ``.xlsx``, ``.csv``, ``.tsv``, ``.jsonl``) names the
format in the URL, for tools that are given a URL and nothing else; ``.../download`` with no
``format=`` gives what the ``Accept`` header asks for.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO, TypeVar
from urllib.parse import quote

import orjson
import pyarrow as pa
import tornado.iostream
import tornado.web

from ..errors import TablecastError
from ..model import Version
from ..table import export
from ..table.export_binary import (
    BINARY_FORMATS,
    ArrowEncoder,
    Columns,
    ParquetEncoder,
    WorkbookEncoder,
    check_workbook,
)
from ..table.formats import FORMATS
from ..table.originals import Rebuilt
from ..table.view import PLAIN, View
from .api import ApiHandler

ORIGINAL_PARTS = 4  # parts of an original file (~1 MiB each) read and sent at a time
# the encodings tablecast.table.parsing names, as a Content-Type names them (a BOM stays in the
# file)
CHARSETS = {
    "utf-8-sig": "utf-8", "utf-16-le": "utf-16", "utf-16-be": "utf-16", "cp1252": "windows-1252"
}  # fmt: skip
EXPORT_RECORDS = 4096  # records a download reads, writes and flushes at a time
# What an export writes, as its validators name it: one more where that changes (a download
# kept by a client under the same ETag would be another's bytes, and a range asked with
# If-Range would be spliced into another's). 2: workbooks written by tablecast.table.xlsx
EXPORTS_REVISION = 2
# Rows a typed download (Parquet, Arrow) reads from the version's columns and encodes at a time,
# off the event loop: what it holds is about this many rows (a Parquet row group's, see
# export_binary.ROW_GROUP_ROWS), whatever the table's size
TYPED_RECORDS = 65536
WORKBOOK_RECORDS = 8192  # ... a workbook's (its XML, a batch's, is ~4 MiB)
FILE_PART = 1 << 20  # bytes of a kept typed file read and sent at a time
WRITTEN = {**export.FORMATS, **BINARY_FORMATS}  # every format a download writes, by name
DEFAULT_FORMAT = "tsv"
# What Accept names each format by; its first is its Content-Type. A range ``type/*`` takes
# the first of this order of that type, ``*/*`` the default.
MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "tsv": ("text/tab-separated-values",),
    "csv": ("text/csv",),
    "jsonl": ("application/jsonl", "application/x-ndjson", "application/x-jsonlines"),
    "parquet": ("application/vnd.apache.parquet", "application/x-parquet"),
    "arrow": ("application/vnd.apache.arrow.stream",),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
}
assert list(MEDIA_TYPES) == [DEFAULT_FORMAT, *(name for name in WRITTEN if name != "tsv")]
T = TypeVar("T")
# A download of a version named by number: it never changes (a version is immutable, and no
# store gives a version's id to another), so a client may keep it
PINNED = "private, max-age=31536000, immutable"


class DownloadApi(ApiHandler):
    """``GET /parser/api/docs/{id}/download?format=original|tsv|csv|jsonl|parquet|arrow|xlsx``
    (or ``.../download.csv`` and so on, or as ``Accept`` asks): a version (``version=V``, else
    the current one) as a file: the file exactly as uploaded, or as a view shows it (``sort``,
    ``order``, ``q``, ``filter.N``, ``facet.N``, ``type.N``, ``header``), streamed a few
    thousand rows at a time (see tablecast.table.export and export_binary)."""

    _sending = False  # a typed file being sent as it is written, to a client still there

    async def head(self, document_id: str, suffix: str | None = None) -> None:
        """What GET would answer, without its body (Tornado sends none): a typed file's with
        its length (made if it is not kept), for readers that ask a file's size before its
        ranges. A text format's is exported and thrown away: its length is known no other
        way."""
        await self.get(document_id, suffix)

    async def get(self, document_id: str, suffix: str | None = None) -> None:
        named = self.get_query_argument("format", None)
        if named == "original" and suffix is None:
            await self._original(document_id)
            return
        try:
            fmt = self._format(named, suffix)
            document = await self.document(document_id)
            view = self.requested_view()
            version = view.on(await self.requested_version(document))
            view.check(version)
            if version is not None and self.unchanged(version, f"{fmt.name}.{_named(view)}"):
                return
            if fmt.name in BINARY_FORMATS:
                if version is None:
                    raise TablecastError("not_found", "the document has no version yet")
                await self._typed(version, view, fmt, f"{fmt.name}.{_named(view)}")
                return
            pages = self.services.pages
            # JSON Lines writes numbers as numbers: it needs to know which columns hold them
            # (as the view's types say, where it sets them)
            types = view.typed(await pages.types(version)) or [] if fmt.name == "jsonl" else []
            picked = await pages.sorted_rows(version, view) if version is not None else None
        except TablecastError as err:
            self.fail(err)
            return
        if version is None:
            self.fail(TablecastError("not_found", "the document has no version yet"))
            return
        self.attachment(export_name(version, fmt.extension), fmt.content_type)
        header = version.columns if version.meta.has_header else None
        writer = export.Writer(fmt, header, version.columns, types)
        self.write(writer.start())
        first = version.first_data_record
        count = version.data_rows if picked is None else len(picked[0])
        try:
            for start in range(0, count, EXPORT_RECORDS):
                stop = min(start + EXPORT_RECORDS, count)
                if picked is None:
                    data = await pages.records_json(version, first + start, first + stop)
                else:  # a sorted view's rows come from all over the version: from its blocks
                    rows, blocks = picked
                    data = blocks.pick(rows[start:stop])
                self.write(writer.from_json(data))
                await self._sent()
        except tornado.iostream.StreamClosedError:
            return  # the client stopped the download
        self.finish()

    def _format(self, named: str | None, suffix: str | None) -> export.Format:
        """The format the URL names (``.parquet``, or ``format=``), else the one ``Accept``
        asks for (the answer then varies with it)."""
        if suffix is not None and named is not None and named != suffix:
            raise TablecastError(
                "bad_option", f"the URL names the format {suffix}: format={named} says another"
            )
        name = suffix or named
        if name is None:
            self.set_header("Vary", "Accept")
            name = negotiated(self.request.headers.get("Accept"))
            if name is None:
                raise TablecastError(
                    "not_acceptable",
                    "Accept names no format a download is written in; they are: "
                    + ", ".join(types[0] for types in MEDIA_TYPES.values())
                    + " (or name one: download.csv, download.parquet..., or format=)",
                )
        found = WRITTEN.get(name)
        if found is None:
            raise TablecastError(
                "bad_option", f"format must be one of: {', '.join(WRITTEN)}, original"
            )
        return found

    async def _typed(self, version: Version, view: View, fmt: export.Format, what: str) -> None:
        """The version as a typed file (see tablecast.table.export_binary), kept as a file (see
        tablecast.service.exports: its bytes are the same each time, as its strong ETag says),
        so that HEAD and byte ranges (``Range``, ``If-Range``) are answered from it, with its
        length. A plain GET of a Parquet or Arrow file not kept yet is sent as it is encoded,
        while it is written; a workbook, and what HEAD or a range asks for, is written whole
        first (a workbook's error meanwhile is answered as one)."""
        exports = self.services.exports
        name = f"{version.id}.{EXPORTS_REVISION}.{what}.{fmt.extension}"
        self.set_header("Accept-Ranges", "bytes")
        file = exports.kept(version.document_id, name)
        if file is None:
            streamed = False
            chunks = await self._encoding(version, view, fmt)
            stream = (
                self.request.method == "GET"
                and "Range" not in self.request.headers
                and fmt.name != "xlsx"
            )

            async def write(out: BinaryIO) -> None:
                nonlocal streamed
                streamed = stream
                await self._written(version, fmt, chunks(out), send=stream)

            file = await exports.made(version.document_id, name, write)
            if streamed:  # (sent as it was written; ended once kept, for the ranges to come)
                file.close()
                if self._sending:
                    self.finish()
                return
        with file:
            await self._send_file(version, fmt, file)

    async def _encoding(
        self, version: Version, view: View, fmt: export.Format
    ) -> Callable[[BinaryIO], AsyncIterator[bytes]]:
        """What encodes the version's typed file: given the file to write it to, it writes
        each part there (on a worker thread, with the encoding) and gives it, to be sent too.
        Read from its columns (tablecast.service.views keeps them, as sorts and searches read
        them), encoded a batch at a time on worker threads: Arrow and Parquet release the GIL,
        so the event loop serves others meanwhile. A workbook past Excel's limits is refused
        here, before anything is written."""
        pages = self.services.pages
        text, rows = await pages.columns(version, view)
        width = version.meta.width
        kinds = view.typed(await pages.types(version)) or []
        columns = Columns.of(
            version.columns, kinds, [view.type_of(n) is not None for n in range(width)]
        )
        first = version.first_data_record
        count = version.data_rows if rows is None else len(rows)
        header = version.columns if version.meta.has_header else None
        if fmt.name == "xlsx":
            check_workbook(count, width, header is not None)

        def cells(start: int, stop: int) -> list[pa.Array]:
            if rows is None:
                return text.records(first + start, first + stop, width)
            return text.taken(rows[start:stop], width)

        def typed(start: int, size: int) -> tuple[list[pa.Array], pa.RecordBatch]:
            stop = min(start + size, count)
            taken = cells(start, stop)
            batch = columns.batch(taken)
            if rows is None:  # the mapped file's pages this read (see TableText.let_go)
                text.let_go_records(first + start, first + stop, width)
            return taken, batch

        async def workbook(out: BinaryIO) -> AsyncIterator[bytes]:
            book = WorkbookEncoder(columns, header, count)

            def written(start: int) -> bytes:
                taken, batch = typed(start, WORKBOOK_RECORDS)
                return _kept(out, book.add(taken, batch))

            for start in range(0, count, WORKBOOK_RECORDS):
                yield await _off_loop(written, start)
            yield await _off_loop(lambda: _kept(out, book.finish()))

        async def table(out: BinaryIO) -> AsyncIterator[bytes]:
            encoder = ParquetEncoder(columns) if fmt.name == "parquet" else ArrowEncoder(columns)
            starts = range(0, count, TYPED_RECORDS)
            # two steps at a time, on two threads: the next batch's cells read and typed while
            # this one is encoded (each mostly in Arrow's C++, which lets go of the GIL)
            upcoming = _off_loop(typed, starts[0], TYPED_RECORDS) if starts else None
            try:
                for at in starts:
                    assert upcoming is not None
                    _, batch = await upcoming
                    following = at + TYPED_RECORDS
                    upcoming = (
                        _off_loop(typed, following, TYPED_RECORDS) if following < count else None
                    )
                    yield await _off_loop(lambda b: _kept(out, encoder.add(b)), batch)
                yield await _off_loop(lambda: _kept(out, encoder.finish()))
            finally:
                if upcoming is not None:
                    upcoming.cancel()

        return workbook if fmt.name == "xlsx" else table

    async def _written(
        self, version: Version, fmt: export.Format, chunks: AsyncIterator[bytes], send: bool
    ) -> None:
        """The file written whole, each part sent too if ``send`` (the answer ended by the
        caller, once the file is kept): a client that goes away meanwhile leaves it written
        (kept for the next, and for the ranges a reader asks)."""
        if send:
            self.attachment(export_name(version, fmt.extension), fmt.content_type)
        self._sending = send
        async for chunk in chunks:
            if not send:
                continue
            try:
                self.write(chunk)
                await self._sent()
            except tornado.iostream.StreamClosedError:
                send = self._sending = False

    async def _send_file(self, version: Version, fmt: export.Format, file: BinaryIO) -> None:
        """A kept file, whole or the range asked for (``Range``, unless ``If-Range`` names
        another ETag), a part at a time; HEAD its headers alone."""
        size = os.fstat(file.fileno()).st_size
        asked = self.request.headers.get("Range")
        condition = self.request.headers.get("If-Range")
        if condition is not None and condition.strip() != self._headers.get("Etag"):
            asked = None  # (a date, or another version's: the whole file)
        wanted = byte_range(asked, size)
        if wanted == UNSATISFIABLE:
            self.set_status(416)
            self.set_header("Content-Range", f"bytes */{size}")
            self.finish()
            return
        start, stop = wanted or (0, size)
        if wanted is not None:
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.attachment(export_name(version, fmt.extension), fmt.content_type)
        self.set_header("Content-Length", stop - start)
        if self.request.method == "HEAD":
            self.finish()
            return
        try:
            while start < stop:
                part = await _off_loop(os.pread, file.fileno(), min(FILE_PART, stop - start), start)
                if not part:
                    break  # (cannot be: the file is whole, and never written again)
                self.write(part)
                await self._sent()
                start += len(part)
        except tornado.iostream.StreamClosedError:
            return
        self.finish()

    def attachment(self, name: str, content_type: str) -> None:
        self.set_header("Content-Type", content_type)
        self.set_header(
            "Content-Disposition",
            f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name)}",
        )

    def unchanged(self, version: Version, what: str) -> bool:
        """The download's validator, a strong ETag: the version (its id, given to no other)
        and ``what`` of it (format and view); True where the client has it already
        (``If-None-Match``): answered 304, nothing read. A version named by number may be
        kept by the client; the current version's URL is asked again each time, and its ETag
        changes with every new version."""
        self.set_header("Etag", f'"{version.id}.{EXPORTS_REVISION}.{what}"')
        pinned = self.get_query_argument("version", None, strip=False) is not None
        self.set_header("Cache-Control", PINNED if pinned else "no-cache")
        if not self.check_etag_header():
            return False
        self.set_status(304)
        self.finish()
        return True

    async def _original(self, document_id: str) -> None:
        """The file exactly as it was uploaded, a few parts at a time."""
        documents = self.services.documents
        try:
            document = await self.document(document_id)
            version = await self.requested_version(document)
            if self.requested_view() != PLAIN:
                raise TablecastError(
                    "bad_option", "the original file is as uploaded: it takes no sort or search"
                )
            if version is None:
                raise TablecastError("not_found", "the document has no version yet")
            if self.unchanged(version, "original"):
                return
            parts = await documents.original(version, 0, ORIGINAL_PARTS)
            if not parts:
                raise TablecastError(
                    "original_not_kept",
                    "this version has no file as uploaded (uploaded before files were kept,"
                    " or made by adding rows): download it as tsv or csv",
                )
        except TablecastError as err:
            self.fail(err)
            return
        self.attachment(original_name(version), original_type(version))
        first = 0
        try:
            while parts:
                for part in parts:
                    if isinstance(part, bytes):
                        self.write(part)
                    else:
                        await self._rebuild(version, part)
                await self._sent()
                first += len(parts)
                if len(parts) < ORIGINAL_PARTS:
                    break
                parts = await documents.original(version, first, ORIGINAL_PARTS)
        except tornado.iostream.StreamClosedError:
            return
        self.finish()

    async def _rebuild(self, version: Version, rebuilt: Rebuilt) -> None:
        """The start of the file that its records give back (see tablecast.table.originals)."""
        self.write(rebuilt.bom)
        for start in range(0, rebuilt.record_count, EXPORT_RECORDS):
            stop = min(start + EXPORT_RECORDS, rebuilt.record_count)
            data = await self.services.pages.records_json(version, start, stop)
            self.write(rebuilt.text(data, last=stop == rebuilt.record_count))
            await self._sent()

    async def _sent(self) -> None:
        """What was written, sent: a slow client is waited for (it never fills our memory).
        Then the event loop's other work takes its turn: a fast client's flush is done at
        once, and awaiting it yields nothing, so that a download picking its records from
        memory (a sorted view's) ran to its end, a gigabyte version's for over a minute,
        before any viewer was served again (their pings went unanswered)."""
        await self.flush()
        await asyncio.sleep(0)


def _kept(out: BinaryIO, chunk: bytes) -> bytes:
    out.write(chunk)
    return chunk


def _off_loop(fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """``fn(*args)`` on a worker thread, begun now: the event loop serves others meanwhile."""
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


UNSATISFIABLE = (-1, -1)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes ``[start, stop)`` of a file of ``size`` bytes that a ``Range`` header asks for
    (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``, RFC 9110 14.1.2), UNSATISFIABLE where none of
    them is in the file, or None where the whole file is to be sent: no header, one that cannot
    be read, a unit other than bytes, or several ranges (which a server may answer whole)."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not all(p.isascii() and p.isdigit() for p in (first, last) if p):
        return None
    if not first:  # the last n bytes
        if not last:
            return None
        n = int(last)
        return (max(size - n, 0), size) if n and size else UNSATISFIABLE
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return UNSATISFIABLE
    return start, min(int(last) + 1, size) if last else size


def negotiated(accept: str | None) -> str | None:
    """The format an ``Accept`` header asks for: of those it gives the highest quality
    (``q``) to, ours in MEDIA_TYPES's order (the default first), each rated by the most
    specific range naming it (``text/csv`` before ``text/*`` before ``*/*``, RFC 9110
    12.5.1); None if it accepts none. No header, or an empty one: the default."""
    if accept is None or not accept.strip():
        return DEFAULT_FORMAT
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = part.split(";")
        media = media.strip().lower()
        if not media:
            continue
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0  # (a range whose weight cannot be read is not taken)
        ranges[media] = max(quality, ranges.get(media, 0.0))
    best, best_quality = None, 0.0
    for name, types in MEDIA_TYPES.items():
        exact = [ranges[media] for media in types if media in ranges]
        family = f"{types[0].split('/')[0]}/*"
        quality = max(exact) if exact else ranges.get(family, ranges.get("*/*", 0.0))
        if quality > best_quality:
            best, best_quality = name, quality
    return best


def content_charset(encoding: str) -> str:
    """The charset a Content-Type names for a version's encoding. Whatever a store holds
    (a name an uploader gave, such as ``utf-8\r``, kept before names were checked) gives a
    header value that is safe to send."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, ValueError):
        name = "utf-8"
    charset = CHARSETS.get(encoding) or CHARSETS.get(name, name)
    return charset if re.fullmatch(r"[A-Za-z0-9._-]{1,40}", charset) else "utf-8"


def original_name(version: Version) -> str:
    """What a version's file is saved as: the name it was uploaded under."""
    source = version.meta.source
    if source is not None:  # (a format's usual extension: "json" for both JSONs)
        return version.meta.filename or f"table.{source.format.replace('jsonl', 'json')}"
    return version.meta.filename or ("table.tsv" if version.meta.delimiter == "\t" else "table.csv")


def original_type(version: Version) -> str:
    """The Content-Type of a version's file as uploaded: its format's (see
    tablecast.table.formats.FORMATS), or text with its delimiter and charset."""
    source = version.meta.source
    if source is not None:
        return FORMATS[source.format][1] if source.format in FORMATS else "application/octet-stream"
    kind = "tab-separated-values" if version.meta.delimiter == "\t" else "csv"
    return f"text/{kind}; charset={content_charset(version.meta.encoding)}"


def export_name(version: Version, extension: str) -> str:
    """What an export is saved as: the table's name with the format's extension, but never the
    original file's own name (a CSV export of flights.csv is not that file, and saved beside
    it a browser would call it "flights (1).csv", with nothing to say which is which)."""
    original = original_name(version)
    stem = (original.rsplit(".", 1)[0] or "table")[:200]
    name = f"{stem}.{extension}"
    if name.casefold() == original.casefold():  # case-blind, as Windows and macOS save files
        name = f"{stem} (export).{extension}"
    return name


def _ascii(name: str) -> str:
    """A file name for the plain ``filename=`` parameter: what old clients can show."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


def _named(view: View) -> str:
    """A view, as a download's validator names it: a hash of all it says."""
    said = orjson.dumps(view.as_dict(), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(said, digest_size=8).hexdigest()
