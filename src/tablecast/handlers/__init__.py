"""Thin Tornado handlers: they parse requests, call the hub and the documents, and answer."""

from __future__ import annotations

import uuid

import tornado.httputil

from ..config import Settings


def canonical_id(text: str) -> str | None:
    """A document id in canonical form (lower-case uuid4), or None if it cannot be one."""
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if text.lower() == canonical else None


def base_url(settings: Settings, request: tornado.httputil.HTTPServerRequest) -> str:
    return settings.public_url or f"{request.protocol}://{request.host}"


def share_url(
    settings: Settings, request: tornado.httputil.HTTPServerRequest, document_id: str
) -> str:
    """The link people pass around: the app page for the document."""
    return f"{base_url(settings, request)}/parser/share/{document_id}"
