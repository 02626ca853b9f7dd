"""The two dialects a viewer may speak, one codec each: what its messages mean, and what it is
told. No I/O.

A client that asks for no subprotocol speaks the article's legacy protocol (:data:`LEGACY`),
one that asks for ``tablecast.v1`` the current one (:data:`V1`); the handshake picks the codec,
and the connection asks it rather than asking which dialect it speaks. A codec keeps nothing
per connection: one object serves every viewer of its dialect. The shapes of the messages
themselves are in :mod:`tablecast.wire.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import TablecastError
from ..table.parsing import ParseOptions
from . import protocol, websocket


@dataclass(frozen=True, slots=True)
class ChunkBegin:
    """A v1 binary message begins: one chunk of the upload in progress. ``discarded``: it was
    read past unread (the connection could not upload yet), so the upload cannot be whole."""

    discarded: bool


@dataclass(frozen=True, slots=True)
class ChunkEnd:
    """The chunk is in: acknowledge it."""


@dataclass(frozen=True, slots=True)
class FileEnd:
    """A legacy binary message ends: the file is whole, make it the new version."""


class Codec(Protocol):
    name: str  # for the log
    legacy: bool  # the article's messages, for the hub, which encodes a page once per kind

    def binary_limit(self, max_message_bytes: int, max_upload_bytes: int) -> int:
        """The largest binary message: a whole file, or one chunk of one."""
        ...

    def request(self, text: str) -> protocol.ClientMessage:
        """A text message as a request; raises TablecastError for one that is none."""
        ...

    def request_name(self, text: str) -> str:
        """Which request a text message is, for the error that answers it."""
        ...

    def binary_begins(self, discarded: bool) -> protocol.UploadBegin | ChunkBegin: ...

    def binary_ends(self) -> FileEnd | ChunkEnd: ...

    def error(self, err: TablecastError, request: str) -> bytes | None:
        """The message that tells the error; None: it rides on the shared page instead."""
        ...

    def hello(self, **fields: Any) -> bytes | None:
        """The first message, before the first page (None: none): ``fields`` are those of
        :func:`tablecast.wire.protocol.hello`."""
        ...

    def reply(self, type_: str, **fields: Any) -> bytes | None:
        """A simple answer to the client: access, pong, and how its upload goes
        (upload_ready, upload_ack, upload_done, upload_cancelled). None: its dialect has no
        such message, and the client is not told."""
        ...

    def upload_expired(self, err: TablecastError) -> bytes | websocket.Close:
        """What the uploader is told when its upload went quiet or ran too long: a message,
        or a close of the connection."""
        ...


class Legacy:
    """The article's protocol: a text message is a page number, a binary one a whole file, and
    every message to the client a page (errors ride on one)."""

    name = "legacy"
    legacy = True

    def binary_limit(self, max_message_bytes: int, max_upload_bytes: int) -> int:
        return max_upload_bytes

    def request(self, text: str) -> protocol.ClientMessage:
        return protocol.Goto(protocol.decode_legacy_text(text))

    def request_name(self, text: str) -> str:
        return "goto"

    def binary_begins(self, discarded: bool) -> protocol.UploadBegin:
        return protocol.UploadBegin("", None, True, ParseOptions())

    def binary_ends(self) -> FileEnd:
        return FileEnd()

    def error(self, err: TablecastError, request: str) -> None:
        return None

    def hello(self, **fields: Any) -> None:
        return None

    def reply(self, type_: str, **fields: Any) -> None:
        return None  # a legacy client is told only by pages (an upload's: its version's page)

    def upload_expired(self, err: TablecastError) -> websocket.Close:
        # the file is one message, which can no longer be taken
        return websocket.Close(websocket.POLICY, err.message)


class V1:
    """``tablecast.v1``: typed JSON messages both ways; a binary message is one chunk of the
    upload in progress."""

    name = "v1"
    legacy = False

    def binary_limit(self, max_message_bytes: int, max_upload_bytes: int) -> int:
        return max_message_bytes

    def request(self, text: str) -> protocol.ClientMessage:
        return protocol.decode_v1_text(text)

    def request_name(self, text: str) -> str:
        return protocol.request_name(text)

    def binary_begins(self, discarded: bool) -> ChunkBegin:
        return ChunkBegin(discarded)

    def binary_ends(self) -> ChunkEnd:
        return ChunkEnd()

    def error(self, err: TablecastError, request: str) -> bytes:
        return protocol.error(err, request)

    def hello(self, **fields: Any) -> bytes:
        return protocol.hello(**fields)

    def reply(self, type_: str, **fields: Any) -> bytes:
        return protocol.message(type_, **fields)

    def upload_expired(self, err: TablecastError) -> bytes:
        return protocol.error(err, "upload_chunk")


LEGACY: Codec = Legacy()
V1_CODEC: Codec = V1()


def codec_for(subprotocol: str | None) -> Codec:
    """The codec of the subprotocol agreed at the handshake (None: the legacy one)."""
    return V1_CODEC if subprotocol == protocol.SUBPROTOCOL else LEGACY
