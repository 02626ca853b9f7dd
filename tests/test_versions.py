"""Versions: every upload kept, listed, readable, and restorable as a new version."""

from __future__ import annotations

from support import expect, http, put, table, v1
from test_store import meta, open_store, write_version

__all__ = ["open_store"]  # the store suite's fixture: these run on every store too


def docs_url(server, doc, path: str = "") -> str:
    return f"{server.url}/parser/api/docs/{doc['id']}{path}"


def test_the_store_lists_versions_newest_first_and_copies_one(open_store):
    store = open_store()
    document = store.create_document(None)
    counted = []
    for n in (300, 10):
        store.commit_version(write_version(store, document.id, n), meta(n, f"v{n}.tsv"))
        counted.append(store.usage().stored_bytes)
    versions = store.versions(document.id)
    assert [(v.number, v.meta.filename, v.meta.record_count) for v in versions] == [
        (2, "v10.tsv", 10),
        (1, "v300.tsv", 300),
    ]
    pending = store.begin_version(document.id)  # not listed until committed
    assert len(store.versions(document.id)) == 2
    store.copy_blocks(versions[1].id, pending)
    restored = store.commit_version(pending, versions[1].meta)
    assert restored.version is not None and restored.version.number == 3
    assert store.read_rows(restored.version.id, 0, 300) == store.read_rows(versions[1].id, 0, 300)
    # the copy counts against the byte limit as the first version did
    assert store.usage().stored_bytes - counted[1] == counted[0] > 0


async def test_versions_are_listed_and_old_ones_read(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=first.tsv", table(250))
    assert put(server.url, doc, table(30), "?name=second.tsv")[0] == 200

    status, listed, _ = http("GET", docs_url(server, doc, "/versions"))
    assert status == 200 and listed["current"] == 2
    assert [(v["version"], v["filename"], v["total_number"]) for v in listed["versions"]] == [
        (2, "second.tsv", 30),
        (1, "first.tsv", 250),
    ]
    first = listed["versions"][1]
    assert first["size"] == len(table(250)) and first["columns"] == ["c0", "c1", "c2"]
    assert first["created_at"].endswith("Z")

    status, page, _ = http("GET", docs_url(server, doc, "/pages/3?version=1"))
    assert status == 200
    assert (page["version"], page["total_number"], page["data"][0][0]) == (1, 250, "r200c0")
    status, page, _ = http("GET", docs_url(server, doc, "/pages/1"))
    assert (page["version"], page["total_number"]) == (2, 30)  # the current one, still

    for query, code in (("?version=9", "version_not_found"), ("?version=x", "bad_request")):
        status, body, _ = http("GET", docs_url(server, doc, f"/pages/1{query}"))
        assert body["error"]["code"] == code
    status, body, _ = http("GET", docs_url(server, doc, "/pages/4?version=2"))
    assert (status, body["error"]["code"]) == (404, "page_not_found")
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{'0' * 8}/versions")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_restoring_adds_a_version_and_everyone_sees_it(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=first.tsv", table(250))
    assert put(server.url, doc, table(30))[0] == 200
    watcher = await v1(server, doc["id"])
    await expect(watcher, "page")

    restore = docs_url(server, doc, "/versions/1/restore")
    status, body, headers = http("POST", restore)
    assert (status, body["error"]["code"]) == (401, "edit_key_required")
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Bearer")
    status, body, _ = http("POST", restore, headers={"Authorization": "Bearer nope"})
    assert (status, body["error"]["code"]) == (403, "wrong_edit_key")
    status, body, _ = http(
        "POST",
        docs_url(server, doc, "/versions/7/restore"),
        headers={"Authorization": f"Bearer {doc['edit_key']}"},
    )
    assert (status, body["error"]["code"]) == (404, "version_not_found")

    status, body, _ = http("POST", restore, headers={"Authorization": f"Bearer {doc['edit_key']}"})
    assert status == 200
    assert (body["version"], body["total_number"], body["filename"]) == (3, 250, "first.tsv")
    page = await expect(watcher, "page", cause="version")
    assert (page["version"], page["total_number"]) == (3, 250)

    # history is never rewritten: 1, 2 and 3 are all there, 3 holding 1's rows
    _, listed, _ = http("GET", docs_url(server, doc, "/versions"))
    assert [v["version"] for v in listed["versions"]] == [3, 2, 1]
    _, old, _ = http("GET", docs_url(server, doc, "/pages/2?version=1"))
    _, new, _ = http("GET", docs_url(server, doc, "/pages/2?version=3"))
    assert old["data"] == new["data"]
