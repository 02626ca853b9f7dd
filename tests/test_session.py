"""A viewer's WebSocket session (tablecast.wire.session) without a socket: frames in, with the
time; bytes and what to do with the socket out."""

from __future__ import annotations

import zlib

import pytest
from websockets.frames import Frame as ClientFrame
from websockets.frames import Opcode

from tablecast.errors import TablecastError
from tablecast.wire import websocket as ws
from tablecast.wire.session import (
    CLOSE_TOO_SLOW,
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    HARD_LIMIT,
    INFLATE_RATE,
    MESSAGE_PINGS,
    OPEN,
    QUEUE_LIMIT,
    READ_PIECE,
    Limits,
    Session,
)
from tablecast.wire.websocket import Frame

LIMITS = Limits(viewer_buffer=64 * 1024, slow_viewer_timeout=10.0, ping_interval=20.0, page_rate=2)
T0 = 1000.0  # the clock's reading when the session began


def session(max_text: int = 1 << 20, deflate: bool = False, ready: bool = True) -> Session:
    s = Session(ws.Reader(max_text, deflate=deflate), LIMITS, T0, deflate=deflate)
    if ready:
        s.open()
    return s


def client(opcode: Opcode, data: bytes = b"", fin: bool = True, rsv1: bool = False) -> bytes:
    frame = bytearray(ClientFrame(opcode, data, fin=fin).serialize(mask=True))
    if rsv1:
        frame[0] |= 0x40
    return bytes(frame)


def close_payload(code: int) -> bytes:
    return code.to_bytes(2, "big")


def sent_close_code(data: bytes) -> int:
    """The code of the close frame that ends ``data`` (server frames: unmasked, short)."""
    frames = []
    while data:
        length = data[1]
        frames.append((data[0] & 0x0F, data[2 : 2 + length]))
        data = data[2 + length :]
    opcode, payload = frames[-1]
    assert opcode == ws.CLOSE
    return int.from_bytes(payload[:2], "big")


def take_all(s: Session, now: float = T0) -> list[ws.Event]:
    out = []
    while (event := s.next_message(now)) is not None:
        out.append(event)
    return out


# The close handshake


def test_our_close_waits_for_the_clients_answer_then_closes():
    s = session()
    s.close(4404, "no such document", T0)
    out = s.data_to_send()
    assert out == ws.close_frame(4404, "no such document")
    assert s.state is CLOSING and s.reading  # reading on, for the client's answer
    assert s.wake_at == T0 + CLOSE_WAIT
    s.send(Frame(b"{}"), T0, 0)  # nothing more is sent once closing
    s.close(1000, "", T0)  # nor a second close frame
    assert s.data_to_send() == b""
    s.receive_data(client(Opcode.CLOSE, close_payload(4404)), T0 + 1)
    assert s.state is CLOSED and s.data_to_send() == b""  # already said: nothing to answer
    assert s.wake_at is None and not s.aborted


def test_a_client_that_does_not_answer_our_close_is_cut_off_after_close_wait():
    s = session()
    s.close(ws.GOING_AWAY, "bye", T0)
    s.wake(T0 + CLOSE_WAIT - 0.1)
    assert not s.aborted
    s.wake(T0 + CLOSE_WAIT)
    assert s.aborted


@pytest.mark.parametrize(("payload", "answer"), [(close_payload(1001), 1001), (b"", 1000)])
def test_the_clients_close_is_answered_with_its_code_then_the_socket_closes(payload, answer):
    s = session()
    s.receive_data(client(Opcode.CLOSE, payload), T0)
    assert s.data_to_send() == ws.close_frame(answer)
    assert s.state is CLOSED
    assert s.close_code == (answer if payload else None)


def test_messages_ahead_of_the_clients_close_are_handled_first():
    s = session()
    waiting = s.receive_data(client(Opcode.TEXT, b"3") + client(Opcode.CLOSE, b""), T0)
    assert waiting and s.data_to_send() == b""  # the close waits behind the message
    assert s.next_message(T0) == ws.Text("3")
    assert s.state is OPEN
    assert s.next_message(T0) is None
    assert s.state is CLOSED and s.data_to_send() == ws.close_frame(1000)


