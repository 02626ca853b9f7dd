"""What changed between two versions: the pure alignment of rows (tablecast.table.diff) and
``GET /parser/api/docs/{id}/diff`` over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from support import http, meta, put, write_version
from tablecast.service import views as views_module
from tablecast.service.views import Views
from tablecast.store.sqlite import SQLiteStore
from tablecast.table import diff


def hashes(rows: list[str]) -> diff.Hashes:
    """Each row's hash, as the views make them: from its record's bytes."""
    records = [f'["{row}"]\n'.encode() for row in rows]
    starts = np.cumsum([0, *map(len, records)]).astype(np.int64)
    return diff.record_hashes(np.frombuffer(b"".join(records), np.uint8), starts)


def changes(old: list[str], new: list[str]) -> diff.Changes:
    """The changes, with every pair the hashes match confirmed (no collision here) and every
    move taken, as the views do."""
    alignment = diff.align(hashes(old), hashes(new))
    alignment.moved_rows(alignment.moves())
    return alignment.changes()


def test_a_records_hash_is_its_bytes_wherever_it_is():
    rows = ["a", "bb", "", "a", "ccc" * 100, "bb"]
    every = hashes(rows)
    assert every[0] == every[3] and every[1] == every[5]
    assert len(set(every.tolist())) == 4
    # the same records hashed in two pieces, as a version's are, hash the same
    assert np.array_equal(np.concatenate([hashes(rows[:2]), hashes(rows[2:])]), every)
    # bytes that sum alike in other places or lengths do not collide
    assert len(set(hashes(["ab", "ba", "a\x00", "a", "\x00a"]).tolist())) == 5


def test_edits_in_place_inserts_deletes_and_moves():
    old = ["ada", "alan", "grace", "edsger", "barbara"]
    assert changes(old, old) == diff.Changes()
    edited = changes(old, ["ada", "alan", "grace hopper", "edsger", "barbara"])
    assert edited == diff.Changes(changed=[(2, 2)])
    assert changes(old, ["ada", "alan", "linus", "grace", "edsger", "barbara"]) == diff.Changes(
        added=[2]
    )
    assert changes(old, ["ada", "grace", "edsger", "barbara"]) == diff.Changes(removed=[1])
    # a row that moved is not a change; the row edited beside it is
    moved = changes(old, ["ada", "grace!", "edsger", "barbara", "alan"])
    assert moved == diff.Changes(changed=[(2, 1)])
    # the same from the other side: the rows that moved least stay in place
    assert changes(["ada", "grace!", "edsger", "barbara", "alan"], old) == diff.Changes(
        changed=[(1, 2)]
    )


def test_rows_a_few_rows_on_are_found_without_sorting(monkeypatch):
    old = [f"row {i}" for i in range(1000)]
    new = [*old[:100], "new", *old[100:500], *old[501:900], "new 2", "new 3", *old[900:]]
    new[700] = "changed"
    found = diff.Changes(removed=[500], added=[100, 900, 901], changed=[(700, 700)])
    assert changes(old, new) == found
    monkeypatch.setattr(diff, "_once", None)  # (no sort: the shifted rows are the anchors)
    assert changes(old, new) == found


def test_repeated_rows_are_matched_in_order():
    old = ["x"] * 5000 + ["y"]
    assert changes(old, ["x"] * 5001 + ["y"]) == diff.Changes(added=[5000])
    assert changes(old, ["x"] * 2500 + ["z"] + ["x"] * 2499 + ["y"]) == diff.Changes(
        changed=[(2500, 2500)]
    )


def test_a_pair_found_to_differ_is_a_change():
    # (a hash can be made to collide: the views compare what it matched, and say so)
    alignment = diff.align(hashes(["a", "b", "c"]), hashes(["a", "b", "c"]))
    pairs_a, pairs_b = alignment.matched()
    assert pairs_a.tolist() == pairs_b.tolist() == [0, 1, 2]
    alignment.unmatch([1])
    assert alignment.changes() == diff.Changes(changed=[(1, 1)])


def test_rows_removed_and_added_at_one_place_are_paired_by_what_they_share(monkeypatch):
    old = [["1", "Ada", "London"], ["2", "Alan", "Wilmslow"], ["3", "Grace", "Arlington"]]
    new = [["1", "Ada", "London"], ["3", "Grace", "New York"], ["4", "Edsger", "Nuenen"]]
    rows = ["\t".join(row) for row in old], ["\t".join(row) for row in new]
    alignment = diff.align(hashes(rows[0]), hashes(rows[1]))
    in_order = alignment.changes()
    assert in_order == diff.Changes(changed=[(1, 1), (2, 2)])  # Alan "became" Grace

    def cells(old_rows, new_rows):
        return [old[i] for i in old_rows], [new[j] for j in new_rows]

    assert diff.alike(in_order, cells) == diff.Changes(removed=[1], added=[2], changed=[(2, 1)])
    # bounded: past LIKENESS_WORK row pairs, rows stay paired in order
    monkeypatch.setattr(diff, "LIKENESS_WORK", 3)
    assert diff.alike(in_order, cells) == in_order


def test_pairs_by_key_in_order_of_the_new_version():
    paired, old_left, new_left = diff.pair_by(
        [0, 1, 2, 3], ["k1", "k2", "k1", "k9"], [5, 6, 7], ["k1", "k1", "k3"]
    )
    assert paired == [(0, 5), (2, 6)]
    assert (old_left, new_left) == ([1, 3], [7])


def test_changed_cells_name_columns_by_number_and_ragged_cells_by_none():
    assert diff.changed_cells(["a", "b"], ["a", "c", "d"]) == {"1": ["b", "c"], "2": [None, "d"]}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), max_size=40),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from("-+~"), st.sampled_from("xyzab"))),
)
def test_what_the_changes_leave_is_the_same_on_both_sides(old, edits):
    new = list(old)
    for at, edit, value in edits:
        at = min(at, len(new))
        if edit == "+":
            new.insert(at, value)
        elif new and edit == "-":
            del new[min(at, len(new) - 1)]
        elif new:
            new[min(at, len(new) - 1)] = value
    found = changes(old, new)
    gone = Counter(old[i] for i in [*found.removed, *(a for a, _ in found.changed)])
    came = Counter(new[j] for j in [*found.added, *(b for _, b in found.changed)])
    assert Counter(old) - gone == Counter(new) - came
    assert all(old[a] != new[b] for a, b in found.changed)
    assert len(found.removed) + len(found.added) + 2 * len(found.changed) <= 2 * len(edits)


# Over HTTP


def tsv(rows: list[list[str]]) -> bytes:
    return "".join("\t".join(row) + "\n" for row in rows).encode()


PEOPLE = [
    ["id", "name", "city"],
    ["1", "Ada", "London"],
    ["2", "Alan", "Wilmslow"],
    ["3", "Grace", "Arlington"],
    ["4", "Edsger", "Nuenen"],
]


def versions(server, *tables: list[list[str]]) -> dict[str, Any]:
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", tsv(tables[0]))
    for table in tables[1:]:
        status, _, _ = put(server.url, doc, tsv(table))
        assert status == 200
    return doc


def get_diff(server, doc, query: str = "", new_cells: bool = False) -> tuple[int, Any]:
    """The diff's answer; its changed rows without their new cells unless ``new_cells``."""
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{doc['id']}/diff{query}")
    if status == 200 and not new_cells:
        for change in body["changed"]:
            del change["new_cells"]
    return status, body


