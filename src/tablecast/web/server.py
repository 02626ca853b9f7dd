"""Putting it together: the routes, the services the handlers share, and the server's life.

Start: open the store (recovering from any crash), listen, log the address. Run: serve, and
now and then remove documents that were created but never uploaded to. Stop (SIGTERM/SIGINT):
stop accepting, close every viewer with 1001, roll back uploads in progress, stop views work,
wait for background work (a shared page being saved) while the writer still takes it, let the
writer finish, close the store, exit 0 (see Node.close).

The services of a node are made here, and only here (:meth:`Node.assemble`), each handed what
it uses as it is made.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.netutil
import tornado.web

from .. import tasks
from ..bus import open_bus
from ..config import Settings
from ..errors import TablecastError
from ..metrics import METRICS
from ..rates import Buckets
from ..service.cluster import Cluster, OtherNodes
from ..service.documents import Documents
from ..service.edits import Edits
from ..service.exports import Exports
from ..service.hub import NO_NEIGHBOURS, Hub
from ..service.limits import Capacity, InUse, Limits
from ..service.pages import Pages
from ..service.reading import ReaderLimits, Readers
from ..service.storage import Storage
from ..service.upload import InProgress
from ..service.uploads import Uploads
from ..service.views import Views
from ..store import open_store
from ..store.base import Store
from ..wire import websocket
from . import SecurityHeaders
from .api import (
    ColumnsApi,
    DiffApi,
    FacetsApi,
    NoSuchEndpoint,
    PageApi,
    RestoreApi,
    VersionsApi,
)
from .connection import keep_alive
from .downloads import WRITTEN, DownloadApi
from .handshake import Handshake
from .listening import HTTPServer
from .pages import AppPage, Health, MetricsPage, StaticFiles
from .services import Services, Viewer
from .uploads import CellsApi, DocumentApi, DocumentsApi, RowsApi, SheetApi

log = logging.getLogger("tablecast")

HERE = Path(__file__).parent.parent  # the package: its templates/ and static/
# Connections the kernel queues until we accept them. Tornado's default (128) overflows when
# thousands of viewers reconnect at once (a node restarting): their handshakes stall on SYN
# retries. The kernel caps it at net.core.somaxconn.
BACKLOG = 4096
FORGET_EVERY = 3.0  # seconds between looks for stopped nodes, in a cluster
MAX_BODY_BYTES = 64 * 1024  # of a request that is not an upload
BODY_TIMEOUT = 60.0  # seconds to send such a body (uploads have --upload-timeout)
ID = r"([^/]+)"  # checked by the handlers, so that a bad id gets the same answer as a missing one
# --view-memory's default: with what a sort of a 13.7M-row version works with (some 220 MiB),
# within 512 MiB of RSS (see docs/operations.md)
VIEW_MEMORY = 64 * 1024 * 1024


@dataclass(frozen=True)
class Node:
    """One node's services, around its store."""

    storage: Storage
    capacity: Capacity
    in_progress: InProgress  # uploads in progress
    documents: Documents
    edits: Edits  # rows changed where they are
    views: Views
    pages: Pages
    hub: Hub
    uploads: Uploads
    cluster: Cluster | None  # None: one process, alone with its store
    exports: Exports  # typed downloads kept as files

    @classmethod
    def assemble(
        cls,
        store: Store,
        limits: Limits,
        *,
        page_size: int,
        legacy_page_size: int,
        view_memory: int = VIEW_MEMORY,
        node: int = 0,
        columns: Path | None = None,
        files: Path | None = None,
        readers: ReaderLimits | None = None,
        exports: Path | None = None,
        export_bytes: int = 0,
    ) -> Node:
        """``node``: which of the nodes sharing the store this one is (0: the store's only
        process). ``columns``: where this node keeps versions' columns (None: in memory).
        ``files``: where uploads that are not text wait to be read, and ``readers`` what
        reading one may take (None: every file is read as text). ``exports``: where typed
        downloads are kept, ``export_bytes`` at most (None: a temporary directory)."""
        storage = Storage(store)
        in_use = InUse()
        capacity = Capacity(storage, limits, in_use)
        views = Views(store, view_memory, columns)
        in_progress = InProgress(
            storage,
            capacity,
            views.streaming,
            files=files,
            readers=Readers(readers) if readers is not None and files is not None else None,
        )
        documents = Documents(storage, capacity)
        edits = Edits(storage, views)
        capacity.removed.append(views.forget)
        kept = Exports(store, exports, export_bytes)
        capacity.removed.append(kept.forget)
        pages = Pages(storage, views)
        others = None
        if node:
            nodes = store.nodes
            assert nodes is not None, "a store that several nodes share keeps them"
            others = OtherNodes(storage, nodes, node)
        hub = Hub(
            documents,
            pages,
            in_use,
            page_size=page_size,
            legacy_page_size=legacy_page_size,
            neighbours=others or NO_NEIGHBOURS,
        )
        cluster = Cluster(hub, others, documents) if others is not None else None
        uploads = Uploads(in_progress, hub, documents)
        return cls(
            storage,
            capacity,
            in_progress,
            documents,
            edits,
            views,
            pages,
            hub,
            uploads,
            cluster,
            kept,
        )

    async def close(self) -> None:
        """Roll back uploads still in progress, stop views work, wait for background work,
        let the writer finish, close the store.

        Background work (tablecast.tasks) is awaited while the writer still takes writes: a
        shared page whose save was spawned just before the shutdown (even one not started
        yet) is written, not refused as shutting_down. Views work is stopped first, so that
        nothing waited for is a long sort: what waits on it ends with shutting_down."""
        await self.in_progress.stop()
        views = self.views
        views.close()
        await tasks.drain()
        try:
            await self.capacity.save_use_times()
        except TablecastError as err:  # the store is away: only eviction order suffers
            log.warning("could not save when documents were last viewed: %s", err.message)
        await self.storage.stop()
        # a piece of views work still running reads the store: it ends before the store does
        await asyncio.get_running_loop().run_in_executor(None, views.join)
        self.storage.close()