def test_messages_after_our_close_are_read_but_not_handed_on():
    s = session()
    s.close(4008, "", T0)
    s.data_to_send()
    assert s.receive_data(client(Opcode.TEXT, b"3"), T0)
    assert take_all(s) == []


# A client that breaks the protocol


def test_a_broken_frame_is_answered_then_what_follows_is_read_out_until_the_client_closes():
    s = session()
    unmasked = bytes([0x81, 0x01]) + b"3"
    s.receive_data(unmasked, T0)
    assert sent_close_code(s.data_to_send()) == ws.PROTOCOL_ERROR
    # not closed with input unread (the reset could overtake the close frame): our side is
    # shut once the frame is written, and what the client still sends is read and dropped
    assert s.state is CLOSING and s.eof_due and s.reading
    assert not s.receive_data(client(Opcode.TEXT, b"4") + b"\xff" * 100, T0)
    assert s.data_to_send() == b"" and s.queue is None
    s.wake(T0 + CLOSE_WAIT)  # a client that never closes its side is cut off in the end
    assert s.aborted


def test_a_broken_frame_behind_messages_drops_them():
    s = session()
    assert s.receive_data(client(Opcode.TEXT, b"3"), T0)
    s.receive_data(client(Opcode.TEXT, b"\xff"), T0)  # not UTF-8
    assert sent_close_code(s.data_to_send()) == ws.INVALID_DATA
    assert take_all(s) == []


# Pings


def test_pings_and_pongs():
    s = session()
    s.ping(T0)
    assert s.data_to_send() == ws.PING_FRAME and s.pong_due
    s.receive_data(client(Opcode.PONG), T0 + 1)
    assert not s.pong_due
    s.ping(T0 + 20)
    assert s.data_to_send() == ws.PING_FRAME and not s.aborted


def test_a_viewer_that_does_not_answer_a_ping_is_dropped():
    s = session()
    s.ping(T0)
    s.data_to_send()
    s.ping(T0 + 20)
    assert s.aborted and s.data_to_send() == b""


def test_the_clients_ping_is_answered_with_its_payload():
    s = session()
    s.receive_data(client(Opcode.PING, b"hi"), T0)
    assert s.data_to_send() == ws.control(ws.PONG, b"hi")


def test_a_message_begun_and_not_finished_in_time_closes_the_connection():
    interval = LIMITS.ping_interval
    s = session()
    s.receive_data(client(Opcode.TEXT, b"12", fin=False), T0)
    s.ping(T0 + MESSAGE_PINGS * interval)  # in time yet
    assert s.data_to_send() == ws.PING_FRAME
    s.receive_data(client(Opcode.CONT, b"3", fin=False), T0 + 1)  # still unfinished
    s.ping(T0 + MESSAGE_PINGS * interval + 1)
    assert sent_close_code(s.data_to_send()) == ws.POLICY
    assert s.state is CLOSING


def test_a_message_finished_in_time_is_not_held_against_the_next():
    interval = LIMITS.ping_interval
    s = session()
    s.receive_data(client(Opcode.TEXT, b"12", fin=False), T0)
    s.receive_data(client(Opcode.CONT, b"3"), T0 + 1)
    take_all(s)
    s.ping(T0 + 10 * MESSAGE_PINGS * interval)
    assert s.data_to_send() == ws.PING_FRAME and s.state is OPEN


# Flow control


def page(n: int) -> Frame:
    return Frame(b'{"page_no": %d}' % n, supersedes="page")


def test_a_viewer_behind_is_sent_only_the_newest_page_when_it_catches_up():
    s = session()
    s.writing_paused(T0)
    for n in range(1, 6):
        s.send(page(n), T0 + n, LIMITS.viewer_buffer)
    s.send(Frame(b"reply"), T0 + 5, LIMITS.viewer_buffer)  # replies are never held back
    assert s.data_to_send() == Frame(b"reply").plain()
    s.writing_resumed(T0 + 6, 0)
    assert s.data_to_send() == page(5).plain()


