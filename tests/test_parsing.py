"""The streaming parser: formats, encodings, quoting and chunk boundaries, without any I/O."""

from __future__ import annotations

import codecs
import csv
import io
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import feed_in_pieces, raw_text
from tablecast.errors import TablecastError
from tablecast.table.blocks import Run, joined, record_cells
from tablecast.table.parsing import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_RECORD_CHARS,
    SNIFF_BYTES,
    ParseOptions,
    TableParser,
    _PendingRecord,
    parse_delimiter,
    sniff_delimiter,
)


def parse(
    data: bytes,
    chunk: int | None = None,
    sample_bytes: int = SNIFF_BYTES,
    plain_lane: bool = True,
    **options: str,
) -> tuple[list[list[str]], TableParser]:
    parser = TableParser(ParseOptions(**options), sample_bytes=sample_bytes, plain_lane=plain_lane)
    records: list[str] = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        records += parser.feed(data[i : i + step])
    records += parser.close()
    return [record_cells(r) for r in records], parser


def rows_of(
    data: bytes, chunk: int | None = None, sample_bytes: int = SNIFF_BYTES, **options: str
) -> list[list[str]]:
    return parse(data, chunk, sample_bytes, **options)[0]


def test_tab_separated_is_the_default():
    rows, parser = parse(b"name\tage\nada\t36\ngrace\t45\n")
    assert rows == [["name", "age"], ["ada", "36"], ["grace", "45"]]
    assert parser.delimiter == "\t"
    assert parser.encoding == "utf-8"
    assert parser.record_count == 3
    assert parser.max_width == 2


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1;2;3\n4;5;6\n", ";"),
        ("a|b|c\n1|2|3\n4|5|6\n", "|"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        # commas inside tab-separated cells: tab splits wider and just as consistently
        ("name\tcity\tn\nSmith, John\tParis, FR\t1\nDoe, Jane\tRome, IT\t2\n", "\t"),
        # decimal commas in a semicolon file: both split consistently, semicolon is meant
        ("x;y\n1,5;2,25\n3,0;4,75\n", ";"),
        # quoted commas do not count as separators
        ('id,comment\n1,"hello, world"\n2,"a, b, c"\n', ","),
        # a single column
        ("alpha\nbeta\ngamma\n", "\t"),
    ],
)
def test_sniffs_the_delimiter(text, delimiter):
    rows, parser = parse(text.encode())
    assert parser.delimiter == delimiter
    assert len({len(r) for r in rows}) == 1


def test_sniffing_prefers_the_consistent_split_over_a_ragged_one():
    text = "a,b\tc\nd\te\nf,g,h\ti\n"
    assert sniff_delimiter(text, complete=True) == "\t"


def test_explicit_delimiter_wins_over_sniffing():
    assert rows_of(b"a,b;c\n", delimiter=";") == [["a,b", "c"]]


@pytest.mark.parametrize(
    ("option", "expected"), [("tab", "\t"), ("comma", ","), (";", ";"), ("PIPE", "|"), ("", None)]
)
def test_delimiter_options(option, expected):
    assert parse_delimiter(option) == expected


def test_bad_delimiter_option_is_a_typed_error():
    with pytest.raises(TablecastError) as err:
        parse_delimiter("x")
    assert err.value.code == "bad_option"
    with pytest.raises(TablecastError):
        ParseOptions(encoding="no-such-codec")


def test_rfc4180_quoting():
    data = (
        b"id,text,n\n"
        b'1,"with, comma",x\n'
        b'2,"with ""quotes""",y\n'
        b'3,"two\nlines",z\n'
        b'4,"crlf\r\ninside",w\n'
        b'5,"",v\n'
    )
    assert rows_of(data) == [
        ["id", "text", "n"],
        ["1", "with, comma", "x"],
        ["2", 'with "quotes"', "y"],
        ["3", "two\nlines", "z"],
        ["4", "crlf\r\ninside", "w"],
        ["5", "", "v"],
    ]


def test_quotes_in_tab_separated_files_work_like_the_articles_csv_reader():
    data = b'a\t"b\tc"\td\n5" screen\tx\t"q"uoted\n'
    assert rows_of(data) == [["a", "b\tc", "d"], ['5" screen', "x", "quoted"]]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings(newline):
    data = newline.join([b"a\tb", b"c\td", b"e\tf"]) + newline
    assert rows_of(data) == [["a", "b"], ["c", "d"], ["e", "f"]]