def make_app(services: Services) -> tornado.web.Application:
    s = {"services": services}
    app = tornado.web.Application(
        [
            (r"/", tornado.web.RedirectHandler, {"url": "/parser/", "permanent": False}),
            (r"/healthz", Health, s),
            (r"/metrics", MetricsPage, s),
            (r"/parser/?", AppPage, s),
            (rf"/parser/share/{ID}", AppPage, s),
            (r"/parser/ws", Handshake, s),
            (rf"/parser/ws/{ID}", Handshake, s),
            (r"/parser/api/docs", DocumentsApi, s),
            (rf"/parser/api/docs/{ID}", DocumentApi, s),
            (rf"/parser/api/docs/{ID}/pages/([0-9]{{1,18}})", PageApi, s),
            (rf"/parser/api/docs/{ID}/versions", VersionsApi, s),
            # (download.parquet...: a URL that names its format, for tools given a URL alone)
            (rf"/parser/api/docs/{ID}/download(?:\.({'|'.join(WRITTEN)}))?", DownloadApi, s),
            (rf"/parser/api/docs/{ID}/columns", ColumnsApi, s),
            (rf"/parser/api/docs/{ID}/columns/([^/]+)", ColumnsApi, s),
            (rf"/parser/api/docs/{ID}/facets/([^/]+)", FacetsApi, s),
            (rf"/parser/api/docs/{ID}/diff", DiffApi, s),
            (rf"/parser/api/docs/{ID}/rows", RowsApi, s),
            (rf"/parser/api/docs/{ID}/sheet", SheetApi, s),
            (rf"/parser/api/docs/{ID}/cells", CellsApi, s),
            (rf"/parser/api/docs/{ID}/versions/([0-9]{{1,9}})/restore", RestoreApi, s),
            (r"/parser/api/.*", NoSuchEndpoint, s),
        ],
        template_path=str(HERE / "templates"),
        static_path=str(HERE / "static"),
        static_url_prefix="/parser/static/",
        static_handler_class=StaticFiles,
        compress_response=True,
        log_function=_log_request,
    )
    app.add_transform(SecurityHeaders)
    return app


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log, except that only a 500 (a bug) is an ERROR: 503 and 507 answers
    (shutting down, storage full) are the server working as configured."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.ERROR if status == 500 else logging.WARNING
    request = handler.request
    logging.getLogger("tornado.access").log(
        level,
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        redacted_uri(request.uri or ""),
        request.remote_ip,
        1000 * request.request_time(),
    )


