"""The WebSocket wire format, server side (RFC 6455, and RFC 7692 permessage-deflate). No I/O.

- the opening handshake: what a request must carry, and the 101 answer;
- :class:`Reader`: bytes from a client in, events out. Binary messages stream out in pieces as
  they arrive (a legacy client's whole file is one message of up to hundreds of MiB, and need
  never be held whole); text messages come out whole, checked to be UTF-8;
- :class:`Frame`: a message for the client, framed (and compressed) once however many viewers
  it goes to.

Compressing once works because tablecast agrees ``server_no_context_takeover``: every message
is compressed on its own, so the same compressed bytes are valid on every connection.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_mask_c: Callable[[bytes, bytes], bytes] | None
try:  # Tornado ships a C version; the pure one is 30x slower but correct
    from tornado.speedups import websocket_mask as _mask_c
except ImportError:  # pragma: no cover
    _mask_c = None

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN, RSV1, RSV2, RSV3, MASKED = 0x80, 0x40, 0x20, 0x10, 0x80

# Close codes
NORMAL, GOING_AWAY, PROTOCOL_ERROR, INVALID_DATA = 1000, 1001, 1002, 1007
POLICY, TOO_BIG = 1008, 1009

# A text message arrives whole before it is handled; past this many fragments a client is
# splitting it only to cost us work (browsers send one frame a message)
MAX_FRAGMENTS = 1024
INFLATE_PIECE = 256 * 1024  # decompressed bytes made at a time

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Compression level 6 (zlib's default) costs ~3x level 1 for ~10% smaller pages; compressing
# once per message makes either cheap, so we take the smaller frames.
LEVEL = 6


# The opening handshake


class HandshakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_request(method: str, headers: Mapping[str, str]) -> str:
    """The client's key, if this is a WebSocket opening handshake we accept.

    ``headers``: a mapping that finds lower-case names (Tornado's HTTPHeaders, or a plain
    dict). Raises HandshakeError with the HTTP status to answer: 400 for a malformed request,
    426 for a version we do not speak.
    """
    if method != "GET":
        raise HandshakeError(400, "a WebSocket handshake is a GET")
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError(400, "Upgrade: websocket is missing")
    if "upgrade" not in (t.strip().lower() for t in headers.get("connection", "").split(",")):
        raise HandshakeError(400, "Connection: Upgrade is missing")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "only WebSocket version 13 is spoken here")
    key = headers.get("sec-websocket-key", "").strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key is not 16 bytes in base64")
    return key


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def response(
    key: str,
    subprotocol: str | None,
    deflate: dict[str, str | None] | None,
    extra: tuple[str, ...] = (),
) -> bytes:
    """The 101 answer that opens the WebSocket. ``extra``: more header lines (a cookie)."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        *extra,
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    if deflate is not None:
        params = [k if v is None else f"{k}={v}" for k, v in deflate.items()]
        lines.append("Sec-WebSocket-Extensions: " + "; ".join(["permessage-deflate", *params]))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


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
                # isdigit alone lets "²" through (header values are read as Latin-1)
                if not (value.isascii() and value.isdigit()) or not 8 <= int(value) <= 15:
                    shareable = False
                agreed["client_max_window_bits"] = value
        if shareable:
            return agreed
    return None


# Incoming: what a client sends


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class BinaryStart:
    discarded: bool = False  # read past unread (see Reader.binary_wanted): no data follows


@dataclass(slots=True)
class BinaryData:
    data: bytes


@dataclass(slots=True)
class BinaryEnd:
    pass


@dataclass(slots=True)
class Ping:
    data: bytes


@dataclass(slots=True)
class Pong:
    data: bytes


@dataclass(slots=True)
class Close:
    code: int | None
    reason: str


Event = Text | BinaryStart | BinaryData | BinaryEnd | Ping | Pong | Close


