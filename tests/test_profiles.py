"""Column profiles and facets (issue 17): what a column holds over the rows a view shows, the
value counts a person picks facets from, and facets narrowing pages, downloads and profiles,
over HTTP (SQLite and PostgreSQL) and in the shared view of tablecast.v1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from support import editor, expect, http, legacy, nothing_more, receive, v1
from tablecast.table import columns, profiles
from tablecast.table.view import MAX_VIEW_BYTES, View, view_from_message, view_from_query

# A TSV (so a comma may be a decimal point) with thousands separators, decimal commas, dates,
# date-times with offsets, missing markers, and a short row (Edsger's: no note)
TABLE = [
    ["name", "city", "amount", "price", "when", "at", "note"],
    ["Ada", "Paris", "1,200", "2,5", "2024-03-01", "2024-03-01T10:00:00Z", "x"],
    ["grace", "Oslo", "-5", "1.234,5", "2023-01-15", "2024-03-01 12:30+02:00", "NA"],
    ["Alan", "paris", "30", "-0,25", "", "2024-03-01T09:00Z", ""],
    ["Edsger", "Lima", "NA", "3", "2025-07-04", "n/a"],
    ["ada", "Lima", "1,200", ",5", "2024-03-01", "2024-02-29T23:00:00-01:00", "y"],
]
TIME = {"date", "datetime"}  # a column of date-times: "datetime" once types are told apart


def tsv(rows: list[list[str]]) -> bytes:
    return ("\n".join("\t".join(row) for row in rows) + "\n").encode()


@pytest.fixture
def doc(server) -> dict[str, Any]:
    return upload(server, TABLE)


def upload(server, rows: list[list[str]]) -> dict[str, Any]:
    status, body, _ = http("POST", f"{server.url}/parser/api/docs?name=t.tsv", tsv(rows))
    assert status == 201, body
    return body


def get(server, doc, path: str, query: Any = ()) -> dict[str, Any]:
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/{path}?"
                           f"{urlencode(query)}")  # fmt: skip
    assert status == 200, body
    return body


def column(server, doc, n: int, query: Any = ()) -> dict[str, Any]:
    return get(server, doc, f"columns/{n}", query)["column"]


def bins(profile: dict[str, Any]) -> list[int]:
    return [b["count"] for b in profile["histogram"]]


# Profiles over HTTP


def test_profiles_of_every_type_count_values_missing_and_describe_them(server, doc):
    body = get(server, doc, "columns")
    assert (body["id"], body["version"], body["total_number"]) == (doc["id"], 1, 5)
    by_name = {p["name"]: p for p in body["columns"]}
    assert [p["column"] for p in body["columns"]] == list(range(7))

    amount = by_name["amount"]  # integers with thousands separators, a missing marker
    assert amount | {"histogram": None} == {
        "column": 2, "name": "amount", "type": "integer", "inferred": "integer",
        "count": 5, "values": 4, "missing": 1, "invalid": 0, "distinct": 3,
        "min": "-5", "max": "1,200", "mean": (1200 - 5 + 30 + 1200) / 4,
        "top": [{"value": "1,200", "count": 2}, {"value": "-5", "count": 1},
                {"value": "30", "count": 1}],
        "histogram": None,
    }  # fmt: skip
    assert len(amount["histogram"]) == 20
    assert amount["histogram"][0] == {"from": -5.0, "to": -5 + 1205 / 20, "count": 2}
    assert amount["histogram"][-1]["to"] == 1200.0
    assert bins(amount) == [2] + [0] * 18 + [2]

    price = by_name["price"]  # decimal commas in a TSV, points grouping thousands
    assert (price["type"], price["inferred"], price["values"], price["missing"]) == (
        "decimal", "decimal", 5, 0,
    )  # fmt: skip
    assert (price["min"], price["max"]) == ("-0,25", "1.234,5")
    assert price["mean"] == pytest.approx((2.5 + 1234.5 - 0.25 + 3 + 0.5) / 5)
    assert bins(price) == [4] + [0] * 18 + [1]

    when = by_name["when"]  # days alone: seconds since the epoch at their midnight (UTC)
    assert (when["type"], when["values"], when["missing"], when["distinct"]) == ("date", 4, 1, 3)
    assert (when["min"], when["max"], when["mean"]) == ("2023-01-15", "2025-07-04", None)
    assert when["histogram"][0]["from"] == 1673740800.0  # 2023-01-15T00:00:00Z
    assert when["histogram"][-1]["to"] == 1751587200.0  # 2025-07-04T00:00:00Z
    assert sum(bins(when)) == 4 and bins(when)[0] == 1 and bins(when)[-1] == 1

    at = by_name["at"]  # date-times with offsets: ordered by instant, "n/a" missing
    assert at["type"] in TIME and (at["values"], at["missing"]) == (4, 1)
    assert at["min"] == "2024-02-29T23:00:00-01:00"  # 2024-03-01T00:00Z
    assert at["max"] == "2024-03-01 12:30+02:00"  # 10:30Z
    assert at["histogram"][0]["from"] == 1709251200.0
    assert at["histogram"][-1]["to"] == 1709289000.0

    note = by_name["note"]  # text: "NA", "" and the short row's missing cell are missing
    assert note | {"column": 6} == {
        "column": 6, "name": "note", "type": "text", "inferred": "text",
        "count": 5, "values": 2, "missing": 3, "invalid": 0, "distinct": 2,
        "min": None, "max": None, "mean": None,
        "top": [{"value": "x", "count": 1}, {"value": "y", "count": 1}], "histogram": None,
    }  # fmt: skip
    city = by_name["city"]  # ties by value, cells as written (case kept)
    assert [t["value"] for t in city["top"]] == ["Lima", "Oslo", "Paris", "paris"]
    assert column(server, doc, 1) == city


def test_a_profile_describes_the_rows_a_view_shows(server, doc):
    searched = get(server, doc, "columns/2", {"q": "lima"})
    assert searched["total_number"] == 2
    amount = searched["column"]
    assert (amount["count"], amount["values"], amount["missing"]) == (2, 1, 1)
    assert (amount["min"], amount["max"], amount["mean"]) == ("1,200", "1,200", 1200.0)
    assert bins(amount) == [1] + [0] * 19  # one value: its bin first

    faceted = column(server, doc, 2, [("facet.1", "Lima"), ("facet.1", "Oslo")])
    assert (faceted["count"], faceted["values"], faceted["min"]) == (3, 2, "-5")
    both = column(server, doc, 2, [("facet.1", "Lima"), ("facet.6", "y")])  # AND across
    assert (both["count"], both["top"]) == (1, [{"value": "1,200", "count": 1}])
    # a sort is accepted and changes nothing
    assert column(server, doc, 2, {"q": "lima", "sort": "0", "order": "desc"}) == amount
    nothing = column(server, doc, 2, {"q": "nobody"})
    assert (nothing["count"], nothing["min"], nothing["histogram"], nothing["top"]) == (
        0, None, None, [],
    )  # fmt: skip


def test_a_profile_follows_the_header_switch_and_the_version(server, doc):
    off = column(server, doc, 2, {"header": "0"})
    assert (off["count"], off["values"], off["type"]) == (6, 5, "text")  # "amount" is a value
    assert column(server, doc, 2, {"header": "0"})["name"] == "Column 3"
    status, _, _ = http(
        "PUT",
        f"{server.url}/parser/api/docs/{doc['id']}",
        tsv([["amount"], ["7"], ["8"]]),
        {"Authorization": f"Bearer {doc['edit_key']}"},
    )
    assert status == 200
    now = get(server, doc, "columns/0")
    assert (now["version"], now["column"]["min"], now["column"]["max"]) == (2, "7", "8")
    then = get(server, doc, "columns/2", {"version": "1"})
    assert (then["version"], then["column"]["name"], then["column"]["max"]) == (
        1,
        "amount",
        "1,200",
    )


# Facets


def test_facet_counts_leave_out_the_columns_own_facet(server, doc):
    query = [("facet.1", "Lima"), ("facet.2", "1,200")]
    body = get(server, doc, "facets/1", query)
    assert body == {
        "id": doc["id"], "version": 1, "column": 1, "name": "city", "total_number": 2,
        "values": [{"value": "Lima", "count": 1, "selected": True},
                   {"value": "Paris", "count": 1, "selected": False}],
        "distinct": 2, "others": 0,
    }  # fmt: skip
    limited = get(server, doc, "facets/1", [*query, ("limit", "1")])
    assert (limited["values"], limited["distinct"], limited["others"]) == (
        [{"value": "Lima", "count": 1, "selected": True}], 2, 1,
    )  # fmt: skip
    # another column's counts are under every facet: amount under city = Lima
    amount = get(server, doc, "facets/2", [("facet.1", "Lima")])
    assert [(v["value"], v["count"], v["selected"]) for v in amount["values"]] == [
        ("1,200", 1, False), ("NA", 1, False),
    ]  # fmt: skip
    # empty cells (and a short row's missing one) are "", a missing marker its own value
    note = get(server, doc, "facets/6")
    assert [(v["value"], v["count"]) for v in note["values"]] == [
        ("", 2), ("NA", 1), ("x", 1), ("y", 1),
    ]  # fmt: skip
    searched = get(server, doc, "facets/1", {"q": "a"})  # under a search too
    assert searched["total_number"] == 5  # every row holds an "a" somewhere
    assert get(server, doc, "facets/1", {"q": "grace"})["values"] == [
        {"value": "Oslo", "count": 1, "selected": False}
    ]


def page(server, doc, query: Any) -> dict[str, Any]:
    return get(server, doc, "pages/1", query)


def test_facets_pick_rows_of_pages_and_downloads(server, doc):
    lima = page(server, doc, [("facet.1", "Lima")])
    assert [r[0] for r in lima["data"]] == ["Edsger", "ada"] and lima["rows"] == [4, 5]
    assert lima["total_number"] == 2 and lima["view"]["facets"] == {"1": ["Lima"]}
    assert page(server, doc, {})["view"]["facets"] == {}
    # exact cells: "paris" is not "Paris"; values of one column are any of them; sorted too
    assert [r[0] for r in page(server, doc, [("facet.1", "paris")])["data"]] == ["Alan"]
    either = page(server, doc, [("facet.1", "Paris"), ("facet.1", "Oslo"), ("sort", "0")])
    assert [r[0] for r in either["data"]] == ["Ada", "grace"]
    assert either["view"]["facets"] == {"1": ["Oslo", "Paris"]}
    # an empty cell, a short row's missing one, a marker; with a search and a filter (AND)
    empty = page(server, doc, [("facet.6", "")])
    assert [r[0] for r in empty["data"]] == ["Alan", "Edsger"]
    assert [r[0] for r in page(server, doc, [("facet.6", "NA")])["data"]] == ["grace"]
    assert page(server, doc, [("facet.6", ""), ("q", "edsger")])["rows"] == [4]
    assert page(server, doc, [("facet.1", "Lima"), ("filter.0", "ADA")])["rows"] == [5]
    assert page(server, doc, [("facet.1", " Lima")])["total_number"] == 0  # spaces count

    url = f"{server.url}/parser/api/docs/{doc['id']}/download?" + urlencode(
        [("format", "tsv"), ("facet.1", "Lima"), ("facet.1", "Oslo"), ("sort", "0")]
    )
    status, text, _ = http("GET", url)
    assert status == 200
    assert [line.split("\t")[0] for line in text.splitlines()] == ["name", "ada", "Edsger", "grace"]


def test_facets_match_cells_set_apart_and_cells_past_ragged_rows(server):
    # cells holding a backslash are read apart from the rest (see columns.table_of)
    rows = [["k", "v"], ["C:\\dir", "1"], ["plain", "2"], ["C:\\dir", "3", "extra"], ["é日", "4"]]
    doc = upload(server, rows)
    found = page(server, doc, [("facet.0", "C:\\dir"), ("facet.0", "é日")])
    assert [r[1] for r in found["data"]] == ["1", "3", "4"]
    assert page(server, doc, [("facet.2", "extra")])["rows"] == [3]
    assert page(server, doc, [("facet.2", "")])["rows"] == [1, 2, 4]  # past their end
    counts = get(server, doc, "facets/0")
    assert [(v["value"], v["count"]) for v in counts["values"]] == [
        ("C:\\dir", 2), ("plain", 1), ("é日", 1),
    ]  # fmt: skip
    extra = column(server, doc, 2)
    assert (extra["name"], extra["values"], extra["missing"]) == ("Column 3 (no header)", 1, 3)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("columns/7", {}),
        ("columns/x", {}),
        ("columns/-1", {}),
        ("columns/%C2%B2", {}),  # a superscript two
        ("columns", {"facet.7": "a"}),
        ("columns", {"facet.x": "a"}),
        ("columns", {"facet.": "a"}),
        ("columns/0", {"facet.1": "a" * 201}),
        ("columns", [(f"facet.{i % 7}", str(i)) for i in range(51)]),
        ("columns", [(f"facet.{i}", "a") for i in range(21)]),
        ("columns", [(f"facet.{i % 7}", str(i) + "a" * 190) for i in range(20)]),  # too long
        ("facets/7", {}),
        ("facets/x", {}),
        ("facets/1", {"limit": "0"}),
        ("facets/1", {"limit": "1001"}),
        ("facets/1", {"limit": "a"}),
        ("facets/1", {"facet.9": "a"}),
        ("pages/1", {"facet.9": "a"}),
        ("pages/1", {"facet.1x": "a"}),
        ("download", {"facet.9": "a", "format": "csv"}),
        ("download", {"facet.1": "Lima", "format": "original"}),
    ],
)
def test_bad_facets_and_columns_are_bad_options(server, doc, path, query):
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/{path}?"
                           f"{urlencode(query)}")  # fmt: skip
    assert (status, body["error"]["code"]) == (400, "bad_option"), body


def test_odd_parameters_never_fail_the_server(server, doc):
    odd = ["", "\x00", "é", "٣", "²", "0" * 40, "-0", "+1", " 1", "1 ", "%", "\ud7ff", "NA"]
    base = f"{server.url}/parser/api/docs/{doc['id']}"
    for text in odd:
        for path, query in [
            ("columns", {f"facet.{text}": "a"}),
            ("columns/0", {"facet.1": text, "q": text}),
            ("facets/1", {"limit": text}),
            ("facets/1", {"facet.1": text, "header": "0"}),
            ("pages/1", {"facet.1": text, "sort": "1", "order": "desc"}),
            ("download", {"facet.1": text, "format": "csv"}),
        ]:
            status, body, _ = http("GET", f"{base}/{path}?{urlencode(query)}")
            assert status in (200, 400), (path, query, body)
            assert status == 200 or body["error"]["code"] == "bad_option", (path, query, body)
        status, body, _ = http("GET", f"{base}/columns/{quote(text, safe='')}")
        assert status in (400, 404), (text, body)
    # a value that is no cell of the column: no rows, and it counts as picked nowhere
    picked = get(server, doc, "facets/1", {"facet.1": "\x00"})
    assert picked["total_number"] == 5 and not any(v["selected"] for v in picked["values"])
    assert page(server, doc, {"facet.1": "\x00"})["total_number"] == 0


def test_unknown_documents_and_versions_are_not_found(server, doc):
    for path in ("columns", "columns/0", "facets/0"):
        status, body, _ = http("GET", f"{server.url}/parser/api/docs/nosuchdoc/{path}")
        assert (status, body["error"]["code"]) == (404, "not_found")
        url = f"{server.url}/parser/api/docs/{doc['id']}/{path}?version=9"
        status, body, _ = http("GET", url)
        assert (status, body["error"]["code"]) == (404, "version_not_found")


def test_a_wide_tables_profiles_come_a_range_of_columns_at_a_time(server):
    # The attack: a table of 16,384 columns (a 16 MB upload) made one request of every
    # column's profile 34 s of the views thread, and any viewer could ask again under
    # another search. A request profiles 200 columns at most.
    rows = [[f"c{j}" for j in range(450)], *([str(i * j) for j in range(450)] for i in range(3))]
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", tsv(rows))
    first = get(server, doc, "columns")
    assert (first["width"], first["next"], first["total_number"]) == (450, 200, 3)
    assert [c["column"] for c in first["columns"]] == list(range(200))
    second = get(server, doc, "columns", {"from": 200})
    assert [c["column"] for c in second["columns"]] == list(range(200, 400))
    last = get(server, doc, "columns", {"from": first["next"] + 200, "q": "2"})
    assert [c["column"] for c in last["columns"]] == list(range(400, 450)) and last["next"] is None
    assert last["columns"][0] == column(server, doc, 400, {"q": "2"})
    few = get(server, doc, "columns", {"from": 10, "limit": 3})
    assert ([c["name"] for c in few["columns"]], few["next"]) == (["c10", "c11", "c12"], 13)
    for query in ({"from": 450}, {"from": "x"}, {"limit": 0}, {"limit": 201}, {"from": -1}):
        status, body, _ = http(
            "GET", f"{server.url}/parser/api/docs/{doc['id']}/columns?{urlencode(query)}"
        )
        assert (status, body["error"]["code"]) == (400, "bad_option"), query


async def test_a_document_not_uploaded_to_yet_has_no_columns(server):
    ws = await v1(server)
    doc = {"id": (await expect(ws, "hello"))["id"]}
    assert get(server, doc, "columns") == {
        "id": doc["id"],
        "version": None,
        "total_number": 0,
        "width": 0,
        "columns": [],
        "next": None,
    }
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/facets/0")
    assert (status, body["error"]["code"]) == (400, "bad_option")
    await ws.close()


# The view, parsed


def test_facets_are_kept_sorted_and_merged_and_round_trip():
    values = {"facet.2": ["paris", "oslo", "paris"], "facet.02": ["lima"], "facet.5": ["3"]}
    view = view_from_query(lambda n: values.get(n, [None])[0], list(values), values.get)
    assert view.facets == ((2, ("lima", "oslo", "paris")), (5, ("3",)))
    assert view.picks and view.facet(2) == ("lima", "oslo", "paris") and view.facet(3) == ()
    assert view.as_dict()["facets"] == {"2": ["lima", "oslo", "paris"], "5": ["3"]}
    assert view_from_message(view.as_dict()) == view
    assert view.without_facet(2).facets == ((5, ("3",)),)
    assert view_from_message({"facets": {"1": []}}) == View()  # no value picked: no facet
    for bad in ({"1": "a"}, {"1": [1]}, ["a"], {"a": ["b"]}):
        with pytest.raises(Exception, match="facet"):
            view_from_message({"facets": bad})


def test_a_view_at_its_limit_fits_in_a_notify_payload():
    from tablecast.bus import events

    # quotes and backslashes: each escaped once in the view, and again in the payload
    view = view_from_message({"facets": {str(i): ['"\\' * 30 + str(j) for j in range(2)]
                                         for i in range(12)}, "by": '"' * 40})  # fmt: skip
    assert MAX_VIEW_BYTES - 400 < len(view.encode()) <= MAX_VIEW_BYTES
    event = events.PageTurned(document_id="d" * 22, node=1, page_no=1, view=view.encode())
    assert len(events.encode(event).encode()) <= events.MAX_PAYLOAD


# Profiles and facet counts, pure


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["1", "2,5", "", "NA", "x", "2024-01-01", None, "-3"]), max_size=40),
    st.sampled_from(["text", "integer", "decimal", "date"]),
    st.integers(1, 12),
)
def test_counts_add_up(cells, kind, limit):
    column = pa.chunked_array([pa.array(cells, pa.string())])
    found = profiles.profile(column, kind, "text")
    assert found["values"] + found["missing"] == found["count"] == len(cells)
    assert found["invalid"] <= found["values"]
    assert sum(t["count"] for t in found["top"]) <= found["values"]
    if found["histogram"] is not None:
        assert sum(b["count"] for b in found["histogram"]) == found["values"] - found["invalid"]
    counted = profiles.facet_counts(column, limit)
    listed = sum(v["count"] for v in counted["values"])
    assert listed + counted["others"] == counted["total_number"] == len(cells)
    assert len(counted["values"]) == min(limit, counted["distinct"])
    pairs = [(-v["count"], v["value"]) for v in counted["values"]]
    assert pairs == sorted(pairs)  # most frequent first, ties by value


def hashed(cells: pa.ChunkedArray, kind: str) -> dict[str, Any]:
    """The profile as value counts of the cells' text make it (columns of few values)."""
    counted = profiles.mostly_distinct
    profiles.mostly_distinct = lambda cells: False
    try:
        return profiles.profile(cells, kind, kind)
    finally:
        profiles.mostly_distinct = counted


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.one_of(st.integers(-3000, 3000), st.sampled_from(["", "NA", "null", None])),
             max_size=60),
    st.sampled_from(["integer", "decimal", "date"]),
)  # fmt: skip
def test_a_mostly_distinct_column_is_profiled_by_sorting_as_by_counting_its_text(values, kind):
    def spelled(value: int) -> str:  # one spelling per value: the two ways must agree
        if kind == "integer":
            return str(value)
        if kind == "decimal":
            return f"{value / 100:.2f}"
        return f"{2000 + value % 30:04d}-{1 + value % 12:02d}-{1 + value % 28:02d}"

    cells = pa.chunked_array([[spelled(v) if isinstance(v, int) else v for v in values]],
                            pa.string())  # fmt: skip
    sorted_ = profiles._by_value(cells, kind, profiles._nothing)
    assert sorted_ is not None
    expected = hashed(cells, kind)
    assert sorted_ | {"mean": None} == expected | {"mean": None}
    assert sorted_["mean"] == pytest.approx(expected["mean"])