def test_mixed_line_endings_and_no_final_newline():
    assert rows_of(b"a\tb\r\nc\td\re\tf\ng\th") == [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]


def test_cells_are_kept_exactly():
    # the article's strip() would turn "\ta\t" into "a" and lose both empty edge cells
    data = b"\ta\t\n  padded  \t x\n"
    assert rows_of(data) == [["", "a", ""], ["  padded  ", " x"]]


def test_ragged_rows_stay_ragged():
    assert rows_of(b"a\tb\tc\n1\n2\t3\n4\t5\t6\t7\n") == [
        ["a", "b", "c"],
        ["1"],
        ["2", "3"],
        ["4", "5", "6", "7"],
    ]
    assert parse(b"a\tb\n1\t2\t3\t4\n")[1].max_width == 4


def test_blank_lines_are_skipped():
    # empty, or white space alone: no delimiter, no quote
    data = b"a\tb\n\n   \n\xc2\xa0\n\r\nc\td\n"
    rows, parser = parse(data)
    assert rows == [["a", "b"], ["c", "d"]]
    assert parser.record_count == 2


# Rows of blank cells, quoted or not, with each delimiter and in each lane (issue 14, item 17:
# with a tab they vanished)
BLANK_CELLS = [
    ("{d}{d}", ["", "", ""]),
    (" {d} ", [" ", " "]),
    ("\xa0{d}", ["\xa0", ""]),
    ('"  "{d}"  "', ["  ", "  "]),
    ('"  "', ["  "]),
    ('""', [""]),
    ('" \r\n "', [" \r\n "]),
]


@pytest.mark.parametrize("delimiter", ["\t", ",", ";", "|"])
@pytest.mark.parametrize(("written", "cells"), BLANK_CELLS)
@pytest.mark.parametrize("plain_lane", [True, False])
@pytest.mark.parametrize("chunk", [None, 3])
def test_a_row_of_blank_cells_is_kept_whatever_the_delimiter(
    delimiter, written, cells, plain_lane, chunk
):
    line = written.format(d=delimiter)
    data = f"a{delimiter}b\n{line}\n \n\nc{delimiter}d\n{line}".encode()
    rows, parser = parse(data, chunk, 4, plain_lane, delimiter=delimiter)
    assert rows == [["a", "b"], cells, ["c", "d"], cells]
    assert parser.record_count == 4


def test_empty_cells_in_a_comma_file_are_a_row():
    # ",," is three empty cells, not a blank line
    assert rows_of(b"a,b,c\n,,\n1,2,3\n") == [["a", "b", "c"], ["", "", ""], ["1", "2", "3"]]


def test_utf8_with_bom():
    rows, parser = parse(codecs.BOM_UTF8 + "naïve\tcafé\n".encode())
    assert rows == [["naïve", "café"]]
    assert parser.encoding == "utf-8-sig"


@pytest.mark.parametrize(
    ("codec", "name"), [("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")]
)
def test_utf16_with_bom(codec, name):
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    rows, parser = parse(bom + "名前\t年齢\n太郎\t20\n".encode(codec))
    assert rows == [["名前", "年齢"], ["太郎", "20"]]
    assert parser.encoding == name


def test_cp1252_fallback():
    rows, parser = parse("café\t€5\tnaïve\n".encode("cp1252"))
    assert rows == [["café", "€5", "naïve"]]
    assert parser.encoding == "cp1252"


def test_cp1252_undefined_bytes_become_the_same_code_points():
    rows = rows_of(b"a\x81\tb\xe9\n")
    assert rows == [["a\x81", "bé"]]


