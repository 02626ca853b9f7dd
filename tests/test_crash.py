"""Crash safety: the server SIGKILLed at random points of uploads, then restarted on its data.

Each round starts a server on the same data directory, begins an upload of a new version (an
HTTP PUT, v1 chunks, or one legacy frame) and kills the server with SIGKILL: before any byte,
mid-body, just after the last byte (while the tail is parsed and the version committed), or
after the answer. The next server must serve at once, from a consistent store: what it shows
is a version that was committed, whole and exact, and nothing of an interrupted upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from support import Server, editor, expect, http, legacy, receive, v1

# the subject is the process: killed, restarted on what it left
pytestmark = pytest.mark.process

SEED = int(os.environ.get("TABLECAST_CRASH_SEED", "20261124"))
ROUNDS = 20
PAGE_SIZE = 10_000  # every row of a version in a few requests
ARGS = ("--page-size", str(PAGE_SIZE))
# Where each upload is cut. "end": all sent, then a kill within the time the server takes
# from there to its answer for a file of 4-8 MB (measured): it parses what the socket still
# holds, writes the last block, commits (fsyncing the WAL) and answers. Most of that time is
# the commit itself for v1 (whose chunks are parsed as acknowledged), little of it for others.
KILL_POINTS = ["before"] * 2 + ["middle"] * 4 + ["end"] * 8 + ["answered"] * 3
TAIL_SECONDS = {"put": 0.12, "v1": 0.035, "legacy": 0.18}


def version_file(tag: str, rows: int) -> bytes:
    """A table whose every row says which upload it belongs to."""
    lines = [f"{tag}\tname\tvalue\tnote"]
    lines += [f"{tag}-{i}\tx{i * 31 % 977}\t{i * 7}\trow {i} of {tag}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def data_lines(body: bytes | None) -> list[str]:
    """The file's rows under its header, as the pages' rows joined by tabs should be."""
    return body.decode().split("\n")[1:-1] if body else []


def stored_form(body: bytes) -> bytes:
    """A version's blocks, joined by line breaks: one JSON array per record (store/base.py)."""
    records = body.decode().split("\n")[:-1]
    return ('["' + '"]\n["'.join(r.replace("\t", '","') for r in records) + '"]').encode()


async def close(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):  # the server may be dead: nothing to say goodbye to
        await asyncio.wait_for(ws.close(), 2)


# Uploads that the server does not survive. Each returns whether the commit was answered.


async def put(
    server: Server, doc: dict[str, Any], name: str, body: bytes, point: str, rng: random.Random
) -> bool:
    conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", f"/parser/api/docs/{doc['id']}?name={name}")
    conn.putheader("Authorization", f"Bearer {doc.get('edit_key', '')}")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    cut = {"before": 0, "middle": rng.randrange(1, len(body))}.get(point, len(body))
    conn.send(body[:cut])
    answered = point == "answered"
    if answered:
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())["filename"]) == (200, name)
    else:
        time.sleep(rng.uniform(0, TAIL_SECONDS["put"] if point == "end" else 0.02))
    server.stop(signal.SIGKILL)
    conn.close()
    return answered


async def upload(
    server: Server, doc: dict[str, Any], name: str, body: bytes, point: str, rng: random.Random
) -> bool:
    """A v1 chunked upload, paced by acknowledgements as the browser's."""
    ws = await editor(server, doc["id"], doc["edit_key"])
    await expect(ws, "access", edit=True)
    await ws.send(json.dumps({"type": "upload_begin", "filename": name, "size": len(body)}))
    ready = await expect(ws, "upload_ready")
    size, window = ready["chunk_bytes"], ready["window"]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    cut = {"before": 0, "middle": rng.randrange(1, len(chunks))}.get(point, len(chunks))
    acked = 0
    for sent, chunk in enumerate(chunks[:cut]):
        while sent - acked >= window:
            await expect(ws, "upload_ack")
            acked += 1
        await ws.send(chunk)
    if point in ("end", "answered"):
        await ws.send(json.dumps({"type": "upload_end"}))  # acks still in flight: no waiting
    answered = point == "answered"
    if answered:
        await expect(ws, "upload_done", timeout=30)
    else:
        await asyncio.sleep(rng.uniform(0, TAIL_SECONDS["v1"] if point == "end" else 0.02))
    server.stop(signal.SIGKILL)
    await close(ws)
    return answered