# Query parameters that may hold a secret: an edit key put in the URL (refused, but still in
# the request line) must not reach the log
_SECRET_PARAMETER = re.compile(r"([?&](?:[^=&]*key[^=&]*|token|access_token)=)[^&#]*", re.I)


def redacted_uri(uri: str) -> str:
    """A request's URI fit for the log: the values of key-like parameters replaced by ***."""
    return _SECRET_PARAMETER.sub(r"\1***", uri)


def bind(settings: Settings, *, reuse_port: bool = False) -> list[socket.socket]:
    return tornado.netutil.bind_sockets(
        settings.port, settings.host, backlog=BACKLOG, reuse_port=reuse_port
    )


def run(settings: Settings, main: Coroutine[Any, Any, None]) -> None:
    """Run a node (``main``) on its event loop (--event-loop): uvloop's by default. A fan-out
    writes a frame to every viewer's socket, and with the standard library's loop most of its
    time was the Python around each ``send`` (``_SelectorSocketTransport.write``: 478 of 655
    samples of a cell set to 10,000 viewers); uvloop's transports are libuv's, in C."""
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


async def serve(
    settings: Settings,
    sockets: list[socket.socket] | None = None,
    *,
    worker: int = 0,
    stopping: asyncio.Event | None = None,
) -> None:
    """Run one server (a node) until SIGTERM or SIGINT. ``worker``: its number under
    ``--workers`` (see tablecast.workers), for the log. ``stopping``: stop when it is set
    instead, leaving signals alone (a server in a thread of another program, which cannot
    handle signals: only the main thread can)."""
    # Which of the nodes sharing a PostgreSQL store this process is; a fresh one each start,
    # since what a stopped node left behind is forgotten by the others (Nodes.remove_abandoned).
    node = secrets.randbelow(2**31 - 1) + 1 if settings.store_url else 0
    try:
        store = open_store(settings, node)
    except (TablecastError, RuntimeError) as exc:  # unreachable, misconfigured, too new
        raise SystemExit(f"tablecast: {exc}") from None
    METRICS.node, METRICS.worker = node, worker
    here = Node.assemble(
        store,
        Limits(
            max_upload_bytes=settings.max_upload_bytes,
            max_documents=settings.max_documents,
            max_stored_bytes=settings.max_stored_bytes,
            document_ttl=settings.document_ttl,
            evict=settings.eviction == "lru",
            max_uploading_bytes=settings.max_uploading_bytes,
            max_uploading_bytes_per_ip=settings.max_uploading_bytes_per_ip,
            upload_idle_timeout=settings.upload_idle_timeout,
            upload_timeout=settings.upload_timeout,
        ),
        page_size=settings.page_size,
        legacy_page_size=settings.legacy_page_size,
        view_memory=settings.view_memory,
        node=node,
        columns=settings.data_dir / "columns",
        files=settings.data_dir / "uploads",
        readers=ReaderLimits(settings.reader_memory, int(settings.reader_seconds)),
        exports=settings.data_dir / "exports",
        export_bytes=settings.export_cache_bytes,
    )
    cluster = here.cluster
    services = Services(
        settings,
        here.documents,
        here.edits,
        here.hub,
        here.uploads,
        here.pages,
        here.exports,
        creations=Buckets(settings.create_rate / 60, settings.create_rate),
        key_guesses=Buckets(settings.page_rate, 2 * settings.page_rate),
    )
    bus = open_bus(settings)
    try:
        if cluster is not None:
            await bus.start(cluster)
    except TablecastError as err:
        store.close()
        raise SystemExit(f"tablecast: {err.message}") from None
    server = HTTPServer(
        make_app(services),
        xheaders=settings.trust_proxy,
        # Bodies are for uploads, which raise this for themselves (see UploadHandler); any
        # other request's body is small, or refused before it is held
        max_body_size=MAX_BODY_BYTES,
        body_timeout=BODY_TIMEOUT,
        idle_connection_timeout=settings.header_timeout,
        per_address=0 if settings.trust_proxy else settings.max_http_connections_per_ip,
    )
    sockets = sockets or bind(settings)
    server.add_sockets(sockets)
    host, port = sockets[0].getsockname()[:2]
    where = f"data={settings.data_dir}"
    if node:
        where = f"store={_redacted(settings.store_url)} node={node}"
    if worker:
        where += f" worker={worker}"
    # Before the "listening" line: whoever waits for it may stop the server at once.
    if stopping is None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        _tell_stacks_on(signal.SIGUSR1, loop)
    log.info("tablecast listening on http://%s:%d %s", host, port, where)
    background = [
        asyncio.ensure_future(_tidy_documents(here, settings)),
        asyncio.ensure_future(_expire_uploads(here.in_progress)),
        asyncio.ensure_future(keep_alive(services.connections, settings.ping_interval)),
    ]
    if cluster is not None:
        background.append(asyncio.ensure_future(_forget_stopped_nodes(cluster)))
    try:
        await stopping.wait()
    finally:
        log.info(
            "shutting down: %d viewers, %d uploads in progress",
            len(services.connections),
            len(here.in_progress.uploads),
        )
        for task in background:
            task.cancel()
        server.stop()
        for connection in list(services.connections):
            connection.close(websocket.GOING_AWAY, "server shutting down")
        await bus.close()
        if cluster is not None:
            await _quietly(cluster.goodbye(), "say goodbye")
        await here.close()  # waits for background work before it closes the store
        await tasks.drain()  # what was spawned since (a viewer's close): refused, and quickly
        await _closed(services.connections, timeout=2.0)
        await server.close_all_connections()
        log.info("stopped")