def test_a_viewer_behind_past_the_slow_viewer_timeout_is_closed():
    s = session()
    s.writing_paused(T0)
    s.send(page(1), T0 + LIMITS.slow_viewer_timeout, LIMITS.viewer_buffer)  # not yet
    assert s.data_to_send() == b"" and s.state is OPEN
    s.send(page(2), T0 + LIMITS.slow_viewer_timeout + 0.1, LIMITS.viewer_buffer)
    assert sent_close_code(s.data_to_send()) == CLOSE_TOO_SLOW
    s.writing_resumed(T0 + 20, 0)  # what it missed is not sent after the close
    assert s.data_to_send() == b""


def test_past_the_hard_limit_a_viewer_is_closed_as_too_slow():
    s = session()
    limit = HARD_LIMIT * LIMITS.viewer_buffer
    frame = Frame(b"x" * 100)
    s.send(frame, T0, limit - len(frame.plain()))  # just fits
    assert s.data_to_send() == frame.plain()
    s.send(frame, T0, limit - len(frame.plain()) + 1)
    assert sent_close_code(s.data_to_send()) == CLOSE_TOO_SLOW


# The incoming queue


def test_nothing_is_read_or_handed_on_before_the_viewer_has_joined():
    s = session(ready=False)
    assert not s.reading
    assert not s.receive_data(client(Opcode.TEXT, b"3"), T0)  # sent before the 101, say
    assert s.open()  # waiting now
    assert take_all(s) == [ws.Text("3")]
    assert s.reading and s.queue is None  # an idle session holds no queue


def test_reading_pauses_while_too_much_waits_to_be_handled():
    s = session()
    message = client(Opcode.TEXT, b"x" * 100_000)
    assert s.receive_data(message, T0)  # taken from here on by the caller...
    for _ in range(QUEUE_LIMIT // len(message)):  # ...slowly: more arrives meanwhile
        assert not s.receive_data(message, T0)
    assert s.queued > QUEUE_LIMIT and not s.reading  # TCP slows the client down
    assert len(take_all(s)) == QUEUE_LIMIT // len(message) + 1
    assert s.reading and s.queued == 0


# Page requests


def test_over_the_page_rate_the_first_refusal_is_answered_and_the_rest_dropped():
    s = session()  # 2 a second, in bursts of 4
    assert all(s.allow_request(T0) for _ in range(4))
    with pytest.raises(TablecastError) as refused:
        s.allow_request(T0)
    assert refused.value.code == "rate_limited"
    assert not s.allow_request(T0) and not s.allow_request(T0 + 0.1)  # dropped unanswered
    assert s.allow_request(T0 + 1)  # the bucket refilled
    assert all(s.allow_request(T0 + 1) for _ in range(1))
    with pytest.raises(TablecastError):  # refused again after one was allowed: answered
        s.allow_request(T0 + 1)


# Decompressing


def test_inflating_is_held_to_its_budget_and_read_in_pieces():
    size = INFLATE_RATE + 8 * READ_PIECE
    data = zlib.compressobj(1, zlib.DEFLATED, -15)
    deflated = data.compress(b" " * size) + data.flush(zlib.Z_SYNC_FLUSH)
    s = session(max_text=2 * size, deflate=True)
    assert s.inflating is not None
    assert not s.receive_data(client(Opcode.TEXT, deflated[:-4], rsv1=True), T0)
    reader = s.reader
    assert reader is not None
    pieces = 1
    # read on at once while the budget lasts, a piece at a time, not reading the socket
    while (at := s.wake_at) is not None and at <= T0:
        assert not s.reading and reader.inflated <= pieces * READ_PIECE
        assert not s.wake(T0)
        pieces += 1
    assert reader.inflated <= INFLATE_RATE  # the budget is spent: the rest waits its time
    assert s.wake_at is not None and s.wake_at > T0
    now = T0 + 1
    while not s.wake(now):  # a second later, the rest
        now = s.wake_at or now
    assert take_all(s, now) == [ws.Text(" " * size)]
    assert s.reading
