"""The HTML pages: ``/`` redirects to ``/parser/``, the app page for a new document, and
``/parser/share/{id}``, the app page for one document."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from ..metrics import CONTENT_TYPE, METRICS, Gauges
from . import canonical_id

if TYPE_CHECKING:
    from .services import Services


class AppPage(tornado.web.RequestHandler):
    def initialize(self, services: Services) -> None:
        self.services = services

    async def get(self, document_id: str | None = None) -> None:
        if document_id is not None:
            found = canonical_id(document_id)
            if found is None or await self.services.documents.get(found) is None:
                self.set_status(404)
            document_id = found or document_id
        self.set_header("Cache-Control", "no-cache")
        self.render("index.html", document_id=document_id, missing=self.get_status() == 404)


class StaticFiles(tornado.web.StaticFileHandler):
    """``static_url()`` links carry a content hash (``?v=``) and are cached for good. The ES
    modules that app.js imports are fetched by plain relative URLs, so those must be
    revalidated (a cheap 304) or a browser could pair a new app.js with an old module."""

    def set_extra_headers(self, path: str) -> None:
        if "v" not in self.request.arguments:
            self.set_header("Cache-Control", "no-cache")

    def parse_url_path(self, url_path: str) -> str:
        # a NUL makes the file system calls raise ValueError (a 500): no file has one
        if "\x00" in url_path:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)


class Health(tornado.web.RequestHandler):
    """``ok`` once the server accepts connections; ``read_only`` (still 200: pages are served)
    while the disk is full and writes are refused."""

    def initialize(self, services: Services) -> None:
        self.services = services

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        if self.services.documents.read_only():
            self.finish(b'{"status": "read_only", "reason": "the disk is full"}')
        else:
            self.finish(b'{"status": "ok"}')


class MetricsPage(tornado.web.RequestHandler):
    """``/metrics``, for Prometheus. Counts only: no document ids, no names, no keys."""

    def initialize(self, services: Services) -> None:
        self.services = services

    async def get(self) -> None:
        services = self.services
        gauges = Gauges(
            viewers=len(services.connections),
            open_documents=len(services.hub.rooms),
            uploads_in_progress=len(services.uploads),
            usage=await services.documents.usage(),
        )
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(METRICS.render(gauges))
