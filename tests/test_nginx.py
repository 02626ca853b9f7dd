"""The whole flow through a real nginx (Debian's nginx-light) running deploy/'s sites: one
server (nginx.conf), and a cluster of two (nginx-cluster.conf)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support import TIME, duration, editor, expect, http, put, receive, table, upload_v1, v1


async def test_the_legacy_flow_through_nginx(server_factory, nginx_factory):
    server = server_factory("--trust-proxy", "1")
    proxy = nginx_factory(server)
    uploader = await connect(proxy.ws_url + "/parser/ws", max_size=None)
    document_id = (await receive(uploader))["uuid"]
    await uploader.send(table(300))
    assert (await receive(uploader))["total_number"] == 301
    viewer = await connect(f"{proxy.ws_url}/parser/ws/{document_id}")
    assert (await receive(viewer))["page_no"] == 1
    await uploader.send("3")
    for ws in (uploader, viewer):
        page = await receive(ws)
        assert page["page_no"] == 3 and page["data"][0][0] == "r199c0"
    await uploader.close()
    await viewer.close()
    server.caught_up()
    assert server.logged(r"connect doc=.* ip=127\.0\.0\.1")


async def test_v1_and_http_through_nginx(server_factory, nginx_factory):
    server = server_factory("--trust-proxy", "1")
    proxy = nginx_factory(server)
    status, doc, _ = http("POST", f"{proxy.url}/parser/api/docs?name=a.tsv", table(10))
    assert status == 201
    assert doc["url"] == f"{proxy.url}/parser/share/{doc['id']}"  # the address people used
    status, page, _ = http("GET", f"{proxy.url}/parser/api/docs/{doc['id']}/pages/1")
    assert status == 200 and page["total_number"] == 10

    ws = await connect(f"{proxy.ws_url}/parser/ws/{doc['id']}", subprotocols=["tablecast.v1"])
    hello = await expect(ws, "hello")
    assert hello["url"] == doc["url"]
    await ws.send(json.dumps({"type": "auth", "edit_key": doc["edit_key"]}))
    await expect(ws, "access", edit=True)
    big = table(40000, cols=5)  # a few MB, in chunks through the proxy
    done = await upload_v1(ws, big, chunk=256 * 1024)
    assert done["total_number"] == 40000
    page = await expect(ws, "page", cause="version")
    assert page["version"] == 2

    status, again, _ = put(proxy.url, doc, big)  # streamed
    assert status == 200 and again["version"] == 3
    assert (await expect(ws, "page", cause="version"))["version"] == 3
    status, html, _ = http("GET", f"{proxy.url}/parser/share/{doc['id']}")
    assert status == 200 and doc["id"] in html
    await ws.close()


def nginx_duration(units: float) -> str:
    """``units`` of TIME as nginx writes a time: ``"1500ms"``."""
    return f"{round(units * TIME * 1000)}ms"


async def test_server_pings_keep_idle_viewers_connected_through_nginx(
    server_factory, nginx_factory
):
    # nginx drops a WebSocket idle past proxy_read_timeout; the server's pings prevent that
    server = server_factory("--ping-interval", duration(2))
    proxy = nginx_factory(server, read_timeout=nginx_duration(6))
    ws = await connect(f"{proxy.ws_url}/parser/ws", subprotocols=["tablecast.v1"])
    hello = await expect(ws, "hello")
    await expect(ws, "page")
    await asyncio.sleep(10 * TIME)  # idle for longer than nginx allows
    status, _, _ = put(proxy.url, hello, table(5))
    assert status == 200
    page = await expect(ws, "page", cause="version")
    assert page["total_number"] == 5
    await ws.close()


async def test_without_pings_nginx_would_drop_an_idle_viewer(server_factory, nginx_factory):
    """The control for the test above: it is the pings that keep the viewer."""
    server = server_factory("--ping-interval", "3600")
    proxy = nginx_factory(server, read_timeout=nginx_duration(4))
    ws = await connect(
        f"{proxy.ws_url}/parser/ws", subprotocols=["tablecast.v1"], ping_interval=None
    )
    await expect(ws, "hello")
    await asyncio.sleep(7 * TIME)  # idle for longer than nginx allows
    with pytest.raises(ConnectionClosed):
        await ws.send(json.dumps({"type": "ping"}))
        await expect(ws, "pong", timeout=2)


def test_metrics_are_for_this_host_only(server_factory, nginx_factory):
    server = server_factory("--trust-proxy", "1")
    proxy = nginx_factory(server)
    status, text, _ = http("GET", f"{proxy.url}/metrics")
    assert status == 200 and "tablecast_viewers" in text
    with socket.create_connection(("127.0.0.1", proxy.port), source_address=("127.0.0.2", 0)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(12) == b"HTTP/1.1 403"  # another address: refused by nginx


async def test_a_cluster_behind_nginx_survives_losing_a_node(server_factory, nginx_factory, pg_url):
    nodes = [server_factory("--store", pg_url, "--trust-proxy", "1") for _ in range(2)]
    proxy = nginx_factory(*nodes, site="nginx-cluster.conf")
    status, doc, _ = http("POST", f"{proxy.url}/parser/api/docs", table(1000))
    assert status == 201
    boss = await editor(proxy, doc["id"], doc["edit_key"])
    await expect(boss, "access", edit=True)
    viewers = [await v1(proxy, doc["id"]) for _ in range(6)]
    for ws in viewers:
        await expect(ws, "page")
    for node in nodes:  # nginx spread them over both
        node.caught_up()
        assert len(node.logged(r"connect doc=")) >= 2, "".join(node.log)

    await boss.send(json.dumps({"type": "goto", "page": 4}))
    for ws in viewers:
        assert (await expect(ws, "page", cause="turn"))["page_no"] == 4
    status, _, _ = put(proxy.url, doc, table(2000))
    assert status == 200
    for ws in viewers:
        page = await expect(ws, "page", cause="version")
        assert (page["version"], page["total_number"]) == (2, 2000)
    await boss.send(json.dumps({"type": "goto", "page": 3}))
    for ws in viewers:
        assert (await expect(ws, "page", cause="turn"))["page_no"] == 3

    # A node dies. Its viewers reconnect through nginx, as the app does, and land on the
    # other node: same document, same version, same shared page.
    nodes[0].stop(signal.SIGKILL)
    survivors = []
    for ws in [*viewers, boss]:
        try:
            await ws.send(json.dumps({"type": "ping"}))
            await expect(ws, "pong", timeout=2)
            survivors.append(ws)
        except (ConnectionClosed, TimeoutError):
            ws = await v1(proxy, doc["id"])
            await expect(ws, "hello")
            page = await expect(ws, "page", cause="join")
            assert (page["uuid"], page["version"], page["page_no"]) == (doc["id"], 2, 3)
            survivors.append(ws)
    assert len(survivors) == 7 and nodes[1].proc.poll() is None
    # every viewer is on the node that lives; the dead node's count is forgotten
    await expect(survivors[0], "presence", viewers=7, timeout=15)
