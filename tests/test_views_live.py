"""Sorted and searched views over tablecast.v1: shared by followers, private otherwise, kept
across versions and restarts, and the same on every node of a cluster."""

from __future__ import annotations

import json
from typing import Any

from support import (
    PEOPLE,
    create,
    editor,
    expect,
    http,
    legacy,
    nothing_more,
    people_tsv,
    put,
    receive,
    v1,
)


def names(page: dict) -> list[str]:
    return [row[0] for row in page["data"]]


async def send_view(ws, **view) -> None:
    await ws.send(json.dumps({"type": "view", **view}))


def new_people(server) -> dict:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", people_tsv())
    assert status == 201
    return doc


async def test_an_editor_following_sorts_and_searches_for_every_follower(server):
    doc = new_people(server)
    ed = await editor(server, doc["id"], doc["edit_key"])
    follower = await v1(server, doc["id"])
    alone = await v1(server, doc["id"])
    old = await legacy(server, doc["id"])
    await expect(ed, "access")  # after its join page
    for ws in (follower, alone):
        await expect(ws, "page", cause="join")
    await receive(old)
    await alone.send(json.dumps({"type": "follow", "follow": False}))

    await send_view(ed, sort=2, order="desc", q="a", by="Ada")
    for ws in (ed, follower):
        page = await expect(ws, "page", cause="view")
        assert page["shared"] is True and page["page_no"] == 1
        assert page["view"]["by"] == "Ada" and page["view"]["sort"] == 2
        assert names(page) == ["Ada", "ada", "Alan", "grace", "Edsger"]
        assert page["rows"] == [1, 5, 3, 2, 4]
        assert page["types"] == ["text", "text", "decimal", "date"]
    await nothing_more(alone, skip=("presence",))  # browsing alone: not moved
    await nothing_more(old, 0.2)  # an article client keeps the plain table

    # a follower joining now sees the shared view; following again brings it back too
    late = await v1(server, doc["id"])
    assert (await expect(late, "page", cause="join"))["view"]["q"] == "a"
    await alone.send(json.dumps({"type": "follow", "follow": True}))
    assert (await expect(alone, "page", cause="follow"))["view"]["sort"] == 2

    # clearing it is a view change too
    await send_view(ed, by="Ada")
    page = await expect(follower, "page", cause="view")
    assert names(page) == [row[0] for row in PEOPLE[1:]] and "rows" not in page
    # the shared view is kept with the document: the HTTP API can say what followers see
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert (status, body["shared_page"], body["shared_view"]["by"]) == (200, 1, "Ada")
    assert body["shared_view"]["sort"] is None


async def test_browsing_alone_or_by_view_link_the_view_is_ones_own(server):
    doc = new_people(server)
    ed = await editor(server, doc["id"], doc["edit_key"])
    viewer = await v1(server, doc["id"])  # a view link: follows, may not change the group
    await expect(ed, "page", cause="join")
    await expect(viewer, "page", cause="join")

    await send_view(viewer, q="paris")
    page = await expect(viewer, "page", cause="request")
    assert page["shared"] is False and names(page) == ["Ada", "Alan"]
    await nothing_more(ed, skip=("presence", "access"))
    # its own pages keep its own view; the shared page does not
    await viewer.send(json.dumps({"type": "goto", "page": 1}))
    assert (await expect(viewer, "page", cause="request"))["view"]["q"] == "paris"
    await ed.send(json.dumps({"type": "goto", "page": 1}))
    assert (await expect(viewer, "page", cause="turn"))["view"]["q"] == ""

    await ed.send(json.dumps({"type": "follow", "follow": False}))
    await send_view(ed, sort=0, header=False)
    page = await expect(ed, "page", cause="request")
    assert page["has_header"] is False and page["columns"] == [f"Column {n}" for n in range(1, 5)]
    assert names(page)[:2] == ["Ada", "ada"] and "name" in names(page)
    await nothing_more(viewer, skip=("presence",))


async def editor_and_follower(server) -> tuple[dict, object, object]:
    """The people table, an editor, and a follower that has its join page."""
    doc = new_people(server)
    ed = await editor(server, doc["id"], doc["edit_key"])
    follower = await v1(server, doc["id"])
    await expect(follower, "page", cause="join")
    return doc, ed, follower