def _tell_stacks_on(sig: signal.Signals, loop: asyncio.AbstractEventLoop) -> None:
    """On ``sig``, what every thread is doing and what every task of the loop waits for, on
    stderr: for an operator (and a failing test) to see where a server that stopped
    answering is stuck. The threads' stacks are written by the interpreter's own handler,
    even while the loop is blocked; the tasks' once the loop runs again."""

    def tell_tasks() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=out)
        print(f"asyncio tasks:\n{out.getvalue()}", file=sys.stderr, flush=True)

    loop.add_signal_handler(sig, tell_tasks)
    # after the loop's handler, which it calls in turn (chain): the loop's replaces any other
    faulthandler.register(sig, all_threads=True, chain=True)


async def _closed(connections: set[Viewer], timeout: float) -> None:
    """Give viewers a moment to answer the close frames; then close what is left."""
    deadline = asyncio.get_running_loop().time() + timeout
    while connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    for connection in list(connections):
        if connection.transport is not None:
            connection.transport.abort()


async def _tidy_documents(here: Node, settings: Settings) -> None:
    """Now and then: remove documents never uploaded to, and those unused past the limits."""
    ttl = settings.empty_document_ttl
    every = min(max(ttl / 4, 1.0), 60.0)
    if settings.document_ttl:
        every = min(every, max(settings.document_ttl / 4, 1.0))
    while True:
        await asyncio.sleep(every)
        try:
            await here.in_progress.remove_leftovers()
            removed = await here.documents.remove_empty_documents(ttl, keep=set(here.hub.rooms))
            if removed:
                log.info("removed %d empty documents", len(removed))
            await here.capacity.make_room()
            await here.views.forget_removed()
            await here.exports.forget_removed()
        except Exception:
            log.exception("could not tidy the documents")


async def _expire_uploads(in_progress: InProgress) -> None:
    """Every second: end uploads that went quiet or ran too long (see InProgress.expired)."""
    while True:
        await asyncio.sleep(1.0)
        for upload in in_progress.expired(time.monotonic()):
            upload.expire()


async def _forget_stopped_nodes(cluster: Cluster) -> None:
    """In a cluster: now and then, forget what nodes that stopped (or were killed) left: their
    viewers vanish from presence counts within this time, their unfinished uploads go. If this
    node was itself cut off long enough to be forgotten, it tells the others its state again."""
    while True:
        await asyncio.sleep(FORGET_EVERY)
        try:
            await cluster.forget_stopped_nodes()
        except TablecastError as err:
            log.warning("could not look for stopped nodes: %s", err.message)
        except Exception:
            log.exception("could not look for stopped nodes")


async def _quietly(work: Awaitable[None], what: str) -> None:
    """Background work the store may not be up for (the database restarting): a warning."""
    try:
        await work
    except TablecastError as err:
        log.warning("could not %s: %s", what, err.message)
    except Exception:
        log.exception("could not %s", what)


def _redacted(url: str) -> str:
    """A store URL fit for the log: without its password."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
