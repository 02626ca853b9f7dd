"""Blocks made back into records (table.blocks.records_json): pages and picked records, pure."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablecast.table.blocks import (
    BLOCK_RECORDS,
    encode_block,
    join_rows,
    joined,
    pick_rows,
    run_of,
)

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


def block_as_written(records: list[str]) -> tuple[bytes, bytes]:
    """A block's bytes spelled out: JSON arrays a line each, little-endian uint32 starts."""
    lines = [f'["{record}"]'.encode() for record in records]
    starts = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    return b"\n".join(lines), b"".join(start.to_bytes(4, "little") for start in starts)


@pytest.mark.parametrize("count", [1, 2, 255, 256, 257, 511, 512, 600])
def test_blocks_cut_from_runs_joined_are_the_records_blocks(count):
    """However the records arrived (runs of any length, joined), the blocks cut from them are
    each 256 records' own bytes and offsets, the last one short."""
    records = [orjson.dumps(r).decode()[2:-2] for r in RECORDS[:count]]
    pieces = [records[i : i + 37] for i in range(0, count, 37)]  # runs cut across blocks
    run = joined([run_of(piece) for piece in pieces])
    assert len(run) == count
    assert run.records() == records
    blocks = run.blocks(count)
    expected = [
        block_as_written(records[i : i + BLOCK_RECORDS]) for i in range(0, count, BLOCK_RECORDS)
    ]
    assert [(block.records, block.offsets) for block in blocks] == expected
    assert (encode_block(records[:5]).records, encode_block(records[:5]).offsets) == (
        block_as_written(records[:5])
    )
    # the records after a cut start again from 0
    rest = run.after(min(count, BLOCK_RECORDS))
    assert rest.records() == records[BLOCK_RECORDS:]