async def test_views_that_do_not_fit_are_refused_and_change_nothing(server):
    _, ed, follower = await editor_and_follower(server)
    for bad in ({"sort": 9}, {"order": "up"}, {"filters": {"x": "a"}}, {"q": "x" * 300}):
        await send_view(ed, **bad)
        error = await expect(ed, "error")
        assert (error["code"], error["request"]) == ("bad_option", "view")
    await nothing_more(follower, skip=("presence",))


async def test_a_filter_on_a_column_named_by_a_non_ascii_digit_is_refused(server):
    _, ed, follower = await editor_and_follower(server)
    await expect(ed, "page", cause="join")
    for column in ("²", "١"):  # str.isdigit() takes both; int() refuses one, reads 1 in the other
        await send_view(ed, filters={column: "x"})
        error = await expect(ed, "error")
        assert (error["code"], error["request"]) == ("bad_option", "view")
    # the connection stays, and serves the next request
    await send_view(ed, filters={"1": "lima"})
    assert names(await expect(follower, "page", cause="view")) == ["Edsger", "ada"]


async def test_a_new_version_keeps_the_shared_view_where_it_fits(server):
    doc, ed, follower = await editor_and_follower(server)
    await send_view(ed, sort=2, order="desc")
    await expect(follower, "page", cause="view")

    assert put(server.url, doc, people_tsv(extra=3))[0] == 200
    page = await expect(follower, "page", cause="version")
    assert page["view"]["sort"] == 2 and names(page)[:3] == ["Ada", "ada", "Alan"]
    assert page["total_number"] == 8

    assert put(server.url, doc, b"only\none column\n")[0] == 200  # column 2 is gone
    page = await expect(follower, "page", cause="version")
    assert page["view"]["sort"] is None and names(page) == ["one column"]


async def test_the_shared_view_survives_a_restart(server):
    doc = new_people(server)
    ed = await editor(server, doc["id"], doc["edit_key"])
    await expect(ed, "access")
    await send_view(ed, q="lima", by="Grace")
    await expect(ed, "page", cause="view")
    await ed.close()
    server.stop()
    server.start()
    again = await v1(server, doc["id"])
    page = await expect(again, "page", cause="join")
    assert page["view"]["q"] == "lima" and page["view"]["by"] == "Grace"
    assert names(page) == ["Edsger", "ada"]


async def test_a_shared_view_reaches_followers_on_every_node(nodes):
    a, b = nodes(2)
    doc = create(a, people_tsv())
    ed = await editor(a, doc["id"], doc["edit_key"])
    on_b = await v1(b, doc["id"])
    await expect(on_b, "page", cause="join")
    await expect(ed, "access")

    await send_view(ed, sort=0, order="desc", by="Ada")
    await expect(ed, "page", cause="view")
    page = await expect(on_b, "page", cause="view")
    _, body, _ = http("GET", f"{b.url}/parser/api/docs/{doc['id']}")
    assert body["shared_view"]["sort"] == 0
    assert names(page) == ["grace", "Edsger", "Alan", "Ada", "ada"] and page["view"]["by"] == "Ada"
    # then a page turn of that view, from the other node
    ed_b = await editor(b, doc["id"], doc["edit_key"])
    await expect(ed_b, "access")
    await send_view(ed_b, q="paris")
    page = await expect(ed, "page", cause="view")
    assert names(page) == ["Ada", "Alan"]
    # a node joining later reads it from the store
    late = await v1(a, doc["id"])
    assert (await expect(late, "page", cause="join"))["view"]["q"] == "paris"


async def test_column_types_are_sent_once_to_each_viewer(server):
    import asyncio

    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", people_tsv(extra=50_000))
    viewers = await asyncio.gather(*(v1(server, doc["id"]) for _ in range(8)))

    async def heard(ws: Any) -> list[dict[str, Any]]:
        """Everything ``ws`` is sent until a second passes with nothing more."""
        received = []
        try:
            while True:
                received.append(await receive(ws, 1.0))
        except TimeoutError:
            pass
        return received

    # every viewer's second of silence at once, not one after another
    for received in await asyncio.gather(*(heard(ws) for ws in viewers)):
        join = next(m for m in received if m["type"] == "page")
        told = [m for m in received if m["type"] == "types"]
        # on the join page if known by then, else in one message after it
        assert len(told) == (0 if join["types"] else 1), told
        assert (join["types"] or told[0]["types"]) == ["text", "text", "decimal", "date"]
