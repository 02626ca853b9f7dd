"""Who may change a table: edit links and view links, over HTTP and both WebSocket protocols."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from support import V1, editor, expect, http, legacy, nothing_more, put, receive, table, v1


def post(server, body: bytes) -> dict:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs", body)
    assert status == 201
    return doc


def test_creating_a_document_gives_a_view_link_and_an_edit_link(server):
    doc = post(server, table(10))
    key = doc["edit_key"]
    assert len(key) >= 32  # 192 random bits, URL-safe
    assert doc["url"] == f"{server.url}/parser/share/{doc['id']}"
    assert doc["edit_url"] == f"{doc['url']}#key={key}"  # a fragment: never sent to a server
    again = post(server, table(10))
    assert again["edit_key"] != key
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert status == 200 and "edit_key" not in meta and "edit_url" not in meta
    server.stop()
    # only a hash is kept: the key itself is nowhere in the store
    store = server.data_dir / "tablecast.sqlite3"
    raw = b"".join(p.read_bytes() for p in server.data_dir.iterdir() if p.is_file())
    assert key.encode() not in raw
    with sqlite3.connect(store) as conn:
        (stored,) = conn.execute(
            "SELECT edit_key_hash FROM documents WHERE id = ?", (doc["id"],)
        ).fetchone()
    assert stored == hashlib.sha256(key.encode()).digest()
    assert not server.logged(key)


async def test_a_put_needs_the_edit_key_and_a_refused_one_changes_nothing(server):
    doc = post(server, table(10))
    watcher = await v1(server, doc["id"])
    await expect(watcher, "page")
    url = f"{server.url}/parser/api/docs/{doc['id']}"
    status, answer, headers = http("PUT", url, table(20))
    assert (status, answer["error"]["code"]) == (401, "edit_key_required")
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Bearer")
    for header in ("Bearer not-the-key", f"Bearer {doc['edit_key']}x", "Basic abc", "Bearer "):
        status, answer, _ = http("PUT", url, table(20), {"Authorization": header})
        expected = (403, "wrong_edit_key") if "not" in header or "x" in header else None
        assert (status, answer["error"]["code"]) == (expected or (401, "edit_key_required"))
    await nothing_more(watcher, skip=("presence",))  # not even progress: nothing began
    status, meta, _ = http("GET", url)
    assert meta["version"] == 1
    status, again, _ = put(server.url, doc, table(20))
    assert (status, again["version"]) == (200, 2)
    assert "edit_key" not in again  # shown once, at creation
    assert (await expect(watcher, "page", cause="version"))["version"] == 2
    await watcher.close()


async def test_v1_view_link_viewers_page_alone_and_may_not_upload(server):
    owner = await v1(server)
    hello = await expect(owner, "hello")
    assert hello["edit"] is True
    assert hello["edit_url"] == f"{hello['url']}#key={hello['edit_key']}"
    await expect(owner, "page")
    await owner.send(json.dumps({"type": "upload_begin", "filename": "t.tsv"}))
    await expect(owner, "upload_ready")
    await owner.send(table(500))
    await expect(owner, "upload_ack")
    await owner.send(json.dumps({"type": "upload_end"}))
    await expect(owner, "upload_done")
    await expect(owner, "page", cause="version")

    viewer = await v1(server, hello["id"])
    joined = await expect(viewer, "hello")
    assert joined["edit"] is False and "edit_key" not in joined and "edit_url" not in joined
    await expect(viewer, "page", cause="join")
    await viewer.send(json.dumps({"type": "goto", "page": 3}))  # following, but view only
    page = await expect(viewer, "page", cause="request")
    assert page["page_no"] == 3 and page["shared"] is False
    await nothing_more(owner, skip=("presence", "upload_progress"))  # the shared page stays

    await viewer.send(json.dumps({"type": "upload_begin", "filename": "x.tsv"}))
    refused = await expect(viewer, "error")
    assert (refused["code"], refused["request"]) == ("edit_key_required", "upload_begin")
    await viewer.send(b"a\tb\n")  # a chunk anyway: no upload, the document is untouched
    assert (await expect(viewer, "error"))["code"] == "no_upload"
    key = hello["edit_key"]
    wrong_key = key[:-1] + ("B" if key.endswith("A") else "A")  # (one key in 64 ends in A)
    await viewer.send(json.dumps({"type": "auth", "edit_key": wrong_key}))
    wrong = await expect(viewer, "error")
    assert (wrong["code"], wrong["request"]) == ("wrong_edit_key", "auth")
    await viewer.send(json.dumps({"type": "goto", "page": 4}))  # still connected, still alone
    assert (await expect(viewer, "page", cause="request"))["page_no"] == 4
    await nothing_more(owner, skip=("presence",))

    await viewer.send(json.dumps({"type": "auth", "edit_key": hello["edit_key"]}))
    await expect(viewer, "access", edit=True)
    await viewer.send(json.dumps({"type": "goto", "page": 2}))  # now it turns everyone's page
    for ws in (owner, viewer):
        assert (await expect(ws, "page", cause="turn"))["page_no"] == 2
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{hello['id']}")
    assert meta["version"] == 1
    for ws in (owner, viewer):
        await ws.close()


async def test_an_edit_key_of_another_document_opens_nothing(server):
    a, b = post(server, table(5)), post(server, table(5))
    ws = await editor(server, a["id"], b["edit_key"])
    assert (await expect(ws, "error"))["code"] == "wrong_edit_key"
    status, _, _ = put(server.url, {**a, "edit_key": b["edit_key"]}, table(3))
    assert status == 403
    await ws.close()


async def test_open_edit_lets_anyone_with_the_link_edit(server_factory):
    server = server_factory("--open-edit", "true")
    doc = post(server, table(10))
    assert http("PUT", f"{server.url}/parser/api/docs/{doc['id']}", table(3))[0] == 200
    ws = await v1(server, doc["id"])
    assert (await expect(ws, "hello"))["edit"] is True
    await ws.close()
    joiner = await legacy(server, doc["id"])
    await receive(joiner)
    await joiner.send(b"x\ty\n")
    assert (await receive(joiner))["total_number"] == 1
    await joiner.close()


async def test_websockets_from_other_sites_are_refused(server_factory):
    server = server_factory("--allowed-origin", "https://intranet.example.com")
    doc = post(server, table(5))
    url = f"{server.ws_url}/parser/ws/{doc['id']}"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="https://evil.example", subprotocols=[V1])  # type: ignore[arg-type,list-item]
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "origin_not_allowed"
    for origin in (f"http://127.0.0.1:{server.port}", "https://intranet.example.com"):
        ws = await connect(url, origin=origin, subprotocols=[V1])  # type: ignore[arg-type,list-item]
        await expect(ws, "page")
        await ws.close()
    server.caught_up()
    assert server.logged("refused .* code=origin_not_allowed")


@pytest.mark.parametrize(
    "path", ["/parser/", "/parser/static/app.js", "/parser/api/docs/x", "/healthz", "/nope"]
)
def test_every_answer_carries_the_security_headers(server, path):
    _, _, headers = http("GET", server.url + path)
    headers = {k.lower(): v for k, v in headers.items()}
    policy = headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_edit_keys_never_start_like_a_command_line_option():
    from tablecast.access import key_hash, new_key

    keys = [new_key() for _ in range(3000)]  # about 47 would start with "-" by chance
    assert not [key for key, _ in keys if key.startswith("-")]
    assert all(hashed == key_hash(key) and len(key) == 32 for key, hashed in keys)
