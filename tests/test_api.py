"""The HTTP API, the server's life (restart, shutdown, cleanup) and the pages it serves."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request
import uuid
from email.message import EmailMessage
from http.client import HTTPConnection

import pytest
from websockets.exceptions import ConnectionClosed

from support import duration, eventually, expect, http, legacy, put, receive, table, upload_v1, v1


def post(server, body: bytes, query: str = "") -> tuple[int, dict, dict]:
    return http("POST", f"{server.url}/parser/api/docs{query}", body)


def test_create_read_and_page(server):
    status, doc, headers = post(server, table(250), "?name=people.tsv")
    assert status == 201
    assert str(uuid.UUID(doc["id"])) == doc["id"]
    assert doc["url"] == f"{server.url}/parser/share/{doc['id']}"
    assert headers["Location"] == f"/parser/api/docs/{doc['id']}"
    assert (doc["version"], doc["total_number"], doc["page_count"]) == (1, 250, 3)
    assert doc["filename"] == "people.tsv"
    assert doc["columns"] == ["c0", "c1", "c2"]

    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert status == 200
    for key in (
        "id",
        "version",
        "total_number",
        "page_count",
        "page_size",
        "filename",
        "columns",
        "created_at",
        "updated_at",
    ):
        assert key in meta
    assert meta["page_size"] == 100

    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/3")
    assert status == 200
    assert (page["page_no"], page["total_number"]) == (3, 250)
    assert page["data"][0] == ["r200c0", "r200c1", "r200c2"]
    assert len(page["data"]) == 50
    assert page["columns"] == ["c0", "c1", "c2"]


def test_header_zero_counts_every_row(server):
    status, doc, _ = post(server, b"1\t2\n3\t4\n", "?header=0")
    assert status == 201
    assert doc["total_number"] == 2 and doc["columns"] == ["Column 1", "Column 2"]
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert page["data"] == [["1", "2"], ["3", "4"]]


def test_delimiter_and_encoding_options(server):
    status, doc, _ = post(server, "a;b\né;€\n".encode("cp1252"), "?delimiter=semicolon")
    assert status == 201 and doc["delimiter"] == "semicolon" and doc["encoding"] == "cp1252"
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert page["data"] == [["é", "€"]]
    status, body, _ = post(server, b"a\n", "?delimiter=x")
    assert status == 400 and body["error"]["code"] == "bad_option"


def test_put_adds_a_version(server):
    _, doc, _ = post(server, table(10))
    status, again, _ = put(server.url, doc, table(20))
    assert status == 200
    assert (again["id"], again["version"], again["total_number"]) == (doc["id"], 2, 20)


def test_a_put_without_a_name_keeps_the_tables_name(server):
    _, doc, _ = post(server, table(10), "?name=people.tsv")
    status, again, _ = put(server.url, doc, table(20))  # as the README's curl example does
    assert (status, again["version"], again["filename"]) == (200, 2, "people.tsv")
    status, again, _ = put(server.url, doc, table(30), "?name=people-v3.tsv")
    assert (status, again["filename"]) == (200, "people-v3.tsv")  # a name given renames it
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (meta["version"], meta["filename"]) == (3, "people-v3.tsv")
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?version=2")
    assert (status, page["filename"]) == (200, "people.tsv")


def saved_as(server, doc: dict, format: str) -> str:
    """The file name a browser (or ``curl -OJ``) saves a download under."""
    url = f"{server.url}/parser/api/docs/{doc['id']}/download?format={format}"
    with urllib.request.urlopen(url, timeout=30) as response:
        disposition = EmailMessage()
        disposition["Content-Disposition"] = response.headers["Content-Disposition"]
    assert disposition.get_content_disposition() == "attachment"
    return disposition.get_filename() or ""


def test_each_download_is_saved_under_a_name_of_its_own(server):
    formats = ("original", "csv", "tsv", "jsonl")
    for query, body, names in (
        # the original keeps the uploaded name; an export is never saved over it
        ("?name=flights.csv", b"a,b\n1,2\n", ["flights.csv", "flights (export).csv"]),
        ("?name=People.TSV", table(3), ["People.TSV", "People.csv", "People (export).tsv"]),
        ("?name=report", table(3), ["report", "report.csv", "report.tsv", "report.jsonl"]),
        ("", b"a,b\n1,2\n", ["table.csv", "table (export).csv", "table.tsv", "table.jsonl"]),
        ("", table(3), ["table.tsv", "table.csv", "table (export).tsv", "table.jsonl"]),
    ):
        _, doc, _ = post(server, body, query)
        saved = [saved_as(server, doc, format) for format in formats]
        assert saved[: len(names)] == names, query
        assert len({name.casefold() for name in saved}) == len(formats), saved
        assert saved[3].endswith(".jsonl")


def test_errors_are_json_with_codes(server):
    missing = str(uuid.uuid4())
    cases = [
        ("GET", f"/parser/api/docs/{missing}", None, 404, "not_found"),
        ("GET", "/parser/api/docs/nonsense", None, 404, "not_found"),
        ("PUT", f"/parser/api/docs/{missing}", b"a\n", 404, "not_found"),
        ("POST", "/parser/api/docs", b"\x00\x01binary", 400, "not_text"),
        ("POST", "/parser/api/docs", b"", 400, "empty_file"),
        ("POST", "/parser/api/docs?header=maybe", b"a\n", 400, "bad_option"),
        ("GET", "/parser/api/nothing/here", None, 404, "not_found"),
        ("DELETE", "/parser/api/docs", None, 405, "method_not_allowed"),
    ]
    for method, path, body, status, code in cases:
        got, answer, _ = http(method, server.url + path, body)
        assert (got, answer["error"]["code"]) == (status, code), path
        assert answer["error"]["message"]
    _, doc, _ = post(server, table(150))
    for page in (0, 3, 999999999999):
        status, answer, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/{page}")
        assert (status, answer["error"]["code"]) == (404, "page_not_found")


def test_a_failed_upload_changes_nothing(server):
    _, doc, _ = post(server, table(10))
    status, answer, _ = put(server.url, doc, b"\x00" * 100)
    assert (status, answer["error"]["code"]) == (400, "not_text")
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (meta["version"], meta["total_number"]) == (1, 10)


def test_over_the_limit_is_refused_from_content_length_before_the_body(server_factory):
    server = server_factory("--max-upload-bytes", "100KiB")
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/parser/api/docs")
    conn.putheader("Content-Length", str(10 * 1024 * 1024))
    conn.endheaders()  # no body sent at all: the answer comes from the headers alone
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "too_large"


def test_over_the_limit_is_refused_while_streaming_without_content_length(server_factory):
    server = server_factory("--max-upload-bytes", "100KiB")
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/parser/api/docs")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"a\tb\n" * 4096  # 16 KiB
    try:
        for _ in range(64):  # 1 MiB in all, far past the limit
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: that is the point
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "too_large"
    assert not server.logged("Traceback")


async def test_http_upload_reaches_websocket_viewers(server):
    _, doc, _ = post(server, table(10))
    old = await legacy(server, doc["id"])
    new = await v1(server, doc["id"])
    await receive(old)
    await expect(new, "page")
    status, again, _ = put(server.url, doc, table(300))
    assert (status, again["version"]) == (200, 2)
    page = await receive(old)
    assert (page["page_no"], page["total_number"]) == (1, 301)
    page = await expect(new, "page", cause="version")
    assert (page["version"], page["total_number"]) == (2, 300)
    await old.close()
    await new.close()


async def test_everything_survives_a_restart(server_factory, tmp_path):
    server = server_factory()
    ws = await v1(server)
    document_id = (await expect(ws, "hello"))["id"]
    await upload_v1(ws, table(400), filename="one.tsv")
    await upload_v1(ws, table(500), filename="two.tsv")
    await ws.send(json.dumps({"type": "goto", "page": 4}))
    await expect(ws, "page", cause="turn")
    await ws.close()
    # the turn is saved in the background: a graceful stop waits for it
    assert server.stop() == 0

    server = server_factory(data_dir=server.data_dir)
    status, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (status, meta["version"], meta["total_number"], meta["filename"]) == (
        200,
        2,
        500,
        "two.tsv",
    )
    ws = await v1(server, document_id)
    page = await expect(ws, "page", cause="join")
    assert page["page_no"] == 4 and page["data"][0][0] == "r300c0"
    old = await legacy(server, document_id)
    assert (await receive(old))["page_no"] == 4
    await ws.close()
    await old.close()


@pytest.mark.process  # a signal to the process
async def test_sigterm_closes_viewers_with_1001_and_exits_0(server):
    viewers = [await legacy(server), await v1(server)]
    await receive(viewers[0])
    await expect(viewers[1], "page")
    server.proc.send_signal(signal.SIGTERM)
    for ws in viewers:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.proc.wait(15) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_a_signal_even_as_a_background_job(server_factory, sig):
    server = server_factory(sigint_ignored=True)  # as a shell starts `tablecast serve &`
    assert server.stop(sig) == 0
    assert server.logged(r"INFO tablecast stopped$")


@pytest.mark.process  # a signal to the process
async def test_sigusr1_tells_where_every_thread_and_task_is_and_serving_goes_on(server):
    ws = await v1(server)
    await expect(ws, "page")
    server.proc.send_signal(signal.SIGUSR1)
    await eventually(lambda: server.logged(r"^asyncio tasks:"), what="the tasks' stacks")
    assert server.logged(r"^Current thread|^Thread 0x")  # the interpreter's, every thread's
    assert server.logged(r"serve_forever|_open|keep_alive")  # what the loop's tasks wait in
    await upload_v1(ws, table(5))  # and it serves on
    await ws.close()


@pytest.mark.process  # a signal to the process
async def test_sigterm_mid_upload_rolls_it_back(server_factory):
    server = server_factory()
    ws = await v1(server)
    document_id = (await expect(ws, "hello"))["id"]
    await upload_v1(ws, table(50))
    await ws.send(json.dumps({"type": "upload_begin"}))
    await expect(ws, "upload_ready")
    await ws.send(table(20000))
    await expect(ws, "upload_ack")
    # stopped while this loop runs: the client answers the server's close, as clients do
    assert await asyncio.to_thread(server.stop, signal.SIGINT) == 0
    server = server_factory(data_dir=server.data_dir)
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"]) == (1, 50)


async def test_documents_never_uploaded_to_are_removed_once_nobody_watches(server_factory):
    server = server_factory("--empty-document-ttl", duration(2))
    kept = await legacy(server)  # still watched: kept however old
    kept_id = (await receive(kept))["uuid"]
    left = await legacy(server)
    left_id = (await receive(left))["uuid"]
    await left.close()
    _, used, _ = post(server, table(3))  # uploaded to: kept
    await eventually(
        lambda: http("GET", f"{server.url}/parser/api/docs/{left_id}")[0] == 404,
        what="the document nobody uploaded to removed",
    )
    assert http("GET", f"{server.url}/parser/api/docs/{kept_id}")[0] == 200
    assert http("GET", f"{server.url}/parser/api/docs/{used['id']}")[0] == 200
    await kept.close()


def test_pages_and_health(server):
    status, body, _ = http("GET", f"{server.url}/healthz")
    assert (status, body) == (200, {"status": "ok"})
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.status == 302 and response.getheader("Location") == "/parser/"
    status, html, _ = http("GET", f"{server.url}/parser/")
    assert status == 200 and "<html" in html and "/parser/static/" in html
    _, doc, _ = post(server, table(1))
    status, html, _ = http("GET", f"{server.url}/parser/share/{doc['id']}")
    assert status == 200 and doc["id"] in html
    status, html, _ = http("GET", f"{server.url}/parser/share/{uuid.uuid4()}")
    assert status == 404
    script = html.split('<script type="module" src="')[1].split('"')[0]
    assert "?v=" in script  # content-hashed: cached for good
    status, js, headers = http("GET", server.url + script)
    assert status == 200 and "./connection.js" in js
    assert "javascript" in headers["Content-Type"]
    assert "max-age" in headers["Cache-Control"]
    # modules imported by plain relative URLs are revalidated, never stale after an upgrade
    status, js, headers = http("GET", f"{server.url}/parser/static/connection.js")
    assert status == 200 and "new WebSocket" in js
    assert headers["Cache-Control"] == "no-cache"


async def test_a_client_vanishing_mid_upload_changes_nothing(server):
    _, doc, _ = post(server, table(10))
    watcher = await v1(server, doc["id"])
    await expect(watcher, "page")
    for _ in range(3):
        conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("PUT", f"/parser/api/docs/{doc['id']}")
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.putheader("Authorization", f"Bearer {doc['edit_key']}")
        conn.endheaders()
        for _ in range(40):
            conn.send(table(2000))  # a few MB of the promised 50
        conn.close()  # and gone
    cancelled = set()
    while len(cancelled) < 3:  # each upload rolled back, none failed
        news = await expect(watcher, "upload_progress", state="cancelled")
        assert "error" not in news
        cancelled.add(news["upload"])
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (meta["version"], meta["total_number"]) == (1, 10)
    status, again, _ = put(server.url, doc, table(5))
    assert (status, again["version"]) == (200, 2)
    await watcher.close()
