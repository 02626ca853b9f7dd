"""Column types on real data: missing-value markers, decimal commas, dates with times and
offsets, on flights.csv-like tables (nycflights13's columns), pure and over the HTTP API and a
tablecast.v1 WebSocket."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import FLIGHTS_TYPES, expect, flights, flights_csv, http, text_of, v1
from tablecast.table import columns
from tablecast.table.columns import DECIMAL_COMMA, finished, numbers

# pandas.read_csv's default na_values (pandas 2.x), as written, and the lone dash
PANDAS_MISSING = [
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
MISSING = [*PANDAS_MISSING, "-", ""]
ANY_CASE = {m.lower() for m in MISSING}  # the text is lower-cased: "none" and "NULL" are missing


def is_missing(cell: str) -> bool:
    return cell.lower() in ANY_CASE


def kind_of(cells: list[str], delimiter: str = ",") -> str:
    text = text_of([["h"], *[[c] for c in cells]])
    return text.infer(0, np.arange(1, text.record_count), delimiter=delimiter)


def sorted_cells(cells: list[str], descending: bool = False, delimiter: str = ",") -> list[str]:
    """The cells in the order a sort of their column puts them (each tagged with its row, so
    that ties show their order)."""
    text = text_of([["h", "row"], *[[c, str(i)] for i, c in enumerate(cells)]])
    rows = np.arange(1, text.record_count)
    kind = text.infer(0, rows, delimiter=delimiter)
    return [f"{cells[r - 1]}@{r - 1}" for r in text.order(0, rows, kind, descending).tolist()]


# Missing values


@pytest.mark.parametrize("marker", MISSING)
def test_a_missing_value_marker_never_decides_a_columns_type(marker):
    assert kind_of(["12", marker, "-43"]) == "integer"
    assert kind_of([marker, "1.5", "7"]) == "decimal"
    assert kind_of(["2013-01-01", marker, "2013-01-02"]) == "date"
    assert kind_of(["2013-01-01", marker, "2013-01-01 05:00:00"]) == "datetime"
    assert kind_of([marker, "true", "No"]) == "boolean"
    assert kind_of([marker, "oslo"]) == "text"
    assert kind_of([marker, marker, "NA"]) == "text"  # nothing but markers: nothing to go by
    # every cell of a version at once, as a version's types are found, lines holding an
    # escape (parsed apart) too
    rows = [["a", "b", "c"], ["12", marker, 'say "hi"'], [marker, "2013-01-01", "x"]]
    rows += [["-43", "NA", "y"], ["7", marker, "z"]]
    assert finished(text_of(rows).inferring(1, 3, delimiter=",")) == ["integer", "date", "text"]


def test_only_whole_markers_are_missing():
    for cells in (
        ["12", "NAN!"],
        ["12", "n/a/"],
        ["12", "na na"],
        ["12", "--"],
        ["12", "-1.#INDX"],
    ):
        assert kind_of(cells) == "text", cells


@pytest.mark.parametrize(
    ("cells", "value"),
    [
        (["10", "NA", "-43", "", "2", "null", "-1", "2"], int),
        (["1.5", "N/A", "-0.25", "", "nan", "7", "1.5"], float),
        (["2013-01-02", "NULL", "2013-01-01 05:00:00", "", "2013-01-01", "2013-01-02"], str),
        (["b", "NA", "a", "", "N/A", "B", "-", "c", "none"], str.lower),
    ],
)
def test_missing_values_sort_last_both_ways_in_every_type(cells, value):
    present = [i for i, c in enumerate(cells) if not is_missing(c)]
    absent = [i for i, c in enumerate(cells) if is_missing(c)]
    for descending in (False, True):
        # sorted() is stable either way: ties in file order, as the sort must keep them
        ordered = sorted(present, key=lambda i: value(cells[i]), reverse=descending)
        expected = [f"{cells[i]}@{i}" for i in ordered + absent]  # missing: in file order
        assert sorted_cells(cells, descending) == expected


# Decimal commas


@pytest.mark.parametrize(
    ("cells", "delimiter", "kind"),
    [
        (["3,50", "-1.234,5", "12", "NA", ",5", "+7"], ";", DECIMAL_COMMA),
        (["3,50", "0,25"], "\t", DECIMAL_COMMA),
        (["3,50", "0,25"], "|", DECIMAL_COMMA),
        (["3,50", "0,25"], ",", "text"),  # in a comma-separated file, a comma is no point
        (["1,234", "2,000", "-12"], ";", "integer"),  # thousands, as ever
        (["1,234", "3,50"], ";", DECIMAL_COMMA),  # 1.234 and 3.5
        (["1.234", "3,50"], ";", "text"),  # a point and a comma read each other's way
        (["1.5", "3,50"], ";", "text"),
        (["1,234,567", "3,50"], ";", "text"),
        (["12.345,6"], ";", DECIMAL_COMMA),
        (["1.23,5"], ";", "text"),  # points group in threes from the comma
        (["1234.567,8"], ";", "text"),
        (["1.234.567,89"], ";", DECIMAL_COMMA),
        (["3,"], ";", "text"),
        (["3,5,0"], ";", "text"),
    ],
)
def test_decimal_commas_are_numbers_where_the_column_is_consistent(cells, delimiter, kind):
    assert kind_of(cells, delimiter) == kind


def test_a_decimal_comma_column_sorts_by_value():
    cells = ["3,50", "-1.234,5", "12", "NA", "0,75", ",5", "1.000,25", "3,5"]
    expected = ["-1.234,5", ",5", "0,75", "3,50", "3,5", "12", "1.000,25"]
    up = sorted_cells(cells, delimiter=";")
    assert [c.split("@")[0] for c in up] == [*expected, "NA"]
    down = sorted_cells(cells, descending=True, delimiter=";")
    assert [c.split("@")[0] for c in down] == [
        "1.000,25",
        "12",
        "3,50",
        "3,5",
        *expected[2::-1],
        "NA",
    ]


def test_integers_beyond_what_float64_tells_apart_sort_exactly():
    # 2**53 + 1 and 2**53 are one float64: ids of 17-19 digits sorted by row order among them
    cells = ["9007199254740993", "9,007,199,254,740,992", "NA", "-9223372036854775808",
             "9007199254740994", "1", "9007199254740993"]  # fmt: skip
    expected = ["-9223372036854775808@3", "1@5", "9,007,199,254,740,992@1",
                "9007199254740993@0", "9007199254740993@6", "9007199254740994@4"]  # fmt: skip
    assert sorted_cells(cells) == [*expected, "NA@2"]
    down = ["9007199254740994@4", "9007199254740993@0", "9007199254740993@6",
            "9,007,199,254,740,992@1", "1@5", "-9223372036854775808@3"]  # fmt: skip
    assert sorted_cells(cells, descending=True) == [*down, "NA@2"]


# Dates with times and offsets

DATES = [
    "2013-01-01",
    "2013-01-01 05:00:00",
    "2013-01-01T05:00:00Z",
    "2013-01-01t05:00:00z",
    "2013-01-01T05:00:00+01:00",
    "2013-01-01T05:00:00+0100",
    "2013-01-01T05:00:00-05",
    "2013-01-01T05:00:00.5",
    "2013-01-01T05:00:00.123456789+01:00",
    "2013-01-01T05:00",
    "2013-01-01 05:00+01:00",
    "2016-12-31T23:59:60Z",
]
NOT_DATES = [
    "2013-01-01T05:00:00+",
    "2013-01-01T05:00:00+01:0",
    "2013-01-01T05:00:00+1:00",
    "2013-01-01T05:00:00 +01:00",
    "2013-01-01T05:00:00.",
    "2013-01-01T05:00:::",
    "2013-01-01T05:00:00zz",
    "2013-01-01 5:00",
    "2013-01-01T24:00",
    "2013-01-01T05:60",
    "2013-13-01",
    "2013-00-10",
    "2013-01-32",
    "2013-01-01x",
]


@pytest.mark.parametrize("cell", DATES)
def test_dates_with_times_and_offsets_are_date_times(cell):
    # a day alone among date-times is its midnight UTC: the column is of date-times
    assert kind_of([cell, "2013-01-02T00:00"]) == "datetime"
    # among days alone, only a day alone keeps the column of dates
    assert kind_of([cell, "2013-01-02"]) == ("date" if len(cell) == 10 else "datetime")


@pytest.mark.parametrize("cell", NOT_DATES)
def test_what_is_not_a_date_makes_a_column_text(cell):
    assert kind_of([cell, "2013-01-02"]) == "text"
    assert kind_of([cell, "2013-01-02T00:00"]) == "text"


def test_dates_sort_by_the_instant_they_name():
    cells = [
        "2013-01-01T05:00:00+01:00",  # 04:00Z
        "2013-01-01 04:30:00",  # no offset: UTC
        "NA",
        "2013-01-01T04:00:00Z",  # the same instant as the first: file order
        "2013-01-01T03:59:59.75-00:00",
        "2013-01-01T03:59:59.5",
        "2013-01-01T00:00:00-05",  # 05:00Z
        "2013-01-01T06:00+0130",  # 04:30Z, as the second
        "2013-01-01",  # midnight UTC
        "2012-12-31T23:59:59.999999999-01:00",  # 2013-01-01T00:59:59.999999999Z
        "2013-01-01T03:59:59.7500000001",  # a hair after .75: past nanoseconds, a tie
    ]
    up = [8, 9, 5, 4, 10, 0, 3, 1, 7, 6, 2]
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in up]
    down = [6, 1, 7, 0, 3, 4, 10, 5, 9, 8, 2]  # equal instants in file order, NA last
    assert sorted_cells(cells, descending=True) == [f"{cells[i]}@{i}" for i in down]


# Date-times with time zones, days alone, booleans


@pytest.mark.parametrize(
    ("cells", "kind"),
    [
        (["2013-01-01", "1999-12-31", "NA", ""], "date"),
        (["2013-01-01", "2013-01-01T05:00:00Z"], "datetime"),  # mixed: the day is midnight UTC
        (["2013-01-01T05:00:00+01:00", "2013-01-01 05:00:00-0500", "n/a"], "datetime"),
        (
            ["2013-01-01 05:00 UTC", "2013-01-01T05:00:00 GMT", "2013-01-01 05:00:00 utc"],
            "datetime",
        ),
        (["2013-01-01T05:00:00.25 Gmt"], "datetime"),
        (["2013-01-01 UTC"], "text"),  # a zone says when a time is: none without a time
        (["2013-01-01T05:00UTC"], "text"),
        (["2013-01-01T05:00:00Z UTC"], "text"),
        (["2013-01-01T05:00:00 CET"], "text"),  # a zone is an offset, UTC or GMT
        (["2013-01-01T05:00:00+01:00 UTC"], "text"),
        (["true", "false", "TRUE", "False", "yes", "No", "NA", ""], "boolean"),
        (["yes", "no", "-"], "boolean"),
        (["1", "0", "1"], "integer"),  # 0 and 1 are numbers
        (["true", "1"], "text"),
        (["t", "f"], "text"),
        (["y", "n"], "text"),
        (["true ", "false"], "text"),  # cells are read as written
        (["NA", "null"], "text"),  # nothing but markers: nothing to go by
    ],
)
def test_days_date_times_and_booleans_are_told_apart(cells, kind, monkeypatch):
    assert kind_of(cells) == kind
    # the same a column at a time, then every cell of a version at once (a wide table's
    # way), lines holding an escape too
    rows = [["a", "b"], *[[c, 'say "hi"' if i % 2 else "x"] for i, c in enumerate(cells)]]
    assert finished(text_of(rows).inferring(1, 2, delimiter=",")) == [kind, "text"]
    monkeypatch.setattr(columns, "NARROW", 0)
    assert finished(text_of(rows).inferring(1, 2, delimiter=",")) == [kind, "text"]


def test_date_times_sort_by_instant_across_offsets_and_zones():
    cells = [
        "2013-01-01 05:00 UTC",  # 05:00Z
        "2013-01-01T05:00:00+01:00",  # 04:00Z
        "NA",
        "2013-01-01T01:00:00-05",  # 06:00Z
        "2013-01-01",  # 00:00Z
        "2013-01-01 04:00:00 GMT",  # 04:00Z, as the second: file order
        "2013-01-01T04:30:00Z",
        "",
        "2013-01-01T05:00:00.5 utc",
    ]
    up = [4, 1, 5, 6, 0, 8, 3, 2, 7]
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in up]
    down = [3, 8, 0, 6, 1, 5, 4, 2, 7]  # missing last both ways, in file order
    assert sorted_cells(cells, descending=True) == [f"{cells[i]}@{i}" for i in down]


@pytest.mark.parametrize("far", [False, True])
@pytest.mark.parametrize(
    "layout",
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%Sz",
     "%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%dT%H:%M:%S+01:00"],
)  # fmt: skip
def test_date_times_read_by_arrows_parser_or_the_pattern_sort_by_instant(layout, far):
    # read by Arrow's ISO 8601 parser; a year past what nanoseconds count (far), by the pattern
    instants = [(2013, 1, 1, 5, 0, 7), (1969, 12, 31, 23, 59, 59), (2013, 1, 1, 4, 59, 0),
                (2400 if far else 2204, 2, 29, 0, 0, 0), (2013, 1, 1, 5, 0, 7)]  # fmt: skip
    cells = [datetime(*i).strftime(layout) for i in instants]
    cells[2:2] = ["NA", ""]
    gone = ("NA", "")  # missing: last, in file order
    expected = sorted(
        range(len(cells)), key=lambda i: (cells[i] in gone, cells[i] * (cells[i] not in gone), i)
    )
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in expected]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for cell in cells:
        if cell not in gone:
            instant = datetime.strptime(cell, layout.replace("+01:00", "%z"))
            instant = instant.replace(tzinfo=instant.tzinfo or UTC)
            assert columns.seconds(pa.array([cell])).to_pylist() == [
                (instant - epoch).total_seconds()
            ]


def test_days_alone_sort_by_day_missing_last_both_ways():
    cells = ["2024-01-02", "NA", "1999-12-31", "", "2024-01-02", "2025-06-01"]
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in (2, 0, 4, 5, 1, 3)]
    down = [5, 0, 4, 2, 1, 3]
    assert sorted_cells(cells, descending=True) == [f"{cells[i]}@{i}" for i in down]


def test_booleans_sort_false_before_true_missing_last_both_ways():
    cells = ["yes", "NA", "False", "TRUE", "no", "", "true", "n/a", "false"]
    up = [2, 4, 8, 0, 3, 6, 1, 5, 7]
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in up]
    down = [0, 3, 6, 2, 4, 8, 1, 5, 7]
    assert sorted_cells(cells, descending=True) == [f"{cells[i]}@{i}" for i in down]


def set_sorted(cells: list[str], kind: str, descending: bool = False) -> list[str]:
    """The cells in the order a sort puts them when a person set their column's type."""
    text = text_of([["h"], *[[c] for c in cells]])
    rows = np.arange(1, text.record_count)
    return [cells[r - 1] for r in text.order(0, rows, kind, descending, strict=True).tolist()]


