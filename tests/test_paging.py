"""Page maths, without sockets: which records a page shows, counted as the caller says."""

from __future__ import annotations

import pytest

from tablecast.model import Version, VersionMeta
from tablecast.table.paging import Numbering, page_window, rows_window

RECORDS, ROWS = Numbering.RECORDS, Numbering.ROWS


def version(records: int, has_header: bool = True) -> Version:
    meta = VersionMeta("t.tsv", "utf-8", "\t", has_header, records, 2, 10, ["a", "b"])
    return Version(1, "doc", 1, 0.0, meta)


@pytest.mark.parametrize(
    ("records", "has_header", "numbering", "page_no", "expected"),
    [
        # (page_no, page_count, total, start, stop, first_row)
        (251, True, RECORDS, 1, (1, 3, 251, 0, 100, 1)),  # every record, the header's too
        (251, True, RECORDS, 3, (3, 3, 251, 200, 251, 201)),
        (251, True, ROWS, 1, (1, 3, 250, 1, 101, 1)),  # the rows under the header
        (251, True, ROWS, 3, (3, 3, 250, 201, 251, 201)),
        (250, False, ROWS, 1, (1, 3, 250, 0, 100, 1)),  # no header: every record is a row
        (250, False, RECORDS, 3, (3, 3, 250, 200, 250, 201)),
        (251, True, RECORDS, 99, (3, 3, 251, 200, 251, 201)),  # clamped to the last page
        (251, True, ROWS, 0, (1, 3, 250, 1, 101, 1)),  # and to the first
        (251, True, RECORDS, 0, (1, 3, 251, 0, 100, 1)),
        (1, True, ROWS, 1, (1, 1, 0, 1, 1, 1)),  # a header alone: one empty page
        (1, True, ROWS, 1, (1, 1, 0, 1, 1, 1)),  # a header alone: one empty page of rows
        (1, True, RECORDS, 1, (1, 1, 1, 0, 1, 1)),  # ... and one record
    ],
)
def test_a_page_counts_what_its_numbering_says(records, has_header, numbering, page_no, expected):
    w = page_window(version(records, has_header), page_no, 100, numbering)
    assert (w.page_no, w.page_count, w.total_number, w.start, w.stop, w.first_row) == expected


@pytest.mark.parametrize("numbering", list(Numbering))
def test_no_version_has_one_empty_page(numbering):
    w = page_window(None, 5, 100, numbering)
    assert (w.page_no, w.page_count, w.total_number, w.start, w.stop) == (1, 1, 0, 0, 0)


def test_a_views_rows_are_paged_as_they_are():
    w = rows_window(7, 2, 5)
    assert (w.page_no, w.page_count, w.total_number, w.start, w.stop, w.first_row) == (
        2, 2, 7, 5, 7, 6
    )  # fmt: skip
