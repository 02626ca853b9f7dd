"""Hostile input, without sockets: whatever bytes or messages arrive, the parser, the message
decoders and the frame reader answer with records, messages or events, or a typed error;
never another exception (which the server would log as a bug and answer with ``internal``)."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import feed_in_pieces, merged
from tablecast.errors import STATUS, TablecastError
from tablecast.table.blocks import encode_block, record_cells
from tablecast.table.parsing import (
    DELIMITER_NAMES,
    ParseOptions,
    TableParser,
    parse_delimiter,
    parse_header_option,
)
from tablecast.wire import protocol
from tablecast.wire import websocket as ws

# The parser


# Bytes that mean something to some decoder or to the CSV grammar, mixed with any bytes at all
byte_tokens = st.sampled_from(
    [b"a", b"7", b"\t", b",", b";", b"|", b" ", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff",
     b"\xfe", b"\xc3", b"\xa9", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xe6\x97\xa5",
     b"+2AA-", b"\\ud800", b"\\", b"~{", b"\x1b$B", b"xn--", b"\x80\x81"]
)  # fmt: skip
hostile_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(byte_tokens | st.binary(max_size=3), max_size=80).map(b"".join),
)
# Encodings: detected, common, odd (those that never fail, fail on some input, or can decode
# to lone surrogates), not text at all, or not encodings
encodings = st.one_of(
    st.sampled_from(
        [None, "utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-le", "cp1252",
         "latin-1", "koi8-r", "shift_jis", "gb18030", "iso2022_jp", "hz", "utf-7", "idna",
         "punycode", "unicode_escape", "raw_unicode_escape", "undefined", "base64", "rot13",
         "zlib", "", "\x00", "utf_8\x00", "no-such-codec"]
    ),
    st.text(max_size=12),
)  # fmt: skip
delimiters = st.sampled_from([None, *DELIMITER_NAMES])


def assert_typed(err: TablecastError) -> None:
    assert err.code in STATUS and err.message


def parse_outcome(
    data: bytes, cuts: list[int], delimiter: str | None, encoding: str | None, sample: int
) -> list[list[str]] | str:
    """The rows, each checked to be storable as the store keeps it, or the error's code."""
    try:
        parser = TableParser(ParseOptions(delimiter, encoding), sample_bytes=sample)
        records = feed_in_pieces(parser, data, cuts)
    except TablecastError as err:
        assert_typed(err)
        return err.code
    encode_block(records)  # what the store does with them: it must not fail either
    rows = [record_cells(r) for r in records]
    assert rows and all(rows)
    assert parser.record_count == len(rows) and parser.max_width == max(map(len, rows))
    return rows


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # unicode_escape meets "\\~"
@settings(max_examples=600, deadline=None)
@given(
    data=hostile_bytes,
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    delimiter=delimiters,
    encoding=encodings,
    sample=st.integers(min_value=1, max_value=80),
)
def test_any_bytes_any_options_give_records_or_a_typed_error(
    data, cuts, delimiter, encoding, sample
):
    outcome = parse_outcome(data, cuts, delimiter, encoding, sample)
    # Once encoding and delimiter are settled, where the network cuts the file changes nothing.
    # (What is detected comes from the first chunks, however long, past the sample.)
    if delimiter and encoding:
        assert parse_outcome(data, [], delimiter, encoding, sample) == outcome


@pytest.mark.parametrize(
    ("data", "encoding", "outcome"),
    [
        (b"a\tb\n", "base64", "bad_option"),  # codecs, but not from bytes to text
        (b"a\tb\n", "rot13", "bad_option"),
        (b"a\tb\n", "undefined", "bad_option"),
        (b"a\tb\n", "utf_8\x00", "bad_option"),
        (b"a\tb\n", "utf-32", "bad_option"),  # no byte order mark: fails whatever the handler
        (b"a\tb\n", "idna", "bad_option"),  # takes no error handler but "strict"
        (b"\xff\tb\n", "punycode", "bad_option"),
        (b"+2AA-\tx\n", "utf-7", [["\ufffd", "x"]]),  # decodes to a lone surrogate
        (b'"\\ud800",x\n', "unicode_escape", [["\ufffd", "x"]]),
    ],
)
def test_named_encodings_that_would_break_the_parser(data, encoding, outcome):
    assert parse_outcome(data, [], None, encoding, 80) == outcome


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["TAB", "Comma", "auto", "|"])))
def test_delimiter_options(text):
    try:
        delimiter = parse_delimiter(text)
    except TablecastError as err:
        assert err.code == "bad_option"
        return
    assert delimiter is None or delimiter in DELIMITER_NAMES


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["TRUE", "No", "İ", "ß"])))
def test_header_options(text):
    try:
        assert isinstance(parse_header_option(text), bool)
    except TablecastError as err:
        assert err.code == "bad_option"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_filenames_are_always_safe_to_show(name):
    clean = protocol.clean_filename(name)
    assert len(clean) <= 255 and "/" not in clean and "\\" not in clean
    assert clean.isprintable()
    clean.encode()  # and storable: WebSocket text and JSON hold no lone surrogates


