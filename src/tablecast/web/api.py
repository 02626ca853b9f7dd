"""The HTTP API under ``/parser/api``: what every API answer shares (:class:`ApiHandler`: JSON,
typed errors, the edit key, a document and version looked up), and reading it: pages,
versions, restoring one, column profiles and facet counts. Uploads are
:mod:`tablecast.web.uploads`', downloads :mod:`tablecast.web.downloads`'.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
import tornado.iostream
import tornado.web

from .. import access
from ..errors import TablecastError
from ..metrics import METRICS
from ..model import Document, Version
from ..table import paging
from ..table.paging import Numbering
from ..table.view import View, view_from_json, view_from_query
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
            self.clear_header("Etag")  # (a download's, set before it failed: not this answer's)
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

    def requested_limit(self, default: int, most: int, code: str = "bad_option") -> int:
        """``?limit=L``: how many things an answer lists, from 1 to ``most`` (``default``
        without one); anything else is refused as ``code``."""
        limit = self.get_query_argument("limit", None, strip=False)
        if not limit:
            return default
        if not (ascii_number(limit, max(4, len(str(most)))) and 1 <= int(limit) <= most):
            raise TablecastError(code, f"limit must be a number from 1 to {most}")
        return int(limit)

    async def requested_version(self, document: Document) -> Version | None:
        """``?version=V``, or the current version."""
        # unstripped: Tornado would make "%201" read as 1
        number = self.get_query_argument("version", None, strip=False)
        return await self.version(document, number) if number else document.version

    def requested_view(self) -> View:
        """``sort``, ``order``, ``q``, ``filter.N``, ``facet.N`` (repeatable), ``header`` and
        ``type.N`` (see tablecast.table.view)."""
        return view_from_query(
            lambda name: self.get_query_argument(name, None),
            list(self.request.query_arguments),
            # a facet's values are cells exactly as written: spaces and all
            lambda name: self.get_query_arguments(name, strip=False),
        )

    async def viewed_version(self, document: Document) -> tuple[View, Version | None]:
        """The view the query asks for, and the version (``version=V``, else the current one)
        as it reads it, the view checked against it."""
        view = self.requested_view()
        version = view.on(await self.requested_version(document))
        view.check(version)
        return view, version

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
        answer.update(view=view.as_dict(), types=view.typed(types))
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
        limit = self.requested_limit(self.LIMIT, self.MOST, "bad_request")
        before = self.get_query_argument("before", None, strip=False)
        if before and not (ascii_number(before, 9) and int(before) >= 1):
            raise TablecastError("bad_request", "before must be a version number: 1, 2, 3...")
        return limit, int(before) if before else None


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
        self.services.pages.restored(old, document.version)
        await self.services.hub.version_committed(document)
        self.write_json(self.describe(document))


def requested_column(text: str) -> int:
    """A column's number from a path: a bad one is a bad option, as in a query."""
    if not ascii_number(text, 6):
        raise TablecastError("bad_option", "a column is named by its number (0 is the first)")
    return int(text)


