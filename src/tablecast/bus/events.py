"""What nodes tell each other, as NOTIFY payloads. Pure functions, no I/O.

A payload is small JSON naming a document and the node it came from; the receiver reads
whatever else it needs (a version's pages, say) from the store. PostgreSQL caps a payload at
8000 bytes: the largest, upload progress, carries a file name of at most 255 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

CHANNEL = "tablecast"
MAX_PAYLOAD = 7999  # bytes PostgreSQL accepts in one NOTIFY payload


@dataclass(frozen=True, slots=True)
class VersionCommitted:
    """A new version of the document is current (and its shared page is 1, unless it changed
    rows where they are: ``edited``, and nobody moves)."""

    document_id: str
    node: int
    number: int
    edited: bool = False


@dataclass(frozen=True, slots=True)
class PageTurned:
    """An editor following the document turned its shared page, or changed its shared view
    (sorted, searched: tablecast.table.view, as JSON; "": plain), which goes back to page 1."""

    document_id: str
    node: int
    page_no: int
    view: str = ""


@dataclass(frozen=True, slots=True)
class ViewersCounted:
    """How many viewers of the document one node now holds."""

    document_id: str
    node: int
    viewers: int


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """An upload to the document, as tablecast.v1's ``upload_progress`` shows it."""

    document_id: str
    node: int
    fields: dict[str, Any]


Event = VersionCommitted | PageTurned | ViewersCounted | UploadProgress

_KINDS: dict[str, tuple[type[Event], str]] = {
    "version": (VersionCommitted, "number"),
    "turn": (PageTurned, "page_no"),
    "viewers": (ViewersCounted, "viewers"),
    "progress": (UploadProgress, "fields"),
}
_NAMES = {cls: (name, attr) for name, (cls, attr) in _KINDS.items()}


def kind(event: Event) -> str:
    """``version``, ``turn``, ``viewers`` or ``progress``."""
    return _NAMES[type(event)][0]


def encode(event: Event) -> str:
    name, attr = _NAMES[type(event)]
    fields = {"e": name, "d": event.document_id, "n": event.node, "x": getattr(event, attr)}
    if isinstance(event, PageTurned) and event.view:
        fields["v"] = event.view
    if isinstance(event, VersionCommitted) and event.edited:
        fields["w"] = 1
    payload = orjson.dumps(fields).decode()
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"a {name} event of {len(payload)} bytes is too large to NOTIFY")
    return payload


def decode(payload: str) -> Event | None:
    """The event, or None for a payload this version of tablecast does not know (a newer
    node's, during a rolling upgrade): it is ignored, not an error."""
    try:
        obj = orjson.loads(payload)
        cls, _ = _KINDS[obj["e"]]
        event: Event = cls(str(obj["d"]), int(obj["n"]), obj["x"])
        if isinstance(event, PageTurned):
            event = PageTurned(
                event.document_id, event.node, int(event.page_no), str(obj.get("v", ""))
            )
        if isinstance(event, VersionCommitted):
            event = VersionCommitted(
                event.document_id, event.node, int(event.number), bool(obj.get("w"))
            )
        return event
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class Listener(Protocol):
    """Who hears the events (tablecast.service.cluster.Cluster). Here rather than beside the Bus, so
    that a bus (in its own module, which the package opens) need not import the package that
    imports it."""

    def on_event(self, event: Event) -> None: ...

    async def resync(self) -> None: ...
