"""One viewer's WebSocket, from the 101 answer to the socket's close, as a state machine. No I/O.

A :class:`Session` is fed what happens to the socket, each time with the time it happened
(``now``, in the clock of the caller's choice: asyncio's loop time in the server, made-up
numbers in tests), and says what is to be done, as the ``websockets`` library's sans-I/O
protocol does:

- in: :meth:`~Session.receive_data` (bytes read), :meth:`~Session.send` (a frame for the
  client), :meth:`~Session.close`, :meth:`~Session.ping` (the sweep, every --ping-interval),
  :meth:`~Session.writing_paused` / :meth:`~Session.writing_resumed` (the transport's flow
  control), :meth:`~Session.wake` (the time asked for in ``wake_at`` has come);
- out: :meth:`~Session.data_to_send` (bytes to write, in order), :meth:`~Session.next_message`
  (the client's messages, one at a time: control frames are answered on the way), and what to
  do with the socket: read it or not (``reading``), call :meth:`~Session.wake` at ``wake_at``,
  half-close it once written (``eof_due``), close it once written (``state`` CLOSED), drop it
  now (``aborted``).

What the messages mean (the two dialects, uploads, pages) is the caller's: see
:mod:`tablecast.wire.codec` and :mod:`tablecast.web.connection`.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from ..errors import TablecastError
from ..metrics import METRICS
from ..rates import Bucket
from . import websocket
from .websocket import Frame

log = logging.getLogger("tablecast.ws")

CLOSE_TOO_SLOW = 4008
CLOSE_WAIT = 5.0  # seconds a client has to answer our close frame before the socket is closed
QUEUE_LIMIT = 1024 * 1024  # bytes of messages waiting to be handled before reading pauses
# A text message (or a binary one read past: see websocket.Reader) must be finished within
# this many --ping-interval: one begun and never finished holds its buffer. Checked by the
# ping sweep.
MESSAGE_PINGS = 3
# Decompressing is the one thing a client can make cost far more than it sends: a compressed
# connection's messages are inflated at most this fast (bytes a second, in bursts of as much),
# and at most READ_PIECE at a time before what they make is handled
INFLATE_RATE = 32 * 1024 * 1024
READ_PIECE = 1024 * 1024

# A viewer that reads more slowly than messages come (or not at all) must not hold the server's
# memory or slow the others. Past --viewer-buffer unsent bytes (the transport says so with
# pause_writing), a new page (or presence, or progress) replaces the one still waiting rather
# than queueing behind it; past HARD_LIMIT times that, or after --slow-viewer-timeout that far
# behind, the viewer is closed with CLOSE_TOO_SLOW.
HARD_LIMIT = 16


class State(Enum):
    OPEN = "open"  # messages both ways
    CLOSING = "closing"  # our close frame is sent: only the client's answer is awaited
    CLOSED = "closed"  # the socket is to be closed once what is written has gone


OPEN, CLOSING, CLOSED = State.OPEN, State.CLOSING, State.CLOSED

_CONTROL = (websocket.Ping, websocket.Pong, websocket.Close)


@dataclass(frozen=True, slots=True)
class Limits:
    """What every session of a server is held to (one object, shared)."""

    viewer_buffer: int  # --viewer-buffer: unsent bytes past which a viewer is behind
    slow_viewer_timeout: float  # seconds a viewer may stay behind
    ping_interval: float
    page_rate: float  # page requests a second, in bursts of twice that
    # unsent bytes past which a viewer is closed as too slow (HARD_LIMIT * viewer_buffer)
    hard_limit: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hard_limit", HARD_LIMIT * self.viewer_buffer)


class Session:
    """One viewer's WebSocket as a state machine: see the module's doc."""

    __slots__ = (
        "_close_by", "_out", "_read_at", "aborted", "behind", "behind_since", "close_code",
        "deflate", "document", "eof_due", "inflating", "limited", "limits", "message_began",
        "paused", "pong_due", "queue", "queued", "reader", "ready", "requests", "state",
    )  # fmt: skip

    def __init__(
        self, reader: websocket.Reader, limits: Limits, now: float, *, deflate: bool = False
    ) -> None:
        self.reader: websocket.Reader | None = reader  # None: input is read and thrown away
        self.limits = limits
        self.deflate = deflate  # send compressed frames (the reader inflates those it gets)
        self.state = OPEN
        self.close_code: int | None = None  # ours, or the client's
        self.document = "-"  # which document, for the log
        self.ready = False  # the caller takes messages (see open): till then nothing is read
        self.aborted = False  # the socket is to be dropped now, unwritten bytes and all
        self.eof_due = False  # half-close the socket once what is written has gone
        self._out: list[bytes] | None = None  # bytes to write (None: none, the usual case)
        self._close_by: float | None = None  # when the client's answer to our close is given up
        self._read_at: float | None = None  # when to read on from what the reader holds
        self.behind: dict[str, Frame] | None = None  # newest frames waiting for a slow viewer
        self.behind_since = 0.0
        self.paused = False  # the transport holds more unsent bytes than --viewer-buffer
        # Messages waiting to be handled, in order, and the one being handled (None: idle,
        # the usual case, so that an idle viewer holds no queue); ``queued``: their bytes.
        self.queue: deque[websocket.Event] | None = None
        self.queued = 0
        self.pong_due = False
        self.message_began = 0.0  # when the message being read began (0: none, or an upload)
        self.requests = Bucket(limits.page_rate, 2 * limits.page_rate, now)  # page requests
        self.limited = False  # the client was told it is over the rate, and not heard since
        # decompressed bytes (see INFLATE_RATE); None: the connection is not compressed
        self.inflating = Bucket(INFLATE_RATE, INFLATE_RATE, now) if deflate else None

    # What the I/O layer is to do

    def data_to_send(self) -> bytes:
        """The bytes to write now, in order (b"": none)."""
        out, self._out = self._out, None
        if out is None:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    @property
    def has_output(self) -> bool:
        """There are bytes to write (see data_to_send)."""
        return self._out is not None

    @property
    def reading(self) -> bool:
        """Whether the socket is to be read: not before the caller takes messages, nor while
        the reader holds input for later or too much waits to be handled (TCP then slows
        the client down); always while a close is under way, for the client's answer."""
        if self.state is CLOSING:
            return True
        reader = self.reader
        return (
            self.state is OPEN
            and self.ready
            and reader is not None
            and not reader.more
            and self.queued <= QUEUE_LIMIT
        )

    @property
    def wake_at(self) -> float | None:
        """When :meth:`wake` is to be called (None: no need)."""
        close_by, read_at = self._close_by, self._read_at
        if close_by is None or read_at is None:
            return read_at if close_by is None else close_by
        return min(close_by, read_at)

    def wake(self, now: float) -> bool:
        """The time asked for has come. True as :meth:`receive_data`."""
        if self._close_by is not None and now >= self._close_by:
            # the client did not answer our close in time: drop it (no point writing more)
            self._close_by = self._read_at = None
            self.aborted = True
            return False
        if self._read_at is not None and now >= self._read_at:
            self._read_at = None
            return self.receive_data(b"", now)
        return False

    # Life

    def open(self) -> bool:
        """The caller is ready for messages: read. True: some already wait (sent before the
        101 was answered): take them with :meth:`next_message`."""
        self.ready = True
        return self.queue is not None

    def close(self, code: int, reason: str, now: float) -> None:
        """Start the closing handshake: the socket closes when the client answers, or after
        CLOSE_WAIT."""
        if self.state is not OPEN:
            return
        self.state = CLOSING
        self.close_code = code
        self.behind = None
        self._write(websocket.close_frame(code, reason))
        self._close_by = now + CLOSE_WAIT

    def fail(self, code: int, reason: str, now: float) -> None:
        """The client broke the protocol: say why, and read no more of what it sends.

        What it sends next is read and thrown away, not left unread: a socket closed with
        unread input makes the kernel send a reset, and the client could lose our close frame.
        Once the close frame is written, our side is shut (EOF), which lets the client close
        its own; the socket is closed when it has (or after CLOSE_WAIT)."""
        log.info("protocol error doc=%s: %s", self.document, reason)
        self.close(code, reason, now)
        self.reader = None
        self.queue = None
        self.queued = 0
        self._read_at = None
        self.message_began = 0.0
        self.eof_due = True

    def ping(self, now: float) -> None:
        """Every --ping-interval: a viewer that did not answer the last ping is gone, and one
        that began a message and did not finish it in MESSAGE_PINGS intervals is cut off."""
        if self.state is not OPEN:
            return
        if self.pong_due:
            log.info("no pong doc=%s: closing", self.document)
            self.aborted = True
            return
        began = self.message_began
        if began and now - began > MESSAGE_PINGS * self.limits.ping_interval:
            log.info("message not finished doc=%s: closing", self.document)
            self.fail(websocket.POLICY, "a message was begun and not finished in time", now)
            return
        self.pong_due = True
        self._write(websocket.PING_FRAME)

    # Sending

    def send(self, frame: Frame, now: float, unsent: int) -> None:
        """A frame for the client, never letting a slow one hold unbounded memory.
        ``unsent``: the bytes the transport has not written yet."""
        if self.state is not OPEN:
            return
        if self.paused and frame.supersedes:
            if now - self.behind_since > self.limits.slow_viewer_timeout:
                self._too_slow(unsent, now)
            else:
                if self.behind is None:
                    self.behind = {}
                self.behind[frame.supersedes] = frame  # sent when the viewer catches up
            return
        if self._out is not None:
            unsent += sum(map(len, self._out))
        data = self._within_limit(frame, unsent)
        if data is None:
            self._too_slow(unsent, now)
            return
        self._write(data)

    def sendable(self, frame: Frame, unsent: int) -> bytes | None:
        """The usual case of :meth:`send`, for a caller to write at once without a copy or a
        clock: the frame's bytes, when the session is open, not behind, has nothing else to
        write first, and stays under the hard limit. None: not that case; call send().
        (It is what every viewer of a fan-out costs, so it repeats _within_limit inline.)"""
        if self.state is not OPEN or self.paused or self._out is not None:
            return None
        data = frame.deflated() if self.deflate else frame.plain()
        if unsent + len(data) > self.limits.hard_limit:
            return None  # send() says it is too slow
        METRICS.bytes_out += len(data)
        METRICS.messages_out += 1
        return data

    def _within_limit(self, frame: Frame, unsent: int) -> bytes | None:
        """The frame's bytes as this client takes them, counted as sent; None if writing
        them would pass the hard limit."""
        data = frame.deflated() if self.deflate else frame.plain()
        if unsent + len(data) > self.limits.hard_limit:
            return None
        METRICS.bytes_out += len(data)
        METRICS.messages_out += 1
        return data

    def writing_paused(self, now: float) -> None:
        """The transport's unsent bytes passed --viewer-buffer: this viewer is behind."""
        self.paused = True
        self.behind_since = now

    def writing_resumed(self, now: float, unsent: int) -> None:
        self.paused = False
        frames, self.behind = self.behind, None
        for frame in (frames or {}).values():
            self.send(frame, now, unsent)

    def _too_slow(self, unsent: int, now: float) -> None:
        log.info("too slow doc=%s unsent=%d: closing", self.document, unsent)
        self.close(CLOSE_TOO_SLOW, "too slow: messages were not read", now)

    def _write(self, data: bytes) -> None:
        if self._out is None:
            self._out = [data]
        else:
            self._out.append(data)

    # Receiving

    def receive_data(self, data: bytes, now: float) -> bool:
        """Bytes from the client (b"": read on from what the reader holds). Frames are read
        as far as the inflating budget goes; control frames are answered now unless messages
        wait ahead of them. True: messages wait and nobody is taking them yet: take them with
        :meth:`next_message` until it gives None."""
        if data:
            self.pong_due = False  # whatever it sent, the client is alive
            METRICS.bytes_in += len(data)
        reader, inflating = self.reader, self.inflating
        if reader is None or self.state is CLOSED:
            return False  # thrown away (see fail)
        budget = None
        if inflating is not None:
            budget = int(min(inflating.available(now), READ_PIECE))
        inflated = reader.inflated
        try:
            events = reader.feed(data, budget)
        except websocket.ProtocolError as err:
            self.fail(err.code, err.reason, now)
            return False
        inflated = reader.inflated - inflated
        if inflating is not None:
            inflating.spend(inflated)
            METRICS.bytes_inflated += inflated
        # a message being read, unless an upload (which has timeouts of its own)
        kind = reader.message_kind
        if kind == websocket.TEXT or (kind and reader.discarding):
            self.message_began = self.message_began or now
        else:
            self.message_began = 0.0
        if self.queue is None and all(isinstance(e, _CONTROL) for e in events):
            for event in events:  # the usual case for a viewer: nothing to wait for
                self._control(event, now)
            self._read_on(now)
            return False
        self.queued += len(data) + inflated
        if self.queue is not None:  # messages are being handled: these wait their turn
            self.queue.extend(events)
            return False
        self.queue = deque(events)
        return self.ready

    def next_message(self, now: float) -> websocket.Event | None:
        """The next message to handle (Text, or a binary message's BinaryStart, BinaryData,
        BinaryEnd), in the order they came; control frames before it are answered on the way.
        None: all are handled, and reading goes on."""
        queue = self.queue
        while queue:
            event = queue.popleft()
            if isinstance(event, _CONTROL):
                self._control(event, now)
            elif self.state is OPEN:
                return event
        self.queue = None
        self.queued = 0
        self._read_on(now)
        return None

    def _read_on(self, now: float) -> None:
        """Everything read so far is handled: read on from what the reader holds, once the
        inflating budget allows (at once, or at wake_at); when it holds nothing, from the
        socket (``reading``)."""
        reader = self.reader
        if reader is None or not reader.more:
            return
        self._read_at = now + (self.inflating.wait(now) if self.inflating is not None else 0.0)

    def _control(self, event: websocket.Event, now: float) -> None:
        match event:
            case websocket.Ping(data):
                # flow-controlled like any message: a client that pings and never reads is
                # owed only its newest pong, and is closed as too slow like any viewer. (Its
                # unsent bytes matter only to the hard limit, which a pong cannot reach
                # unless the transport is paused, when it waits in ``behind``.)
                self.send(Frame(data, supersedes="pong", opcode=websocket.PONG), now, 0)
            case websocket.Close(code):
                if self.state is OPEN:  # the client closes: answer, then close the socket
                    self.close_code = code
                    self._write(websocket.close_frame(code or websocket.NORMAL))
                self.state = CLOSED
                self._close_by = self._read_at = None

    # Page requests

    def allow_request(self, now: float) -> bool:
        """Take one page request from the bucket. Over the rate, the first request refused
        in a row is answered rate_limited (raised); those after it are dropped unanswered,
        so that a flood costs us no more than it costs the client."""
        if self.requests.take(now):
            self.limited = False
            return True
        if self.limited:
            return False
        self.limited = True
        raise TablecastError(
            "rate_limited",
            f"more than {self.limits.page_rate:g} page requests a second: slow down",
        )
