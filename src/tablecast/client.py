"""``tablecast upload``, ``watch`` and ``diff``: a table from a file or a script, and what
changed in it, over HTTP.

The file streams from disk in chunks (never read whole), with a progress bar when standard error
is a terminal. ``watch`` uploads a new version whenever the file changes and has stayed the same
for one interval, so a script rewriting it mid-way never publishes half a table.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import select
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

CHUNK = 256 * 1024
DEFAULT_SERVER = "http://127.0.0.1:8080"


class ClientError(Exception):
    """What the server (or the network) said went wrong, fit to print. ``retry``: worth trying
    again as it is (the server could not be reached); else the file or the request is wrong."""

    def __init__(self, message: str, *, retry: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.code = code  # the server's error code, where it said one


@dataclass(frozen=True)
class Target:
    server: str  # e.g. https://tables.example.com
    document_id: str | None = None  # None: a new document
    edit_key: str | None = None


@dataclass(frozen=True)
class Options:
    name: str | None = None  # the file name shown to viewers (default: the file's)
    header: bool = True
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None  # a workbook's sheet to read (default: the table's, or the first)


@dataclass(frozen=True)
class Link:
    """A table as someone hands it over: its id, and where a link gives them, its server and
    its edit key."""

    document_id: str
    server: str | None = None
    edit_key: str | None = None


# The paths that name a table: its page (a view link, or an edit link with #key=...), its API
# address, its WebSocket; under whatever prefix a proxy serves tablecast at
_TABLE_PATH = re.compile(r"(?P<prefix>.*?)/parser/(?:share|api/docs|ws)/(?P<id>[^/]+)(?:/.*)?")


def read_link(text: str) -> Link:
    """A table's id, or any link to it (``--doc`` takes what the app's "Copy link" gives)."""
    text = text.strip()
    if "://" not in text:
        return Link(_document_id(text, text))
    url = urllib.parse.urlsplit(text)
    path = _TABLE_PATH.fullmatch(url.path)
    if url.scheme not in ("http", "https") or not url.netloc or path is None:
        raise ClientError(f"not a link to a table: {text!r} (a link is .../parser/share/ID)")
    keys = urllib.parse.parse_qs(url.fragment).get("key")  # an edit link: #key=KEY
    return Link(
        _document_id(urllib.parse.unquote(path["id"]), text),
        f"{url.scheme}://{url.netloc}{path['prefix']}",
        keys[0] if keys else None,
    )


def _document_id(text: str, given: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ClientError(
            f"not a table's id or link: {given!r} (an id is like 0b4c6b1e-..., a link"
            " .../parser/share/ID)"
        ) from None


Progress = Callable[[int, int], None]  # (bytes sent, bytes in all)


class _Reading:
    """A file read in chunks for http.client, telling ``progress`` as it goes."""

    def __init__(self, file: BinaryIO, size: int, progress: Progress | None) -> None:
        self.file, self.size, self.progress, self.sent = file, size, progress, 0

    def read(self, n: int = CHUNK) -> bytes:
        data = self.file.read(min(n, CHUNK) if n > 0 else CHUNK)
        self.sent += len(data)
        if self.progress is not None:
            self.progress(self.sent, self.size)
        return data


def upload(
    path: Path, target: Target, options: Options, progress: Progress | None = None
) -> dict[str, Any]:
    """Send the file as a new document (POST) or a new version of one (PUT, with the edit
    key); the server's answer: the document's metadata, and for a new one its edit key."""
    url = _server_url(target)
    query = {"name": options.name or path.name}
    if not options.header:
        query["header"] = "0"
    if options.delimiter:
        query["delimiter"] = options.delimiter
    if options.encoding:
        query["encoding"] = options.encoding
    if options.sheet:
        query["sheet"] = options.sheet
    base = f"{url.path}/parser/api/docs"
    headers = {"Content-Type": "text/plain", "User-Agent": "tablecast-cli"}
    if target.document_id is None:
        method, where = "POST", base
    else:
        if not target.edit_key:
            raise ClientError(
                "a new version needs the document's edit key: --key KEY, or --doc EDIT_LINK"
            )
        method, where = "PUT", f"{base}/{urllib.parse.quote(target.document_id)}"
        headers["Authorization"] = f"Bearer {target.edit_key}"
    connection = _connection(url)
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            headers["Content-Length"] = str(size)
            try:
                connection.request(
                    method,
                    f"{where}?{urllib.parse.urlencode(query)}",
                    body=_Reading(file, size, progress),
                    headers=headers,
                )
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The server refused the file before it had all of it (a wrong key, a file
                # over its limit) and stopped reading: its answer, sent first, says why
                response = _answer_to_a_refusal(connection)
                if response is None:
                    raise exc
            else:
                response = connection.getresponse()
            body = response.read()
    except FileNotFoundError:
        raise ClientError(f"no such file: {path}") from None
    except OSError as exc:  # refused, reset, timed out
        raise ClientError(f"could not upload to {target.server}: {exc}", retry=True) from None
    finally:
        connection.close()
    return _decoded(response.status, body, target.server)


def _server_url(target: Target) -> urllib.parse.SplitResult:
    url = urllib.parse.urlsplit(target.server.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ClientError(f"not a server address: {target.server!r} (try {DEFAULT_SERVER})")
    return url


def _connection(url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    return connection_class(url.hostname or "", url.port, timeout=300)  # (checked: _server_url)


def _decoded(status: int, body: bytes, server: str) -> dict[str, Any]:
    """The server's JSON answer, or the error it says, as a ClientError."""
    try:
        answer: dict[str, Any] = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ClientError(f"{server} answered {status}, not tablecast") from None
    if status >= 400:
        error = answer.get("error", {})
        code = error.get("code")
        raise ClientError(f"{code or status}: {error.get('message', '')}", code=code)
    return answer


