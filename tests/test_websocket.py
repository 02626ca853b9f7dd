"""The WebSocket wire format: handshake, incoming frames and frames built once for many."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as ClientFrame
from websockets.frames import Opcode

from support import merged
from tablecast.wire import websocket as ws
from tablecast.wire.websocket import Frame, deflate, header, independent_deflate


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_header_lengths(length, expected):
    assert header(length) == expected


def test_plain_and_deflated_frames():
    payload = b'{"data": [' + b'["cell", "other cell"],' * 500 + b"[]]}"
    frame = Frame(payload, supersedes="page")
    assert frame.plain() == header(len(payload)) + payload
    deflated = frame.deflated()
    assert deflated[0] == 0x80 | 0x40 | 0x1  # FIN, RSV1 (compressed), text
    body = deflated[2:]  # short enough for the length to fit the second byte
    assert len(body) == deflated[1] < len(payload) / 10
    # what every client does with each message when the server takes no context over
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflater.decompress(body + b"\x00\x00\xff\xff") == payload
    assert frame.deflated() is deflated  # built once, whoever asks


def test_each_message_is_compressed_on_its_own():
    first, second = deflate(b"same words " * 100), deflate(b"same words " * 100)
    assert first == second  # no context carried from one message to the next


BOTH = {"server_no_context_takeover": None, "client_no_context_takeover": None}


@pytest.mark.parametrize(
    ("offer", "agreed"),
    [
        ("permessage-deflate; client_max_window_bits", BOTH),
        ("permessage-deflate; client_max_window_bits=10", {**BOTH, "client_max_window_bits": "10"}),
        ("permessage-deflate; server_max_window_bits=15", BOTH),
        ("permessage-deflate; server_no_context_takeover", BOTH),
        # a smaller server window cannot share frames made with the full one: try the next offer
        ("permessage-deflate; server_max_window_bits=10, permessage-deflate", BOTH),
        ("permessage-deflate; server_max_window_bits=10", None),
        ("x-webkit-deflate-frame", None),
        ("", None),
    ],
)
def test_the_offer_is_agreed_for_independent_messages(offer, agreed):
    assert independent_deflate(offer) == agreed


# The opening handshake


def test_accept_key_is_the_rfcs_example():
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


GOOD = {
    "upgrade": "websocket",
    "connection": "keep-alive, Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_a_good_request():
    assert ws.check_request("GET", GOOD) == GOOD["sec-websocket-key"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"upgrade": "h2c"}, 400),
        ({"connection": "keep-alive"}, 400),
        ({"sec-websocket-version": "8"}, 426),
        ({"sec-websocket-key": "short"}, 400),
        ({"sec-websocket-key": "not base64 at all!!!!!!!"}, 400),
    ],
)
def test_bad_requests(change, status):
    with pytest.raises(ws.HandshakeError) as err:
        ws.check_request("GET", {**GOOD, **change})
    assert err.value.status == status
    with pytest.raises(ws.HandshakeError):
        ws.check_request("POST", GOOD)


def test_the_101_answer():
    answer = ws.response("dGhlIHNhbXBsZSBub25jZQ==", "tablecast.v1", BOTH).decode()
    assert answer.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert "Sec-WebSocket-Protocol: tablecast.v1\r\n" in answer
    assert (
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover;"
        " client_no_context_takeover\r\n"
    ) in answer
    assert answer.endswith("\r\n\r\n")


# Incoming frames, as a real client (the websockets library) makes them


def client(opcode: Opcode, data: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    frame = bytearray(ClientFrame(opcode, data, fin=fin).serialize(mask=True))
    if rsv1:  # "compressed": the library sets it only through its own extension object
        frame[0] |= 0x40
    return bytes(frame)


def raw(opcode: int, data: bytes, fin: bool = True) -> bytes:
    """A masked frame the library would refuse to make (we need broken ones too)."""
    mask = b"\x01\x02\x03\x04"
    first = (0x80 if fin else 0) | opcode
    size = (
        bytes([0x80 | len(data)])
        if len(data) < 126
        else bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    )
    return bytes([first]) + size + mask + ws.unmask(data, mask, 0)


def compressed(opcode: Opcode, data: bytes) -> bytes:
    return client(opcode, deflate(data), rsv1=True)


def events(
    data: bytes, max_message: int = 1 << 20, deflate_: bool = False, chunk: int | None = None
) -> list[ws.Event]:
    reader = ws.Reader(max_message, deflate=deflate_)
    out: list[ws.Event] = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        out += reader.feed(data[i : i + step])
    return merged(out)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_and_binary_of_every_length_class(size):
    text = ("é" * size)[:size]
    assert events(client(Opcode.TEXT, text.encode())) == [ws.Text(text)]
    data = bytes(range(256)) * (size // 256 + 1)
    expected = (
        [ws.BinaryStart(), ws.BinaryData(data[:size]), ws.BinaryEnd()]
        if size
        else [ws.BinaryStart(), ws.BinaryEnd()]
    )
    assert events(client(Opcode.BINARY, data[:size])) == expected


def test_fragmented_messages_with_control_frames_between():
    stream = (
        client(Opcode.TEXT, b"caf" + b"\xc3", fin=False)  # é cut in two
        + client(Opcode.PING, b"are you there")
        + client(Opcode.CONT, b"\xa9 au lait")
        + client(Opcode.BINARY, b"part one,", fin=False)
        + client(Opcode.PONG, b"")
        + client(Opcode.CONT, b" part two", fin=False)
        + client(Opcode.CONT, b"", fin=True)
        + client(Opcode.CLOSE, b"\x03\xe8bye")
    )
    expected = [
        ws.Ping(b"are you there"),
        ws.Text("café au lait"),
        ws.BinaryStart(),
        ws.BinaryData(b"part one,"),
        ws.Pong(b""),
        ws.BinaryData(b" part two"),
        ws.BinaryEnd(),
        ws.Close(1000, "bye"),
    ]
    assert events(stream) == merged(expected)
    for chunk in (1, 2, 3, 7, 100):
        assert events(stream, chunk=chunk) == merged(expected)


def test_compressed_messages():
    text = "a page of cells, " * 500
    data = b"\x00binary\xff" * 3000
    stream = compressed(Opcode.TEXT, text.encode()) + compressed(Opcode.BINARY, data)
    expected = [ws.Text(text), ws.BinaryStart(), ws.BinaryData(data), ws.BinaryEnd()]
    assert events(stream, deflate_=True) == expected
    assert events(stream, deflate_=True, chunk=5) == expected
    # a compressed message may also come in several frames, RSV1 on the first only
    body = deflate(text.encode())
    fragmented = client(Opcode.TEXT, body[:10], fin=False, rsv1=True) + client(
        Opcode.CONT, body[10:]
    )
    assert events(fragmented, deflate_=True) == [ws.Text(text)]


def test_text_and_binary_have_their_own_limits():
    reader = ws.Reader(max_text=10, max_binary=1000)
    assert merged(reader.feed(client(Opcode.BINARY, b"x" * 1000))) == [
        ws.BinaryStart(),
        ws.BinaryData(b"x" * 1000),
        ws.BinaryEnd(),
    ]
    with pytest.raises(ws.ProtocolError) as err:
        reader.feed(client(Opcode.TEXT, b"x" * 11))
    assert err.value.code == 1009


def test_a_message_over_the_limit_is_refused_from_its_header():
    reader = ws.Reader(1000)
    frame = client(Opcode.BINARY, b"x" * 1001)
    with pytest.raises(ws.ProtocolError) as err:
        reader.feed(frame[:14])  # the header alone: the payload is never waited for
    assert err.value.code == 1009
    fragments = client(Opcode.BINARY, b"x" * 600, fin=False) + client(Opcode.CONT, b"x" * 600)
    with pytest.raises(ws.ProtocolError) as err:
        events(fragments, max_message=1000)
    assert err.value.code == 1009


def test_a_compression_bomb_stops_at_the_limit():
    bomb = compressed(Opcode.BINARY, b"\x00" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(ws.ProtocolError) as err:
        events(bomb, max_message=1 << 20, deflate_=True)
    assert err.value.code == 1009


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (ClientFrame(Opcode.TEXT, b"x").serialize(mask=False), 1002),  # clients must mask
        (client(Opcode.TEXT, b"x", rsv1=True), 1002),  # compressed, but nothing agreed
        (bytes([0x83, 0x80]) + b"mask", 1002),  # opcode 3
        (bytes([0x8B, 0x80]) + b"mask", 1002),  # opcode 11
        (bytes([0xA1, 0x80]) + b"mask", 1002),  # RSV2
        (client(Opcode.CONT, b"x"), 1002),  # continuing nothing
        (raw(0x9, b"x" * 126), 1002),  # control frames are short
        (raw(0x9, b"x", fin=False), 1002),  # and never fragmented
        (raw(0x1, b"\xff\xfe"), 1007),  # not UTF-8
        (client(Opcode.TEXT, b"a", fin=False) + client(Opcode.TEXT, b"b"), 1002),
        (raw(0x8, b"\x03"), 1002),  # a close code is two bytes
        (raw(0x8, b"\x03\xed"), 1002),  # 1005 is never sent
        (raw(0x8, b"\x03\xe8\xff"), 1007),  # reason not UTF-8
        (bytes([0x82, 0xFF]) + b"\x80" + bytes(7) + b"mask", 1002),  # 64-bit length, top bit
    ],
    # named, not shown: a client's frames have random masks, and every process that runs
    # tests (pytest -n) must name them alike
    ids=[
        "unmasked",
        "rsv1",
        "opcode 3",
        "opcode 11",
        "rsv2",
        "continuing nothing",
        "long control",
        "fragmented control",
        "not utf-8",
        "text inside text",
        "one-byte close code",
        "close code 1005",
        "close reason not utf-8",
        "64-bit top bit",
    ],
)
def test_protocol_violations(frame, code):
    with pytest.raises(ws.ProtocolError) as err:
        events(frame)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("payload", "close"),
    [
        (b"", ws.Close(None, "")),
        (b"\x0f\xa0", ws.Close(4000, "")),
        (b"\x03\xe9going", ws.Close(1001, "going")),
    ],
)
def test_close_frames(payload, close):
    assert events(client(Opcode.CLOSE, payload)) == [close]


messages = st.lists(
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
        st.text(max_size=300),
        st.integers(min_value=1, max_value=4),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(messages=messages, cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8))
def test_any_frames_cut_anywhere_read_the_same(messages, cuts):
    stream = b""
    expected: list[ws.Event] = []
    for opcode, text, pieces, ping in messages:
        data = text.encode()
        step = max(1, len(data) // pieces)
        parts = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        for i, part in enumerate(parts):
            stream += client(opcode if i == 0 else Opcode.CONT, part, fin=i == len(parts) - 1)
            if ping and i == 0:
                stream += client(Opcode.PING, b"p")
                expected.append(ws.Ping(b"p"))
        if opcode == Opcode.TEXT:
            expected.append(ws.Text(text))
        else:
            expected += [ws.BinaryStart(), ws.BinaryData(data), ws.BinaryEnd()]
    expected = [e for e in expected if e != ws.BinaryData(b"")]
    reader = ws.Reader(1 << 20)
    out: list[ws.Event] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += reader.feed(stream[start:cut])
        start = max(start, cut)
    out += reader.feed(stream[start:])

    # pings come out where they were sent, between the pieces of the message they interrupted
    def without_pings(out: list[ws.Event]) -> list[ws.Event]:
        return merged([e for e in out if not isinstance(e, ws.Ping)])

    assert without_pings(out) == without_pings(expected)
    assert out.count(ws.Ping(b"p")) == expected.count(ws.Ping(b"p"))


# What a client can make the reader do (issue 14): work and memory stay in proportion to what
# it sends, and to what the connection may do


def test_a_text_message_in_too_many_fragments_is_refused():
    reader = ws.Reader(4 << 20)
    pieces = client(Opcode.TEXT, b"ab", fin=False) + b"".join(
        client(Opcode.CONT, b"ab", fin=False) for _ in range(ws.MAX_FRAGMENTS - 2)
    )
    assert reader.feed(pieces) == []  # the limit, less one: still read
    with pytest.raises(ws.ProtocolError) as err:
        reader.feed(client(Opcode.CONT, b"ab", fin=False) + client(Opcode.CONT, b"ab"))
    assert err.value.code == 1008


def test_fragments_are_held_in_one_buffer():
    # a text message's fragments cost what they hold, not an object each
    import tracemalloc

    reader = ws.Reader(4 << 20)
    fragments = [client(Opcode.TEXT, b"ab", fin=False)] + [
        client(Opcode.CONT, b"ab", fin=False) for _ in range(ws.MAX_FRAGMENTS - 2)
    ]
    tracemalloc.start()
    for fragment in fragments:
        reader.feed(fragment)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ~2 KB of text (2.4 KB held in all); a bytes object a piece would hold ~44 KB
    assert held < 4 * 2 * ws.MAX_FRAGMENTS
    assert reader.feed(client(Opcode.CONT, b"!")) == [ws.Text("ab" * (ws.MAX_FRAGMENTS - 1) + "!")]


def test_a_binary_message_nobody_wants_is_read_past_without_inflating_it():
    bomb = compressed(Opcode.BINARY, b"\x00" * 50_000_000)
    reader = ws.Reader(1 << 20, max_binary=64 << 20, deflate=True)
    reader.binary_wanted = False  # a view link: it may not upload
    out = reader.feed(bomb + client(Opcode.TEXT, b"after"))
    assert out == [ws.BinaryStart(discarded=True), ws.BinaryEnd(), ws.Text("after")]
    assert reader.inflated == 0
    # its compressed size still counts against the limit
    small = ws.Reader(1 << 20, max_binary=1000, deflate=True)
    small.binary_wanted = False
    with pytest.raises(ws.ProtocolError) as err:
        small.feed(bomb)
    assert err.value.code == 1009


def test_inflating_stops_at_the_budget_and_goes_on_when_asked():
    data = bytes(range(256)) * 40_000  # ~10 MB, compresses well
    stream = (
        compressed(Opcode.BINARY, data) + client(Opcode.PING, b"p") + client(Opcode.TEXT, b"next")
    )
    reader = ws.Reader(1 << 20, max_binary=64 << 20, deflate=True)
    out = reader.feed(stream, budget=1 << 20)
    assert reader.more
    got = sum(len(e.data) for e in out if isinstance(e, ws.BinaryData))
    assert got <= (1 << 20) + ws.INFLATE_PIECE and reader.inflated == got
    while reader.more:
        before = reader.inflated
        out += reader.feed(b"", budget=1 << 20)
        assert reader.inflated - before <= (1 << 20) + ws.INFLATE_PIECE
    assert merged(out) == [
        ws.BinaryStart(),
        ws.BinaryData(data),
        ws.BinaryEnd(),
        ws.Ping(b"p"),
        ws.Text("next"),
    ]


def test_a_budget_of_nothing_still_reads_what_is_not_compressed():
    reader = ws.Reader(1 << 20, deflate=True)
    out = reader.feed(client(Opcode.PING, b"p") + compressed(Opcode.TEXT, b"x" * 1000), budget=0)
    assert out == [ws.Ping(b"p")] and reader.more
    assert reader.feed(b"", budget=10_000) == [ws.Text("x" * 1000)]
    assert not reader.more