@example(cells=[None, None, None, None, "aaaaaaaa", "abcdefgh_aaaaaaaa"], limit=1, chunks=1)
@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["", "NA", "n/a", "\x00", "abcdefgh", "ä"]),
                       st.text(st.sampled_from("ab\x00é😀"), max_size=12),
                       st.text(st.sampled_from("ab\x00é"), max_size=8).map("abcdefgh_".__add__)),
             max_size=80),
    st.integers(1, 12),
    st.integers(1, 3),
)  # fmt: skip
def test_distinct_texts_counted_by_their_first_bytes_are_those_a_count_of_each_finds(
    cells, limit, chunks
):
    # texts that begin alike (past 8 bytes), hold a zero byte, repeat, or are missing
    size = -(-len(cells) // chunks) or 1
    column = pa.chunked_array(
        [pa.array(cells[i : i + size], pa.string()) for i in range(0, len(cells), size)],
        pa.string(),
    )
    for present_only in (True, False):
        found = profiles._by_numbers(column, limit, profiles._nothing, present_only=present_only)
        if present_only:
            gone = columns.missing(pa.array(cells, pa.string())).to_pylist()
            values = [cell for cell, out in zip(cells, gone, strict=True) if not out]
        else:
            values = ["" if cell is None else cell for cell in cells]
        counted: dict[str, int] = {}
        for value in values:
            counted[value] = counted.get(value, 0) + 1
        top = sorted(counted.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
        expected = ([{"value": v, "count": n} for v, n in top], len(counted), len(values))
        # None: most cells share their first and their last 8 bytes with others (hashed)
        assert found is None or found == expected
        assert (
            profiles._counted(column, limit, profiles._nothing, present_only=present_only)
            == expected
        )


def test_texts_that_begin_alike_are_counted_by_their_last_bytes():
    links = [f"https://example.org/items/{i % 900:05d}" for i in range(1000)] + ["NA", None]
    column = pa.chunked_array([links[:300], links[300:]], pa.string())
    reads: list[str] = []
    for read in ("leading_bytes", "trailing_bytes"):
        real = getattr(profiles, read)
        setattr(
            profiles, read, lambda cells, real=real, read=read: reads.append(read) or real(cells)
        )
    try:
        found = profiles.profile(column, "text", "text")
    finally:
        profiles.leading_bytes, profiles.trailing_bytes = (
            columns.leading_bytes,
            columns.trailing_bytes,
        )
    # the first bytes of a sample only: they tell that the links begin alike
    assert reads == ["leading_bytes"] + ["trailing_bytes"] * 2  # (then a chunk each)
    assert (found["values"], found["missing"], found["distinct"]) == (1000, 2, 900)
    assert found["top"] == [
        {"value": f"https://example.org/items/{i:05d}", "count": 2} for i in range(10)
    ]
    facets = profiles.facet_counts(column, 3)
    assert facets["distinct"] == 902 and facets["values"][0]["count"] == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["", "NA", "a", "b", "Ab", "ä", "zz", "a\x1fb"]),
                       st.text(max_size=5)), max_size=80),
    st.integers(1, 12),
    st.integers(1, 4),
)  # fmt: skip
def test_a_long_column_counted_in_parts_is_counted_as_at_once(cells, limit, chunks):
    size = -(-len(cells) // chunks) or 1
    column = pa.chunked_array(
        [pa.array(cells[i : i + size], pa.string()) for i in range(0, len(cells), size)],
        pa.string(),
    )
    whole = profiles.profile(column, "text", "text"), profiles.facet_counts(column, limit)
    one = pa.chunked_array([column.combine_chunks()])  # counted at once, not a chunk at a time
    assert (profiles.profile(one, "text", "text"), profiles.facet_counts(one, limit)) == whole
    parted, distinct = profiles.PART_CELLS, profiles.mostly_distinct
    profiles.PART_CELLS = 2  # (a column of more than 4 cells: in parts of about 2)
    profiles.mostly_distinct = lambda cells: True
    try:
        in_parts = profiles.profile(column, "text", "text"), profiles.facet_counts(column, limit)
    finally:
        profiles.PART_CELLS, profiles.mostly_distinct = parted, distinct
    assert in_parts == whole


def test_a_long_columns_parts_each_hold_some_of_its_values():
    column = pa.chunked_array([[f"v{i % 997}" for i in range(5000)], ["x", None, ""]])
    parts = profiles._parts(column, 8, profiles._nothing)
    values = column.to_pylist()
    found = np.concatenate(parts)
    assert set(found.tolist()) == set(range(8))  # spread over them all
    part_of: dict[Any, int] = {}
    for value, part in zip(values, found.tolist(), strict=True):
        assert part_of.setdefault(value, part) == part  # a value is in one part


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=60), st.integers(1, 5), st.integers(1, 7))
def test_runs_counted_a_slice_at_a_time_are_those_of_the_whole(values, limit, slice_size):
    ordered = np.sort(np.array(values, dtype=np.float64))
    distinct, counts = np.unique(ordered, return_counts=True)
    expected = sorted(zip(-counts, distinct, strict=True))[:limit]  # by count, then value
    parted = profiles.PART_CELLS
    profiles.PART_CELLS = slice_size
    try:
        found, picked = profiles._runs(ordered, limit)
    finally:
        profiles.PART_CELLS = parted
    assert found == len(distinct)
    assert picked.tolist() == [value for _, value in expected]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(-50, 50), st.just("NA")), max_size=50))