def test_rows_added_removed_and_changed_between_two_uploads(server):
    later = [
        PEOPLE[0],
        PEOPLE[1],
        ["3", "Grace", "New York"],
        PEOPLE[4],
        ["5", "Barbara", "Boston"],
    ]
    later.append(PEOPLE[2])  # Alan moved: no change
    doc = versions(server, PEOPLE, later)
    status, body = get_diff(server, doc, new_cells=True)  # the current version, the one before
    assert status == 200
    assert (body["from"], body["to"], body["key"]) == (1, 2, None)
    assert body["columns"] == ["id", "name", "city"] and "from_columns" not in body
    assert body["counts"] == {"added": 1, "removed": 0, "changed": 1}
    assert body["added"] == [{"row": 4, "cells": ["5", "Barbara", "Boston"]}]
    assert body["changed"] == [
        {
            "row": 2,
            "from_row": 3,
            "cells": {"2": ["Arlington", "New York"]},
            "new_cells": ["3", "Grace", "New York"],
        }
    ]
    assert (body["removed"], body["truncated"]) == ([], False)
    # and back again
    _, back = get_diff(server, doc, "?from=2&to=1")
    assert back["counts"] == {"added": 0, "removed": 1, "changed": 1}
    assert back["removed"] == [{"row": 4, "cells": ["5", "Barbara", "Boston"]}]


