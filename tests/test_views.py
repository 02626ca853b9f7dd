"""Sorting, searching, types and the header switch: the pure column work, then the HTTP API."""

from __future__ import annotations

import csv
import io
import random
import urllib.request
from urllib.parse import urlencode

import numpy as np
import orjson
import pytest

from support import (
    PEOPLE,
    editor,
    expect,
    http,
    meta,
    nothing_more,
    people_tsv,
    rows,
    text_of,
    v1,
    write_version,
)
from tablecast.errors import TablecastError
from tablecast.service.views import Blocks
from tablecast.table.blocks import BLOCK_RECORDS
from tablecast.table.columns import TableText
from tablecast.table.view import (
    MAX_TYPES,
    View,
    view_from_json,
    view_from_message,
    view_from_query,
)


def column_type(cells: list[str], delimiter: str = ",") -> str:
    text = text_of([["h"], *[[c] for c in cells]])
    return text.infer(0, np.arange(1, text.record_count), delimiter=delimiter)


@pytest.mark.parametrize(
    ("cells", "kind"),
    [
        (["1", "-2", "+3", "1,234", "-1,234,567", "", "0"], "integer"),
        (["1.5", "-0.25", ".5", "1,234.50", "7", ""], "decimal"),
        (
            ["2026-11-24", "1999-01-31", "2026-11-24T10:30", "2026-11-24 10:30:00.5+01:00"],
            "datetime",
        ),
        (["2026-11-24", "1999-01-31", "NA"], "date"),
        (["true", "FALSE", "Yes", "no", ""], "boolean"),
        (["1", "0", "1"], "integer"),  # not booleans: numbers
        (["12", "x", "3"], "text"),  # mixed: sorted as text
        (["1,23"], "text"),  # not thousands: in a comma-separated file, a list
        (["12,345,67"], "text"),
        (["1.2.3"], "text"),
        (["-"], "text"),
        (["1."], "text"),
        (["2026-13-01x"], "text"),
        (["2026-11-24", "5"], "text"),
        (["", ""], "text"),  # nothing to go by
        (["1e5"], "text"),
    ],
)
def test_column_types_are_inferred_from_every_cell(cells, kind):
    assert column_type(cells) == kind


def sorted_rows(records: list[list[str]], column: int, descending: bool = False) -> list[int]:
    text = text_of(records)
    rows = np.arange(1, text.record_count)
    kind = text.infer(column, rows, delimiter="\t")
    return text.order(column, rows, kind, descending).tolist()


def test_numbers_sort_by_value_ties_by_row_and_empty_cells_last_both_ways():
    cells = ["10", "9", "-1,000", "", "9", "2.5", "1,000"]
    records = [["n"], *[[c] for c in cells]]
    assert sorted_rows(records, 0) == [3, 6, 2, 5, 1, 7, 4]
    assert sorted_rows(records, 0, descending=True) == [7, 1, 2, 5, 6, 3, 4]


def test_text_sorts_ignoring_case_and_dates_in_time_order():
    records = [["name", "when"], ["bob", "2024-01-02"], ["Ada", "2023-12-31T23:00"]]
    records += [["ada", "2023-12-31"], ["Émile", ""], ["carl", "2025-06-01"]]
    assert sorted_rows(records, 0) == [2, 3, 1, 5, 4]
    assert sorted_rows(records, 0, descending=True) == [4, 5, 1, 2, 3]
    assert sorted_rows(records, 1) == [3, 2, 1, 5, 4]


def test_long_cells_sharing_a_prefix_sort_by_the_whole_cell():
    prefix = "x" * 64  # (the byte engine compared this much of each cell, then whole cells)
    cells = [prefix + "b", prefix + "a", prefix, prefix + "a", "y"]
    records = [["t"], *[[c] for c in cells]]
    assert sorted_rows(records, 0) == [3, 2, 4, 1, 5]
    assert sorted_rows(records, 0, descending=True) == [5, 1, 2, 4, 3]