def test_a_long_column_of_numbers_is_profiled_as_a_short_one(values):
    cells = pa.chunked_array(
        [[str(v) for v in values[:20]], [str(v) for v in values[20:]]], pa.string()
    )
    short = profiles._by_value(cells, "integer", profiles._nothing)
    parted = profiles.PART_CELLS
    profiles.PART_CELLS = 3  # read again for its lookups, its runs counted 3 at a time
    try:
        long = profiles._by_value(cells, "integer", profiles._nothing)
    finally:
        profiles.PART_CELLS = parted
    assert long == short


def test_a_number_written_two_ways_is_one_value_listed_as_each_spelling():
    written = ["1,200", "1200", "7", "1,200", "NA", "8", "9", None, "1200.0"]
    found = profiles._by_value(
        pa.chunked_array([written], pa.string()), "decimal", profiles._nothing
    )
    assert found is not None
    assert (found["values"], found["missing"], found["distinct"]) == (7, 2, 4)
    assert (found["min"], found["max"]) == ("7", "1,200")  # the first cell of each, as written
    assert found["top"] == [
        {"value": "1,200", "count": 2}, {"value": "1200", "count": 1},
        {"value": "1200.0", "count": 1}, {"value": "7", "count": 1},
        {"value": "8", "count": 1}, {"value": "9", "count": 1},
    ]  # fmt: skip
    # a profile of them takes this way: its first cells are mostly distinct
    assert profiles.profile(pa.chunked_array([written], pa.string()), "decimal", "decimal") == found


