"""Several nodes sharing one PostgreSQL store: what one node's viewers do, every node's see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import psycopg
from websockets.asyncio.client import ClientConnection

from postgres import PostgreSQL, free_port
from support import (
    create,
    editor,
    eventually,
    expect,
    http,
    legacy,
    put,
    receive,
    run,
    scrape,
    table,
    v1,
)


async def presence(ws: ClientConnection, viewers: int, timeout: float = 10) -> None:
    """Wait until the viewer is told that many viewers are watching."""
    await expect(ws, "presence", timeout=timeout, viewers=viewers)


async def test_a_version_uploaded_on_one_node_reaches_viewers_on_the_other(nodes):
    a, b = nodes(2)
    doc = create(a, table(10))
    on_b = await v1(b, doc["id"])
    old_client_on_b = await legacy(b, doc["id"])
    assert (await expect(on_b, "page"))["total_number"] == 10
    assert len((await receive(old_client_on_b))["data"]) == 11  # the article counts the header

    status, body, _ = put(a.url, doc, table(250))
    assert status == 200, body
    page = await expect(on_b, "page", cause="version")
    assert (page["version"], page["total_number"], page["page_no"]) == (2, 250, 1)
    assert page["data"][0] == ["r0c0", "r0c1", "r0c2"]
    legacy_page = await receive(old_client_on_b)
    assert (legacy_page["total_number"], legacy_page["page_no"]) == (251, 1)
    # and the HTTP API of either node serves it
    for node in (a, b):
        status, got, _ = http("GET", f"{node.url}/parser/api/docs/{doc['id']}/pages/3")
        assert status == 200 and got["data"][0] == ["r200c0", "r200c1", "r200c2"]


async def test_shared_page_turns_go_both_ways(nodes):
    a, b = nodes(2)
    doc = create(a)
    editor_on_a = await editor(a, doc["id"], doc["edit_key"])
    editor_on_b = await editor(b, doc["id"], doc["edit_key"])
    follower_on_b = await legacy(b, doc["id"])
    for ws in (editor_on_a, editor_on_b):
        await expect(ws, "access")
    await receive(follower_on_b)

    await editor_on_a.send(json.dumps({"type": "goto", "page": 2}))
    assert (await expect(editor_on_b, "page", cause="turn"))["page_no"] == 2
    assert (await receive(follower_on_b))["page_no"] == 2

    await editor_on_b.send(json.dumps({"type": "goto", "page": 3}))
    await expect(editor_on_a, "page", cause="turn", page_no=3)
    assert (await receive(follower_on_b))["page_no"] == 3

    # a viewer arriving later, on either node, starts on the shared page
    late = await v1(a, doc["id"])
    assert (await expect(late, "page", cause="join"))["page_no"] == 3


async def test_turns_from_two_nodes_at_once_end_on_the_same_page_everywhere(nodes):
    a, b = nodes(2)
    doc = create(a, table(5000))
    editor_on_a = await editor(a, doc["id"], doc["edit_key"])
    editor_on_b = await editor(b, doc["id"], doc["edit_key"])
    watchers = [await v1(a, doc["id"]), await v1(b, doc["id"])]
    for ws in (editor_on_a, editor_on_b):
        await expect(ws, "access")
    for page in range(2, 12):
        await editor_on_a.send(json.dumps({"type": "goto", "page": page}))
        await editor_on_b.send(json.dumps({"type": "goto", "page": 40 - page}))
    lasts: list[int | None] = [None, None]

    async def agreed() -> int | None:
        """The page, once the last page each watcher was shown is the one newcomers on either
        node are shown (what the store saved last)."""
        for i, ws in enumerate(watchers):
            with contextlib.suppress(TimeoutError):
                while True:
                    message = await receive(ws, 0.05)
                    if message["type"] == "page":
                        lasts[i] = message["page_no"]
        joined = []
        for node in (a, b):
            newcomer = await v1(node, doc["id"])
            joined.append((await expect(newcomer, "page"))["page_no"])
            await newcomer.close()
        return joined[0] if lasts == joined and len(set(joined)) == 1 else None

    page = await eventually(agreed, timeout=15, what="every viewer on the same page")
    for ws in watchers:  # and there they stay: whatever still comes shows that page
        with contextlib.suppress(TimeoutError):
            while True:
                message = await receive(ws, 0.5)
                assert message["type"] != "page" or message["page_no"] == page, message


async def test_presence_adds_up_across_nodes_and_forgets_a_killed_node(nodes):
    a, b = nodes(2)
    doc = create(a)
    on_a = await v1(a, doc["id"])
    await presence(on_a, 1)
    on_b = [await v1(b, doc["id"]) for _ in range(2)]
    await presence(on_a, 3)
    await presence(on_b[0], 3)
    await on_b[1].close()
    await presence(on_a, 2)

    a.stop(signal.SIGKILL)  # no goodbye: the others notice its connections are gone
    await presence(on_b[0], 1, timeout=10)


async def test_a_node_stopping_says_goodbye_at_once(nodes, pg_url):
    a, b = nodes(2)
    doc = create(a)
    on_a, on_b = await v1(a, doc["id"]), await v1(b, doc["id"])
    await presence(on_b, 2)
    assert await asyncio.to_thread(a.stop) == 0  # on_a answers its close meanwhile
    # its count is gone the moment it has stopped, not when another node notices (up to 3 s)
    with psycopg.connect(pg_url) as conn:
        counts = conn.execute(
            "SELECT viewers FROM viewers WHERE document_id = %s", (doc["id"],)
        ).fetchall()
    assert counts == [(1,)]  # b's viewer only
    await presence(on_b, 1, timeout=2)
    del on_a


async def test_upload_progress_reaches_viewers_on_other_nodes(nodes):
    a, b = nodes(2)
    doc = create(a)
    uploader = await editor(a, doc["id"], doc["edit_key"])
    await expect(uploader, "access")
    watcher = await v1(b, doc["id"])
    await expect(watcher, "page")
    data = table(20_000)
    await uploader.send(
        json.dumps({"type": "upload_begin", "filename": "big.tsv", "size": len(data)})
    )
    await expect(uploader, "upload_ready")
    await uploader.send(data[:100_000])
    # while the upload waits for the rest, a viewer on the other node sees how far it got
    progress = await expect(watcher, "upload_progress", state="receiving", received=100_000)
    assert (progress["filename"], progress["size"]) == ("big.tsv", len(data))
    await uploader.send(data[100_000:])
    await uploader.send(json.dumps({"type": "upload_end"}))
    assert (await expect(uploader, "upload_done"))["version"] == 2
    # the new version and the end of the upload's news, in either order: the version comes
    # from the store's commit, the news from the uploader's node just after
    seen: dict[str, Any] = {}
    while len(seen) < 2:
        message = await receive(watcher)
        if message["type"] == "page" or message.get("state") == "done":
            seen[message["type"]] = message
    assert seen["page"]["total_number"] == 20_000


async def test_eviction_spares_a_document_viewed_on_another_node(nodes, pg_url):
    a, b = nodes(2, "--max-documents", "2", "--eviction", "lru")
    viewed = create(a)
    watcher = await v1(b, viewed["id"])
    await expect(watcher, "page")

    def counted() -> bool:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT sum(viewers) FROM viewers WHERE document_id = %s", (viewed["id"],)
            ).fetchone()
        return bool(row and row[0])

    await eventually(counted, what="b's viewer counted in the store")
    for _ in range(3):  # a knows no viewer of it, yet must not make room with it
        create(a)
    status, _, _ = http("GET", f"{a.url}/parser/api/docs/{viewed['id']}")
    assert status == 200


async def test_two_workers_on_one_port(server_factory, pg_url):
    server = server_factory("--store", pg_url, "--workers", "2")
    await eventually(
        lambda: len(server.logged(r"listening on .* worker=")) >= 2,
        timeout=15,
        what="both workers listening",
    )
    doc = create(server)
    viewers = [await v1(server, doc["id"]) for _ in range(40)]
    for ws in viewers:
        await expect(ws, "page")
    # the kernel spread the connections over both
    assert server.logged(r"\[worker 1\] connect doc=") and server.logged(r"\[worker 2\] connect")
    # both workers hold viewers: a turn by one editor reaches them all
    boss = await editor(server, doc["id"], doc["edit_key"])
    await expect(boss, "access")
    # (told before the turn: waiting for the turn's page first would skip it, if it came first)
    await presence(viewers[0], 41)
    await boss.send(json.dumps({"type": "goto", "page": 2}))
    for ws in viewers:
        assert (await expect(ws, "page", cause="turn"))["page_no"] == 2

    # a worker that dies is started again; its viewers come back on the others meanwhile
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
    os.kill(int(children.split()[0]), signal.SIGKILL)
    await eventually(
        lambda: len(server.logged(r"listening on .* worker=")) >= 3,
        timeout=15,
        what="the worker started again",
    )
    died = server.logged(r"ERROR .* exited with -9; starting it again")
    assert len(died) == 1
    server.log.remove(died[0])  # an error worth its level, and expected here
    again = await v1(server, doc["id"])
    assert (await expect(again, "page", cause="join"))["page_no"] == 2
    assert await asyncio.to_thread(server.stop) == 0  # again answers its close meanwhile


def test_workers_need_a_shared_store(tmp_path):
    result = run(
        [sys.executable, "-m", "tablecast", "serve", "--workers", "2", "--data-dir", str(tmp_path)],
        timeout=30,
    )
    assert result.returncode != 0
    assert "--workers 2 needs a store every worker shares" in result.stderr


async def test_a_database_restart_loses_no_version_and_nodes_catch_up(server_factory):
    database = PostgreSQL().start()
    try:
        url = database.new_database()
        a = server_factory("--store", url)
        b = server_factory("--store", url)
        doc = create(a, table(10))
        on_b = await v1(b, doc["id"])
        await expect(on_b, "page")
        assert put(a.url, doc, table(20))[0] == 200
        await expect(on_b, "page", cause="version")

        database.stop()
        status, body, _ = put(a.url, doc, table(30))
        assert (status, body["error"]["code"]) == (503, "store_unavailable")
        database.start()

        # once the database is back, nodes serve and listen again without a restart
        await eventually(
            lambda: put(a.url, doc, table(40))[0] == 200,
            timeout=20,
            what="an upload taken once the database is back",
        )
        page = await expect(on_b, "page", cause="version", timeout=20)
        assert page["total_number"] == 40
        status, got, _ = http("GET", f"{b.url}/parser/api/docs/{doc['id']}")
        assert status == 200 and got["version"] == 3  # 20 and 40 rows; the 30 never landed
        # stopped while this loop runs: their viewers answer the servers' closes
        assert await asyncio.to_thread(a.stop) == 0
        assert await asyncio.to_thread(b.stop) == 0
    finally:
        database.remove()


async def test_each_node_reports_what_it_heard_from_the_others(nodes):

    a, b = nodes(2)
    doc = create(a)
    watcher = await v1(b, doc["id"])
    await expect(watcher, "page")
    assert put(a.url, doc, table(20))[0] == 200
    await expect(watcher, "page", cause="version")
    metrics = scrape(b)
    node = [key for key in metrics if key.startswith("tablecast_node{")]
    assert len(node) == 1 and "worker=0" in node[0]
    assert metrics["tablecast_bus_events_total{kind=version}"] >= 1
    assert metrics["tablecast_bus_reconnects_total"] == 0
    assert metrics["tablecast_documents"] == 1  # the store's count: the same on every node


def test_a_store_that_cannot_be_reached_is_said_plainly():
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/tablecast"
    for workers in ("1", "2"):  # with workers, the supervisor stops rather than loop
        result = run(
            [sys.executable, "-m", "tablecast", "serve", "--port", "0", "--store", url,
             "--workers", workers],
            timeout=30,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "cannot open the PostgreSQL store" in result.stderr
        assert "Traceback" not in result.stderr