def test_a_set_type_sorts_what_does_not_read_as_it_with_the_missing():
    cells = ["10", "n/a", "9", "about 3", "-2", "", "1,000", "2.5"]
    assert set_sorted(cells, "integer") == ["-2", "9", "10", "1,000", "n/a", "about 3", "", "2.5"]
    down = ["1,000", "10", "9", "-2", "n/a", "about 3", "", "2.5"]
    assert set_sorted(cells, "integer", descending=True) == down
    assert set_sorted(cells, "decimal")[:5] == ["-2", "2.5", "9", "10", "1,000"]
    # every value reads as text, by its lower-cased characters
    assert set_sorted(cells, "text") == ["-2", "1,000", "10", "2.5", "9", "about 3", "n/a", ""]
    days = ["2024-01-02", "2024-01-01T10:00", "soon", "2023-05-01"]
    assert set_sorted(days, "date") == ["2023-05-01", "2024-01-02", "2024-01-01T10:00", "soon"]
    assert set_sorted(days, "datetime") == ["2023-05-01", "2024-01-01T10:00", "2024-01-02", "soon"]
    assert set_sorted(["no", "1", "Yes", "0"], "boolean") == ["no", "Yes", "1", "0"]


# flights.csv, as nycflights13 has it (a sample made here): over the HTTP API and tablecast.v1