def test_a_column_of_few_values_counted_a_chunk_at_a_time_keeps_file_order():
    # the least and greatest are the first cells holding them, whichever chunk they are in
    cells = pa.chunked_array([["7", "1200", "3"] * 4, ["1,200", "3", "-1", "7"] * 3])
    found = profiles.profile(cells, "integer", "integer")
    assert (found["min"], found["max"], found["distinct"]) == ("-1", "1200", 4)
    assert found["top"][:2] == [{"value": "3", "count": 7}, {"value": "7", "count": 7}]
    assert found == profiles.profile(
        pa.chunked_array([cells.combine_chunks()]), "integer", "integer"
    )


def test_integers_float64_cannot_tell_apart_are_counted_as_text():
    cells = pa.chunked_array([["9007199254740993", "9007199254740992", "1"]])
    assert profiles._by_value(cells, "integer", profiles._nothing) is None
    found = profiles.profile(cells, "integer", "integer")
    assert (found["distinct"], found["max"]) == (3, "9007199254740993")


def test_an_override_counts_the_values_that_do_not_read_as_its_type():
    column = pa.chunked_array([["1", "2,5", "x", "", "2024-01-01"]])
    found = profiles.profile(column, "integer", "text")
    assert (found["type"], found["inferred"], found["values"], found["invalid"]) == (
        "integer", "text", 4, 3,
    )  # fmt: skip
    assert (found["min"], found["max"], found["mean"], bins(found)) == (
        "1",
        "1",
        1.0,
        [1] + [0] * 19,
    )


