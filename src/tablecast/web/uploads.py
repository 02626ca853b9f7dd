"""Uploads over HTTP: ``POST /parser/api/docs`` (a new document) and ``PUT
/parser/api/docs/{id}`` (a new version), the body streamed into :mod:`tablecast.service.uploads`.

Uploads stream: the body goes to the parser as it arrives, so no request body is ever held
whole, and an upload over the limit is refused from its Content-Length before any of it is
read, or as soon as it crosses the limit when it comes without one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import orjson
import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.ioloop import IOLoop

from .. import tasks
from ..errors import DiskFull, TablecastError
from ..metrics import METRICS
from ..model import Document, Version
from ..service.edits import current
from ..service.upload import Upload
from ..table.changes import Changed
from ..table.parsing import (
    MAX_COLUMNS,
    ParseOptions,
    parse_delimiter,
    parse_header_option,
)
from ..table.rows import json_cell
from ..wire import protocol
from .api import ApiHandler, ascii_number, key_column

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

    BODY_METHODS: tuple[str, ...] = ("POST", "PUT")  # those whose body is read, as it comes

    async def prepare(self) -> None:
        if self.request.method not in self.BODY_METHODS:
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
            sheet=self.get_query_argument("sheet", "")[:1024],
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
            try:
                await self.services.documents.remove_document_if_empty(self.created.id)
            except DiskFull:  # (an empty document, left for now: it holds nothing)
                log.warning("could not remove empty document %s yet: the disk is full",
                            self.created.id)  # fmt: skip

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


class SheetApi(ApiHandler):
    """``POST /parser/api/docs/{id}/sheet?sheet=NAME``, with the edit key: the document's
    workbook read again, that sheet this time, as a new version (see Uploads.another_sheet)."""

    async def post(self, document_id: str) -> None:
        try:
            document = self.check_edit_key(await self.document(document_id))
            sheet = self.get_query_argument("sheet", None, strip=False)
            if not sheet:
                raise TablecastError("bad_request", "say which sheet: ?sheet=NAME")
            address = self.request.remote_ip or "-"
            document = await self.services.uploads.another_sheet(document, sheet, address)
        except TablecastError as err:
            self.fail(err)
            return
        self.write_json(self.describe(document))


# The body of a change at a time (rows added or upserted, rows deleted, cells set): rows come
# in batches (tablecast append sends them as they come), and a body is held whole while it is
# read; a table is uploaded, not appended
MAX_ROWS_BYTES = 16 * 1024 * 1024


class ChangeHandler(UploadHandler):
    """A change to a table's rows where they are (see docs/protocol.md, "Changing rows"): a
    new version, made by tablecast.service.edits. Takes the edit key, as an upload does, and
    is refused as one is (UploadHandler.refuse): a body over MAX_ROWS_BYTES from its
    Content-Length before any of it is read, or as it crosses the limit."""

    BODY_METHODS: tuple[str, ...] = ("POST", "PATCH", "DELETE")
    body: bytearray | None = None  # as it comes
    target: Document | None = None

    async def _start(self) -> None:
        length = self.request.headers.get("Content-Length")
        if length and length.isascii() and length.isdigit() and int(length) > MAX_ROWS_BYTES:
            raise _rows_too_large()
        self.target = self.check_edit_key(await self.document(self.path_args[0]))
        self.body = bytearray()

    async def data_received(self, chunk: bytes) -> None:
        if self.body is None or self.refused is not None or self._finished:
            await super().data_received(chunk)  # (drained, if refused)
            return
        METRICS.bytes_in += len(chunk)
        if len(self.body) + len(chunk) > MAX_ROWS_BYTES:
            self.body = None
            self.refuse(_rows_too_large())
            return
        self.body += chunk

    def received(self) -> tuple[Document, bytes] | None:
        """The document and the whole body, once it came; None if the answer is out already."""
        if self.refused is not None:
            self._stop_draining()  # the whole body came while draining: the answer is out
            return None
        if self.body is None or self.target is None or self._finished:
            return None
        body, self.body = bytes(self.body), None
        return self.target, body

    async def answer(self, made: Awaitable[tuple[Document, Changed] | Document]) -> None:
        """The new version's metadata, with what the change did; then every viewer is shown
        it, the group staying on its page."""
        try:
            done = await made
        except TablecastError as err:
            self.fail(err)
            return
        document, changed = done if isinstance(done, tuple) else (done, None)
        answer = self.describe(document)
        if changed is not None:
            answer["changed"] = _described(changed, document)
        self.write_json(answer)
        await self.services.hub.version_committed(document, edited=True)

    async def based(self, document: Document) -> Document:
        """The document as of ``?version=V`` (the version rows are numbered in), if given."""
        version = await self.requested_version(document)
        return replace(document, version=version)


class RowsApi(ChangeHandler):
    """``POST /parser/api/docs/{id}/rows``: rows added; ``PATCH ...?key=COLUMN``: rows
    upserted by a key column; ``DELETE ...?row=N`` or ``?key=COLUMN&value=V``: rows deleted."""

    async def post(self, document_id: str) -> None:
        if (received := self.received()) is None:
            return
        try:
            options = self.rows_options()
        except TablecastError as err:
            self.fail(err)
            return
        await self.answer(self.services.edits.append_rows(*received, options))

    def rows_options(self) -> ParseOptions:
        """How a body of TSV or CSV rows is read: ``?delimiter=`` and ``?encoding=`` as an
        upload takes them (else found out, as an upload's are)."""
        return ParseOptions(
            delimiter=parse_delimiter(self.get_query_argument("delimiter", None)),
            encoding=self.get_query_argument("encoding", None) or None,
        )

    async def patch(self, document_id: str) -> None:
        if (received := self.received()) is None:
            return
        document, body = received
        try:
            key = key_column(self.get_query_argument("key", "", strip=False), current(document))
            options = self.rows_options()
        except TablecastError as err:
            self.fail(err)
            return
        await self.answer(self.services.edits.upsert(document, body, key, options))

    async def delete(self, document_id: str) -> None:
        if (received := self.received()) is None:
            return
        document, body = received
        edits = self.services.edits
        try:
            listed = _json_list(body)
            key = self.get_query_argument("key", None, strip=False)
            if key is not None:
                column = key_column(key, current(document))
                values = self.get_query_arguments("value", strip=False)
                values += [json_cell(value, "a value", "bad_request") for value in listed]
                if not values:
                    raise _which_rows()
                made = edits.delete_keyed(document, column, values)
            else:
                base = current(await self.based(document))
                rows = [_row_number(row) for row in self.get_query_arguments("row")]
                rows += [_row_number(row) for row in listed]
                if not rows:
                    raise _which_rows()
                made = edits.delete_rows(document, base, rows)
        except TablecastError as err:
            self.fail(err)
            return
        await self.answer(made)


class CellsApi(ChangeHandler):
    """``PATCH /parser/api/docs/{id}/cells``: cells set, a JSON list of ``{"row", "column",
    "value"}``, rows numbered as ``?version=V`` numbered them (default: the current one)."""

    BODY_METHODS = ("PATCH",)

    async def patch(self, document_id: str) -> None:
        if (received := self.received()) is None:
            return
        document, body = received
        try:
            base = current(await self.based(document))
            cells = [_cell_set(each, base) for each in _json_list(body, objects=True)]
            if not cells:
                raise TablecastError("bad_request", "send the cells to set: a JSON list")
        except TablecastError as err:
            self.fail(err)
            return
        await self.answer(self.services.edits.set_cells(document, base, cells))


def _json_list(body: bytes, objects: bool = False) -> list[Any]:
    """A body's JSON list (an object alone, where ``objects``, is a list of one; nothing:
    none)."""
    if not body.strip():
        return []
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise TablecastError("bad_request", "the body is not JSON") from None
    if objects and isinstance(found, dict):
        found = [found]
    if not isinstance(found, list):
        raise TablecastError("bad_request", "the body must be a JSON list")
    return found


def _row_number(row: object) -> int:
    if isinstance(row, int) and not isinstance(row, bool):
        return row
    if isinstance(row, str) and ascii_number(row, 12):
        return int(row)
    raise TablecastError("bad_request", "a row is a number: 1 is the first under the header")


def _cell_set(each: object, base: Version) -> tuple[int, int, str]:
    if not isinstance(each, dict) or not {"row", "column", "value"} <= each.keys():
        raise TablecastError("bad_request", 'a cell to set is {"row": R, "column": C, "value": V}')
    column = each["column"]
    if isinstance(column, str) and not ascii_number(column, 6):
        number = key_column(column, base)
    elif (isinstance(column, int) and not isinstance(column, bool)) or isinstance(column, str):
        number = int(column)
    else:
        raise TablecastError("bad_request", "a column is its name or its number, from 0")
    if number >= MAX_COLUMNS:
        raise TablecastError("too_many_columns", f"a row has {MAX_COLUMNS} cells at most")
    return _row_number(each["row"]), number, json_cell(each["value"], "a value", "bad_request")


def _described(changed: Changed, document: Document) -> dict[str, Any]:
    """What a change did, as its answer says (rows numbered as pages number them)."""
    assert document.version is not None
    first = document.version.first_data_record
    return {
        "updated": changed.updated,
        "deleted": changed.deleted,
        "added": changed.added,
        "overwritten": [
            {"row": record - first + 1, "column": column, "was": was, "value": value}
            for record, column, was, value in changed.overwritten
        ],
    }


def _which_rows() -> TablecastError:
    return TablecastError(
        "bad_request", "say which rows to delete: ?row=N, or ?key=COLUMN&value=V (or a body)"
    )


def _rows_too_large() -> TablecastError:
    return TablecastError(
        "too_large", f"a change is {MAX_ROWS_BYTES} bytes at most at a time: send fewer rows"
    )
