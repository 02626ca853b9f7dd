"""The two dialects' codecs (tablecast.wire.codec) and a connection's upload state machine
(tablecast.wire.uploading), without a socket."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tablecast.errors import TablecastError
from tablecast.table.parsing import ParseOptions
from tablecast.wire import protocol, websocket
from tablecast.wire.codec import LEGACY, V1_CODEC, ChunkBegin, ChunkEnd, FileEnd, codec_for
from tablecast.wire.uploading import FAILED, IDLE, RECEIVING, STARTING, Uploading

# The codecs


def test_the_handshake_picks_the_codec_by_subprotocol():
    assert codec_for(None) is LEGACY and codec_for(protocol.SUBPROTOCOL) is V1_CODEC
    assert LEGACY.legacy and not V1_CODEC.legacy


def test_a_legacy_text_message_is_a_page_number():
    assert LEGACY.request(" 4 ") == protocol.Goto(4)
    assert LEGACY.request_name("anything") == "goto"
    for text in ["0", "-1", "four", '{"type": "goto", "page": 4}']:
        with pytest.raises(TablecastError) as refused:
            LEGACY.request(text)
        assert refused.value.code == "bad_page"


def test_a_v1_text_message_is_a_typed_request():
    assert V1_CODEC.request('{"type": "goto", "page": 4}') == protocol.Goto(4)
    assert V1_CODEC.request('{"type": "follow", "follow": false}') == protocol.Follow(False)
    assert V1_CODEC.request_name('{"type": "goto", "page": "x"}') == "goto"
    assert V1_CODEC.request_name("4") == "message"
    for text, code in [("4", "bad_message"), ('{"type": "dance"}', "unknown_type")]:
        with pytest.raises(TablecastError) as refused:
            V1_CODEC.request(text)
        assert refused.value.code == code


def test_a_binary_message_is_a_whole_file_in_legacy_and_a_chunk_in_v1():
    assert LEGACY.binary_begins(False) == protocol.UploadBegin("", None, True, ParseOptions())
    assert LEGACY.binary_ends() == FileEnd()
    assert LEGACY.binary_limit(64, 1000) == 1000  # a file may be as big as an upload
    assert V1_CODEC.binary_begins(True) == ChunkBegin(True)
    assert V1_CODEC.binary_ends() == ChunkEnd()
    assert V1_CODEC.binary_limit(64, 1000) == 64  # a chunk is a message like any other


def test_errors_are_told_by_a_message_in_v1_and_ride_on_the_shared_page_in_legacy():
    err = TablecastError("bad_page", "a page number is a whole number from 1 up")
    assert LEGACY.error(err, "goto") is None
    told = V1_CODEC.error(err, "goto")
    assert told is not None
    assert json.loads(told) == {
        "type": "error", "code": "bad_page", "message": err.message, "request": "goto"
    }  # fmt: skip


def test_only_v1_is_greeted_and_told_how_its_upload_goes():
    fields = {"document_id": "abc", "url": "http://x/parser/share/abc", "limits": {}}
    hello = V1_CODEC.hello(**fields, follow=True, edit=False, edit_key=None)
    assert hello is not None and json.loads(hello)["type"] == "hello"
    assert LEGACY.hello(**fields, follow=True, edit=True, edit_key="key") is None
    for type_ in ["upload_ready", "upload_ack", "upload_done", "upload_cancelled", "pong"]:
        assert LEGACY.reply(type_, upload="u") is None
        told = V1_CODEC.reply(type_, upload="u")
        assert told is not None and json.loads(told) == {"type": type_, "upload": "u"}


def test_an_expired_upload_closes_a_legacy_connection_and_is_an_error_in_v1():
    err = TablecastError("upload_timeout", "the upload went quiet")
    assert LEGACY.upload_expired(err) == websocket.Close(websocket.POLICY, err.message)
    told = V1_CODEC.upload_expired(err)
    assert isinstance(told, bytes)
    assert json.loads(told)["code"] == "upload_timeout"
    assert json.loads(told)["request"] == "upload_chunk"


# A connection's upload


def receiving() -> Uploading[str]:
    uploading: Uploading[str] = Uploading()
    uploading.begin()
    uploading.ready("upload")
    return uploading


@contextlib.contextmanager
def refused(code: str) -> Iterator[None]:
    with pytest.raises(TablecastError) as err:
        yield
    assert err.value.code == code


def test_an_upload_begins_starts_is_fed_and_ends():
    uploading: Uploading[str] = Uploading()
    assert uploading.stage is IDLE and uploading.receiving() is None
    uploading.begin()
    assert uploading.stage is STARTING and uploading.receiving() is None
    with refused("upload_in_progress"):
        uploading.begin()
    uploading.ready("upload")
    assert uploading.stage is RECEIVING and uploading.receiving() == "upload"
    assert uploading.chunk_begins(discarded=False) is None  # a chunk: taken
    with refused("upload_in_progress"):
        uploading.begin()
    assert uploading.end() == "upload"
    assert uploading.stage is IDLE and uploading.receiving() is None


def test_an_upload_that_could_not_start_leaves_nothing_to_end():
    uploading: Uploading[str] = Uploading()
    uploading.begin()
    uploading.not_started()
    assert uploading.stage is IDLE
    with refused("no_upload"):
        uploading.end()


def test_a_chunk_before_upload_begin_is_refused():
    uploading: Uploading[str] = Uploading()
    with refused("no_upload"):
        uploading.chunk_begins(discarded=False)
    assert uploading.stage is IDLE


def test_a_chunk_read_past_before_upload_ready_fails_the_upload():
    uploading = receiving()
    assert uploading.chunk_begins(discarded=True) == "upload"  # to roll back, and say why
    assert uploading.stage is FAILED and uploading.receiving() is None


def test_after_a_failure_chunks_in_flight_are_dropped_quietly_and_the_end_swallowed():
    uploading = receiving()
    assert uploading.fail() == "upload"
    assert uploading.fail() is None  # (an expiry after the failure: nothing more to end)
    assert uploading.chunk_begins(discarded=False) is None  # no error: the client was told
    assert uploading.receiving() is None  # its bytes are dropped
    assert uploading.end() is None  # its upload_end (or cancel) is answered by nothing
    assert uploading.stage is IDLE
    with refused("no_upload"):  # and the next one is the client's mistake again
        uploading.end()


def test_a_new_upload_may_begin_after_a_failure():
    uploading = receiving()
    uploading.fail()
    uploading.begin()
    assert uploading.stage is STARTING


def test_a_legacy_file_ends_its_upload_only_if_its_bytes_were_taken():
    uploading = receiving()
    assert uploading.file_ends() == "upload" and uploading.stage is IDLE
    assert uploading.file_ends() is None  # its start was refused: nothing to commit


def test_a_lost_connection_gives_back_its_upload():
    uploading = receiving()
    assert uploading.lost() == "upload" and uploading.stage is IDLE
    assert uploading.lost() is None


def test_a_cancel_gives_back_the_upload_to_roll_back():
    uploading = receiving()
    assert uploading.end() == "upload"  # upload_cancel: rolled back by the caller
    assert uploading.stage is IDLE
    with refused("no_upload"):  # a second cancel has nothing to cancel
        uploading.end()


def test_an_expired_upload_drops_what_is_still_in_flight():
    uploading = receiving()
    assert uploading.fail() == "upload"  # expired: the caller drops it and tells the client
    assert uploading.stage is FAILED and uploading.receiving() is None
    assert uploading.chunk_begins(discarded=False) is None
