"""Message shapes both ways, for the article's legacy clients and for ``tablecast.v1``. No I/O.

Legacy (a client that asks for no subprotocol): every server frame is a page,
``{"uuid", "page_no", "total_number", "data"}``, numbered over every record, header included,
exactly as the article's server did. A binary frame is a whole file; a text frame is a page
number.

``tablecast.v1``: typed JSON objects both ways; binary frames are upload chunks. Pages number
data rows only and carry the header as ``columns``. docs/protocol.md is the reference.

Encoders return ``bytes`` ready for the wire, so one encoding serves every viewer it is sent to.
Page data arrives already encoded (see :mod:`tablecast.store.base`) and is embedded as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import TablecastError
from ..model import Document, Version
from ..table.paging import PageWindow
from ..table.parsing import DELIMITER_NAMES, ParseOptions, parse_delimiter
from ..table.view import PLAIN, View, view_from_message

SUBPROTOCOL = "tablecast.v1"

# Flow control for v1 uploads: a client keeps at most WINDOW chunks unacknowledged.
CHUNK_BYTES = 256 * 1024
WINDOW = 8


def timestamp(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def legacy_page(
    document_id: str, window: PageWindow, data: bytes, error: TablecastError | None = None
) -> bytes:
    """The article's message. A legacy client gets no other kind, so errors ride along in one."""
    message: dict[str, Any] = {
        "uuid": document_id,
        "page_no": window.page_no,
        "total_number": window.total_number,
        "data": orjson.Fragment(data),
    }
    if error is not None:
        message["error"] = error.as_dict()
    return orjson.dumps(message)


def document_fields(document: Document) -> dict[str, Any]:
    """What a page message and the HTTP API say about a document and its current version."""
    version = document.version
    return {
        "id": document.id,
        "version": version.number if version else None,
        "filename": version.meta.filename if version else None,
        "columns": version.column_names if version else [],
        "has_header": version.meta.has_header if version else True,
        "ragged_rows": version.meta.ragged_rows if version else 0,
        "encoding": version.meta.encoding if version else None,
        "delimiter": DELIMITER_NAMES.get(version.meta.delimiter) if version else None,
        "size": version.meta.size if version else 0,
        **source_fields(version),
        "created_at": timestamp(document.created_at),
        "updated_at": timestamp(document.updated_at),
    }


def version_fields(version: Version) -> dict[str, Any]:
    """One version as the versions list shows it."""
    return {
        "version": version.number,
        "created_at": timestamp(version.created_at),
        "filename": version.meta.filename,
        "total_number": version.data_rows,
        "size": version.meta.size,
        "columns": version.column_names,
        "has_header": version.meta.has_header,
        "ragged_rows": version.meta.ragged_rows,
        "encoding": version.meta.encoding,
        "delimiter": DELIMITER_NAMES.get(version.meta.delimiter),
        **source_fields(version),
    }


def source_fields(version: Version | None) -> dict[str, Any]:
    """What a version was read from: ``format`` (``text``: delimited text, else the file's
    format, see tablecast.table.formats.FORMATS), and a workbook's ``sheet`` (else None) and
    ``sheets``, its worksheets (for a sheet switcher: every page message carries them)."""
    source = version.meta.source if version is not None else None
    if source is None:
        return {"format": "text", "sheet": None, "sheets": []}
    return {"format": source.format, "sheet": source.sheet or None, "sheets": list(source.sheets)}


def page_fields(fields: dict[str, Any], window: PageWindow, data: bytes) -> dict[str, Any]:
    """A page's keys: ``fields`` are the document's (``document_fields``, made once per version)."""
    return {
        "uuid": fields["id"],
        "page_no": window.page_no,
        "total_number": window.total_number,
        "data": orjson.Fragment(data),
        "page_count": window.page_count,
        "page_size": window.page_size,
        "first_row": window.first_row,
        **fields,
    }


def v1_page(
    fields: dict[str, Any],
    window: PageWindow,
    data: bytes,
    *,
    shared: bool,
    cause: str,
    view: View = PLAIN,
    types: list[str] | None = None,
    row_numbers: list[int] | None = None,
) -> bytes:
    """A page for a v1 viewer. ``shared``: it is the document's shared page (follow mode).
    ``cause``: why it was sent: join, request, turn, view, version or follow. ``view``: how
    its rows were picked; ``row_numbers``: each row's number in the file, when sorted or
    searched. ``types``: the columns' types as inferred (None: not known yet, a ``types``
    message follows); the page says them with the view's own types set over them."""
    message = page_fields(fields, window, data)
    message["type"], message["shared"], message["cause"] = "page", shared, cause
    message["view"], message["types"] = view.as_dict(), view.typed(types)
    if row_numbers is not None:
        message["rows"] = row_numbers
    return orjson.dumps(message)


def v1_patch(before: bytes, page: bytes) -> bytes | None:
    """A v1 page as what changed since the page ``before`` (the same page of the same view,
    of the version before): a ``patch`` of the page's rows that differ, by their place on the
    page, with the new page's every other field; None where that is no smaller than the page,
    or the two are not the same page. See docs/protocol.md, "patch"."""
    old, new = orjson.loads(before), orjson.loads(page)
    if (old.get("page_no"), old.get("view")) != (new.get("page_no"), new.get("view")):
        return None
    was, data = old["data"], new.pop("data")
    changes = {str(i): row for i, row in enumerate(data) if i >= len(was) or was[i] != row}
    new.update(type="patch", base=old["version"], length=len(data), changes=changes)
    patch = orjson.dumps(new)
    return patch if len(patch) < len(page) else None


# Other v1 server messages