async def legacy_upload(
    server: Server, body: bytes, point: str, rng: random.Random
) -> tuple[str, bool]:
    """The article's client: a document of its own, the whole file in one binary frame."""
    ws = await legacy(server)
    document_id = (await receive(ws))["uuid"]
    sending = asyncio.ensure_future(ws.send(body)) if point != "before" else None
    if sending is not None and point != "middle":
        await sending
    answered = point == "answered"
    if answered:  # the page of the new version, counted as legacy clients count: with the header
        assert (await receive(ws, 30))["total_number"] == body.count(b"\n")
    else:
        await asyncio.sleep(rng.uniform(0, TAIL_SECONDS["legacy"] if point == "end" else 0.03))
    server.stop(signal.SIGKILL)
    if sending is not None:
        with contextlib.suppress(Exception):  # cut off mid-frame, or long sent
            await sending
    await close(ws)
    return document_id, answered


# What a restarted server must show


async def served(
    server: Server, document_id: str, allowed: dict[int | None, bytes | None]
) -> int | None:
    """Check at once, with nothing before, that the document serves one of the ``allowed``
    versions (number: file) completely and exactly; return its number."""
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert status == 200, meta
    number = meta["version"]
    assert number in allowed, f"version {number}; expected one of {sorted(allowed, key=str)}"
    lines = data_lines(allowed[number])
    assert meta["total_number"] == len(lines)
    ws = await v1(server, document_id)
    try:
        page = await expect(ws, "page", cause="join")
    finally:
        await close(ws)
    assert page["version"] == number
    assert ["\t".join(row) for row in page["data"]] == lines[:PAGE_SIZE]
    for page_no in range(2, meta["page_count"] + 1):
        status, page, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}/pages/{page_no}")
        assert (status, page["version"]) == (200, number)
        start = (page_no - 1) * PAGE_SIZE
        assert ["\t".join(row) for row in page["data"]] == lines[start : start + PAGE_SIZE]
    return number  # type: ignore[no-any-return]


def connect(path: Path) -> sqlite3.Connection:
    """Read-only, beside the server or after it: WAL lets readers in at any time."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def pending_versions(path: Path) -> int:
    """Uploads a killed server left unfinished, for the next one's recovery to remove."""
    with contextlib.closing(connect(path)) as db:
        (count,) = db.execute("SELECT count(*) FROM versions WHERE number IS NULL").fetchone()
        return int(count)