DEP_DELAY = 5


def expected_order(rows: list[list[str]], column: int, descending: bool) -> list[int]:
    """Row numbers (1-based, as the API gives them) sorted by an integer column as a user
    expects: by value, ties in file order, NA last in file order, both ways."""
    numbers = [i for i, r in enumerate(rows) if r[column] != "NA"]
    ordered = sorted(numbers, key=lambda i: int(rows[i][column]), reverse=descending)
    return [i + 1 for i in ordered + [i for i, r in enumerate(rows) if r[column] == "NA"]]


def post(server, body: bytes, name: str) -> dict:
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs?name={name}", body)
    assert status == 201, doc
    return doc


def all_pages(server, doc, **query: str) -> tuple[list[list[str]], list[int], list[list[str]]]:
    """Every row of a view over the HTTP API, page after page: rows, their numbers, and the
    types each page said."""
    data, numbers, types, n = [], [], [], 1
    while True:
        url = f"{server.url}/parser/api/docs/{doc['id']}/pages/{n}?{urlencode(query)}"
        status, page, _ = http("GET", url)
        assert status == 200, page
        data += page["data"]
        numbers += page.get("rows", [])
        types.append(page["types"])
        if n >= page["page_count"]:
            return data, numbers, types
        n += 1


async def test_flights_types_and_sorts_over_http(server):
    rows = flights()
    doc = post(server, flights_csv(rows), "flights.csv")
    plain, _, types = all_pages(server, doc)
    assert plain == rows  # every cell as written
    assert types[0] == FLIGHTS_TYPES
    for descending in (False, True):
        order = "desc" if descending else "asc"
        data, numbers, types = all_pages(server, doc, sort=str(DEP_DELAY), order=order)
        assert numbers == expected_order(rows, DEP_DELAY, descending)
        assert data == [rows[n - 1] for n in numbers]  # cells as written, NA too
        assert all(t == FLIGHTS_TYPES for t in types)  # still numbers after a sort
        delays = [r[DEP_DELAY] for r in data]
        numbers_only = [int(d) for d in delays if d != "NA"]
        assert delays[0] == str(max(numbers_only) if descending else -43)
        assert delays[len(numbers_only) :] == ["NA"] * (len(delays) - len(numbers_only))
    # time_hour: a date column, by time
    data, numbers, _ = all_pages(server, doc, sort="18")
    assert [r[18] for r in data] == sorted(r[18] for r in rows)


