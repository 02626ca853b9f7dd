"""The web: Tornado's routes and handlers, and the asyncio protocol of each viewer's WebSocket.
Each parses what a client sent, calls the services, and answers; what is shared by all of
them (ids, links, the security headers every answer carries) is here."""

from __future__ import annotations

import uuid

import tornado.httputil
import tornado.web

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


# Everything the app page uses comes from this server: no inline script or style, no other
# site, no framing (clickjacking), no plugins. connect-src 'self' covers ws:/wss: to this host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",  # a JSON or text answer is never run as a script
    "Referrer-Policy": "no-referrer",  # share links stay out of other sites' logs
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders(tornado.web.OutputTransform):
    """Adds :data:`SECURITY_HEADERS` to every answer, whichever handler (or error) made it."""

    def transform_first_chunk(
        self,
        status_code: int,
        headers: tornado.httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        return status_code, headers, chunk