def test_rows_matched_by_a_key_column_wherever_they_are(server):
    renamed = [PEOPLE[0], ["4", "E. W. Dijkstra", "Nuenen"], PEOPLE[1], ["2", "Alan", "Manchester"]]
    doc = versions(server, PEOPLE, renamed)
    _, by_content = get_diff(server, doc)  # Ada stayed; Alan's row is the one after her
    assert by_content["counts"] == {"added": 1, "removed": 2, "changed": 1}
    for key in ("id", "0"):
        status, body = get_diff(server, doc, f"?key={key}")
        assert status == 200 and body["key"] == 0
        assert body["counts"] == {"added": 0, "removed": 1, "changed": 2}
        assert body["removed"] == [{"row": 3, "cells": ["3", "Grace", "Arlington"]}]
        assert body["changed"] == [
            {"row": 1, "from_row": 4, "cells": {"1": ["Edsger", "E. W. Dijkstra"]}},
            {"row": 3, "from_row": 2, "cells": {"2": ["Wilmslow", "Manchester"]}},
        ]


def test_a_thousand_rows_with_a_few_changes_and_a_limit(server):
    rows = [["id", "value"]] + [[str(i), f"v{i}"] for i in range(1000)]
    later = [list(row) for row in rows]
    for i in (10, 500, 990):
        later[i + 1][1] = "changed"
    del later[700 + 1]
    later.insert(300 + 1, ["new", "row"])
    doc = versions(server, rows, later)
    _, body = get_diff(server, doc)
    assert body["counts"] == {"added": 1, "removed": 1, "changed": 3}
    assert [change["from_row"] for change in body["changed"]] == [11, 501, 991]
    assert body["added"][0]["row"] == 301 and body["removed"][0]["row"] == 701
    _, limited = get_diff(server, doc, "?limit=1")
    assert limited["counts"] == body["counts"] and limited["truncated"]
    assert (len(limited["changed"]), len(limited["added"])) == (1, 1)


def test_rows_whose_hashes_collide_are_still_told_apart(server):
    # Thue-Morse strings collide under any polynomial hash modulo 2**64 (the hash is only
    # a guide: what it matches is compared). Compared by content: version 2 shares no record
    # with either, so that version 3 stores its own (see tablecast.table.reuse)
    thue = "".join("ab"[bin(i).count("1") % 2] for i in range(2048))
    morse = thue.translate(str.maketrans("ab", "ba"))
    assert len(set(hashes([thue, morse]).tolist())) == 1
    unrelated = [["unrelated"]]
    doc = versions(server, [["c"], ["x"], [thue], ["y"]], unrelated, [["c"], ["x"], [morse], ["y"]])
    _, body = get_diff(server, doc, "?from=1&to=3")
    assert body["counts"] == {"added": 0, "removed": 0, "changed": 1}
    assert body["changed"][0]["cells"] == {"0": [thue, morse]}
    doc = versions(server, [["c"], ["x"], [thue]], unrelated, [["c"], [morse], ["x"]])
    _, body = get_diff(server, doc, "?from=1&to=3")  # not a move either (x is)
    assert body["counts"] == {"added": 0, "removed": 0, "changed": 1}
    assert body["changed"][0]["cells"] == {"0": [thue, morse]}
    # uploaded over it, sharing its other rows: by identity, the change still told
    doc = versions(server, [["c"], ["x"], [thue]], [["c"], [morse], ["x"]])
    _, body = get_diff(server, doc)
    assert body["counts"] == {"added": 1, "removed": 1, "changed": 0}
    assert (body["removed"][0]["cells"], body["added"][0]["cells"]) == ([thue], [morse])


def test_a_changed_header_and_bad_requests(server):
    doc = versions(server, PEOPLE, [["id", "name", "town"], *PEOPLE[1:]])
    _, body = get_diff(server, doc)
    assert body["from_columns"] == ["id", "name", "city"]
    assert body["columns"] == ["id", "name", "town"]
    assert body["counts"] == {"added": 0, "removed": 0, "changed": 0}
    for query, code in [
        ("?from=1&to=1", None),
        ("?to=1", "bad_option"),  # nothing before version 1
        ("?from=9", "version_not_found"),
        ("?from=x", "bad_request"),
        ("?key=city", "bad_option"),  # not in version 2's header
        ("?key=7", "bad_option"),
        ("?limit=0", "bad_option"),
        ("?limit=10001", "bad_option"),
    ]:
        status, body = get_diff(server, doc, query)
        if code is None:
            assert status == 200 and body["counts"] == {"added": 0, "removed": 0, "changed": 0}
        else:
            assert body["error"]["code"] == code, query
    status, body, _ = http(
        "GET", f"{server.url}/parser/api/docs/{'0' * 8}-0000-4000-8000-{'0' * 12}/diff"
    )
    assert status == 404