def rows_with_na(rows: list[list[str]]) -> int:
    return sum(r[DEP_DELAY] == "NA" for r in rows)


async def test_flights_sort_over_a_v1_websocket_keeps_na_last(server):
    rows = flights()
    doc = post(server, flights_csv(rows), "flights.csv")
    ws = await v1(server, doc["id"])
    await expect(ws, "page", cause="join")
    for order in ("asc", "desc"):
        await ws.send(json.dumps({"type": "view", "sort": DEP_DELAY, "order": order}))
        page = await expect(ws, "page", cause="request")
        expected = expected_order(rows, DEP_DELAY, order == "desc")
        assert page["rows"] == expected[:100]
        assert page["types"] in (None, FLIGHTS_TYPES)
        if order == "asc":
            assert page["data"][0][DEP_DELAY] == "-43"
        await ws.send(json.dumps({"type": "goto", "page": page["page_count"]}))
        last = await expect(ws, "page", cause="request", page_no=page["page_count"])
        assert last["rows"] == expected[100 * (page["page_count"] - 1) :]
        missing = rows_with_na(rows)
        assert [r[DEP_DELAY] for r in last["data"]][-missing:] == ["NA"] * missing
        assert last["types"] == FLIGHTS_TYPES
    await ws.close()


async def test_a_semicolon_file_with_decimal_commas_sorts_by_value(server):
    body = "name;price;when\nA;3,50;2013-01-01T05:00:00+01:00\nB;-1.234,5;2013-01-01 04:30:00\n"
    body += "C;12;NA\nD;NA;2013-01-01T03:00:00-02:00\nE;0,75;2013-01-01T04:00:00Z\n"
    doc = post(server, body.encode(), "prices.csv")
    data, _, types = all_pages(server, doc, sort="1")
    assert types[0] == ["text", "decimal", "datetime"]  # a decimal comma is a decimal to clients
    assert [r[1] for r in data] == ["-1.234,5", "0,75", "3,50", "12", "NA"]  # as written
    data, _, _ = all_pages(server, doc, sort="1", order="desc")
    assert [r[0] for r in data] == ["C", "A", "E", "B", "D"]
    # a column of times with offsets, by the instant each names
    data, _, _ = all_pages(server, doc, sort="2")
    assert [r[0] for r in data] == ["A", "E", "B", "D", "C"]  # A and E: 04:00Z, file order
    data, _, _ = all_pages(server, doc, sort="2", order="desc")
    assert [r[0] for r in data] == ["D", "B", "A", "E", "C"]