def check_store(path: Path, documents: dict[str, list[bytes]]) -> None:
    """The whole store: intact, nothing pending or orphaned, each document's versions numbered
    1..n, each with the size, records and blocks of its file, the last two byte for byte."""
    with contextlib.closing(connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT count(*) FROM versions WHERE number IS NULL").fetchone() == (0,)
        orphans = "SELECT count(*) FROM blocks WHERE version_id NOT IN (SELECT id FROM versions)"
        assert db.execute(orphans).fetchone() == (0,)
        assert {d for (d,) in db.execute("SELECT id FROM documents")} == set(documents)
        for document_id, bodies in documents.items():
            versions = db.execute(
                """SELECT v.id, v.number, v.size, v.record_count, count(b.block),
                          coalesce(min(b.block), 0), coalesce(max(b.block) + 1, 0)
                   FROM versions v LEFT JOIN blocks b ON b.version_id = v.id
                   WHERE v.document_id = ? GROUP BY v.id ORDER BY v.number""",
                (document_id,),
            ).fetchall()
            assert [v[1] for v in versions] == list(range(1, len(bodies) + 1))
            current = db.execute(
                "SELECT current_version FROM documents WHERE id = ?", (document_id,)
            ).fetchone()
            assert current == (versions[-1][0] if versions else None,)
            for (_, _, size, records, blocks, first, end), body in zip(
                versions, bodies, strict=True
            ):
                lines = body.count(b"\n")
                assert (size, records) == (len(body), lines)
                assert (blocks, first, end) == (-(-lines // 256), 0, -(-lines // 256))
            for (version_id, *_), body in list(zip(versions, bodies, strict=True))[-2:]:
                stored = db.execute(
                    "SELECT records FROM blocks WHERE version_id = ? ORDER BY block",
                    (version_id,),
                )
                assert b"\n".join(r for (r,) in stored) == stored_form(body)


# 20 rounds of a server started, killed and checked: some 40 s alone, and under the whole
# suite's load (browsers and all) it once took longer than the default 120 s
@pytest.mark.timeout(360)
async def test_kill_mid_upload_and_mid_commit(server_factory: Any, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    database = data_dir / "tablecast.sqlite3"
    first = version_file("v0", 5000)
    server = server_factory(*ARGS, data_dir=data_dir)
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=v0.tsv", first)
    assert status == 201 and doc["version"] == 1
    documents: dict[str, list[bytes]] = {doc["id"]: [first]}  # every version known committed
    outcomes: list[str] = []
    for round_no in range(1, ROUNDS + 1):
        how, point = rng.choice(["put", "v1", "legacy"]), rng.choice(KILL_POINTS)
        tag, body = f"v{round_no}", version_file(f"v{round_no}", rng.randrange(100_000, 200_000))
        context = f"seed {SEED} round {round_no}: {how} killed {point}"
        if how == "legacy":
            target, answered = await legacy_upload(server, body, point, rng)
            documents[target] = []
        else:
            target = doc["id"]
            uploader = put if how == "put" else upload
            answered = await uploader(server, doc, f"{tag}.tsv", body, point, rng)
        assert server.proc is not None and server.proc.returncode == -signal.SIGKILL, context
        left = pending_versions(database)  # for the next server's recovery to remove

        server = server_factory(*ARGS, data_dir=data_dir)
        known = documents[target]
        allowed: dict[int | None, bytes | None] = {len(known) + 1: body}
        if not answered:  # the kill may have come before the commit, or before its answer
            allowed[len(known) or None] = known[-1] if known else None
        try:
            new = await served(server, target, allowed) == len(known) + 1
            if new:
                known.append(body)
            check_store(database, documents)
        except AssertionError as err:
            raise AssertionError(f"{context}: {err}") from err
        assert not server.logged(r"Traceback| ERROR "), context
        outcomes.append(f"{how}/{point}/{'new' if new else 'old'}{'/pending' if left else ''}")
    print(f"seed {SEED}:", ", ".join(outcomes))  # pytest -s: which kills had which outcome
    assert len(documents[doc["id"]]) > 1  # some uploads committed: "previous" moved on
    assert any(o.endswith("/pending") for o in outcomes)  # and some were cut off midway


async def test_a_commit_survives_a_kill_while_idle(server_factory: Any, tmp_path: Path) -> None:
    """Killed right after answering a commit, before the WAL could be checkpointed, or a little
    later: the version is there when the server comes back."""
    data_dir = tmp_path / "data"
    bodies: list[bytes] = []
    doc: dict[str, Any] = {}
    for step, wait in enumerate((0, 0, 0.5)):
        server = server_factory(*ARGS, data_dir=data_dir)
        body = version_file(f"idle{step}", 50_000)
        if doc:
            headers = {"Authorization": f"Bearer {doc.get('edit_key', '')}"}
            url = f"{server.url}/parser/api/docs/{doc['id']}"
            status, answer, _ = http("PUT", url, body, headers)
            assert (status, answer["version"]) == (200, step + 1)
        else:
            status, doc, _ = http("POST", f"{server.url}/parser/api/docs", body)
            assert status == 201
        bodies.append(body)
        time.sleep(wait)
        server.stop(signal.SIGKILL)
        server = server_factory(*ARGS, data_dir=data_dir)
        assert await served(server, doc["id"], {len(bodies): body}) == len(bodies)
        check_store(data_dir / "tablecast.sqlite3", {doc["id"]: bodies})
        server.stop(signal.SIGKILL)


@pytest.mark.timeout(120)
async def test_a_kill_during_a_burst_of_added_rows_loses_no_acknowledged_row(
    server_factory: Any, tmp_path: Path
) -> None:
    """Rows added (POST .../rows) as fast as they are acknowledged, the server SIGKILLed in
    the middle: the next server holds every acknowledged batch, in order, and of the one in
    flight all of it or nothing; every version reads exactly its own rows."""
    data_dir = tmp_path / "data"
    server = server_factory(*ARGS, data_dir=data_dir)
    doc, acknowledged = await burst_then_kill(server)
    server = server_factory(*ARGS, data_dir=data_dir)
    check_added_rows(server, doc, acknowledged)
    database = data_dir / "tablecast.sqlite3"
    assert pending_versions(database) == 0
    with contextlib.closing(connect(database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert not server.logged(r"Traceback| ERROR ")


@pytest.mark.timeout(120)
async def test_a_node_killed_during_a_burst_of_added_rows_loses_none_to_the_others(
    nodes: Any,
) -> None:
    """The same on a cluster: the node taking the rows is SIGKILLed; another node serves
    every acknowledged batch from the shared store."""
    taking, other = nodes(2, *ARGS)
    doc, acknowledged = await burst_then_kill(taking)
    check_added_rows(other, doc, acknowledged)
    assert not other.logged(r"Traceback| ERROR ")


BASE_ROWS, BATCH = 300, 37  # rows of the table, rows a request: batches end mid-block


def added_rows(n: int) -> bytes:
    return "".join(f"add{n}-{i}\tx\n" for i in range(BATCH)).encode()


async def burst_then_kill(server: Server) -> tuple[dict[str, Any], list[int]]:
    """A table, then batches of rows added to it as fast as they are acknowledged, and the
    server SIGKILLed in the middle of them: the table, and the batches acknowledged."""
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs", version_file("base", BASE_ROWS))
    assert status == 201
    headers = {"Authorization": f"Bearer {doc['edit_key']}"}
    rows_url = f"{server.url}/parser/api/docs/{doc['id']}/rows"
    acknowledged: list[int] = []

    def burst() -> None:
        n = 0
        while True:
            try:
                status, answer, _ = http("POST", rows_url, added_rows(n), headers)
            except OSError:
                return  # the server is gone
            if status != 200:
                return
            assert answer["total_number"] == BASE_ROWS + (n + 1) * BATCH
            acknowledged.append(n)
            n += 1

    sender = asyncio.get_running_loop().run_in_executor(None, burst)
    await asyncio.sleep(random.Random(SEED).uniform(0.5, 1.0))
    server.stop(signal.SIGKILL)
    await sender
    assert len(acknowledged) > 3  # a burst, not a row or two
    return doc, acknowledged


def check_added_rows(server: Server, doc: dict[str, Any], acknowledged: list[int]) -> None:
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert status == 200
    added = (meta["total_number"] - BASE_ROWS) // BATCH
    assert meta["total_number"] == BASE_ROWS + added * BATCH  # whole batches only
    assert added in (len(acknowledged), len(acknowledged) + 1)  # and the one in flight, maybe
    assert meta["version"] == 1 + added
    base = data_lines(version_file("base", BASE_ROWS))
    for version in (1, 2, added // 2 + 1, added + 1):  # each as it was committed
        url = f"{server.url}/parser/api/docs/{doc['id']}/pages/1?version={version}"
        status, page, _ = http("GET", url)
        expected = base + [f"add{n}-{i}\tx" for n in range(version - 1) for i in range(BATCH)]
        assert page["total_number"] == len(expected)
        assert ["\t".join(row) for row in page["data"]] == expected[:PAGE_SIZE]