class ProtocolError(Exception):
    """The client broke the protocol: close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """XOR ``data`` with the mask, as if it started ``offset`` bytes into the payload."""
    turn = offset % 4
    key = mask[turn:] + mask[:turn]
    if _mask_c is not None:
        return _mask_c(key, data)
    n = len(data)
    return (
        int.from_bytes(data, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")
    ).to_bytes(n, "little")


_VALID_CLOSE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))
_TAIL = b"\x00\x00\xff\xff"  # what permessage-deflate strips from every message


class Reader:
    """Frames from one client, pushed in as they arrive; whole events out.

    ``max_text`` and ``max_binary``: the largest messages (after decompression) a client may
    send; past them the reader raises ProtocolError(1009) as soon as it knows, without holding
    the excess. Text is held whole (to check it is UTF-8), in one buffer however many
    fragments it comes in (at most ``max_fragments``); binary streams through, consecutive
    pieces given out as one. ``deflate``: permessage-deflate was agreed (each message
    compressed on its own).

    What decompression may cost is bounded twice. A binary message nobody wants
    (``binary_wanted`` false when it begins: a connection that may not upload) is read past
    without being unmasked or inflated, only counted against ``max_binary``. And
    :meth:`feed` gives out at most ``budget`` decompressed bytes a call: past that, what
    arrived waits in the reader (``more``) until the caller asks again (``feed(b"")``), when
    it has dealt with what it was given and the client's share of work allows.
    """

    __slots__ = (
        "_backlog", "_buffer", "_control", "_deflate", "_discard", "_end_pending",
        "_fin", "_fragments", "_held", "_inflater", "_limit", "_mask", "_message", "_offset",
        "_opcode", "_out", "_remaining", "_room", "_size", "_text", "_window", "binary_wanted",
        "inflated", "max_binary", "max_fragments", "max_text",
    )  # fmt: skip

    def __init__(
        self,
        max_text: int,
        max_binary: int | None = None,
        deflate: bool = False,
        window_bits: int = 15,
        max_fragments: int = MAX_FRAGMENTS,
    ) -> None:
        self.max_text = max_text
        self.max_binary = max_text if max_binary is None else max_binary
        self.max_fragments = max_fragments
        # whether a binary message beginning now is to be read (see the class's doc)
        self.binary_wanted = True
        self.inflated = 0  # decompressed bytes given out so far, for the caller's accounting
        self._limit = max_text  # of the message in progress
        self._deflate = deflate
        self._window = window_bits
        self._buffer = b""  # bytes of an incomplete frame header
        self._remaining = -1  # payload bytes still to come in this frame; -1: no frame begun
        self._opcode = 0
        self._fin = False
        self._mask = b""
        self._offset = 0  # payload bytes of this frame seen so far (for the mask)
        self._control = b""  # a control frame's payload, whole
        self._message = 0  # opcode of the data message in progress, 0 if none
        self._discard = False  # the binary message in progress is read past
        self._fragments = 0  # data frames of the message in progress
        self._size = 0  # bytes of that message so far (after decompression)
        # A text message so far (made when there is some: an idle viewer's reader holds
        # none, and there are tens of thousands of them), and the binary data of this feed
        # not yet given out, given out in one piece
        self._text: bytearray | None = None
        self._out: list[bytes] | None = None
        self._inflater: zlib._Decompress | None = None
        self._held = b""  # input not read yet: the budget ran out
        self._backlog = b""  # compressed payload not inflated yet: the budget ran out
        self._end_pending = False  # the frame ended, but its backlog is still to inflate
        self._room = 0  # decompressed bytes this call may still give out

    @property
    def more(self) -> bool:
        """Input is waiting for another :meth:`feed` (the budget ran out)."""
        return bool(self._held or self._backlog or self._end_pending)

    @property
    def message_kind(self) -> int:
        """TEXT or BINARY while a data message is in progress (0: none)."""
        return self._message

    @property
    def discarding(self) -> bool:
        return self._discard

    def feed(self, data: bytes, budget: int | None = None) -> list[Event]:
        events: list[Event] = []
        self._room = sys.maxsize if budget is None else budget
        view = memoryview(self._held + data if self._held else data)
        self._held = b""
        if not self._catch_up(events):
            self._held = bytes(view)
            return self._done(events)
        while view:
            if self._remaining < 0:
                view = self._header(view)
                if self._remaining < 0:
                    break  # the header is not all here yet
                if self._opcode == BINARY:
                    self._emit(BinaryStart(self._discard), events)
                if self._remaining == 0:
                    self._frame_end(events)
                continue
            take = min(self._remaining, len(view))
            chunk = view[:take]
            view = view[take:]
            self._remaining -= take
            if self._discard:
                self._offset += take
            else:
                payload = unmask(bytes(chunk), self._mask, self._offset)
                self._offset += take
                if self._opcode >= CLOSE:
                    self._control += payload
                else:
                    self._data(payload, events)
            if self._remaining == 0:
                if self._backlog:
                    self._end_pending = True
                else:
                    self._frame_end(events)
            if self._backlog:  # the budget ran out: the rest waits
                self._held = bytes(view)
                break
        return self._done(events)

    def _done(self, events: list[Event]) -> list[Event]:
        self._give_out(events)
        return events

    def _emit(self, event: Event, events: list[Event]) -> None:
        self._give_out(events)  # binary data first
        events.append(event)

    def _give_out(self, events: list[Event]) -> None:
        out = self._out
        if out is not None:
            events.append(BinaryData(out[0] if len(out) == 1 else b"".join(out)))
            self._out = None

    def _catch_up(self, events: list[Event]) -> bool:
        """Inflate what waited for budget, and end its frame: whether all of it is done."""
        if self._backlog:
            self._inflate_backlog(events)
            if self._backlog:
                return False
        if self._end_pending:
            self._end_pending = False
            self._frame_end(events)
        return True

    def _header(self, view: memoryview) -> memoryview:
        """Take a frame header from the front of ``view``; what follows it is returned."""
        have = self._buffer + bytes(view[:14])
        if len(have) < 2:
            self._buffer = have
            return view[len(view) :]
        first, second = have[0], have[1]
        if not second & MASKED:  # say so now: an unmasked header has no mask to wait for
            raise ProtocolError(PROTOCOL_ERROR, "client frames must be masked")
        length = second & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0) + 4
        if len(have) < size:
            self._buffer = have
            return view[len(view) :]
        used = size - len(self._buffer)
        self._buffer = b""
        if length == 126:
            length = struct.unpack_from("!H", have, 2)[0]
        elif length == 127:
            length = struct.unpack_from("!Q", have, 2)[0]
            if length >> 63:
                raise ProtocolError(PROTOCOL_ERROR, "frame length out of range")
        self._begin(first, length, have[size - 4 : size])
        return view[used:]

    def _begin(self, first: int, length: int, mask: bytes) -> None:
        opcode, fin, rsv1 = first & 0x0F, bool(first & FIN), bool(first & RSV1)
        if first & (RSV2 | RSV3):
            raise ProtocolError(PROTOCOL_ERROR, "reserved bits set")
        if opcode >= CLOSE:
            if opcode not in (CLOSE, PING, PONG):
                raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not fin or length > 125 or rsv1:
                raise ProtocolError(PROTOCOL_ERROR, "bad control frame")
            self._control = b""
        elif opcode == CONTINUATION:
            if not self._message:
                raise ProtocolError(PROTOCOL_ERROR, "continuation without a message")
            if rsv1:
                raise ProtocolError(PROTOCOL_ERROR, "RSV1 on a continuation frame")
        elif opcode in (TEXT, BINARY):
            if self._message:
                raise ProtocolError(PROTOCOL_ERROR, "new message before the last one ended")
            if rsv1 and not self._deflate:
                raise ProtocolError(PROTOCOL_ERROR, "compressed frame without permessage-deflate")
            self._message, self._size, self._fragments = opcode, 0, 0
            self._text = None
            self._discard = opcode == BINARY and not self.binary_wanted
            inflate = rsv1 and not self._discard
            self._inflater = zlib.decompressobj(-self._window) if inflate else None
            self._limit = self.max_text if opcode == TEXT else self.max_binary
        else:
            raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if opcode < CLOSE:
            self._fragments += 1
            if self._message == TEXT and self._fragments > self.max_fragments:
                raise ProtocolError(POLICY, "message in too many fragments")
            if not self._inflater:
                if self._size + length > self._limit:
                    raise ProtocolError(TOO_BIG, "message too big")
                self._size += length
        self._opcode, self._fin, self._mask = opcode, fin, mask
        self._remaining, self._offset = length, 0

    def _data(self, payload: bytes, events: list[Event]) -> None:
        if self._inflater is not None:
            self._backlog = payload
            self._inflate_backlog(events)
        else:
            self._give(payload)

    def _give(self, data: bytes) -> None:
        if self._message == TEXT:
            if self._text is None:
                self._text = bytearray(data)
            else:
                self._text += data
        elif not data:
            return
        elif self._out is None:
            self._out = [data]
        else:
            self._out.append(data)

    def _inflate_backlog(self, events: list[Event]) -> None:
        """Inflate the backlog a piece at a time, as far as the budget goes."""
        inflater = self._inflater
        assert inflater is not None
        while self._backlog and self._room > 0:
            try:
                out = inflater.decompress(self._backlog, min(self._room, INFLATE_PIECE))
            except zlib.error:
                # 1002, as the websockets library says it: the extension's framing was broken
                raise ProtocolError(
                    PROTOCOL_ERROR, "compressed data is not valid deflate"
                ) from None
            self._backlog = inflater.unconsumed_tail
            self._took(out)

    def _took(self, out: bytes) -> None:
        self._size += len(out)
        self._room -= len(out)
        self.inflated += len(out)
        if self._size > self._limit:
            raise ProtocolError(TOO_BIG, "message too big")
        self._give(out)

    def _frame_end(self, events: list[Event]) -> None:
        opcode, self._remaining = self._opcode, -1
        if opcode == CLOSE:
            self._emit(_close(self._control), events)
        elif opcode == PING:
            self._emit(Ping(self._control), events)
        elif opcode == PONG:
            self._emit(Pong(self._control), events)
        elif self._fin:
            self._message_end(events)

    def _message_end(self, events: list[Event]) -> None:
        inflater = self._inflater
        if inflater is not None:
            # what the tail (and anything zlib still holds) gives: a few bytes at most
            tail = _TAIL
            while True:
                try:
                    out = inflater.decompress(tail, INFLATE_PIECE)
                except zlib.error:
                    raise ProtocolError(
                        PROTOCOL_ERROR, "compressed data is not valid deflate"
                    ) from None
                tail = inflater.unconsumed_tail
                self._took(out)
                if not tail and len(out) < INFLATE_PIECE:
                    break
            self._inflater = None
        if self._message == TEXT:
            try:
                text = (self._text or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(INVALID_DATA, "text message is not UTF-8") from None
            self._text = None  # a message's buffer is not kept for the next one
            self._emit(Text(text), events)
        else:
            self._emit(BinaryEnd(), events)
        self._message, self._discard = 0, False


def _close(payload: bytes) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "close frame of one byte")
    (code,) = struct.unpack_from("!H", payload)
    if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
        raise ProtocolError(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        return Close(code, payload[2:].decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError(INVALID_DATA, "close reason is not UTF-8") from None


# Outgoing: what the server sends


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
    """One message, ready for the wire in both forms; each form is built on first use.

    ``supersedes``: a newer frame of the same kind replaces an older one that a slow viewer
    has not been sent yet (pages, presence, progress, pongs); None for replies, which are
    always sent. ``opcode``: TEXT, or a control frame's (never compressed).
    """

    __slots__ = ("_deflated", "_plain", "opcode", "payload", "supersedes")

    def __init__(self, payload: bytes, supersedes: str | None = None, opcode: int = TEXT) -> None:
        self.payload = payload
        self.supersedes = supersedes
        self.opcode = opcode
        self._plain: bytes | None = None
        self._deflated: bytes | None = None

    def plain(self) -> bytes:
        if self._plain is None:
            self._plain = header(len(self.payload), opcode=self.opcode) + self.payload
        return self._plain

    def deflated(self) -> bytes:
        if self.opcode >= CLOSE:
            return self.plain()
        if self._deflated is None:
            data = deflate(self.payload)
            self._deflated = header(len(data), RSV1) + data
        return self._deflated


PING_FRAME = header(0, opcode=PING)


def control(opcode: int, payload: bytes = b"") -> bytes:
    return header(len(payload), opcode=opcode) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return control(CLOSE, struct.pack("!H", code) + reason.encode()[:123])
