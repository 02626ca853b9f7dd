"""WebSocket frames built once and sent to many viewers. No I/O.

A page turn goes to every follower of a document. Encoding it, framing it and (with
permessage-deflate) compressing it once for all of them, rather than once per viewer, is what
lets one process serve tens of thousands: each viewer then costs one buffer write.

Compressing once works because tablecast negotiates ``server_no_context_takeover``: every
message is compressed on its own, so the same compressed bytes are valid on every connection.
"""

from __future__ import annotations

import struct
import zlib

TEXT = 0x1
FIN = 0x80
RSV1 = 0x40  # "this message is compressed" under permessage-deflate

# Compression level 6 (zlib's default) costs ~3x level 1 for ~10% smaller pages; compressing
# once per message makes either cheap, so we take the smaller frames.
LEVEL = 6


def header(length: int, flags: int = 0, opcode: int = TEXT) -> bytes:
    """The header of a final, unmasked (server to client) frame."""
    first = FIN | flags | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def deflate(payload: bytes) -> bytes:
    """permessage-deflate without context takeover (RFC 7692, section 7.2.1)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]  # the empty stored block's 00 00 ff ff is implied


class Frame:
    """One text message, ready for the wire in both forms; each form is built on first use.

    ``supersedes``: a newer frame of the same kind replaces an older one that a slow viewer
    has not been sent yet (pages, presence, progress); None for replies, which are always sent.
    """

    __slots__ = ("_deflated", "_plain", "payload", "supersedes")

    def __init__(self, payload: bytes, supersedes: str | None = None) -> None:
        self.payload = payload
        self.supersedes = supersedes
        self._plain: bytes | None = None
        self._deflated: bytes | None = None

    def plain(self) -> bytes:
        if self._plain is None:
            self._plain = header(len(self.payload)) + self.payload
        return self._plain

    def deflated(self) -> bytes:
        if self._deflated is None:
            data = deflate(self.payload)
            self._deflated = header(len(data), RSV1) + data
        return self._deflated


def independent_deflate(offers: str) -> dict[str, str | None] | None:
    """The permessage-deflate parameters to agree to a client's offer, for messages compressed
    on their own; None: no offer we take (the connection is not compressed).

    Adds ``server_no_context_takeover`` (RFC 7692 lets a server add it unasked), so one
    compressed frame serves every viewer, and ``client_no_context_takeover``, so the server keeps
    no compression state per connection between messages. An offer that limits the server's
    window (``server_max_window_bits`` below 15) cannot share frames compressed with the full
    window: it is passed over.
    """
    for offer in offers.split(","):
        name, *params = (part.strip() for part in offer.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        agreed: dict[str, str | None] = {
            "server_no_context_takeover": None,
            "client_no_context_takeover": None,
        }
        shareable = True
        for param in params:
            key, _, value = param.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "server_max_window_bits" and value not in ("", "15"):
                shareable = False
            elif key == "client_max_window_bits" and value:
                agreed["client_max_window_bits"] = value
        if shareable:
            return agreed
    return None
