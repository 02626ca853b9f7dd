"""The upload service without sockets: a real SQLite store, a real hub, and viewers that record
what they are sent. Each way an upload ends is shown to viewers once, in the order clients
rely on: the uploader is answered, then viewers hear the upload is done, then the version's
page reaches them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tablecast import tasks
from tablecast.errors import TablecastError
from tablecast.model import Document
from tablecast.service.documents import Documents
from tablecast.service.hub import Hub
from tablecast.service.limits import Limits
from tablecast.service.upload import Upload
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.view import PLAIN
from tablecast.web.server import Node
from tablecast.wire.websocket import Frame

TABLE = b"name\tcount\na\t1\nb\t2\n"


class Viewer:
    """A viewer of the document; ``log``, shared with the test, says what happened in order."""

    def __init__(self, log: list[str], legacy: bool = False) -> None:
        self.legacy, self.follow, self.view, self.patches = legacy, True, PLAIN, False
        self.log = log
        self.received: list[dict[str, Any]] = []

    def send(self, frame: Frame) -> None:
        message = orjson.loads(frame.payload)
        if isinstance(message, dict) and message.get("type") in ("presence", "types"):
            return
        self.received.append(message)
        kind = message.get("type", "page") if isinstance(message, dict) else "page"
        state = f" {message['state']}" if kind == "upload_progress" else ""
        self.log.append(f"{'legacy' if self.legacy else 'v1'} {kind}{state}")

    def news(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == "upload_progress"]


class Setup:
    def __init__(self, node: Node, document: Document) -> None:
        self.documents: Documents = node.documents
        self.hub: Hub = node.hub
        self.document = document
        self.uploads = node.uploads
        self.in_progress = node.in_progress
        self.log: list[str] = []
        self.expired: list[TablecastError] = []

    async def viewers(self) -> tuple[Viewer, Viewer]:
        v1, legacy = Viewer(self.log), Viewer(self.log, legacy=True)
        for viewer in (v1, legacy):
            assert await self.hub.join(viewer, self.document.id) is not None
        return v1, legacy

    async def start(self, **options: Any) -> Upload:
        upload = await self.uploads.start(
            self.document.id, filename="t.tsv", on_expire=self.expired.append, **options
        )
        assert upload is not None
        return upload

    async def current(self) -> int | None:
        document = await self.documents.get(self.document.id)
        assert document is not None
        return document.version.number if document.version else None


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    node = Node.assemble(
        SQLiteStore(tmp_path / "s.sqlite3"),
        Limits(max_upload_bytes=1000),
        page_size=100,
        legacy_page_size=100,
    )
    document, _ = await node.documents.create()
    yield Setup(node, document)
    await node.close()


async def test_a_finished_upload_answers_its_uploader_then_tells_viewers_then_sends_the_page(
    setup,
):
    v1, legacy = await setup.viewers()
    setup.log.clear()  # the pages of joining
    upload = await setup.start(size=len(TABLE))
    await setup.uploads.feed(upload, TABLE)

    def answer(document: Document) -> None:
        assert document.version is not None
        setup.log.append(f"answer version {document.version.number}")

    document = await setup.uploads.finish(upload, answer)
    assert document.version is not None and document.version.number == 1
    assert setup.log[:3] == [
        "v1 upload_progress receiving",
        "answer version 1",
        "v1 upload_progress done",
    ]
    assert sorted(setup.log[3:]) == ["legacy page", "v1 page"]  # legacy viewers hear no news
    done = v1.news()[-1]
    assert (done["upload"], done["filename"], done["received"], done["records"]) == (
        upload.id,
        "t.tsv",
        len(TABLE),
        3,
    )
    assert v1.received[-1]["version"] == 1 and legacy.received[-1]["data"][0] == ["name", "count"]
    assert upload.on_expire == setup.expired.append
    assert setup.in_progress.uploads == set()


async def test_an_upload_whose_client_left_while_it_started_is_rolled_back_unseen(setup):
    await setup.viewers()
    setup.log.clear()
    taken: list[Upload] = []

    def gone(upload: Upload) -> bool:
        taken.append(upload)
        return False

    upload = await setup.uploads.start(
        setup.document.id, filename="t.tsv", on_expire=setup.expired.append, ready=gone
    )
    assert upload is None and len(taken) == 1
    assert setup.log == []  # no viewer heard of it
    assert setup.in_progress.uploads == set()  # nor does it count against the limits
    with pytest.raises(TablecastError) as raised:
        await taken[0].feed(TABLE)
    assert raised.value.code == "no_upload"


async def test_the_client_is_told_an_upload_started_before_any_viewer_is(setup):
    await setup.viewers()
    setup.log.clear()

    def ready(upload: Upload) -> bool:
        setup.log.append("ready")
        return True

    await setup.start(ready=ready)
    assert setup.log == ["ready", "v1 upload_progress receiving"]


async def test_bytes_past_a_limit_roll_back_and_show_the_upload_failed(setup):
    v1 = (await setup.viewers())[0]
    upload = await setup.start()
    with pytest.raises(TablecastError) as raised:
        await setup.uploads.feed(upload, b"x\t" * 600)
    assert raised.value.code == "too_large"
    failed = v1.news()[-1]
    assert failed["state"] == "failed" and failed["error"]["code"] == "too_large"
    assert setup.in_progress.uploads == set()
    assert await setup.current() is None


async def test_a_commit_that_fails_shows_the_upload_failed_and_keeps_the_version(setup):
    await setup.viewers()
    first = await setup.start()
    await setup.uploads.feed(first, TABLE)
    await setup.uploads.finish(first)
    setup.log.clear()
    upload = await setup.start(size=len(TABLE) + 1)
    await setup.uploads.feed(upload, TABLE)
    answered: list[Document] = []
    with pytest.raises(TablecastError) as raised:
        await setup.uploads.finish(upload, answered.append)
    assert raised.value.code == "upload_size_mismatch"
    assert answered == []
    assert setup.log == ["v1 upload_progress receiving", "v1 upload_progress failed"]
    assert await setup.current() == 1


async def test_an_abort_shows_the_upload_cancelled_or_failed(setup):
    v1 = (await setup.viewers())[0]
    cancelled = await setup.start()
    await setup.uploads.abort(cancelled)
    failed = await setup.start()
    await setup.uploads.abort(failed, TablecastError("upload_timeout", "too slow"))
    news = [(m["upload"], m["state"], m.get("error", {}).get("code")) for m in v1.news()]
    assert news == [
        (cancelled.id, "receiving", None),
        (cancelled.id, "cancelled", None),
        (failed.id, "receiving", None),
        (failed.id, "failed", "upload_timeout"),
    ]
    assert setup.in_progress.uploads == set()
    assert await setup.current() is None


async def test_a_dropped_upload_is_shown_at_once_and_rolled_back_behind(setup):
    await setup.viewers()
    upload = await setup.start()
    await setup.uploads.feed(upload, TABLE)
    setup.log.clear()
    setup.uploads.drop(upload, TablecastError("upload_timeout", "the upload sent nothing"))
    assert setup.log == ["v1 upload_progress failed"]  # before anything was awaited
    await tasks.drain()
    assert setup.in_progress.uploads == set()
    with pytest.raises(TablecastError) as raised:
        await upload.finish()
    assert raised.value.code == "no_upload"
    assert await setup.current() is None