# Messages

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # past 64 bits orjson reads a float: not a page number either
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["3", " 7 ", "-1", "0", "1.5", "1e309", "NaN", "Infinity", "99999999999",
                     "1" * 19, "tab", "utf-8", "koi8-r", "utf-7", "base64", "\x00"]),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
message_types = st.sampled_from(
    ["goto", "follow", "upload_begin", "upload_end", "upload_cancel", "ping", "auth", "GOTO", ""]
) | json_values  # fmt: skip
field_names = st.sampled_from(
    ["page", "follow", "filename", "size", "header", "delimiter", "encoding", "edit_key"]
)


def check_message(message: protocol.ClientMessage) -> None:
    """A decoded message holds only what the server can act on."""
    match message:
        case protocol.Goto(page):
            assert type(page) is int and page >= 1  # clamped to the last page when used
        case protocol.Follow(follow):
            assert type(follow) is bool
        case protocol.UploadBegin(filename, size, has_header, options):
            assert size is None or (type(size) is int and size >= 0)
            assert type(has_header) is bool and filename == protocol.clean_filename(filename)
            assert isinstance(options, ParseOptions)
        case _:  # the messages without fields (and any added later)
            assert isinstance(message, protocol.ClientMessage)


def decode_v1(text: str) -> None:
    try:
        check_message(protocol.decode_v1_text(text))
    except TablecastError as err:
        assert_typed(err)
        assert len(err.message) <= 300  # an error does not echo a huge message back


@settings(max_examples=500, deadline=None)
@given(kind=message_types, fields=st.dictionaries(field_names, json_values, max_size=5))
def test_any_v1_message_decodes_or_is_a_typed_error(kind, fields):
    decode_v1(json.dumps({"type": kind, **fields}))  # NaN and Infinity too, as Python writes


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), json_values.map(json.dumps)))
def test_any_text_decodes_or_is_a_typed_error(text):
    decode_v1(text)
    try:
        page = protocol.decode_legacy_text(text)
    except TablecastError as err:
        assert err.code == "bad_page"
    else:
        assert type(page) is int and 1 <= page < 10**18


def test_deep_huge_and_strange_json():
    deep = "[" * 5000 + "]" * 5000
    nested_page = '{"type": "goto", "page": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}"
    for text in [
        deep,
        nested_page,
        '{"type": "goto", "page": 1e309}',
        '{"type": "goto", "page": 18446744073709551615}',
        '{"type": "goto", "page": 99999999999999999999999}',
        '{"type": "goto", "page": NaN}',
        '{"type": "goto", "page": "\\ud800"}',
        '{"type": "upload_begin", "size": 1e309}',
        '{"type": "upload_begin", "filename": "\\udc80.tsv"}',
        '{"type": "' + "x" * 100_000 + '"}',
        '{"type": "upload_begin", "encoding": "' + "x" * 100_000 + '"}',
    ]:
        decode_v1(text)


# Frames

# Frames as a client builds them, with every header bit, opcode and length chosen at random;
# payloads are masked, so that the reader gets past the mask check and meets what follows.
frame_parts = st.tuples(
    # FIN, RSV1-3, opcode: any, or those of text, binary, continuation and control frames,
    # or of compressed ones (RSV1)
    st.integers(min_value=0, max_value=255)
    | st.sampled_from([0x81, 0x82, 0x01, 0x00, 0x80, 0x88, 0x89, 0x8A])
    | st.sampled_from([0xC1, 0xC2, 0x41]),
    st.binary(max_size=200),
    st.sampled_from([None, 126, 127]),  # the length in the shortest form, or a longer one
    st.booleans(),  # deflate the payload (RSV1 decides whether it is said to be compressed)
)


