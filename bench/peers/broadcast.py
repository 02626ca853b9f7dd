"""A server on the ``websockets`` library, fanning out with its ``broadcast()``.

The library's own answer to "send this to many": the message is encoded once and handed to
``broadcast()``, which writes it to every connection without waiting on any of them (with
compression on, each connection still compresses it with its own context). Same legacy
protocol and parsing as the seed peer, so only the fan-out differs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import uuid
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

PAGE_SIZE = 100


class Document:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.page_no = 1
        self.viewers: set[ServerConnection] = set()

    def message(self, doc_uuid: str, page_no: int | None = None) -> str:
        page_no = page_no or self.page_no
        start = PAGE_SIZE * (page_no - 1)
        page: dict[str, Any] = {
            "uuid": doc_uuid,
            "page_no": page_no,
            "total_number": len(self.rows),
            "data": self.rows[start : start + PAGE_SIZE],
        }
        return orjson.dumps(page).decode()


documents: dict[str, Document] = {}
private = False  # --private: page requests are not shared


async def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request else ""
    if path == "/parser/ws":
        doc_uuid = str(uuid.uuid4())
        documents[doc_uuid] = Document()
    else:
        doc_uuid = path.removeprefix("/parser/ws/")
        if doc_uuid not in documents:
            await ws.close(4404)
            return
    document = documents[doc_uuid]
    document.viewers.add(ws)
    try:
        await ws.send(document.message(doc_uuid))
        async for message in ws:
            if isinstance(message, bytes):
                document.rows = [
                    next(csv.reader([line], delimiter="\t"))
                    for line in (x.strip() for x in message.decode().splitlines())
                    if line
                ]
                document.page_no = 1
            elif private:  # a page request answered to its sender only, as the seed's --private
                await ws.send(document.message(doc_uuid, int(message)))
                continue
            else:
                document.page_no = int(message)
            broadcast(document.viewers, document.message(doc_uuid))
    except ConnectionClosed:
        pass
    finally:
        document.viewers.discard(ws)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--private", action="store_true", help="page requests are not shared")
    args = parser.parse_args()
    global private
    private = args.private
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        compression="deflate" if args.compression else None,
        max_size=1 << 30,
        backlog=4096,
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
