"""Uploads over HTTP: ``POST /parser/api/docs`` (a new document) and ``PUT
/parser/api/docs/{id}`` (a new version), the body streamed into :mod:`tablecast.service.uploads`.

Uploads stream: the body goes to the parser as it arrives, so no request body is ever held
whole, and an upload over the limit is refused from its Content-Length before any of it is
read, or as soon as it crosses the limit when it comes without one.
"""

from __future__ import annotations

import logging
import math

import orjson
import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop

from .. import tasks
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document
from ..service.upload import Upload
from ..table.parsing import ParseOptions, parse_delimiter, parse_header_option
from ..wire import protocol
from .api import ApiHandler

log = logging.getLogger("tablecast.api")


# What a refused upload's connection reads and drops before it closes (see UploadHandler)
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0
DRAIN_ANY = 2**62  # a body of any announced size is read, as far as a refusal drains it


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


# The body of rows added at a time: rows come in batches (tablecast append sends them as they
# come), and a body is held whole while it is read; a table is uploaded, not appended
MAX_ROWS_BYTES = 16 * 1024 * 1024


class RowsApi(UploadHandler):
    """``POST /parser/api/docs/{id}/rows``: rows added to the table's current version, as a
    new version (see docs/protocol.md, under that heading). Takes the edit key, as an upload
    does, and is refused as one is (UploadHandler.refuse): a body over MAX_ROWS_BYTES from its
    Content-Length before any of it is read, or as it crosses the limit."""

    rows: bytearray | None = None  # the body, as it comes
    target: Document | None = None

    async def _start(self) -> None:
        length = self.request.headers.get("Content-Length")
        if length and length.isascii() and length.isdigit() and int(length) > MAX_ROWS_BYTES:
            raise _rows_too_large()
        self.target = self.check_edit_key(await self.document(self.path_args[0]))
        self.rows = bytearray()

    async def data_received(self, chunk: bytes) -> None:
        if self.rows is None or self.refused is not None or self._finished:
            await super().data_received(chunk)  # (drained, if refused)
            return
        METRICS.bytes_in += len(chunk)
        if len(self.rows) + len(chunk) > MAX_ROWS_BYTES:
            self.rows = None
            self.refuse(_rows_too_large())
            return
        self.rows += chunk

    async def post(self, document_id: str) -> None:
        if self.refused is not None:
            self._stop_draining()  # the whole body came while draining: the answer is out
            return
        if self.rows is None or self.target is None or self._finished:
            return
        body, self.rows = bytes(self.rows), None
        try:
            document = await self.services.documents.append_rows(self.target, body)
        except TablecastError as err:
            self.fail(err)
            return
        self.write_json(self.describe(document))
        # every viewer: the new version, the group on the page it was on
        await self.services.hub.version_committed(document, rows_added=True)


def _rows_too_large() -> TablecastError:
    return TablecastError(
        "too_large", f"rows are added {MAX_ROWS_BYTES} bytes at most at a time: send fewer"
    )
