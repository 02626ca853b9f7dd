"""Blocks made back into records (table.blocks.records_json): pages and picked records, pure."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tablecast.table.blocks import BLOCK_RECORDS, encode_block, join_rows, pick_rows

RECORDS = [[f"r{i}", "x" * (i % 7), 'é\n"' if i % 5 == 0 else str(i)] for i in range(600)]
BLOCKS = [
    (n // BLOCK_RECORDS, block.records, block.offsets)
    for n in range(0, len(RECORDS), BLOCK_RECORDS)
    for block in [encode_block([orjson.dumps(r).decode()[2:-2] for r in RECORDS[n : n + 256]])]
]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 650), st.integers(0, 650))
def test_a_range_is_those_records_and_stops_at_the_last(start, stop):
    assert orjson.loads(join_rows(BLOCKS, start, stop)) == RECORDS[start:stop]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 599), max_size=20), st.integers(0, 599), st.integers(0, 300))
def test_picked_records_come_in_the_order_asked_neighbours_or_not(picked, first, run):
    # a run of neighbours (across a block's edge, often) among records from all over
    picked = [*picked[:5], *range(first, min(first + run, 600)), *picked[5:]]
    assert orjson.loads(pick_rows(BLOCKS, picked)) == [RECORDS[i] for i in picked]