def test_a_stray_cp1252_byte_after_the_sample_does_not_fail_a_utf8_file():
    head = ("é\t" + "x" * 100 + "\n").encode() * (SNIFF_BYTES // 100 + 10)
    rows, parser = parse(head + b"caf\xe9\tend\n", chunk=4096)
    assert parser.encoding == "utf-8"
    assert rows[-1] == ["café", "end"]


def test_explicit_encoding():
    data = "ключ\tзначение\n".encode("koi8-r")
    rows, parser = parse(data, encoding="koi8-r")
    assert rows == [["ключ", "значение"]]
    assert parser.encoding == "koi8-r"


def test_nul_bytes_mean_not_a_text_table():
    with pytest.raises(TablecastError) as err:
        parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert err.value.code == "not_text"


def test_nul_after_the_first_64_kib_is_kept_as_data():
    head = b"a\tb\n" * (SNIFF_BYTES // 4 + 1)
    rows = rows_of(head + b"x\x00y\tz\n", chunk=8192)
    assert rows[-1] == ["x\x00y", "z"]


def test_the_sample_is_bytes_however_the_file_arrives():
    # the NUL is the 9th byte but the 8th character: past an 8-byte sample, fed whole or cut
    data = "éabcdef\x00\n".encode()
    assert rows_of(data, sample_bytes=8) == rows_of(data, chunk=8, sample_bytes=8)
    assert rows_of(data, sample_bytes=8) == [["éabcdef\x00"]]


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n \n"])
def test_a_file_without_rows_is_an_error(data):
    with pytest.raises(TablecastError) as err:
        parse(data)
    assert err.value.code == "empty_file"


def test_a_header_only_file_is_a_table():
    assert rows_of(b"a\tb\tc\n") == [["a", "b", "c"]]


def test_an_unclosed_quote_at_the_end_keeps_the_rest_in_one_cell():
    assert rows_of(b'a,b\n1,"open\nstill open\n') == [["a", "b"], ["1", "open\nstill open\n"]]


def test_a_giant_cell_is_a_typed_error():
    data = b'a,b\n1,"' + b"x" * (MAX_CELL_CHARS + 10) + b'"\n'
    with pytest.raises(TablecastError) as err:
        parse(data, chunk=65536)
    assert err.value.code == "cell_too_large"


# Columns are capped (issue 14, item 7: a million columns uploaded in 0.4 s, then took minutes
# for each page), and a record too wide is refused as it is read, before it is stored.


def refused_as_too_wide(parser: TableParser, data: bytes, chunk: int = 64 * 1024) -> int:
    """Feed ``data`` in chunks until the parser refuses it: the bytes it had read by then."""
    records: list[str] = []
    with pytest.raises(TablecastError) as err:
        for i in range(0, len(data), chunk):
            records += parser.feed(data[i : i + chunk])
        parser.close()
    assert err.value.code == "too_many_columns"
    assert err.value.status == 400
    # no record too wide was handed on to be stored
    assert max((len(record_cells(r)) for r in records), default=0) <= parser.max_columns
    return parser.bytes_in


@pytest.mark.parametrize("quoted", [False, True])  # the plain lane, the CSV lane
def test_a_million_columns_are_refused_at_the_first_row(quoted):
    row = ('"a"' if quoted else "a") + "," * 999_999 + "\n"  # 1,000,000 cells
    data = row.encode() * 3
    parser = TableParser()
    assert refused_as_too_wide(parser, data) < len(row) + 64 * 1024
    assert parser.record_count == 0


@pytest.mark.parametrize("plain_lane", [True, False])
@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_as_many_columns_as_excel_are_a_table(plain_lane, delimiter):
    assert MAX_COLUMNS == 16_384
    cells = [f"c{i}" for i in range(MAX_COLUMNS)]
    data = (delimiter.join(cells) + "\n").encode() * 3
    rows, parser = parse(data, 4096, plain_lane=plain_lane)
    assert rows == [cells] * 3
    assert parser.max_width == MAX_COLUMNS
    one_more = (delimiter.join([*cells, "x"]) + "\n").encode()
    refused_as_too_wide(TableParser(plain_lane=plain_lane), data + one_more)


@pytest.mark.parametrize(
    "data",
    [
        b"a,b,c\n1,2,3,4\n",  # plain lane
        b'a,b,c\n"1",2,3,4\n',  # CSV lane
        b'a,b,c\n"1\n",2,"3\n\n\n",4\n',  # one record over several chunks
        b"a,b,c,d\n",  # the first record
    ],
)
def test_a_record_wider_than_the_limit_is_refused_in_either_lane(data):
    for plain_lane in (True, False):
        for chunk in (1, 3, len(data)):
            parser = TableParser(sample_bytes=4, plain_lane=plain_lane, max_columns=3)
            refused_as_too_wide(parser, data, chunk)


def test_feeding_after_close_is_a_bug():
    parser = TableParser()
    parser.feed(b"a\n")
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed(b"b\n")


# Chunk boundaries: wherever the network cuts the file, the rows are the same.

TRICKY = (
    codecs.BOM_UTF8
    + 'id,name,note\r\n1,"Zoë, the ""first""","line one\r\nline two"\r\n'
    '2,日本語,"€ and ☃"\r\n\r\n3,,""\r\n4,"a\rb",end\n5,x,y'.encode()
)


# A small sniffing sample makes these short inputs stream the way a large file does.
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
@pytest.mark.parametrize("sample_bytes", [20, 33, SNIFF_BYTES])
def test_every_chunk_size_gives_the_same_rows(chunk, sample_bytes):
    assert rows_of(TRICKY, chunk=chunk, sample_bytes=sample_bytes) == rows_of(TRICKY)


def test_boundaries_inside_a_quoted_field_a_multibyte_char_and_a_crlf():
    whole = rows_of(TRICKY)
    quoted = TRICKY.index(b"line one") + 4
    multibyte = TRICKY.index("日".encode()) + 1
    crlf = TRICKY.index(b"\r\n") + 1
    for cut in (quoted, multibyte, crlf):
        parser = TableParser(sample_bytes=20)
        records = parser.feed(TRICKY[:cut]) + parser.feed(TRICKY[cut:]) + parser.close()
        assert [record_cells(r) for r in records] == whole, cut


def test_boundaries_after_the_sample_is_settled():
    body = b'a,b\n1,"x\r\ny"\n' + ("é,€\r\n" * 30000).encode()
    whole = rows_of(body)
    assert rows_of(body, chunk=SNIFF_BYTES + 1) == whole
    assert rows_of(body, chunk=4097) == whole


cells = st.lists(
    st.sampled_from(["a", "b", ",", '"', "\t", "\r", "\n", "\r\n", " ", "é", "€", "日"]), max_size=6
).map("".join)


def parse_in_pieces(
    data: bytes,
    cuts: list[int],
    options: ParseOptions,
    sample_bytes: int,
    plain_lane: bool = True,
) -> list[list[str]]:
    parser = TableParser(options, sample_bytes=sample_bytes, plain_lane=plain_lane)
    return [record_cells(r) for r in feed_in_pieces(parser, data, cuts)]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    delimiter=st.sampled_from(["\t", ","]),
    codec=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    sample_bytes=st.integers(min_value=4, max_value=64),
)
def test_any_chunking_gives_back_what_was_written(rows, cuts, delimiter, codec, sample_bytes):
    def quote(cell: str) -> str:
        if not cell or any(c in cell for c in f'"{delimiter}\r\n'):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    text = "".join(delimiter.join(map(quote, row)) + "\r\n" for row in rows)
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return  # cp1252 has no 日
    # a few bytes of cp1252 can pass for UTF-8, so that one is named rather than detected
    options = ParseOptions(delimiter=delimiter, encoding="cp1252" if codec == "cp1252" else None)
    # a blank line (white space alone, no delimiter, no quote) is skipped; every other row
    # comes back exactly
    kept = [r for r in rows if len(r) > 1 or quote(r[0]) != r[0] or r[0].strip()]
    if not kept:
        with pytest.raises(TablecastError):
            parse_in_pieces(data, cuts, options, sample_bytes)
        return
    assert parse_in_pieces(data, cuts, options, sample_bytes) == kept


def test_the_articles_count_and_ours_differ_only_by_rows_of_blank_cells():
    """total_number counts records as the article did (csv.reader over stripped lines, blank
    ones left out), but a row of blank cells is a row: the article's strip() lost it."""
    data = "h1\th2\n\nv1\tv2\n  \nv3\tv4\n\t\nv5\tv6\n"
    article = [
        next(csv.reader([line], delimiter="\t"))
        for line in (x.strip() for x in data.splitlines())
        if line
    ]
    assert len(article) == 4
    assert rows_of(data.encode()) == [
        ["h1", "h2"],
        ["v1", "v2"],
        ["v3", "v4"],
        ["", ""],
        ["v5", "v6"],
    ]


@settings(max_examples=400, deadline=None)
@given(
    text=raw_text,
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
    delimiter=st.sampled_from(["\t", ",", ";"]),
    sample_bytes=st.integers(min_value=1, max_value=40),
    quotes=st.booleans(),
)
def test_the_plain_lane_reads_what_the_csv_lane_reads(text, cuts, delimiter, sample_bytes, quotes):
    """Each chunk picks its lane; whatever the mix, the records are csv.reader's, and so are
    the runs of stored bytes the lanes hand on, and their counts."""
    if not quotes:  # else few texts would be all plain
        text = text.translate({ord('"'): None, ord("\\"): None, 0x0B: None})
    options = ParseOptions(delimiter=delimiter)
    data = text.encode()

    def records(plain_lane: bool) -> list[list[str]] | str:
        try:
            return parse_in_pieces(data, cuts, options, sample_bytes, plain_lane)
        except TablecastError as err:
            return err.code

    def runs(plain_lane: bool) -> tuple[object, ...] | str:
        parser = TableParser(options, sample_bytes=sample_bytes, plain_lane=plain_lane)
        pieces, start = [], 0
        try:
            for cut in [*sorted(set(cuts)), len(data)]:
                pieces.append(parser.feed_run(data[start:cut]))
                start = max(start, cut)
            run = joined([*pieces, parser.close_run()])
        except TablecastError as err:
            return err.code
        counts = (parser.record_count, parser.max_width, parser.first_width)
        return run.data, run.starts.tolist(), (*counts, parser.ragged_records)

    assert records(plain_lane=True) == records(plain_lane=False)
    assert runs(plain_lane=True) == runs(plain_lane=False)


def test_plain_lane_width_and_blank_lines():
    rows, parser = parse(b"a\tb\n\n \t \n1\t2\t3\n\xc2\xa0\nx\n", delimiter="\t")
    assert rows == [["a", "b"], [" ", " "], ["1", "2", "3"], ["x"]]
    assert (parser.record_count, parser.max_width) == (4, 3)


# The plain lane hands on each chunk's records as one run of their stored bytes (issue 17): the
# same records, counts and widths as the CSV lane's, wherever the chunks are cut.

RUN_CASES = {
    "blank lines": "a\tb\n\n  \n\xa0\n\u3000 \nc\td\n".encode(),
    "CRLF": b"a\tb\r\nc\td\r\n\r\ne\tf\r\n",
    "lone CR": b"a\tb\rc\td\r\re\tf",
    "ragged": b"a\tb\tc\n1\n2\t3\n\t\t\t\n4\t5\t6\n",
    # as many delimiters as lines, one a line on average but not on each
    "ragged evenly": b"a\tb\nc\nd\te\tf\ng\th\n",
    "non-ASCII": "naïve\tcafé\n日本\t語\n☃\t€\n".encode(),
    "delimiter alone": b"a\tb\n\t\n \t \nc\td\n",
    "cp1252": "café\t€5\nnaïve\tœuvre\n".encode("cp1252"),
    "single column": b"alpha\n\n beta \n  \ngamma",
    "block boundary": "".join(
        f"r{i}\t{'x' * (i % 7)}\n" if i != 255 else "\n" for i in range(520)
    ).encode(),
    "mixed lanes": b'a\tb\n1\t2\n"q\tq"\t3\n4\t5\n\n6\t"7\n8"\n9\t10\n',
}


def parse_runs(data: bytes, chunk: int, plain_lane: bool) -> tuple[Run, tuple[object, ...]]:
    parser = TableParser(ParseOptions(delimiter="\t"), sample_bytes=4, plain_lane=plain_lane)
    runs = [parser.feed_run(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    run = joined([*runs, parser.close_run()])
    counts = (parser.record_count, parser.max_width, parser.first_width, parser.ragged_records)
    return run, counts


@pytest.mark.parametrize("case", RUN_CASES)
def test_the_plain_lanes_runs_are_the_csv_lanes_records_however_cut(case):
    data = RUN_CASES[case]
    csv_run, csv_counts = parse_runs(data, len(data), plain_lane=False)
    for chunk in [*range(1, 24), 64, 255, 1000, len(data)]:
        run, counts = parse_runs(data, chunk, plain_lane=True)
        assert (run.data, run.starts.tolist(), counts) == (
            csv_run.data,
            csv_run.starts.tolist(),
            csv_counts,
        ), chunk
    # and the records one by one are what the list API gives
    assert csv_run.records() == rows_and_parser(data)[0]
    assert run.starts[-1] == len(run.data)
    assert all(run.data[end - 1 : end] == b"\n" for end in run.starts[1:])


def rows_and_parser(data: bytes) -> tuple[list[str], TableParser]:
    parser = TableParser(ParseOptions(delimiter="\t"), sample_bytes=4)
    return feed_in_pieces(parser, data, []), parser


def test_a_plain_chunk_becomes_one_run_not_a_string_per_record():
    """The plain lane's records are handed on as one bytes object and an array of where each
    starts: a chunk of 20,000 records leaves a few objects alive, not one per record."""
    parser = TableParser(ParseOptions(delimiter="\t"), sample_bytes=10)
    parser.feed_run(b"head\tline\n")  # the sample settles encoding and delimiter
    chunk = b"".join(b"r%d\tv%d\n" % (i, i) for i in range(20_000))
    tracemalloc.start()
    try:
        run = parser.feed_run(chunk)
        held = sum(stat.count for stat in tracemalloc.take_snapshot().statistics("filename"))
    finally:
        tracemalloc.stop()
    assert len(run) == 20_000
    assert run.records()[:2] == ['r0","v0', 'r1","v1']
    assert held < 100


# Work grows with the file, not with its square (issue 14, item 6). A record cut by the end of a
# chunk used to be parsed again whole with every chunk that did not finish it.

CHUNK = 64 * 1024


def feed_in_chunks(parser: TableParser, data: bytes, chunk: int = CHUNK) -> list[list[str]]:
    records: list[str] = []
    for i in range(0, len(data), chunk):
        records += parser.feed(data[i : i + chunk])
    records += parser.close()
    return [record_cells(r) for r in records]


def test_a_record_over_many_chunks_reaches_csv_reader_about_once():
    """2,000 cells of 500 line breaks each: one 2 MB record of a million lines."""
    cell = "x\n" * 500
    data = ("a,b\n" + f'"{cell}",' * 2000 + "end\n").encode()
    parser = TableParser()
    rows = feed_in_chunks(parser, data)
    assert rows == [["a", "b"], [cell] * 2000 + ["end"]]
    # before: each of the 31 chunks parsed the record again from its start, 16 times the file
    assert parser.csv_reader_chars <= 3 * len(data)


def test_the_reported_attack_reaches_csv_reader_about_once():
    """As reported: ``a,b`` then ``"x\\n",`` over and over, one record of 300,000 cells (1.5 MB,
    600,000 lines). With the column limit it is refused once read, and read once."""
    data = b"a,b\n" + b'"x\n",' * 300_000
    parser = TableParser(max_columns=10**6)
    rows = feed_in_chunks(parser, data)
    assert rows == [["a", "b"], ["x\n"] * 300_000 + [""]]
    assert parser.csv_reader_chars <= 3 * len(data)  # before: 13 times the file
    parser = TableParser()
    assert refused_as_too_wide(parser, data) == len(data)
    assert parser.csv_reader_chars <= 3 * len(data)


def test_an_unclosed_quote_over_many_chunks_is_found_as_a_giant_cell():
    data = b'a,b\n1,"' + b"x\n" * MAX_CELL_CHARS
    parser = TableParser()
    with pytest.raises(TablecastError) as err:
        feed_in_chunks(parser, data)
    assert err.value.code == "cell_too_large"
    assert "near line 524290 " in err.value.message  # where it grew past the limit, as before
    assert parser.bytes_in < MAX_CELL_CHARS + 2 * CHUNK  # found while it is read


def test_doubled_quotes_count_once_towards_a_cells_limit():
    cell = '"\n' * (MAX_CELL_CHARS // 2)  # written with 1.5 times as many characters
    data = ('a,b\n1,"' + cell.replace('"', '""') + '"\n').encode()
    assert feed_in_chunks(TableParser(), data) == [["a", "b"], ["1", cell]]
    data = ('a,b\n1,"' + (cell + "xx").replace('"', '""') + '"\n').encode()
    with pytest.raises(TablecastError) as err:
        feed_in_chunks(TableParser(), data)
    assert err.value.code == "cell_too_large"


def test_a_record_over_the_record_limit_is_a_bad_table():
    cell = '"' + "x\n" * 1000 + '",'
    data = ("a,b\n" + cell * (MAX_RECORD_CHARS // len(cell) + 1)).encode()
    parser = TableParser(max_columns=10**6)
    with pytest.raises(TablecastError) as err:
        feed_in_chunks(parser, data)
    assert err.value.code == "bad_table"
    assert parser.bytes_in < MAX_RECORD_CHARS + 2 * CHUNK


# Where a record ends, as csv.reader finds it: the scanner that follows a record cut off by the
# end of a chunk must agree, wherever the record is cut
record_tokens = st.lists(
    st.one_of(
        st.sampled_from(["a", "b7", " ", "\xa0", "\x0b", "D", "\n", "\r\n", "\r", '"', '""']),
        st.lists(
            st.sampled_from(["x", " ", "\n", "\r\n", "\r", '""', '"', "D", "\t", ","]), max_size=20
        ).map(lambda parts: '"' + "".join(parts) + '"'),  # a quoted cell, often over lines
    ),
    max_size=40,
)


def csv_records(text: str, delimiter: str) -> list[tuple[list[str], str]]:
    """csv.reader's records in ``text``, each with the text it was read from."""
    lines = io.StringIO(text, newline="").readlines()
    taken = 0

    def feed() -> Iterator[str]:
        nonlocal taken
        for line in lines:
            taken += 1
            yield line

    found = []
    start = 0
    for row in csv.reader(feed(), delimiter=delimiter, strict=False):
        found.append((row, "".join(lines[start:taken])))
        start = taken
    return found


@settings(max_examples=500, deadline=None)
@given(
    tokens=record_tokens,
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    delimiter=st.sampled_from(["\t", ",", ";", "|"]),
)
def test_the_scanner_ends_a_record_where_csv_reader_does(tokens, cuts, delimiter):
    text = "".join(tokens).replace("D", delimiter)
    # csv.reader also ends a record at the end of its input, where the scanner waits for more:
    # what follows tells the two apart
    row, first = csv_records(text + "z", delimiter)[0]
    expected = len(first) if len(first) <= len(text) and first.endswith(("\n", "\r")) else -1
    # the parser never cuts between CR and LF (a CR at the end of a chunk waits)
    cuts = [c for c in sorted(set(cuts)) if c < len(text) and text[c - 1 : c + 1] != "\r\n"]
    pending = _PendingRecord(delimiter, 0)
    found, start = -1, 0
    for end in [*cuts, len(text)]:
        ended = pending.scan(text[start:end])
        if ended >= 0:
            found = start + ended
            break
        pending.add(text[start:end])
        start = end
    assert found == expected, (row, first)


@settings(max_examples=300, deadline=None)
@given(
    tokens=record_tokens,
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    delimiter=st.sampled_from(["\t", ",", ";", "|"]),
    sample_bytes=st.integers(min_value=1, max_value=40),
)
def test_records_cut_anywhere_are_csv_readers_in_either_lane(tokens, cuts, delimiter, sample_bytes):
    """Multi-line quoted records cut by chunks anywhere: both lanes give csv.reader's records
    for the whole text, less the blank lines (white space alone, no delimiter, no quote)."""
    text = "".join(tokens).replace("D", delimiter)
    expected = [
        row
        for row, raw in csv_records(text, delimiter)
        if raw.strip() or delimiter in raw or '"' in raw
    ]
    options = ParseOptions(delimiter=delimiter)
    for plain_lane in (True, False):
        try:
            found: list[list[str]] | str = parse_in_pieces(
                text.encode(), cuts, options, sample_bytes, plain_lane
            )
        except TablecastError as err:
            found = err.code
        assert found == (expected or "empty_file"), plain_lane