def test_a_random_table_sorts_as_python_would():
    rng = random.Random(7)
    words = ["a", "B", "ab", "", "zz", 'q"t', "back\\slash", "tab\there", "ünï"]
    records = [["w", "n"]] + [
        [rng.choice(words), str(rng.randint(-50, 50))] for _ in range(3 * BLOCK_RECORDS)
    ]
    rows = list(range(1, len(records)))
    for descending in (False, True):
        filled = [r for r in rows if records[r][0]]
        expected = sorted(filled, key=lambda r: records[r][0].lower().encode(), reverse=descending)
        # reverse=True keeps ties in order too: sorted() is stable both ways
        expected += [r for r in rows if not records[r][0]]
        assert sorted_rows(records, 0, descending) == expected
        numbers = sorted(rows, key=lambda r: int(records[r][1]), reverse=descending)
        assert sorted_rows(records, 1, descending) == numbers


def test_search_finds_cells_case_insensitively_never_across_cells_or_escapes():
    records = [["a", "b"], ["Paris", "x"], ["par", "is"], ['say "hi"', "new\nline"]]
    records += [["back\\slash", "n"], ["PARIS!", ""], ["short"]]
    text = text_of(records)
    assert text.search("paris", 1).tolist() == [1, 5]
    assert text.search("pa", 0).tolist() == [1, 2, 5]
    assert text.search('"hi"', 1).tolist() == [3]
    assert text.search("\n", 1).tolist() == [3]
    assert text.search("n", 1, column=1).tolist() == [3, 4]  # not the escape in "\\slash"
    assert text.search("\\", 1).tolist() == [4]
    assert text.search("is", 1, column=1).tolist() == [2]
    assert text.search("a", 0, column=0).tolist() == [0, 1, 2, 3, 4, 5]
    assert text.search("zzz", 1).tolist() == []


def test_views_parse_from_queries_and_messages():
    query = {"sort": "2", "order": "desc", "q": "ada", "filter.1": "paris", "filter.0": ""}
    view = view_from_query(query.get, list(query))
    assert view == View(sort=2, descending=True, q="ada", filters=((1, "paris"),))
    message = {"sort": 2, "order": "desc", "q": "ada", "filters": {"1": "paris"}, "by": "Ada"}
    assert view_from_message(message) == view and view_from_message(message).by == "Ada"
    assert view_from_message({"by": "Ada\x00" + "x" * 99}).by == "Ada" + "x" * 37
    for bad in ({"sort": "x"}, {"order": "up"}, {"sort": "-1"}, {"q": "x" * 201}):
        with pytest.raises(TablecastError) as caught:
            view_from_query(bad.get, list(bad))
        assert caught.value.code == "bad_option"
    for bad_message in ({"sort": True}, {"filters": []}, {"header": "yes"}, {"q": 3}):
        with pytest.raises(TablecastError):
            view_from_message(bad_message)


def test_stores_read_picked_records_in_any_order_and_whole_versions(open_store):
    store = open_store()
    document = store.create_document(None)
    n = 3 * BLOCK_RECORDS + 5
    version = store.commit_version(write_version(store, document.id, n), meta(n)).version
    assert version is not None
    picked = [n - 1, 0, 2 * BLOCK_RECORDS, 1, n - 1, BLOCK_RECORDS - 1]
    expected = rows(n)
    assert orjson.loads(store.read_picked(version.id, picked)) == [expected[i] for i in picked]
    assert store.read_picked(version.id, []) == b"[]"
    text = TableText.build([records for _, records, _ in store.read_all(version.id)])
    assert text.record_count == n and text.cells(n - 1) == [c.lower() for c in expected[n - 1]]
    kept = Blocks.of(store.read_all(version.id))  # what a sorted export reads from
    assert kept.pick(np.array(picked)) == store.read_picked(version.id, picked)
    assert kept.pick(np.array([], dtype=np.int64)) == b"[]"


# The HTTP API


def page(server, doc, n: int = 1, **query: str) -> dict:
    url = f"{server.url}/parser/api/docs/{doc['id']}/pages/{n}?{urlencode(query)}"
    status, body, _ = http("GET", url)
    assert status == 200, body
    return body


def names(body: dict) -> list[str]:
    return [row[0] for row in body["data"]]


@pytest.fixture
def people(server):
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", people_tsv())
    assert status == 201
    return doc


