"""The article's server, as it would run today: the peer every benchmark measures us against.

Kept to the article's design on purpose: the whole file arrives as one WebSocket message, is
decoded and split into lines, each line stripped and read by its own ``csv.reader``, and every
row is kept in memory as a list of strings. A page is a ``dict`` handed to ``write_message``
for each viewer, so Tornado encodes the JSON (and, with compression on, compresses it) once per
viewer. Speaks the legacy protocol, so the same load clients drive it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import uuid
from typing import Any

import tornado.web
import tornado.websocket

PAGE_SIZE = 100


class Document:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.page_no = 1
        self.clients: list[FileHandler] = []

    def make_message(self, doc_uuid: str) -> dict[str, Any]:
        start = PAGE_SIZE * (self.page_no - 1)
        return {
            "uuid": doc_uuid,
            "page_no": self.page_no,
            "total_number": len(self.rows),
            "data": self.rows[start : start + PAGE_SIZE],
        }


documents: dict[str, Document] = {}


class FileHandler(tornado.websocket.WebSocketHandler):
    compression = False
    private = False  # the article's first step: a page request is answered to its sender only

    def get_compression_options(self) -> dict[str, Any] | None:
        return {} if self.compression else None

    def open(self, doc_uuid: str | None = None) -> None:
        if doc_uuid is None:
            doc_uuid = str(uuid.uuid4())
            documents[doc_uuid] = Document()
        elif doc_uuid not in documents:
            self.close(4404)
            return
        self.uuid = doc_uuid
        documents[doc_uuid].clients.append(self)
        self.write_message(documents[doc_uuid].make_message(doc_uuid))

    def on_message(self, message: str | bytes) -> None:
        document = documents[self.uuid]
        if isinstance(message, bytes):
            text = message.decode()
            document.rows = [
                next(csv.reader([line], delimiter="\t"))
                for line in (x.strip() for x in text.splitlines())
                if line
            ]
            document.page_no = 1
        elif self.private:
            start = PAGE_SIZE * (int(message) - 1)
            self.write_message(
                {
                    "uuid": self.uuid,
                    "page_no": int(message),
                    "total_number": len(document.rows),
                    "data": document.rows[start : start + PAGE_SIZE],
                }
            )
            return
        else:
            document.page_no = int(message)
        self.send_messages(document)

    def send_messages(self, document: Document) -> None:
        message = document.make_message(self.uuid)
        for client in document.clients:
            with contextlib.suppress(Exception):  # the article logged and went on
                client.write_message(message)

    def on_close(self) -> None:
        document = documents.get(getattr(self, "uuid", ""))
        if document is not None and self in document.clients:
            document.clients.remove(self)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--private", action="store_true", help="page requests are not shared")
    args = parser.parse_args()
    FileHandler.compression = args.compression
    FileHandler.private = args.private
    app = tornado.web.Application(
        [(r"/parser/ws", FileHandler), (r"/parser/ws/(.+)", FileHandler)],
        websocket_max_message_size=1 << 30,  # the whole file is one message
    )
    app.listen(args.port, "127.0.0.1", backlog=4096)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