# Facets in the shared view (tablecast.v1)


async def test_an_editors_facets_are_shared_with_every_follower(server, doc):
    ed = await editor(server, doc["id"], doc["edit_key"])
    follower = await v1(server, doc["id"])
    old = await legacy(server, doc["id"])
    await expect(ed, "access")
    await expect(follower, "page", cause="join")
    await receive(old)

    view = {"facets": {"1": ["Oslo", "Lima"]}, "sort": 0, "by": "Ada"}
    await ed.send(json.dumps({"type": "view", **view}))
    for ws in (ed, follower):
        page = await expect(ws, "page", cause="view")
        assert page["view"]["facets"] == {"1": ["Lima", "Oslo"]} and page["view"]["by"] == "Ada"
        assert [r[0] for r in page["data"]] == ["ada", "Edsger", "grace"]
        assert page["total_number"] == 3 and page["rows"] == [5, 4, 2]
    await nothing_more(old, 0.2)  # an article client keeps the plain table
    # kept with the document: a follower joining later, and the HTTP API, see it
    late = await v1(server, doc["id"])
    assert (await expect(late, "page", cause="join"))["view"]["facets"] == {"1": ["Lima", "Oslo"]}
    _, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}")
    assert body["shared_view"]["facets"] == {"1": ["Lima", "Oslo"]}

    # facets that do not fit are refused and change nothing
    for facets in ({"9": ["a"]}, {"1": "Lima"}, {"1": ["x" * 201]}):
        await ed.send(json.dumps({"type": "view", "facets": facets}))
        error = await expect(ed, "error")
        assert (error["code"], error["request"]) == ("bad_option", "view")
    # clearing them is a view change too
    await ed.send(json.dumps({"type": "view", "by": "Ada"}))
    page = await expect(follower, "page", cause="view")
    assert page["view"]["facets"] == {} and page["total_number"] == 5
    for ws in (ed, follower, old, late):
        await ws.close()


