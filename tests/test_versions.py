"""Versions: every upload kept, listed, readable, and restorable as a new version."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from support import expect, http, many_versions, meta, put, table, v1, write_version
from tablecast.model import Version
from tablecast.service.limits import Limits
from tablecast.store.sqlite import SQLiteStore
from tablecast.web.server import Node


def docs_url(server, doc, path: str = "") -> str:
    return f"{server.url}/parser/api/docs/{doc['id']}{path}"


def test_the_store_lists_versions_newest_first_and_shares_one(open_store):
    store = open_store()
    document = store.create_document(None)
    counted = []
    for n in (300, 10):
        store.commit_version(write_version(store, document.id, n), meta(n, f"v{n}.tsv"))
        counted.append(store.usage().stored_bytes)
    versions = store.versions(document.id, 10)
    assert [(v.number, v.meta.filename, v.meta.record_count) for v in versions] == [
        (2, "v10.tsv", 10),
        (1, "v300.tsv", 300),
    ]
    pending = store.begin_version(document.id)  # not listed until committed
    assert len(store.versions(document.id, 10)) == 2
    store.share_blocks(versions[1].id, pending)
    restored = store.commit_version(pending, versions[1].meta)
    assert restored.version is not None and restored.version.number == 3
    first, again = versions[1].id, restored.version.id
    assert store.read_rows(again, 0, 300) == store.read_rows(first, 0, 300)
    assert store.read_picked(again, [299, 3, 150]) == store.read_picked(first, [299, 3, 150])
    assert store.read_all(again) == store.read_all(first)
    assert store.read_blocks(again, 1, 1) == store.read_blocks(first, 1, 1)
    # shared, not copied: the store holds no more than before
    assert store.usage().stored_bytes == counted[1]
    # a restore of the restore shares the first version's blocks too (never a chain)
    pending = store.begin_version(document.id)
    store.share_blocks(again, pending)
    third = store.commit_version(pending, versions[1].meta).version
    assert third is not None and store.read_all(third.id) == store.read_all(first)
    assert store.usage().stored_bytes == counted[1]


def numbers(versions: list[Version]) -> list[int]:
    return [version.number for version in versions]


def test_the_store_lists_versions_a_page_at_a_time(open_store):
    store = open_store()
    document, other = store.create_document(None), store.create_document(None)
    for n in range(1, 8):
        store.commit_version(write_version(store, document.id, n), meta(n, f"v{n}.tsv"))
    store.commit_version(write_version(store, other.id, 1), meta(1))  # another's: never listed
    store.begin_version(document.id)  # pending: not listed
    assert numbers(store.versions(document.id, 3)) == [7, 6, 5]
    assert numbers(store.versions(document.id, 3, before=5)) == [4, 3, 2]
    assert numbers(store.versions(document.id, 3, before=2)) == [1]
    assert store.versions(document.id, 3, before=1) == []
    assert numbers(store.versions(document.id, 100)) == [7, 6, 5, 4, 3, 2, 1]
    assert numbers(store.versions(document.id, 2, before=10**6)) == [7, 6]
    assert numbers(store.versions(document.id, 1, before=7)) == [6]
    assert store.versions(document.id, 3) == store.versions(document.id, 3, None)
    assert numbers(store.versions(other.id, 5)) == [1]
    empty = store.create_document(None)
    assert store.versions(empty.id, 5) == []


def test_the_store_finds_one_version_by_its_number(open_store):
    store = open_store()
    document, other = store.create_document(None), store.create_document(None)
    for n in (300, 10):
        store.commit_version(write_version(store, document.id, n), meta(n, f"v{n}.tsv"))
    store.commit_version(write_version(store, other.id, 5), meta(5))
    pending = store.begin_version(document.id)
    listed = store.versions(document.id, 10)
    assert store.version(document.id, 1) == listed[1]
    assert store.version(document.id, 2) == listed[0]
    assert store.version(document.id, 1).meta.filename == "v300.tsv"  # type: ignore[union-attr]
    assert store.version(other.id, 1).document_id == other.id  # type: ignore[union-attr]
    for number in (0, 3, 10**6):  # none; and the pending one has no number yet
        assert store.version(document.id, number) is None
    assert store.version(other.id, 2) is None
    assert store.version("00000000-0000-4000-8000-000000000000", 1) is None
    store.commit_version(pending, meta(7))
    assert store.version(document.id, 3).meta.record_count == 7  # type: ignore[union-attr]


class CountingStore(SQLiteStore):
    """A real SQLite store that counts the versions its lookups hand over."""

    handed = 0

    def versions(self, document_id: str, limit: int, before: int | None = None) -> list[Version]:
        found = super().versions(document_id, limit, before)
        self.handed += len(found)
        return found

    def version(self, document_id: str, number: int) -> Version | None:
        found = super().version(document_id, number)
        self.handed += found is not None
        return found


async def test_reading_one_old_version_reads_it_alone_not_the_history(tmp_path: Path):
    """?version=V on pages and downloads, and restore, look the version up: one row, however
    many versions the document has (the whole list was read for each: 108 ms at 20,000)."""
    store = CountingStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    many_versions(store, document.id, 5000)
    node = Node.assemble(store, Limits(), page_size=100, legacy_page_size=100)
    documents = node.documents
    try:
        found = await documents.version(document.id, 1)
        assert found is not None and found.number == 1 and store.handed == 1
        assert await documents.version(document.id, 5001) is None and store.handed == 1
        page = await documents.versions(document.id, 10, 2500)
        assert numbers(page) == list(range(2499, 2489, -1)) and store.handed == 11
    finally:
        await node.close()


def versions_url(server, document_id: str, query: str = "") -> str:
    return f"{server.url}/parser/api/docs/{document_id}/versions{query}"


async def test_versions_are_listed_a_page_at_a_time(server_factory, tmp_path: Path):
    data = tmp_path / "data"
    store = SQLiteStore(data / "tablecast.sqlite3")
    document = store.create_document(None)
    many_versions(store, document.id, 250)
    store.close()
    server = server_factory(data_dir=data)

    def listed(query: str = "") -> tuple[list[int], int | None]:
        status, body, _ = http("GET", versions_url(server, document.id, query))
        assert status == 200 and body["id"] == document.id and body["current"] is None
        return [v["version"] for v in body["versions"]], body["next"]

    assert listed() == (list(range(250, 150, -1)), 151)  # 100 by default
    assert listed("?before=151") == (list(range(150, 50, -1)), 51)
    assert listed("?before=51") == (list(range(50, 0, -1)), None)
    assert listed("?limit=3&before=4") == ([3, 2, 1], None)  # exactly the last: no next
    assert listed("?limit=3&before=5") == ([4, 3, 2], 2)
    assert listed("?limit=1&before=2") == ([1], None)
    assert listed("?limit=5&before=1") == ([], None)
    assert listed("?limit=2&before=999999999") == ([250, 249], 249)
    assert listed("?limit=1000") == (list(range(250, 0, -1)), None)  # the most a page holds
    assert listed("?limit=250") == (list(range(250, 0, -1)), None)
    assert listed("?limit=249") == (list(range(250, 1, -1)), 2)


# Not numbers as a query gives them: superscripts (str.isdigit() takes them, int() refuses
# them: a 500), other scripts' digits (int() reads Arabic-Indic one as 1), spaces (Tornado
# strips them).
NOT_NUMBERS = ["²", "¹", "\u0661", "\uff11", " 1", "1 ", "-1", "+1", "1.5", "1e3", "x", "1" * 40]


async def test_a_page_of_versions_takes_ascii_numbers_in_range(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    out_of_range = {"limit": ["0", "0000", "1001"], "before": ["0", "0000"]}
    for name, more in out_of_range.items():
        for value in NOT_NUMBERS + more:
            url = versions_url(server, doc["id"], f"?{name}={quote(value)}")
            status, body, _ = http("GET", url)
            assert status == 400 and body["error"]["code"] == "bad_request", (name, value)
    status, body, _ = http("GET", versions_url(server, doc["id"], "?limit=1000&before=2"))
    assert (status, [v["version"] for v in body["versions"]], body["next"]) == (200, [1], None)


async def test_a_version_number_is_ascii_digits_or_bad_request(server):
    """``?version=V`` on pages and downloads: never a 500, and never another version."""
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(5))
    base = f"{server.url}/parser/api/docs/{doc['id']}"
    for value in NOT_NUMBERS:
        v = quote(value)
        for url in (
            f"{base}/pages/1?version={v}",
            f"{base}/download?version={v}",
            f"{base}/download?format=original&version={v}",
        ):
            status, body, _ = http("GET", url)
            assert status == 400 and body["error"]["code"] == "bad_request", (url, value)
    status, body, _ = http("GET", f"{base}/pages/1?version=1")
    assert (status, body["version"]) == (200, 1)
    status, body, _ = http("GET", f"{base}/pages/1?version=0")
    assert (status, body["error"]["code"]) == (404, "version_not_found")


async def test_versions_are_listed_and_old_ones_read(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=first.tsv", table(250))
    assert put(server.url, doc, table(30), "?name=second.tsv")[0] == 200

    status, listed, _ = http("GET", docs_url(server, doc, "/versions"))
    assert status == 200 and listed["current"] == 2 and listed["next"] is None
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


async def test_a_restored_versions_columns_are_the_old_ones_not_made_again(server, tmp_path):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=first.tsv", table(250))
    assert put(server.url, doc, table(30))[0] == 200
    # version 1's columns, made as it was uploaded, and read by a sort
    assert http("GET", docs_url(server, doc, "/pages/1?version=1&sort=1"))[0] == 200
    restore = docs_url(server, doc, "/versions/1/restore")
    status, body, _ = http("POST", restore, headers={"Authorization": f"Bearer {doc['edit_key']}"})
    assert (status, body["version"]) == (200, 3)
    _, sorted_new, _ = http("GET", docs_url(server, doc, "/pages/1?version=3&sort=1"))
    _, sorted_old, _ = http("GET", docs_url(server, doc, "/pages/1?version=1&sort=1"))
    assert sorted_new["data"] == sorted_old["data"]
    # one file under two names: versions 1 and 3 (not 2, of other rows)
    files = sorted((tmp_path / "data" / "columns" / doc["id"]).glob("*.arrow"))
    inodes = [path.stat().st_ino for path in files]
    assert len(files) == 3 and len(set(inodes)) == 2, files


def test_a_restore_over_http_shares_what_it_restores(server):
    _, doc, _ = http("POST", docs_url(server, {"id": ""}).rstrip("/"), table(3000))
    assert put(server.url, doc, table(5))[0] == 200
    _, before, _ = http("GET", f"{server.url}/metrics")
    restore = f"{docs_url(server, doc)}/versions/1/restore"
    status, restored, _ = http("POST", restore, b"", {"Authorization": f"Bearer {doc['edit_key']}"})
    assert status == 200 and (restored["version"], restored["total_number"]) == (3, 3000)
    _, after, _ = http("GET", f"{server.url}/metrics")
    stored = re.compile(r"^tablecast_stored_bytes (\S+)$", re.M)
    assert stored.search(before)[1] == stored.search(after)[1]  # nothing stored again
    for page in (1, 30):
        _, first, _ = http("GET", f"{docs_url(server, doc)}/pages/{page}?version=1")
        _, third, _ = http("GET", f"{docs_url(server, doc)}/pages/{page}?version=3")
        assert first["data"] == third["data"]
    _, original, _ = http("GET", f"{docs_url(server, doc)}/download?version=3&format=original")
    assert original == table(3000).decode()
    _, changes, _ = http("GET", f"{docs_url(server, doc)}/diff?from=1&to=3")
    assert changes["counts"] == {"added": 0, "removed": 0, "changed": 0}