class ColumnsApi(ApiHandler):
    """``GET /parser/api/docs/{id}/columns`` and ``.../columns/{n}``: each column's profile (or
    column n's) over the rows the view shows (``version=V`` and the view's parameters, see
    tablecast.table.view; a sort changes nothing). Of a wide table, LIMIT columns at a time
    from ``from=F`` on (``limit=L`` fewer): a profile is a pass over a column, and the 16,384
    columns a table may have took 34 s of the views thread for one request. See
    docs/protocol.md, *Column profiles*."""

    LIMIT = 200  # columns profiled by a request at most

    async def get(self, document_id: str, column: str | None = None) -> None:
        try:
            document = await self.document(document_id)
            view, version = await self.viewed_version(document)
            number = None if column is None else requested_column(column)
            width = version.meta.width if version is not None else 0
            if number is not None and number >= width:
                raise TablecastError("bad_option", f"the table has no column {number}")
            first, limit = self._range()
            if first and first >= width:
                raise TablecastError("bad_option", f"the table has no column {first}")
            last = min(first + limit, width)
            columns = range(first, last) if number is None else range(number, number + 1)
            views = self.services.pages.views
            found = await views.profile(version, view, columns) if version is not None else []
        except TablecastError as err:
            self.fail(err)
            return
        names = version.column_names if version is not None else []
        described = [
            {"column": n, "name": names[n], **found_one}
            for n, found_one in zip(columns, found, strict=True)
        ]
        answer: dict[str, Any] = {
            "id": document.id,
            "version": version.number if version is not None else None,
            "total_number": described[0]["count"] if described else 0,
        }
        if number is None:
            answer["width"] = width
            answer["columns"] = described
            # the first column of the next request, if there are more
            answer["next"] = last if last < width else None
        else:
            answer["column"] = described[0]
        self.write_json(answer)

    def _range(self) -> tuple[int, int]:
        first = self.get_query_argument("from", None, strip=False)
        if first and not ascii_number(first, 6):
            raise TablecastError("bad_option", "from must be a column's number (0 is the first)")
        return int(first) if first else 0, self.requested_limit(self.LIMIT, self.LIMIT)


class FacetsApi(ApiHandler):
    """``GET /parser/api/docs/{id}/facets/{n}?limit=L``: how many rows hold each value of column
    n under the view, without the view's own facet on column n (see docs/protocol.md)."""

    LIMIT, MOST = 50, 1000  # values listed by default, and at most

    async def get(self, document_id: str, column: str) -> None:
        try:
            document = await self.document(document_id)
            view, version = await self.viewed_version(document)
            number = requested_column(column)
            limit = self.requested_limit(self.LIMIT, self.MOST)
            if version is None or number >= version.meta.width:
                raise TablecastError("bad_option", f"the table has no column {number}")
            counts = await self.services.pages.views.facet_counts(version, view, number, limit)
        except TablecastError as err:
            self.fail(err)
            return
        self.write_json(
            {
                "id": document.id,
                "version": version.number,
                "column": number,
                "name": version.column_names[number],
                **counts,
            }
        )


class DiffApi(ApiHandler):
    """``GET /parser/api/docs/{id}/diff?from=V&to=W``: rows added, removed and changed between
    two versions (``to``: the current one by default; ``from``: the one before ``to``),
    matched by content or by a key column (``key=``, its name or 0-based number), the first
    ``limit`` of each (see docs/protocol.md, under that heading)."""

    LIMIT, MOST = 1000, 10_000  # rows listed of each kind by default, and at most

    async def get(self, document_id: str) -> None:
        try:
            document = await self.document(document_id)
            to = self.get_query_argument("to", None, strip=False)
            new = await self.version(document, to) if to else document.version
            if new is None:
                raise TablecastError("version_not_found", "the document has no version yet")
            since = self.get_query_argument("from", None, strip=False)
            if not since and new.number == 1:
                raise TablecastError("bad_option", "version 1 has none before it: say from=")
            old = await self.version(document, since or str(new.number - 1))
            limit = self.requested_limit(self.LIMIT, self.MOST)
            key = self.get_query_argument("key", None, strip=False)
            column = None if not key else key_column(key, old, new)
            changes = await self.services.pages.views.diff(old, new, column, limit)
        except TablecastError as err:
            self.fail(err)
            return
        self.write_json(
            {
                "id": document.id,
                "from": old.number,
                "to": new.number,
                "key": column,
                "columns": new.column_names,
                # (the old version's header, where it differs)
                **(
                    {}
                    if old.column_names == new.column_names
                    else {"from_columns": old.column_names}
                ),
                **changes,
            }
        )


def key_column(key: str, *versions: Version) -> int:
    """A key column by its 0-based number or its name in the versions' headers (the same
    column in each)."""
    if ascii_number(key, 6):
        return int(key)
    names = [version.column_names for version in versions]
    found = {each.index(key) for each in names if each.count(key) == 1}
    if len(found) != 1 or any(each.count(key) != 1 for each in names):
        raise TablecastError("bad_option", f"no one column is named {key[:60]!r} in both versions")
    return found.pop()
