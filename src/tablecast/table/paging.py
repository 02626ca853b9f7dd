"""Page maths: which records page N of a version (or of a view's rows) shows, clamped to the
pages there are. Pure.

Clients count a table's rows in two ways, and the caller that knows which client it serves
says which (:class:`Numbering`): page maths knows nothing of dialects.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..model import Version


class Numbering(enum.Enum):
    """What a page counts, and so what its rows are numbered from."""

    RECORDS = "records"  # every record, the header line included (the article's clients)
    ROWS = "rows"  # the rows under the header (tablecast.v1, HTTP, views)


@dataclass(slots=True)
class PageWindow:
    """Which records a page shows. ``start``/``stop`` index the stored records."""

    page_no: int
    page_count: int
    total_number: int
    page_size: int
    start: int
    stop: int
    first_row: int  # the number of the page's first row (1-based), as the numbering counts


def page_window(
    version: Version | None, page_no: int, page_size: int, numbering: Numbering
) -> PageWindow:
    """Page ``page_no`` of a version, counted as ``numbering`` says, clamped to the pages it
    has (there is always a page 1)."""
    if version is None:
        total = offset = 0
    elif numbering is Numbering.RECORDS:
        total, offset = version.meta.record_count, 0
    else:
        total, offset = version.data_rows, version.first_data_record
    return rows_window(total, page_no, page_size, offset)


def rows_window(total: int, page_no: int, page_size: int, offset: int = 0) -> PageWindow:
    """Page ``page_no`` of ``total`` rows (a view's, see tablecast.table.view), clamped to the
    pages there are (there is always a page 1). ``start``/``stop`` index those rows, counted
    from ``offset``. (Made in one go, on every page's path: dataclasses.replace took as long
    as the rest of the page's maths.)"""
    page_count = max(1, -(-total // page_size))
    page_no = min(max(page_no, 1), page_count)
    first = (page_no - 1) * page_size
    stop = min(total, first + page_size)
    return PageWindow(
        page_no, page_count, total, page_size, offset + first, offset + stop, first + 1
    )