def test_pages_carry_types_and_sort_by_each_type(server, people):
    plain = page(server, people)
    assert plain["types"] == ["text", "text", "decimal", "date"]
    assert plain["view"]["sort"] is None and "rows" not in plain
    by_name = page(server, people, sort="0")
    assert names(by_name) == ["Ada", "ada", "Alan", "Edsger", "grace"]
    assert by_name["rows"] == [1, 5, 3, 4, 2]  # each row's number in the file
    assert by_name["view"] == {
        "sort": 0, "order": "asc", "q": "", "filters": {}, "facets": {}, "header": None,
        "types": {},
        "by": None,
    }  # fmt: skip
    assert names(page(server, people, sort="2")) == ["grace", "Alan", "Ada", "ada", "Edsger"]
    desc = page(server, people, sort="2", order="desc")
    assert names(desc) == ["Ada", "ada", "Alan", "grace", "Edsger"]
    assert names(page(server, people, sort="3")) == ["grace", "Ada", "ada", "Edsger", "Alan"]


def test_search_and_filters_count_matching_rows_and_combine_with_sort(server, people):
    found = page(server, people, q="PARIS")
    assert (found["total_number"], names(found), found["rows"]) == (2, ["Ada", "Alan"], [1, 3])
    assert page(server, people, q="ada")["total_number"] == 2
    only = page(server, people, **{"q": "a", "filter.1": "lima", "sort": "0", "order": "desc"})
    assert names(only) == ["Edsger", "ada"] and only["total_number"] == 2
    assert only["view"]["filters"] == {"1": "lima"}
    nothing = page(server, people, q="nobody")
    assert (nothing["total_number"], nothing["page_count"], nothing["data"]) == (0, 1, [])
    assert page(server, people, q="name")["total_number"] == 0  # the header is no row


def test_views_page_through_many_rows(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", people_tsv(extra=450))
    sorted_pages = [page(server, doc, n, sort="2", order="desc") for n in (1, 2, 5)]
    assert [p["page_count"] for p in sorted_pages] == [5, 5, 5]
    assert sorted_pages[0]["data"][0][0] == "Ada"  # 1,200 beats 449
    assert sorted_pages[0]["data"][2][0] == "p449"
    assert sorted_pages[1]["first_row"] == 101
    assert [r[0] for r in sorted_pages[2]["data"]][-3:] == ["p0", "grace", "Edsger"]
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/2?q=paris")
    assert (status, body["error"]["code"]) == (404, "page_not_found")


def test_the_header_can_be_switched_off_and_on(server, people):
    off = page(server, people, header="0")
    assert off["has_header"] is False and off["columns"] == [f"Column {n}" for n in range(1, 5)]
    assert off["total_number"] == 6 and off["data"][0] == PEOPLE[0]
    assert off["types"] == ["text", "text", "text", "text"]  # "amount" is now a cell
    assert page(server, people, header="0", q="city")["rows"] == [1]
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?header=0", people_tsv())
    on = page(server, doc, header="1")
    assert on["columns"] == PEOPLE[0] and on["total_number"] == 5


def test_bad_views_get_typed_errors(server, people):
    for query, code in (
        ("sort=9", "bad_option"),
        ("sort=x", "bad_option"),
        ("order=sideways", "bad_option"),
        ("filter.7=a", "bad_option"),
        ("header=maybe", "bad_option"),
    ):
        status, body, _ = http(
            "GET", f"{server.url}/parser/api/docs/{people['id']}/pages/1?{query}"
        )
        assert (status, body["error"]["code"]) == (400, code), query


def test_columns_are_named_by_ascii_digits_only(server, people):
    # str.isdigit() takes a superscript 2 (int() refuses it: a 500), an Arabic-Indic 1 (read as 1)
    for sort in ("%C2%B2", "%D9%A1", "%EF%BC%91"):  # superscript 2, Arabic-Indic 1, fullwidth 1
        url = f"{server.url}/parser/api/docs/{people['id']}/pages/1?sort={sort}"
        status, body, _ = http("GET", url)
        assert (status, body["error"]["code"]) == (400, "bad_option"), sort
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{people['id']}/pages/1?sort=1")
    assert status == 200 and body["view"]["sort"] == 1
    for filters in ({"²": "x"}, {"١": "x"}):
        with pytest.raises(TablecastError) as caught:
            view_from_message({"filters": filters})
        assert caught.value.code == "bad_option"


def test_downloads_export_the_view_as_shown(server, people):
    url = f"{server.url}/parser/api/docs/{people['id']}/download"
    status, text, _ = http("GET", f"{url}?format=csv&sort=2&order=desc&q=AR")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == PEOPLE[0]
    assert [r[0] for r in rows[1:]] == ["Ada", "Alan"]
    status, text, _ = http("GET", f"{url}?format=tsv&filter.1=lima")
    assert [line.split("\t")[0] for line in text.splitlines()] == ["name", "Edsger", "ada"]
    status, body, _ = http("GET", f"{url}?sort=12")
    assert body["error"]["code"] == "bad_option"


def test_days_sort_in_time_order_ties_by_row_empty_last():
    cells = ["2024-01-02", "1999-12-31", "", "2024-01-02", "2025-06-01"]
    records = [["when"], *[[c] for c in cells]]
    assert sorted_rows(records, 0) == [2, 1, 4, 5, 3]
    assert sorted_rows(records, 0, descending=True) == [5, 1, 4, 2, 3]


async def test_the_view_cache_counts_what_it_keeps_and_stays_within_its_budget(tmp_path):
    from tablecast.service.views import Views
    from tablecast.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "t.sqlite3")
    document = store.create_document(None)
    n = 2 * BLOCK_RECORDS
    version = store.commit_version(write_version(store, document.id, n), meta(n)).version
    views = Views(store, memory=10**9)
    await views.rows(version, View(sort=0, q="r1"))
    text = await views.text(version)
    assert views._sizes["text", version.id] == text.nbytes  # grown by the sort, counted
    assert views._used == sum(views._sizes.values())
    views.memory = text.nbytes // 2  # too small for the text: the rest goes first
    await views.rows(version, View(sort=1))
    assert ("text", version.id) not in views._kept  # the least recently used went
    assert views._used == sum(views._sizes.values()) <= views.memory
    views.close()
    store.close()