# Values, as sorts read them


@settings(max_examples=1500, deadline=None)
@given(
    st.integers(-(10**18), 10**18),
    st.integers(0, 8),
    st.booleans(),
    st.booleans(),
)
def test_numbers_are_read_as_python_reads_them(number, places, grouped, comma):
    """However a number is written (a sign, thousands grouped, a decimal comma), its value is
    the double nearest to it, as float() reads it."""
    digits = str(abs(number)).rjust(places + 1, "0")
    whole, fraction = digits[: len(digits) - places], digits[len(digits) - places :]
    exact = float(f"{'-' if number < 0 else ''}{whole}.{fraction or '0'}")
    group, point = (".", ",") if comma else (",", ".")
    if grouped:
        whole = f"{int(whole):,}".replace(",", group)
    cell = ("-" if number < 0 else "") + whole + (point + fraction if fraction else "")
    assert numbers(pa.array([cell]), comma)[0].as_py() == exact, cell


async def test_booleans_and_date_times_over_http_and_a_v1_websocket(server):
    body = "name,active,seen,born\n"
    body += "A,yes,2013-01-01 05:00 UTC,1999-12-31\nB,NA,2013-01-01T05:00:00+01:00,NA\n"
    body += "C,No,2013-01-01,2001-01-01\nD,TRUE,,1980-06-15\nE,false,2013-01-01T00:00:00-05,\n"
    doc = post(server, body.encode(), "people.csv")
    data, _, types = all_pages(server, doc, sort="1")
    assert types[0] == ["text", "boolean", "datetime", "date"]
    assert [r[0] for r in data] == ["C", "E", "A", "D", "B"]  # false, then true, NA last
    data, _, _ = all_pages(server, doc, sort="1", order="desc")
    assert [r[0] for r in data] == ["A", "D", "C", "E", "B"]
    data, _, _ = all_pages(server, doc, sort="2")  # 05:00Z, 04:00Z, 00:00Z, -, 05:00Z
    assert [r[0] for r in data] == ["C", "B", "A", "E", "D"]
    ws = await v1(server, doc["id"])
    await expect(ws, "page", cause="join")
    await ws.send(json.dumps({"type": "view", "sort": 3, "order": "desc"}))
    page = await expect(ws, "page", cause="request")
    assert [r[0] for r in page["data"]] == ["C", "A", "D", "B", "E"]
    assert page["types"] == ["text", "boolean", "datetime", "date"]
    await ws.close()


