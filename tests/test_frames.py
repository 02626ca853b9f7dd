"""Frames built once for many viewers, and the compression offer that makes sharing them valid."""

from __future__ import annotations

import zlib

import pytest

from tablecast.frames import Frame, deflate, header, independent_deflate


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