# Types a person sets for a column (a view's types)

SCORES = "name,score,amount\nA,10,10\nB,9,9\nC,about 3,100\nD,-2,-2\nE,NA,7\nF,100,1\n"


@pytest.fixture
def scores(server):
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=scores.csv", SCORES.encode())
    assert status == 201
    return doc


def test_a_text_column_of_numbers_sorts_as_integer_when_set_junk_last(server, scores):
    inferred = page(server, scores, sort="1")
    assert inferred["types"] == ["text", "text", "integer"]
    assert names(inferred) == ["D", "A", "F", "B", "C", "E"]  # as text: "-2" < "10" < "100"
    up = page(server, scores, **{"sort": "1", "type.1": "integer"})
    assert up["types"] == ["text", "integer", "integer"]  # the effective types
    assert up["view"]["types"] == {"1": "integer"}
    # "about 3" does not read as an integer: with the missing, last, in file order
    assert names(up) == ["D", "B", "A", "F", "C", "E"]
    down = page(server, scores, **{"sort": "1", "order": "desc", "type.1": "integer"})
    assert names(down) == ["F", "A", "B", "D", "C", "E"]
    # a plain page says the set types too; an empty one sets none
    assert page(server, scores, **{"type.1": "integer"})["types"] == ["text", "integer", "integer"]
    assert page(server, scores, **{"type.1": ""})["view"]["types"] == {}
    # a download of the view is in its order
    url = f"{server.url}/parser/api/docs/{scores['id']}/download?format=csv&sort=1&type.1=integer"
    status, text, _ = http("GET", url)
    assert status == 200 and [r[0] for r in csv.reader(io.StringIO(text))][1:3] == ["D", "B"]


def test_json_lines_write_numbers_as_the_views_types_say(server, scores):
    url = f"{server.url}/parser/api/docs/{scores['id']}/download?format=jsonl"

    def lines(query: str) -> list[dict]:
        with urllib.request.urlopen(f"{url}&{query}", timeout=30) as response:
            return [orjson.loads(line) for line in response.read().splitlines()]

    inferred = lines("")
    assert [r["score"] for r in inferred][:3] == ["10", "9", "about 3"]
    assert [r["amount"] for r in inferred][:3] == [10, 9, 100]
    typed = lines("type.1=integer&type.2=text")
    assert [r["score"] for r in typed][:3] == [10, 9, "about 3"]  # what reads as one
    assert [r["amount"] for r in typed][:3] == ["10", "9", "100"]