def test_days_no_calendar_has_still_sort_and_measure():
    # 2024-02-30 fits the pattern of a day, not Arrow's calendar: read by the pattern instead
    cells = ["2024-03-01", "2024-02-30", "NA", "2024-02-28"]
    # (the pattern counts on from February 28th: the 30th is March 1st, tied in row order)
    assert sorted_cells(cells) == [f"{cells[i]}@{i}" for i in (3, 0, 1, 2)]
    assert columns.seconds(pa.array(["2024-02-28", "2024-02-30"])).to_pylist() == [
        1709078400.0,
        1709251200.0,
    ]


# What counting a column costs (see columns._column_counts): a pattern reads only what a
# cheap check in C leaves, and classifies the same cells the same


def by_patterns(cells: list[str | None]) -> dict[str, list[bool | None]]:
    """Each kind of each cell, read by its pattern alone, as classify's rules say."""
    array = pa.array(cells, pa.string())
    short = pc.less_equal(pc.utf8_length(array), columns.INFER_CHARS)
    return {
        kind: pc.and_(short, pc.match_substring_regex(array, pattern)).to_pylist()
        for kind, pattern in columns._PATTERNS.items()
    }


PLAIN_FORMS = {
    "digits": ["12", "007", "0", "9" * 40, "1" * 41],
    "numbers": ["1.5", ".5", "12", "3.25", "7"],
    "days": ["2026-11-24", "2024-02-29", "0000-01-01", "9999-12-31"],
    "days and one no calendar has": ["2026-11-24", "2023-02-29", "2024-04-31"],
    "words": ["Turin", "yes", "Naples", "ſtuff", "\u212aelvin", "", "tr\u00fce", "no way", "Oslo"],
    "booleans any case": ["true", "FALSE", "Yes", "no", "yeſ", "\u212a"],
    "mixed": ["12", "1,234", "+7", "-1.5", "2026-11-24T10:30Z", "5.", ".", "١٢٣", "²", None],
}