def changes(
    target: Target,
    since: int | None = None,
    to: int | None = None,
    key: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """What changed from version ``since`` to ``to`` of the table (``GET .../diff``; the
    server's defaults: the current version and the one before it), rows matched by content
    or by the ``key`` column."""
    if target.document_id is None:
        raise ClientError("which table? --doc ID or LINK")
    asked = {"from": since, "to": to, "key": key, "limit": limit}
    query = urllib.parse.urlencode({name: v for name, v in asked.items() if v is not None})
    return _asked(target, "GET", f"diff?{query}")


def _asked(target: Target, method: str, where: str, body: bytes | None = None) -> dict[str, Any]:
    """One request of the table's API (``where``: under its address), its JSON answer."""
    url = _server_url(target)
    assert target.document_id is not None
    path = f"{url.path}/parser/api/docs/{urllib.parse.quote(target.document_id)}/{where}"
    headers = {"User-Agent": "tablecast-cli"}
    if target.edit_key:
        headers["Authorization"] = f"Bearer {target.edit_key}"
    connection = _connection(url)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    except OSError as exc:
        raise ClientError(f"could not reach {target.server}: {exc}", retry=True) from None
    finally:
        connection.close()
    return _decoded(response.status, answer, target.server)


def changes_text(answer: dict[str, Any]) -> str:
    """A diff as a person reads it: a line of counts, then a line a change (``~`` changed,
    with each changed cell old → new; ``+`` added; ``-`` removed, with its cells)."""
    counts = answer["counts"]
    said = [(what, counts[what]) for what in ("added", "changed", "removed") if counts[what]]
    summary = ", ".join(
        f"{count(n, 'row') if i == 0 else f'{n:,}'} {what}" for i, (what, n) in enumerate(said)
    )
    lines = [f"version {answer['from']} → version {answer['to']}: {summary or 'no row changed'}"]
    if "from_columns" in answer:
        lines.append(f"columns: {_cells(answer['from_columns'])} → {_cells(answer['columns'])}")
    names = answer["columns"]
    for change in answer["changed"]:
        was = "" if change["from_row"] == change["row"] else f" (was row {change['from_row']})"
        cells = "; ".join(
            f"{names[int(column)] if int(column) < len(names) else f'column {int(column) + 1}'}:"
            f" {_cell(old)} → {_cell(new)}"
            for column, (old, new) in change["cells"].items()
        )
        lines.append(f"~ row {change['row']}{was}: {cells}")
    for row in answer["added"]:
        lines.append(f"+ row {row['row']}: {_cells(row['cells'])}")
    for row in answer["removed"]:
        lines.append(f"- row {row['row']} of version {answer['from']}: {_cells(row['cells'])}")
    if answer["truncated"]:
        listed = len(answer["changed"]) + len(answer["added"]) + len(answer["removed"])
        lines.append(f"(listed {listed:,} of {sum(counts.values()):,} changes: --limit lists more)")
    return "\n".join(lines)


def _cell(value: str | None) -> str:
    """A cell as JSON writes it, so that an empty one, or spaces, show: "", " "."""
    return "(none)" if value is None else orjson.dumps(value).decode()


def _cells(cells: list[str]) -> str:
    return ", ".join(_cell(cell) for cell in cells)


def _answer_to_a_refusal(connection: http.client.HTTPConnection) -> Any:
    """The answer the server sent before it stopped reading our body, if it can be read."""
    try:
        return connection.getresponse()
    except (OSError, http.client.HTTPException):
        return None


def progress_bar(name: str, out: Any = sys.stderr) -> Progress:
    """A one-line progress bar, redrawn in place at most ten times a second, and ended once:
    http.client reads on past the end of the file, and that read must not draw it again."""
    started = time.monotonic()
    drawn = 0.0
    ended = False

    def show(sent: int, size: int) -> None:
        nonlocal drawn, ended
        now = time.monotonic()
        if ended or (now - drawn < 0.1 and sent < size):
            return
        drawn = now
        fraction = sent / size if size else 1.0
        rate = sent / max(now - started, 1e-6)
        bar = "#" * int(fraction * 30)
        out.write(
            f"\r{name[:30]:30} [{bar:30}] {fraction:4.0%}"
            f" {size_of(sent)} of {size_of(size)}, {size_of(rate)}/s "
        )
        if sent >= size:
            out.write("\n")
            ended = True
        out.flush()

    return show


def size_of(n: float) -> str:
    """A number of bytes as people read it: 512 B, 1.5 kB, 340 kB, 12 MB, 1.2 GB."""
    if n < 999.5:
        return f"{n:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        shown = f"{n:.1f}" if n < 9.95 else f"{n:.0f}"  # two or three figures
        if float(shown) < 1000 or unit == "TB":
            break
    return f"{shown} {unit}"


def count(n: int, thing: str) -> str:
    """``1 row``, ``12,408 rows``."""
    return f"{n:,} {thing}" if n == 1 else f"{n:,} {thing}s"


def links(answer: dict[str, Any]) -> str:
    """What to tell the person who uploaded: the links, the version, the rows."""
    lines = [added(answer), f"view: {answer['url']}"]
    if answer.get("edit_url"):
        lines.append(f"edit: {answer['edit_url']}")
    return "\n".join(lines)


def added(answer: dict[str, Any]) -> str:
    """The version an upload made: ``version 2: 12,408 rows``."""
    return f"version {answer['version']}: {count(answer['total_number'], 'row')}"


def watch(
    path: Path,
    target: Target,
    options: Options,
    *,
    interval: float,
    say: Callable[[str], None],
    complain: Callable[[str], None],
    progress: Callable[[str], Progress | None] = lambda name: None,
) -> None:
    """Upload the file now (making a document unless ``target`` names one), then again each
    time it changes and stays unchanged for ``interval`` seconds. Runs until interrupted; an
    upload that fails is reported (``complain``) and the watch goes on: a refused file waits
    for the next change, one the server was away for is sent again.

    A file that only grew by whole lines (a log, a report that adds its newest rows) sends
    those lines alone, as rows added (``POST .../rows``): a version that stores only them. A
    file whose lines changed in place, or that lost lines, sends the cells that changed
    (``PATCH .../cells``) or the rows gone (``DELETE .../rows``), one change (see
    _changed_in_place). Only while the table's current version is the one this watch made of
    the file (nobody else changed the table since); otherwise, and for any other change, the
    whole file."""
    last: tuple[int, int, int] | None = None
    sent: Sent | None = None  # the table's version this watch made, and of what
    seen = _stat(path)
    try:
        while True:
            if seen is not None and seen != last:
                time.sleep(interval)  # settled? a writer may still be at it
                now = _stat(path)
                if now != seen:
                    seen = now
                    continue
                try:
                    answer = _rows_added(path, target, options, sent)
                    if answer is None:
                        answer = _changed_in_place(path, target, options, sent)
                    if answer is None:
                        answer = upload(path, target, options, progress(path.name))
                    # what was sent is the file as it is, unless it changed while it was sent
                    if sent is not None:
                        sent.forget()
                    sent = _sent_of(path, answer) if _stat(path) == seen else None
                except ClientError as err:
                    complain(f"tablecast: {err}")
                    if err.retry:  # the server away: try this version again next time
                        time.sleep(interval)
                        seen = _stat(path)
                        continue
                else:
                    if target.document_id is None:
                        target = Target(target.server, answer["id"], answer["edit_key"])
                        say(links(answer))
                    else:
                        say(f"{added(answer)}{_what_changed(answer)}")
                last = seen
            time.sleep(interval)
            seen = _stat(path)
    finally:
        if sent is not None:
            sent.forget()


def _what_changed(answer: dict[str, Any]) -> str:
    """What a change the watch sent did, where it did not send the whole file."""
    changed = answer.get("changed") or {}
    if answer.get("rows_added"):
        return f" ({count(answer['rows_added'], 'row')} added)"
    if answer.get("cells_set") is not None:
        return f" ({count(answer['cells_set'], 'cell')} set)"
    if answer.get("rows_deleted") is not None:
        return f" ({count(changed.get('deleted', 0), 'row')} deleted)"
    return ""


@dataclass(frozen=True)
class Sent:
    """What a watch's last version was made of: the file's first ``size`` bytes, their
    SHA-256, and how the server read them; and a copy of them, ``kept`` (a file of up to
    KEPT_BYTES: see _changed_in_place)."""

    version: int
    total_number: int
    size: int
    digest: bytes
    delimiter: str | None
    encoding: str | None
    has_header: bool = True
    kept: Path | None = None
    # read as text (not a workbook, Parquet, Arrow or JSON): its lines are its rows
    text: bool = True

    def forget(self) -> None:
        if self.kept is not None:
            self.kept.unlink(missing_ok=True)


def _digest(path: Path, size: int) -> bytes:
    """The SHA-256 of the file's first ``size`` bytes, read a piece at a time."""
    found = hashlib.sha256()
    with open(path, "rb") as file:
        left = size
        while left > 0:
            piece = file.read(min(CHUNK, left))
            if not piece:
                break
            found.update(piece)
            left -= len(piece)
    return found.digest()


def _sent_of(path: Path, answer: dict[str, Any]) -> Sent | None:
    """What the version ``answer`` describes was made of: the file as it is now (it stayed
    unchanged while it was sent, see watch), a copy of it kept where it is small enough."""
    kept = None
    text = answer.get("format", "text") == "text"
    try:
        size = path.stat().st_size
        if text and size <= KEPT_BYTES:
            handle, name = tempfile.mkstemp(prefix="tablecast-watch-", suffix=".kept")
            os.close(handle)
            kept = Path(name)
            shutil.copyfile(path, kept)
        return Sent(
            answer["version"],
            answer["total_number"],
            size,
            _digest(kept or path, size),
            answer.get("delimiter"),
            answer.get("encoding"),
            bool(answer.get("has_header", True)),
            kept,
            text,
        )
    except (OSError, KeyError):
        if kept is not None:
            kept.unlink(missing_ok=True)
        return None


# A watched file up to this size is kept as sent (a temporary copy, removed when the watch
# ends), so that a change of some of its lines sends those alone: what it takes, twice the
# file and its lines, is held only while the two are compared
KEPT_BYTES = 32 * 1024 * 1024
# Rows a change in place sends at most (more: the whole file)
CHANGED_ROWS = 10_000
# The delimiters as the server names them (tablecast.table.parsing.DELIMITER_NAMES: not
# imported, as the command would then start a second later, with numpy)
DELIMITERS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def _changed_in_place(
    path: Path, target: Target, options: Options, sent: Sent | None
) -> dict[str, Any] | None:
    """The file's lines changed in place since ``sent`` (as many lines, some of their cells
    changed), or some lines gone: those cells set (``PATCH .../cells``), or those rows deleted
    (``DELETE .../rows``), one change, rows numbered as the watch's version numbered them; the
    answer, with ``cells_set`` or ``rows_deleted``. None where the file changed otherwise, is
    not read line by line as the server reads it (quotes, carriage returns, blank lines, an
    encoding other than UTF-8, a delimiter the server did not name), changed in more than
    CHANGED_ROWS rows, or the table moved on since: the whole file is sent instead."""
    if sent is None or sent.kept is None or not sent.text or target.document_id is None:
        return None
    delimiter = DELIMITERS.get(options.delimiter or sent.delimiter or "")
    if delimiter is None or (options.encoding or sent.encoding) != "utf-8":
        return None
    try:
        if path.stat().st_size > KEPT_BYTES:
            return None
        before, now = sent.kept.read_bytes(), path.read_bytes()
    except OSError:
        return None
    was, lines = _lines(before), _lines(now)
    first = 1 if sent.has_header else 0
    if was is None or lines is None or was[:first] != lines[:first]:
        return None
    if len(lines) == len(was):
        cells = _cells_changed(was, lines, delimiter.encode(), first)
        if not cells:
            return None
        where, body, said = "cells", orjson.dumps(cells), "cells_set"
        told = len(cells)
    elif len(lines) < len(was):
        gone = _lines_gone(was, lines)
        if gone is None or not gone or len(gone) > CHANGED_ROWS:
            return None
        rows = [line - first + 1 for line in gone]
        where, body, said, told = "rows", orjson.dumps(rows), "rows_deleted", len(rows)
    else:
        return None
    if not _still_current(target, sent):
        return None  # someone else changed the table: the file, whole, is its next version
    method = "PATCH" if said == "cells_set" else "DELETE"
    answer = _asked(target, method, f"{where}?version={sent.version}", body)
    answer[said] = told
    return answer


def _lines(data: bytes) -> list[bytes] | None:
    """A file's lines, each a record as the server reads it; None where one may not be
    (quotes, which may hold line breaks; carriage returns; blank lines, which are not
    records; a backslash or a byte not UTF-8, read otherwise)."""
    if b'"' in data or b"\r" in data or b"\\" in data:
        return None
    try:
        data.decode()
    except UnicodeDecodeError:
        return None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if any(not line for line in lines):
        return None
    return lines


def _cells_changed(
    was: list[bytes], lines: list[bytes], delimiter: bytes, first: int
) -> list[dict[str, Any]] | None:
    """The cells that differ between lines in the same places (``first``: lines before the
    rows, the header's), as ``PATCH .../cells`` takes them; None where a changed line has
    another number of cells, or more than CHANGED_ROWS lines changed."""
    cells: list[dict[str, Any]] = []
    rows = 0
    for line, (old, new) in enumerate(zip(was, lines, strict=True)):
        if old == new:
            continue
        rows += 1
        old_cells, new_cells = old.split(delimiter), new.split(delimiter)
        if rows > CHANGED_ROWS or len(old_cells) != len(new_cells):
            return None
        cells.extend(
            {"row": line - first + 1, "column": column, "value": cell.decode()}
            for column, (before, cell) in enumerate(zip(old_cells, new_cells, strict=True))
            if before != cell
        )
    return cells


def _lines_gone(was: list[bytes], lines: list[bytes]) -> list[int] | None:
    """Where the lines of ``was`` that ``lines`` no longer has were, if that is all that
    changed (the others in the same order); else None."""
    gone: list[int] = []
    j = 0
    for i, line in enumerate(was):
        if j < len(lines) and lines[j] == line:
            j += 1
        else:
            gone.append(i)
            if len(gone) > CHANGED_ROWS:
                return None
    return gone if j == len(lines) else None


def _still_current(target: Target, sent: Sent) -> bool:
    """Whether the table's current version is still the one the watch made."""
    newest = _asked(target, "GET", "versions?limit=1")["versions"]
    return bool(newest) and newest[0]["version"] == sent.version


def _rows_added(
    path: Path, target: Target, options: Options, sent: Sent | None
) -> dict[str, Any] | None:
    """The lines the file grew by since ``sent``, added as rows (see watch), and the answer
    with ``rows_added``; None where the file did not only grow by whole lines, or the table
    moved on since (the whole file is sent instead)."""
    if sent is None or not sent.text or target.document_id is None:
        return None
    try:
        size = path.stat().st_size
        if not sent.size < size <= sent.size + APPEND_BATCH:
            return None
        with open(path, "rb") as file:
            file.seek(sent.size - 1)
            tail = file.read(size - sent.size + 1)
        if not tail.startswith(b"\n") or not tail.endswith(b"\n"):
            return None  # (a line still being written, or the last one changed)
        if _digest(path, sent.size) != sent.digest:
            return None
    except OSError:
        return None
    if not _still_current(target, sent):
        return None  # someone else changed the table: the file, whole, is its next version
    query = {
        "delimiter": options.delimiter or sent.delimiter,
        "encoding": options.encoding or sent.encoding,
    }
    where = f"rows?{urllib.parse.urlencode({k: v for k, v in query.items() if v})}"
    answer = _asked(target, "POST", where, tail[1:])
    answer["rows_added"] = answer["total_number"] - sent.total_number
    return answer


# What one request of ``append`` sends at most: well within the server's limit on a body of
# rows (web.uploads.MAX_ROWS_BYTES, 16 MiB)
APPEND_BATCH = 4 * 1024 * 1024


def append(
    fd: int,
    target: Target,
    *,
    interval: float,
    say: Callable[[str], None],
) -> int:
    """Rows read from ``fd`` (a file, or a pipe as they come: ``tail -f log.tsv | ...``), one
    line a row, added to the table in batches: what has come once ``interval`` seconds have
    passed since the batch's first line, or APPEND_BATCH bytes, or the end. Each batch is one
    request (``POST .../rows``), and ``say`` is told the version it made. Returns the rows
    sent; a refused batch ends it (ClientError)."""
    if target.document_id is None:
        raise ClientError("which table? --doc EDIT_LINK (or --doc ID --key KEY)")
    if not target.edit_key:
        raise ClientError("adding rows needs the table's edit key: --key KEY, or --doc EDIT_LINK")
    pending = bytearray()  # whole lines, waiting to be sent
    partial = b""  # a line whose end has not come yet
    since: float | None = None  # when the batch waiting began
    sent = 0
    ended = False
    while not ended:
        wait = None if since is None else max(0.0, since + interval - time.monotonic())
        try:
            ready, _, _ = select.select([fd], [], [], wait)
            chunk = os.read(fd, 64 * 1024) if ready else None
        except BaseException:  # stopped (Ctrl-C, SIGTERM): what has come is sent first
            if pending:
                _send(target, bytes(pending), say)
            raise
        if chunk is not None:
            ended = not chunk
            lines = partial + chunk
            cut = lines.rfind(b"\n") + 1
            if ended:
                cut = len(lines)  # (a last line without its line break is a line)
            partial = lines[cut:]
            if cut:
                pending += lines[:cut]
                since = time.monotonic() if since is None else since
        due = since is not None and time.monotonic() >= since + interval
        if pending and (ended or due or len(pending) >= APPEND_BATCH):
            if _send(target, bytes(pending), say):
                sent += pending.count(b"\n") + (not pending.endswith(b"\n"))
            pending.clear()
            since = None
    return sent


def _send(target: Target, body: bytes, say: Callable[[str], None]) -> bool:
    """A batch of ``append``'s sent, and the version it made said; False if it held no rows
    (blank lines, or the table's header alone)."""
    try:
        say(added(add_rows(target, body)))
    except ClientError as err:
        if err.code == "empty_file":
            return False
        raise
    return True


def add_rows(target: Target, body: bytes) -> dict[str, Any]:
    """``POST .../rows``: the rows in ``body`` added to the table; the server's answer."""
    return _asked(target, "POST", "rows", body)


def upsert(target: Target, body: bytes, key: str) -> dict[str, Any]:
    """``PATCH .../rows?key=``: the rows in ``body`` replacing those with the same ``key``
    cell, the rest added; the server's answer."""
    return _asked(target, "PATCH", f"rows?{urllib.parse.urlencode({'key': key})}", body)


def delete_rows(
    target: Target,
    rows: Sequence[int] = (),
    key: str | None = None,
    values: Sequence[str] = (),
    version: int | None = None,
) -> dict[str, Any]:
    """``DELETE .../rows``: rows by number (as ``version`` numbered them), or every row whose
    ``key`` cell is one of ``values``; the server's answer."""
    if key is not None:
        query = {"key": key}
        body = orjson.dumps(list(values))
    else:
        query = {} if version is None else {"version": str(version)}
        body = orjson.dumps(list(rows))
    return _asked(target, "DELETE", f"rows?{urllib.parse.urlencode(query)}", body)


def set_cells(
    target: Target, cells: Sequence[tuple[int, str, str]], version: int | None = None
) -> dict[str, Any]:
    """``PATCH .../cells``: each (row, column, value) set, rows as ``version`` numbered them
    (a column by its name, or its number from 0); the server's answer."""
    listed = [
        {"row": row, "column": int(column) if column.isdigit() else column, "value": value}
        for row, column, value in cells
    ]
    query = "" if version is None else f"?version={version}"
    return _asked(target, "PATCH", f"cells{query}", orjson.dumps(listed))


def changed(answer: dict[str, Any]) -> str:
    """What a change did: ``version 5: 12,408 rows (1 updated, 2 added)``, and each cell it
    set over a value its maker had not seen."""
    done = answer.get("changed", {})
    kinds = [f"{done[kind]:,} {kind}" for kind in ("updated", "deleted", "added") if done.get(kind)]
    lines = [added(answer) + (f" ({', '.join(kinds)})" if kinds else " (nothing changed)")]
    for cell in done.get("overwritten", []):
        lines.append(
            f"row {cell['row']}, column {cell['column']}: {_cell(cell['was'])} overwritten"
            f" with {_cell(cell['value'])}"
        )
    return "\n".join(lines)


def _stat(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file: its modification time, size and inode (a script that writes
    a new file and renames it over the old one changes the inode). None while it is missing,
    as between a delete and a rename."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