def test_a_numeric_column_set_to_text_sorts_as_text(server, scores):
    assert names(page(server, scores, sort="2")) == ["D", "F", "E", "B", "A", "C"]
    as_text = page(server, scores, **{"sort": "2", "type.2": "text"})
    assert as_text["types"] == ["text", "text", "text"]
    assert names(as_text) == ["D", "F", "A", "C", "E", "B"]  # "-2" "1" "10" "100" "7" "9"


def test_a_type_naming_no_type_or_no_column_is_a_bad_option(server, scores):
    for query in ("type.1=number", "type.1=Integer", "type.9=integer", "type.x=integer"):
        url = f"{server.url}/parser/api/docs/{scores['id']}/pages/1?{query}"
        status, body, _ = http("GET", url)
        assert (status, body["error"]["code"]) == (400, "bad_option"), query
    for bad in ({"types": {"1": "float"}}, {"types": ["integer"]}, {"types": {"1": 3}}):
        with pytest.raises(TablecastError) as caught:
            view_from_message(bad)
        assert caught.value.code == "bad_option"
    many = {f"type.{n}": "text" for n in range(MAX_TYPES + 1)}
    with pytest.raises(TablecastError):
        view_from_query(many.get, list(many))


def test_views_parse_types_from_queries_and_messages():
    query = {"sort": "1", "type.3": "boolean", "type.1": "datetime", "type.2": ""}
    view = view_from_query(query.get, list(query))
    assert view.types == ((1, "datetime"), (3, "boolean"))  # by column, empty ones dropped
    assert view_from_message({"sort": 1, "types": {"3": "boolean", "1": "datetime"}}) == view
    assert view_from_json(view.encode()) == view  # as a shared view is stored
    assert view.as_dict()["types"] == {"1": "datetime", "3": "boolean"}
    assert view.typed(["text", "text", "date", "text"]) == ["text", "datetime", "date", "boolean"]
    assert view.typed(None) is None  # not known yet
    assert view_from_message({"types": {"1": "integer", "01": "text"}}).types == ((1, "text"),)
    with pytest.raises(TablecastError) as caught:
        view_from_message({"types": {"1": "x" * 100_000}})
    assert len(caught.value.message) < 100  # a refused name is not echoed back


async def test_an_editors_types_are_shared_with_every_follower(server, scores):
    ed = await editor(server, scores["id"], scores["edit_key"])
    follower = await v1(server, scores["id"])
    await expect(ed, "access")
    await expect(follower, "page", cause="join")
    message = {"type": "view", "sort": 1, "types": {"1": "integer"}, "by": "Ada"}
    await ed.send(orjson.dumps(message).decode())
    for ws in (ed, follower):
        shared = await expect(ws, "page", cause="view")
        assert shared["view"]["types"] == {"1": "integer"} and shared["view"]["by"] == "Ada"
        assert shared["types"] in (None, ["text", "integer", "integer"])
        assert names(shared) == ["D", "B", "A", "F", "C", "E"]
    # kept with the document: a follower joining later sees it, and so does the HTTP API
    late = await v1(server, scores["id"])
    joined = await expect(late, "page", cause="join")
    assert joined["view"]["types"] == {"1": "integer"} and joined["types"] == [
        "text", "integer", "integer"
    ]  # fmt: skip
    status, doc, _ = http("GET", f"{server.url}/parser/api/docs/{scores['id']}")
    assert (status, doc["shared_view"]["types"]) == (200, {"1": "integer"})
    # a follower who may not edit sets a type for itself alone
    await follower.send(orjson.dumps({"type": "view", "types": {"2": "text"}}).decode())
    own = await expect(follower, "page", cause="request")
    assert own["types"] == ["text", "text", "text"] and own["view"]["types"] == {"2": "text"}
    await nothing_more(late, skip=("presence",))
    # naming no type: refused, nothing changes
    await ed.send(orjson.dumps({"type": "view", "types": {"1": "number"}}).decode())
    error = await expect(ed, "error", code="bad_option")
    assert error["request"] == "view"
    await nothing_more(late, skip=("presence",))
    for ws in (ed, follower, late):
        await ws.close()
