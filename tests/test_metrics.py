"""``/metrics``: what an operator watches, in Prometheus text format."""

from __future__ import annotations

import json

from support import expect, http, put, scrape, table, upload_v1, v1


async def test_metrics_count_what_happens(server):
    before = scrape(server)
    assert before["tablecast_viewers"] == 0 and before["tablecast_documents"] == 0
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(500))
    ws = await v1(server)
    hello = await expect(ws, "hello")
    await upload_v1(ws, table(300))
    watcher = await v1(server, hello["id"])
    await expect(watcher, "page")
    await ws.send(json.dumps({"type": "goto", "page": "abc"}))
    await expect(ws, "error", code="bad_page")
    await ws.send(json.dumps({"type": "goto", "page": 2}))
    await expect(watcher, "page", cause="turn")
    assert put(server.url, {**doc, "edit_key": "wrong"}, table(3))[0] == 403

    after = scrape(server)
    assert after["tablecast_viewers"] == 2
    assert after["tablecast_open_documents"] == 1
    assert after["tablecast_documents"] == 2
    assert after["tablecast_stored_bytes"] > 0
    assert after["tablecast_connections_total"] == 2
    assert after["tablecast_uploads_total{outcome=committed}"] == 2
    assert after["tablecast_errors_total{code=bad_page}"] == 1
    assert after["tablecast_errors_total{code=wrong_edit_key}"] == 1
    assert after["tablecast_received_bytes_total"] > 2 * len(table(300))
    assert after["tablecast_sent_bytes_total"] > after["tablecast_sent_messages_total"] > 4
    assert after["tablecast_upload_seconds_count"] == 2
    assert after["tablecast_fan_out_seconds_count"] >= 2  # the version and the turn
    for client in (ws, watcher):
        await client.close()
