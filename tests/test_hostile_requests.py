"""Issue 14, item 15: inputs that ended in a 500 ``internal``. An operator alerts on
``tablecast_errors_total{code="internal"}`` as a bug, so no input may reach it: each odd value
of each parameter gets a typed 4xx, and a name kept from an upload never breaks a later answer."""

from __future__ import annotations

import re
import sqlite3
import urllib.parse

import pytest

from support import http, table

ODD = ["²", "¹", "١", "１", " 1", "1 ", "-1", "+1", "1.5", "1e3", "\x00", "\r", "%", "9" * 40, ""]


def internal_errors(server) -> float:
    _, text, _ = http("GET", f"{server.url}/metrics")
    found = re.search(r'^tablecast_errors_total\{code="internal"\} (\S+)', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    "endpoint", ["pages/1", "download", "versions", "download?format=original"]
)
def test_odd_query_values_are_typed_errors_never_internal(server, endpoint):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=t.tsv", table(30))
    base = f"{server.url}/parser/api/docs/{doc['id']}/{endpoint}"
    joiner = "&" if "?" in endpoint else "?"
    names = ["sort", "order", "version", "q", "filter.0", "filter.²", "header", "format"]
    names += ["limit", "before"]
    for name in names:
        for value in ODD:
            query = urllib.parse.urlencode({name: value})
            status, answer, _ = http("GET", f"{base}{joiner}{query}")
            assert status < 500, (name, value, status, answer)
            if status >= 400:
                assert answer["error"]["code"] != "internal"
    assert internal_errors(server) == 0


def test_digits_that_are_not_ascii_read_as_no_number(server):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", table(30))
    for query in ("sort=%D9%A1", "sort=%C2%B2", "version=%C2%B9", "version=%201"):
        status, answer, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/pages/1?{query}")
        assert status == 400, (query, answer)


def test_a_nul_in_a_static_path_is_not_found(server):
    status, _, _ = http("GET", f"{server.url}/parser/static/app.js%00")
    assert status == 404
    assert http("GET", f"{server.url}/parser/static/app.js")[0] == 200
    assert internal_errors(server) == 0


def test_an_encoding_name_with_a_line_break_never_breaks_the_download(server):
    _, doc, _ = http(
        "POST", f"{server.url}/parser/api/docs?encoding=utf-8%0D&name=t.tsv", table(30)
    )
    assert doc["encoding"] == "utf-8"  # the name, as Python knows it
    status, _, headers = http(
        "GET", f"{server.url}/parser/api/docs/{doc['id']}/download?format=original"
    )
    assert status == 200 and headers["Content-Type"].endswith("charset=utf-8")
    # a name kept by an earlier tablecast, before names were checked, is served all the same
    db = sqlite3.connect(server.data_dir / "tablecast.sqlite3")
    db.execute("UPDATE versions SET encoding = 'utf-8\r'")
    db.commit()
    db.close()
    status, _, headers = http(
        "GET", f"{server.url}/parser/api/docs/{doc['id']}/download?format=original"
    )
    assert status == 200 and headers["Content-Type"].endswith("charset=utf-8")
    assert internal_errors(server) == 0
