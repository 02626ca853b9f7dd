"""News of uploads in progress, paced: what viewers see of an upload while it lasts.

An upload reports every chunk it takes; viewers need not hear of each. News of an upload goes
out at once the first time, then at most once every PROGRESS_INTERVAL per document (the newest
figures), and its end (done, failed, cancelled) at once. Pure pacing: the hub says where news
goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import TablecastError
from .upload import Upload

PROGRESS_INTERVAL = 0.25  # upload progress is shown to viewers at most this often

News = dict[str, Any]  # the fields of a tablecast.v1 upload_progress message


def news_of(upload: Upload, state: str, error: TablecastError | None = None) -> News:
    news: News = {
        "upload": upload.id,
        "filename": upload.filename,
        "received": upload.received,
        "size": upload.size,
        "records": upload.record_count,
        "state": state,
    }
    if error is not None:
        news["error"] = error.as_dict()
    return news


@dataclass
class _Pending:
    """News for one document waiting for its turn."""

    news: dict[str, News] = field(default_factory=dict)  # by upload
    scheduled: bool = False
    sent: float = 0.0  # loop time of the last news


class UploadNews:
    def __init__(self, send: Callable[[str, list[News]], None]) -> None:
        self._send = send  # (document id, news): show it to the document's viewers
        self._pending: dict[str, _Pending] = {}

    def report(self, document_id: str, news: News) -> None:
        pending = self._pending.get(document_id)
        if news["state"] != "receiving":
            if pending is not None:
                pending.news.pop(news["upload"], None)
                if not pending.news and not pending.scheduled:
                    del self._pending[document_id]
            self._send(document_id, [news])
            return
        if pending is None:
            pending = self._pending[document_id] = _Pending()
        pending.news[news["upload"]] = news
        if pending.scheduled:
            return
        loop = asyncio.get_running_loop()
        wait = pending.sent + PROGRESS_INTERVAL - loop.time()
        if wait <= 0:
            self._flush(document_id)
        else:
            pending.scheduled = True
            loop.call_later(wait, self._flush, document_id)

    def _flush(self, document_id: str) -> None:
        pending = self._pending.get(document_id)
        if pending is None:
            return
        pending.scheduled = False
        if not pending.news:
            del self._pending[document_id]
            return
        pending.sent = asyncio.get_running_loop().time()
        news, pending.news = list(pending.news.values()), {}
        self._send(document_id, news)