# PostgreSQL


def test_profiles_and_facets_are_the_same_on_postgresql(server_factory, pg_url):
    server = server_factory("--store", pg_url)
    doc = upload(server, TABLE)
    test_profiles_of_every_type_count_values_missing_and_describe_them(server, doc)
    test_a_profile_describes_the_rows_a_view_shows(server, doc)
    test_facet_counts_leave_out_the_columns_own_facet(server, doc)
    test_facets_pick_rows_of_pages_and_downloads(server, doc)
    test_unknown_documents_and_versions_are_not_found(server, doc)
    test_a_profile_follows_the_header_switch_and_the_version(server, doc)


LAYOUTS = [
    "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%Mz",
    "%Y-%m-%dT%H:%M+01", "%Y-%m-%d %H:%M:%S-05:30", "%Y-%m-%dT%H:%M:%S.250+0100",
]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.datetimes(datetime(1601, 1, 1), datetime(2399, 12, 31)), min_size=1, max_size=8),
    st.lists(st.sampled_from(LAYOUTS), min_size=1, max_size=3),
)
def test_dates_are_seconds_since_the_epoch_whatever_their_layout(moments, layouts):
    # one layout alone is read by its fields' places; several, by the pattern sorts use
    cells = [m.strftime(layouts[i % len(layouts)]) for i, m in enumerate(moments)]
    expected = []
    for cell in cells:
        moment = datetime.fromisoformat(cell.replace("z", "Z"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        expected.append(moment.timestamp())
    assert columns.seconds(pa.array(cells)).to_pylist() == pytest.approx(expected, rel=0, abs=1e-6)


async def test_shared_facets_reach_followers_on_every_node(nodes):
    a, b = nodes(2)
    doc = upload(a, TABLE)
    ed = await editor(a, doc["id"], doc["edit_key"])
    on_b = await v1(b, doc["id"])
    await expect(on_b, "page", cause="join")
    await expect(ed, "access")
    # the longest view there is, near MAX_VIEW_BYTES, crosses in a NOTIFY payload
    facets = {"6": ['"\\' * 40 + str(i) for i in range(14)], "1": ["Lima"]}
    await ed.send(json.dumps({"type": "view", "facets": facets, "by": "Ada"}))
    await expect(ed, "page", cause="view")
    page = await expect(on_b, "page", cause="view")
    assert page["view"]["facets"]["1"] == ["Lima"] and len(page["view"]["facets"]["6"]) == 14
    assert page["total_number"] == 0 and page["view"]["by"] == "Ada"
    await ed.send(json.dumps({"type": "view", "facets": {"1": ["Lima"]}}))
    page = await expect(on_b, "page", cause="view")
    assert [r[0] for r in page["data"]] == ["Edsger", "ada"]
    for ws in (ed, on_b):
        await ws.close()
