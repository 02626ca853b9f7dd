"""Downloads: ``GET /parser/api/docs/{id}/download``, a version as the file uploaded or as a
view shows it, streamed, with a file name people can keep.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import re
from urllib.parse import quote

import orjson
import tornado.iostream
import tornado.web

from ..errors import TablecastError
from ..model import Version
from ..table import export
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
# kept by a client under the same ETag would be another's bytes)
EXPORTS_REVISION = 1
# A download of a version named by number: it never changes (a version is immutable, and no
# store gives a version's id to another), so a client may keep it
PINNED = "private, max-age=31536000, immutable"


class DownloadApi(ApiHandler):
    """``GET /parser/api/docs/{id}/download?format=original|tsv|csv|jsonl``: a version
    (``version=V``, else the current one) as a file: the file exactly as uploaded, or as a view
    shows it (``sort``, ``order``, ``q``, ``filter.N``, ``header``), streamed a few thousand
    rows at a time (see tablecast.table.export)."""

    async def get(self, document_id: str) -> None:
        if self.get_query_argument("format", None) == "original":
            await self._original(document_id)
            return
        try:
            document = await self.document(document_id)
            view = self.requested_view()
            version = view.on(await self.requested_version(document))
            view.check(version)
            fmt = export.format_named(self.get_query_argument("format", None))
            if version is not None and self.unchanged(version, f"{fmt.name}.{_named(view)}"):
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