def frame(first: int, payload: bytes, form: int | None, compress: bool) -> bytes:
    if compress:
        payload = ws.deflate(payload)
    n = len(payload)
    if form is None and n < 126:
        size = bytes([0x80 | n])
    elif form == 127:
        size = bytes([0x80 | 127]) + struct.pack("!Q", n)
    else:
        size = bytes([0x80 | 126]) + struct.pack("!H", n)
    mask = b"\x37\xfa\x21\x3d"
    return bytes([first]) + size + mask + ws.unmask(payload, mask, 0)


def read_all(reader: ws.Reader, stream: bytes, cuts: list[int]) -> list[ws.Event] | int:
    """Events, or the close code of the ProtocolError that ended the connection."""
    out: list[ws.Event] = []
    start = 0
    try:
        for cut in [*sorted(set(cuts)), len(stream)]:
            out += reader.feed(stream[start:cut])
            start = max(start, cut)
    except ws.ProtocolError as err:
        assert err.code in (ws.PROTOCOL_ERROR, ws.INVALID_DATA, ws.TOO_BIG) and err.reason
        return err.code
    for event in out:
        assert isinstance(event, ws.Event)
        if isinstance(event, ws.Text):
            event.text.encode()  # valid UTF-8, checked
    return out


@settings(max_examples=500, deadline=None)
@given(
    stream=st.one_of(
        st.binary(max_size=400),
        st.lists(frame_parts.map(lambda p: frame(*p)), max_size=6).map(b"".join),
        st.lists(frame_parts.map(lambda p: frame(*p)) | st.binary(max_size=4), max_size=6).map(
            b"".join
        ),
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=1500), max_size=8),
    deflate=st.booleans(),
    limit=st.sampled_from([0, 10, 125, 1 << 20]),
)
def test_any_bytes_cut_anywhere_give_events_or_a_protocol_error(stream, cuts, deflate, limit):
    outcome = read_all(ws.Reader(limit, deflate=deflate), stream, cuts)
    whole = read_all(ws.Reader(limit, deflate=deflate), stream, [])
    assert merged_like(whole) == merged_like(outcome)


def merged_like(outcome: list[ws.Event] | int) -> list[ws.Event] | int:
    """The same events as if the stream came whole: binary pieces joined."""
    return outcome if isinstance(outcome, int) else merged(outcome)


@pytest.mark.parametrize("garbage", [b"\xff" * 20, b"\x07garbage", bytes(range(40))])
def test_compressed_garbage_is_a_protocol_error(garbage):
    stream = frame(0xC1, garbage, None, compress=False)
    assert read_all(ws.Reader(1 << 20, deflate=True), stream, []) == ws.PROTOCOL_ERROR


# The opening handshake

offer_params = st.tuples(
    st.sampled_from(["client_max_window_bits", "server_max_window_bits", "x", ""]),
    st.sampled_from(["", "=8", "=15", "=08", "=16", "=²", "=٣", '="10"', "=x", "=="]),
)
offers = st.lists(
    st.tuples(
        st.sampled_from(["permessage-deflate", "x-webkit-deflate-frame", ""]),
        st.lists(offer_params, max_size=3),
    ),
    max_size=3,
).map(lambda offers: ", ".join(name + "".join(f"; {k}{v}" for k, v in ps) for name, ps in offers))


@settings(max_examples=300, deadline=None)
@given(offers | st.text(max_size=40))
def test_any_extension_offer_is_agreed_or_passed_over(offer):
    agreed = ws.independent_deflate(offer)
    if agreed is not None:
        bits = agreed.get("client_max_window_bits")
        assert bits is None or 8 <= int(bits) <= 15
        assert b"permessage-deflate" in ws.response("dGhlIHNhbXBsZSBub25jZQ==", None, agreed)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", ""]),
    headers=st.dictionaries(
        st.sampled_from(["upgrade", "connection", "sec-websocket-version", "sec-websocket-key"]),
        st.text(max_size=30)
        | st.sampled_from(["websocket", "keep-alive, Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ=="]),
    ),
)
def test_any_handshake_is_accepted_or_refused_with_a_status(method, headers):
    try:
        key = ws.check_request(method, headers)
    except ws.HandshakeError as err:
        assert err.status in (400, 426)
    else:
        assert len(base64.b64decode(key)) == 16
