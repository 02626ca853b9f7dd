"""The HTTP API under ``/parser/api``: create a document from a file, add a version, read pages.

Uploads stream: the body goes to the parser as it arrives, so no request body is ever held
whole, and an upload over the limit is refused from its Content-Length before any of it is
read, or as soon as it crosses the limit when it comes without one.
"""

from __future__ import annotations

import codecs
import logging
import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop

from .. import access, tasks
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document, Version
from ..service.upload import Upload
from ..table import export, paging
from ..table.originals import Rebuilt
from ..table.paging import Numbering
from ..table.parsing import ParseOptions, parse_delimiter, parse_header_option
from ..table.view import PLAIN, View, view_from_json, view_from_query
from ..wire import protocol
from . import base_url, canonical_id, share_url

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger("tablecast.api")


class ApiHandler(tornado.web.RequestHandler):
    def initialize(self, services: Services) -> None:
        self.services = services

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(orjson.dumps(obj))

    def fail(self, err: TablecastError) -> None:
        log.info(
            "error %s %s code=%s %s", self.request.method, self.request.path, err.code, err.message
        )
        METRICS.error(err.code)
        if not self._finished:
            self.write_json({"error": err.as_dict()}, err.status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors Tornado raises itself (unknown route, wrong method, a bug) in our JSON shape."""
        if status_code >= 500:
            err = TablecastError("internal", "something went wrong")
            METRICS.error(err.code)
        else:
            code = {404: "not_found", 405: "method_not_allowed"}.get(status_code, "bad_request")
            err = TablecastError(code, self._reason)
        self.set_header("Content-Type", "application/json")
        self.finish(orjson.dumps({"error": err.as_dict()}))

    async def document(self, document_id: str) -> Document:
        found = canonical_id(document_id)
        document = await self.services.documents.get(found) if found else None
        if document is None:
            raise TablecastError("not_found", "no such document")
        return document

    def check_edit_key(self, document: Document) -> Document:
        """Changing a document takes its edit key: ``Authorization: Bearer <key>``."""
        if access.anyone_may_edit(document.edit_key_hash, self.services.settings.open_edit):
            return document
        key = access.bearer_token(self.request.headers.get("Authorization"))
        if key is None:
            self.set_header("WWW-Authenticate", 'Bearer realm="tablecast"')
            raise TablecastError(
                "edit_key_required", "send the edit key: Authorization: Bearer <edit_key>"
            )
        # wrong keys from one address are rate limited, as a WebSocket's auth messages are
        guesses, address = self.services.key_guesses, self.request.remote_ip or "-"
        if guesses.wait(address):
            self.set_header("Retry-After", str(math.ceil(guesses.wait(address))))
            raise TablecastError("rate_limited", "too many wrong edit keys: slow down")
        if not access.key_matches(key, document.edit_key_hash):
            guesses.take(address)
        access.check_key(key, document.edit_key_hash)
        return document

    async def version(self, document: Document, number: str) -> Version:
        """One committed version of the document, by its number as a user gives it."""
        if not ascii_number(number, 9):
            raise TablecastError("bad_request", "version must be a version number: 1, 2, 3...")
        found = await self.services.documents.version(document.id, int(number))
        if found is None:
            raise TablecastError("version_not_found", f"the document has no version {number}")
        return found

    async def requested_version(self, document: Document) -> Version | None:
        """``?version=V``, or the current version."""
        # unstripped: Tornado would make "%201" read as 1
        number = self.get_query_argument("version", None, strip=False)
        return await self.version(document, number) if number else document.version

    def requested_view(self) -> View:
        """``sort``, ``order``, ``q``, ``filter.N`` and ``header`` (see tablecast.table.view)."""
        return view_from_query(
            lambda name: self.get_query_argument(name, None), list(self.request.query_arguments)
        )

    def describe(self, document: Document) -> dict[str, Any]:
        """A document as the API shows it."""
        version = document.version
        window = paging.page_window(version, 1, self.services.settings.page_size, Numbering.ROWS)
        return {
            **protocol.document_fields(document),
            "url": share_url(self.services.settings, self.request, document.id),
            "api_url": f"{base_url(self.services.settings, self.request)}"
            f"/parser/api/docs/{document.id}",
            "total_number": window.total_number,
            "page_count": window.page_count,
            "page_size": window.page_size,
            **self.shared(document),
        }

    def shared(self, document: Document) -> dict[str, Any]:
        """What followers see now: as this node's room has it, if it has viewers here (the
        store has it a moment later: a turn is saved while its page goes out)."""
        room = self.services.hub.rooms.get(document.id)
        if room is not None:
            return {"shared_page": room.shared_page, "shared_view": room.shared_view.as_dict()}
        return {
            "shared_page": document.shared_page,
            "shared_view": view_from_json(document.shared_view).as_dict(),
        }


@tornado.web.stream_request_body
class UploadHandler(ApiHandler):
    """The body of a POST or PUT is a whole file; it becomes a new version as it streams in.

    A refusal (a wrong key, a file over a limit, a full store) is answered at once, before the
    body is read, and the connection then reads and drops what the client still sends for a
    moment (DRAIN_BYTES, DRAIN_SECONDS) before it closes: most clients (urllib, requests,
    ``tablecast upload``) read the answer only once they have sent their whole body, and a
    connection closed under them would give them a reset instead of the error.
    """

    upload: Upload | None = None
    created: Document | None = None
    edit_key: str | None = None  # of the document just created, shown once in the answer
    refused: TablecastError | None = None  # answered already; the body is being drained
    drained = 0

    async def prepare(self) -> None:
        if self.request.method not in ("POST", "PUT"):
            return
        settings = self.services.settings
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)
        # Our checks answer 413, not Tornado's (which closes): any body is read, up to the
        # upload limit as a file, and past it only as long as a refusal drains it
        connection.set_max_body_size(DRAIN_ANY)
        # Tornado's own body timeout closes without a word: ours (InProgress.expired) answers
        # upload_timeout first, and Tornado's is the backstop
        connection.set_body_timeout(settings.upload_timeout + 10)
        try:
            await self._start()
        except TablecastError as err:
            await self._rollback()
            self.refuse(err)

    async def _start(self) -> None:
        settings, documents = self.services.settings, self.services.documents
        length = self.request.headers.get("Content-Length")
        size = int(length) if length and length.isascii() and length.isdigit() else None
        if size is not None and size > settings.max_upload_bytes:
            raise TablecastError(
                "too_large",
                f"the file is larger than the limit of {settings.max_upload_bytes} bytes",
            )
        options = ParseOptions(
            delimiter=parse_delimiter(self.get_query_argument("delimiter", None)),
            encoding=self.get_query_argument("encoding", None) or None,
        )
        has_header = parse_header_option(self.get_query_argument("header", None))
        name = self.get_query_argument("name", None)
        filename = protocol.clean_filename(name or "")
        address = self.request.remote_ip or "-"
        if self.request.method == "POST":
            creations = self.services.creations
            if not creations.take(address):
                self.set_header("Retry-After", str(math.ceil(creations.wait(address))))
                raise TablecastError(
                    "rate_limited",
                    f"this address made {settings.create_rate:g} tables in a minute: wait a little",
                )
            self.created, self.edit_key = await documents.create()
            document_id = self.created.id
        else:
            document = self.check_edit_key(await self.document(self.path_args[0]))
            document_id = document.id
            if name is None and document.version is not None:
                # a new version of the same table, as `curl -X PUT --data-binary @f` sends it:
                # its name stays unless one is given
                filename = document.version.meta.filename
        self.upload = await self.services.uploads.start(
            document_id,
            filename=filename,
            has_header=has_header,
            options=options,
            size=size,
            via="http",
            address=address,
            on_expire=self._expired,
        )

    def refuse(self, err: TablecastError) -> None:
        """Answer now with ``err``, then drain the body (see the class's doc)."""
        if self._finished or self.refused is not None:
            return
        self.refused = err
        if self.request.headers.get("Expect", "").lower() == "100-continue":
            self.fail(err)  # the client waits for our word before it sends: nothing to drain
            return
        log.info(
            "error %s %s code=%s %s", self.request.method, self.request.path, err.code, err.message
        )
        METRICS.error(err.code)
        body = orjson.dumps({"error": err.as_dict()})
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Length", str(len(body)))
        self.set_header("Connection", "close")
        self.write(body)
        self.flush()
        IOLoop.current().call_later(DRAIN_SECONDS, self._stop_draining)

    def _stop_draining(self) -> None:
        """Enough drained: finishing closes the connection (the rest of the body unread)."""
        if not self._finished:
            self.finish()

    def _expired(self, err: TablecastError) -> None:
        """The upload went quiet or ran too long (see InProgress.expired)."""
        tasks.spawn(self._end_expired(err), "end an upload that timed out")

    async def _end_expired(self, err: TablecastError) -> None:
        await self._rollback(err)
        self.refuse(err)  # once rolled back; a client still sending reads it, as any refusal

    async def data_received(self, chunk: bytes) -> None:
        METRICS.bytes_in += len(chunk)
        if self.refused is not None:
            self.drained += len(chunk)
            if self.drained > DRAIN_BYTES:
                self._stop_draining()
            return
        upload = self.upload
        if upload is None or self._finished:
            return
        uploads = self.services.uploads
        try:
            await uploads.feed(upload, chunk)
        except TablecastError as err:
            self.upload = None  # rolled back, and shown so, by the service
            await self._rollback()
            self.refuse(err)
            return
        uploads.received(upload)

    async def _commit(self, status: int) -> None:
        if self.refused is not None:
            self._stop_draining()  # the whole body came while draining: the answer is out
            return
        upload = self.upload
        if upload is None or self._finished:
            return
        try:
            document = await self.services.uploads.finish(upload, self._committed)
        except TablecastError as err:
            self.upload = None  # rolled back, and shown so, by the service
            await self._rollback()
            self.fail(err)
            return
        self.set_header("Location", f"/parser/api/docs/{document.id}")
        answer = self.describe(document)
        if self.edit_key is not None:
            answer["edit_key"] = self.edit_key
            answer["edit_url"] = protocol.edit_url(answer["url"], self.edit_key)
        self.write_json(answer, status)

    def _committed(self, document: Document) -> None:
        # answered once every viewer has the version; a client leaving meanwhile has no
        # upload left to roll back
        self.upload = None

    async def _rollback(self, err: TablecastError | None = None) -> None:
        """A failed upload leaves the previous version; a failed create leaves no document."""
        upload, self.upload = self.upload, None
        if upload is not None:
            # no error: the client went away mid-upload
            await self.services.uploads.abort(upload, err)
        if self.created is not None:
            await self.services.documents.remove_document_if_empty(self.created.id)

    def on_connection_close(self) -> None:
        # the client went away mid-upload: roll it back
        if self.upload is not None:
            tasks.spawn(self._rollback(), "roll back an abandoned upload")
        super().on_connection_close()


class DocumentsApi(UploadHandler):
    """``POST /parser/api/docs``: a new document from the body."""

    async def post(self) -> None:
        await self._commit(201)


class DocumentApi(UploadHandler):
    """``GET`` a document's metadata; ``PUT`` a new version of it."""

    async def get(self, document_id: str) -> None:
        try:
            self.write_json(self.describe(await self.document(document_id)))
        except TablecastError as err:
            self.fail(err)

    async def put(self, document_id: str) -> None:
        await self._commit(200)


class NoSuchEndpoint(ApiHandler):
    """Anything else under /parser/api: a JSON 404 rather than an HTML page."""

    def prepare(self) -> None:
        raise tornado.web.HTTPError(404)


class PageApi(ApiHandler):
    """``GET /parser/api/docs/{id}/pages/{n}``: one page of the current version, or of
    ``?version=V``, sorted and searched as the query says (see tablecast.table.view)."""

    async def get(self, document_id: str, page: str) -> None:
        pages = self.services.pages
        try:
            document = await self.document(document_id)
            view = self.requested_view()
            version = view.on(await self.requested_version(document))
            view.check(version)
            document = replace(document, version=version)
            page_no, page_size = int(page), self.services.settings.page_size  # route: 1-18 digits
            found = await pages.page(version, view, page_no, page_size, Numbering.ROWS)
            if not 1 <= page_no <= found.window.page_count:
                raise TablecastError("page_not_found", f"the document has no page {page}")
            types = await pages.types(version)
        except TablecastError as err:
            self.fail(err)
            return
        answer = protocol.page_fields(protocol.document_fields(document), found.window, found.data)
        answer.update(view=view.as_dict(), types=types)
        if found.row_numbers is not None:
            answer["rows"] = found.row_numbers
        self.write_json(answer)


def ascii_number(text: str, digits: int) -> bool:
    """Whether a query's value is a whole number of at most ``digits`` ASCII digits.
    (``str.isdigit`` alone also takes superscripts, which ``int`` refuses, and other
    scripts' digits, which it reads: Arabic-Indic one as 1.)"""
    return text.isascii() and text.isdigit() and len(text) <= digits


class VersionsApi(ApiHandler):
    """``GET /parser/api/docs/{id}/versions?limit=N&before=V``: a page of the versions, newest
    first; ``next`` is the ``before`` of the page after it (null: this one is the oldest)."""

    LIMIT, MOST = 100, 1000  # versions a page holds by default, and at most

    async def get(self, document_id: str) -> None:
        try:
            document = await self.document(document_id)
            limit, before = self._page()
            # one more than asked: whether there is a next page, without counting them all
            versions = await self.services.documents.versions(document.id, limit + 1, before)
        except TablecastError as err:
            self.fail(err)
            return
        current = document.version.number if document.version else None
        more = len(versions) > limit
        versions = versions[:limit]
        self.write_json(
            {
                "id": document.id,
                "current": current,
                "versions": [protocol.version_fields(version) for version in versions],
                "next": versions[-1].number if more else None,
            }
        )

    def _page(self) -> tuple[int, int | None]:
        limit = self.get_query_argument("limit", None, strip=False)
        before = self.get_query_argument("before", None, strip=False)
        if limit and not (ascii_number(limit, 4) and 1 <= int(limit) <= self.MOST):
            raise TablecastError("bad_request", f"limit must be a number from 1 to {self.MOST}")
        if before and not (ascii_number(before, 9) and int(before) >= 1):
            raise TablecastError("bad_request", "before must be a version number: 1, 2, 3...")
        return int(limit) if limit else self.LIMIT, int(before) if before else None


class RestoreApi(ApiHandler):
    """``POST /parser/api/docs/{id}/versions/{v}/restore``: version V again, as a new version
    (history is never rewritten). Takes the edit key, as an upload does."""

    async def post(self, document_id: str, number: str) -> None:
        try:
            document = self.check_edit_key(await self.document(document_id))
            old = await self.version(document, number)
            document = await self.services.documents.restore(document, old)
        except TablecastError as err:
            self.fail(err)
            return
        await self.services.hub.version_committed(document)
        self.write_json(self.describe(document))


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
            pages = self.services.pages
            # JSON Lines writes numbers as numbers: it needs to know which columns hold them
            types = await pages.types(version) if fmt.name == "jsonl" else []
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
                await self.flush()  # waits for the client: a slow one never fills our memory
        except tornado.iostream.StreamClosedError:
            return  # the client stopped the download
        self.finish()

    def attachment(self, name: str, content_type: str) -> None:
        self.set_header("Content-Type", content_type)
        self.set_header(
            "Content-Disposition",
            f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name)}",
        )
        self.set_header("Cache-Control", "no-store")

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
            parts = await documents.original(version, 0, ORIGINAL_PARTS)
            if not parts:
                raise TablecastError(
                    "original_not_kept",
                    "this version was uploaded before original files were kept:"
                    " download it as tsv or csv",
                )
        except TablecastError as err:
            self.fail(err)
            return
        kind = "tab-separated-values" if version.meta.delimiter == "\t" else "csv"
        charset = content_charset(version.meta.encoding)
        self.attachment(original_name(version), f"text/{kind}; charset={charset}")
        first = 0
        try:
            while parts:
                for part in parts:
                    if isinstance(part, bytes):
                        self.write(part)
                    else:
                        await self._rebuild(version, part)
                await self.flush()
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
            await self.flush()


# What a refused upload's connection reads and drops before it closes (see UploadHandler)
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0
DRAIN_ANY = 2**62  # a body of any announced size is read, as far as a refusal drains it
ORIGINAL_PARTS = 4  # parts of an original file (~1 MiB each) read and sent at a time
# the encodings tablecast.table.parsing names, as a Content-Type names them (a BOM stays in the
# file)
CHARSETS = {
    "utf-8-sig": "utf-8", "utf-16-le": "utf-16", "utf-16-be": "utf-16", "cp1252": "windows-1252"
}  # fmt: skip
EXPORT_RECORDS = 4096  # records a download reads, writes and flushes at a time


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
    return version.meta.filename or ("table.tsv" if version.meta.delimiter == "\t" else "table.csv")


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