@pytest.mark.parametrize("form", list(PLAIN_FORMS))
def test_cells_of_a_plain_form_are_classified_as_their_patterns_say(form):
    cells = PLAIN_FORMS[form]
    found = columns.classify(pa.array(cells, pa.string()))
    assert {kind: found[kind].to_pylist() for kind in found} == by_patterns(cells)


@pytest.mark.parametrize(
    ("plain", "odd"),
    [
        (lambda i: str(i), ["+7", "1,234", "NA", "", "1" * 41]),
        (lambda i: f"{i}.25", ["-1.5", "5.", "n/a", "1,234.5"]),
        (lambda i: f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}", ["NA", "2026-11-24T10:30", "-"]),
        (lambda i: ("true", "No")[i % 2], ["YES", "null", "yeſ"]),
    ],
)
def test_counting_a_column_runs_its_pattern_over_what_a_cheap_check_leaves(plain, odd, monkeypatch):
    cells = [plain(i) for i in range(8 * columns.SAMPLE)] + odd * 3
    cells.insert(2 * columns.SAMPLE, None)  # past a short record's end
    column = pa.chunked_array([pa.array(cells, pa.string())])
    read = []  # cells the patterns read
    match = pc.match_substring_regex

    def counted(strings, pattern, *args, **kwargs):
        read.append(len(strings))
        return match(strings, pattern, *args, **kwargs)

    monkeypatch.setattr(pc, "match_substring_regex", counted)
    counts = columns._column_counts(column)
    monkeypatch.undo()
    # patterns read the sample (booleans have no cheap form there: six passes) and, over the
    # column, the odd cells and the null: never the column's plain cells
    assert max(read) <= columns.SAMPLE
    assert sum(read) < len(cells)
    # the counts the patterns give, read over every cell (see _column_counts)
    values = [c for c in cells if c is not None and not is_missing(c)]
    kinds = by_patterns(values)
    kind = next(k for k in columns._PATTERNS if sum(kinds[k][: columns.SAMPLE]) == columns.SAMPLE)
    assert counts[columns.KINDS.index(kind)] == sum(kinds[kind])


def test_a_short_record_past_a_columns_first_cells_leaves_it_its_type():
    # the cells past its end were taken off twice from those holding a value, which then
    # outnumbered the integers: the column was text
    rows = [["n", "v", "d"], *([str(i), f"{i}.5", "2026-11-24"] for i in range(3000)), ["5"]]
    text = text_of(rows)
    assert finished(text.inferring(1, 3, delimiter=",")) == ["integer", "decimal", "date"]
    counts = columns.piece_counts(text.table, 1, 3)
    assert counts[0].tolist() == [3001, 3000, 3000]
    assert columns.merged_counts([counts], ",")[1] == []


async def test_a_ragged_files_columns_keep_their_types_over_http(server):
    body = "n,v,d\n" + "".join(f"{i},{i}.5,2026-11-24\n" for i in range(3000)) + "5\n"
    doc = post(server, body.encode(), "ragged.csv")
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1")
    assert status == 200, page
    assert page["types"] == ["integer", "decimal", "date"]