def hello(
    document_id: str,
    url: str,
    limits: dict[str, int],
    follow: bool,
    edit: bool,
    edit_key: str | None = None,
) -> bytes:
    """The first message. ``edit``: this viewer may upload and turn the shared page.
    ``edit_key``: to the one who just created the document, the key it is shown only once."""
    message: dict[str, Any] = {
        "type": "hello",
        "protocol": SUBPROTOCOL,
        "uuid": document_id,
        "id": document_id,
        "url": url,
        "follow": follow,
        "edit": edit,
        "limits": {"chunk_bytes": CHUNK_BYTES, "window": WINDOW, **limits},
    }
    if edit_key is not None:
        message["edit_key"] = edit_key
        message["edit_url"] = edit_url(url, edit_key)
    return orjson.dumps(message)


def edit_url(url: str, edit_key: str) -> str:
    """The edit link: the key rides in the fragment, which browsers never send to a server."""
    return f"{url}#key={edit_key}"


def presence(viewers: int) -> bytes:
    return orjson.dumps({"type": "presence", "viewers": viewers})


def error(err: TablecastError, request: str | None = None) -> bytes:
    message: dict[str, Any] = {"type": "error", **err.as_dict()}
    if request is not None:
        message["request"] = request
    return orjson.dumps(message)


def message(type_: str, **fields: Any) -> bytes:
    """The simple v1 messages: upload_ready, upload_ack, upload_done, upload_progress, pong."""
    return orjson.dumps({"type": type_, **fields})


# Client messages


@dataclass(frozen=True)
class Goto:
    """Show this page: the shared one when following, else one's own."""

    page: int


@dataclass(frozen=True)
class SetView:
    """Sort, search or switch the header: for every follower when an editor following sends
    it, else for this viewer alone."""

    view: View


@dataclass(frozen=True)
class Follow:
    follow: bool


@dataclass(frozen=True)
class Patches:
    """Send this viewer patches rather than whole pages where they are smaller (see v1_patch)."""

    patches: bool


@dataclass(frozen=True)
class UploadBegin:
    filename: str
    size: int | None
    has_header: bool
    options: ParseOptions
    sheet: str = ""  # a workbook's sheet to read


@dataclass(frozen=True)
class UploadEnd:
    pass


@dataclass(frozen=True)
class UploadCancel:
    pass


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Auth:
    """Present the document's edit key, to upload and turn the shared page."""

    edit_key: str


ClientMessage = (
    Goto | SetView | Follow | Patches | UploadBegin | UploadEnd | UploadCancel | Ping | Auth
)

_PAGE_NUMBER = re.compile(r"\s*([0-9]{1,18})\s*")


def _page_number(value: object) -> int:
    if isinstance(value, str) and (match := _PAGE_NUMBER.fullmatch(value)):
        value = int(match.group(1))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TablecastError("bad_page", "a page number is a whole number from 1 up")
    return value


def decode_legacy_text(text: str) -> int:
    """A legacy text frame: a page number, as the article's ``ws.send(currentPage)`` sends it."""
    return _page_number(text)


def request_name(text: str) -> str:
    """Which request a v1 message is, for an error answering it: its type, if a known one."""
    try:
        kind = orjson.loads(text).get("type")
    except (orjson.JSONDecodeError, AttributeError):
        return "message"
    return kind if isinstance(kind, str) and kind in _DECODERS else "message"


def decode_v1_text(text: str) -> ClientMessage:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise TablecastError("bad_message", "a message must be a JSON object") from None
    if not isinstance(obj, dict):
        raise TablecastError("bad_message", "a message must be a JSON object")
    kind = obj.get("type")
    decode = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decode is None:
        raise TablecastError("unknown_type", f"unknown message type {kind!r}"[:200])
    return decode(obj)


def _auth(obj: dict[str, Any]) -> Auth:
    key = obj.get("edit_key")
    if not isinstance(key, str) or not 0 < len(key) <= 256:
        raise TablecastError("bad_message", "edit_key must be the key of an edit link")
    return Auth(key)


def _flag(obj: dict[str, Any], key: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise TablecastError("bad_message", f"{key} must be true or false")
    return value


def _upload_begin(obj: dict[str, Any]) -> UploadBegin:
    filename = obj.get("filename", "")
    if not isinstance(filename, str):
        raise TablecastError("bad_message", "filename must be a string")
    size = obj.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise TablecastError("bad_message", "size must be a number of bytes")
    delimiter, encoding = obj.get("delimiter"), obj.get("encoding")
    if not isinstance(delimiter, str | None) or not isinstance(encoding, str | None):
        raise TablecastError("bad_option", "delimiter and encoding must be strings")
    options = ParseOptions(delimiter=parse_delimiter(delimiter), encoding=encoding or None)
    sheet = obj.get("sheet", "")
    if not isinstance(sheet, str):
        raise TablecastError("bad_option", "sheet must be a string")
    return UploadBegin(
        clean_filename(filename), size, _flag(obj, "header", True), options, sheet[:1024]
    )


# Each v1 client message type, and how it is read.
_DECODERS: dict[str, Callable[[dict[str, Any]], ClientMessage]] = {
    "goto": lambda obj: Goto(_page_number(obj.get("page"))),
    "view": lambda obj: SetView(view_from_message(obj)),
    "follow": lambda obj: Follow(_flag(obj, "follow", True)),
    "patches": lambda obj: Patches(_flag(obj, "patches", True)),
    "upload_begin": _upload_begin,
    "upload_end": lambda obj: UploadEnd(),
    "upload_cancel": lambda obj: UploadCancel(),
    "ping": lambda obj: Ping(),
    "auth": _auth,
}


def clean_filename(name: str) -> str:
    """A file name to show: no path, no control characters, not endless."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isprintable())[:255]