def test_row_by_row_work_is_bounded(monkeypatch):
    # runs of repeated rows between anchors cost difflib the product of their lengths: past
    # EXACT_WORK in all, they are compared in place (a shifted run then shows as changes)
    old = ["a", *(["x", "y"] * 20), "b", *(["x", "y"] * 20), "c", "e"]
    new = ["a", "z", *(["x", "y"] * 20), "b", "z", *(["x", "y"] * 20), "c", "f"]
    found = diff.Changes(added=[1, 43], changed=[(83, 85)])

    def matched() -> int:
        return len(diff.align(hashes(old), hashes(new)).matched()[0])

    assert changes(old, new) == found
    monkeypatch.setattr(diff, "MAX_SHIFT", 0)  # rows not looked for a row or two on
    assert matched() == len(old) - 1 and changes(old, new) == found
    monkeypatch.setattr(diff, "EXACT_WORK", 41 * 40 + 1)  # the first run only
    assert matched() == len(old) - 1 - 40
    # (what was left unmatched is found as rows that moved: the answer is the same)
    assert changes(old, new) == found
    # and anchors are found by sorting only so many rows: past them, rows in place
    monkeypatch.setattr(diff, "MAX_SORTED", 10)
    assert matched() == 1 + 38  # "a", and the rows of the second run where they were


def test_what_a_diff_lists_is_bounded_in_bytes(server, monkeypatch):
    monkeypatch.setattr(views_module, "LISTED_BYTES", 3000)
    big = "w" * 1000
    doc = versions(server, [["c"], ["x"]], [["c"], ["x"], *([big] for _ in range(10))])
    _, body = get_diff(server, doc)
    assert body["counts"]["added"] == 10 and body["truncated"]
    assert len(body["added"]) == 2  # 1,005 bytes a record as stored
    monkeypatch.setattr(views_module, "LISTED_BYTES", 10)
    _, body = get_diff(server, doc, "?limit=999")  # (another answer than the one kept)
    assert len(body["added"]) == 1  # one row at least, however large


def test_a_diff_on_another_node_of_a_cluster(nodes):
    # each node hashes the versions from the shared store (PostgreSQL) for itself
    first, second = nodes(2)
    later = [PEOPLE[0], PEOPLE[1], ["3", "Grace", "New York"], PEOPLE[4]]
    doc = versions(first, PEOPLE, later)
    for server in (second, first):
        _, body = get_diff(server, doc, "?key=name")
        assert body["counts"] == {"added": 0, "removed": 1, "changed": 1}
        assert body["changed"] == [
            {"row": 2, "from_row": 3, "cells": {"2": ["Arlington", "New York"]}}
        ]


def test_tables_with_no_rows_and_no_header(server):
    doc = versions(server, [["only", "a header"]], [["only", "a header"], ["a", "row"]])
    _, body = get_diff(server, doc)
    assert body["counts"] == {"added": 1, "removed": 0, "changed": 0}
    _, body = get_diff(server, doc, "?from=2&to=1")
    assert body["removed"] == [{"row": 1, "cells": ["a", "row"]}]
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?header=0", b"x\ny\n")
    assert put(server.url, doc, b"x\nz\ny\n", "?header=0")[0] == 200
    _, body = get_diff(server, doc)
    assert body["columns"] == ["Column 1"]
    assert body["added"] == [{"row": 2, "cells": ["z"]}]


async def test_a_diff_asked_by_many_is_made_once(tmp_path, monkeypatch):
    # everyone coming back to a link after a new version asks what changed since: one diff
    store = SQLiteStore(tmp_path / "s.sqlite3")
    document = store.create_document(None)
    old = store.commit_version(write_version(store, document.id, 300), meta(300)).version
    new = store.commit_version(write_version(store, document.id, 301), meta(301)).version
    views = Views(store, memory=10**8, cache=tmp_path / "columns")
    made = []

    def counted(a: diff.Hashes, b: diff.Hashes) -> diff.Alignment:
        made.append(1)
        return diff.align(a, b)

    monkeypatch.setattr(views_module, "align", counted)
    try:
        answers = await asyncio.gather(*(views.diff(old, new, None, 10) for _ in range(50)))
        assert all(answer == answers[0] for answer in answers)
        assert answers[0]["counts"] == {"added": 1, "removed": 0, "changed": 0}
        await views.diff(old, new, None, 10)  # and kept
        assert made == [1]
    finally:
        views.close()
        store.close()
