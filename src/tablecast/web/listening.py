"""Taking connections in: Tornado's HTTP server, with what keeps one client from using up the
process's file descriptors.

- **Out of file descriptors** (EMFILE, ENFILE): Tornado's accept loop lets the error escape,
  and since the listening socket stays readable the event loop calls it again at once: a
  traceback thousands of times a second and a core spinning. Here accepting pauses (0.1 s,
  doubling to 2 s while it lasts), and the log says so once per interval.
- **Connections per address**: a client may hold at most ``per_address`` connections still on
  the HTTP side (sending headers, a request, a body); past that a new one is closed as soon as
  it is accepted, before anything is read. WebSockets, once open, are counted apart
  (``--max-connections-per-ip``). Behind a proxy every connection comes from the proxy, so
  there the proxy is the one to limit them (0: no limit).
- **Headers**: a request must send all its headers within ``header_timeout`` (Tornado's
  ``idle_connection_timeout`` is that timeout), so connections that never finish theirs go.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.iostream
from tornado.ioloop import IOLoop

log = logging.getLogger("tablecast")

# errno values that say the process (or system) cannot take another connection right now
_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
PAUSE_FIRST = 0.1  # seconds accepting pauses when out of file descriptors, doubling...
PAUSE_LAST = 2.0  # ...up to this while it lasts
SAY_EVERY = 10.0  # seconds between log lines about it
ACCEPT_AT_ONCE = 128  # connections taken per readiness event, as Tornado does


class HTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, accepting as the module's doc says."""

    # Tornado's HTTPServer is Configurable: it is set up by initialize, not __init__
    def initialize(self, *args: Any, per_address: int = 0, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.per_address = per_address
        self.open_by_address: Counter[str] = Counter()
        self._refused_at = 0.0

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = accept_connections(sock, self._accepted)

    def _accepted(self, connection: socket.socket, address: Any) -> None:
        host = _host(address)
        if self.per_address and self.open_by_address[host] >= self.per_address:
            # the cheapest answer: nothing read, nothing written; the client is over its share
            connection.close()
            now = time.monotonic()
            if now - self._refused_at >= SAY_EVERY:
                self._refused_at = now
                log.warning(
                    "refused connections ip=%s: it holds %d open (per address limit)",
                    host,
                    self.open_by_address[host],
                )
            return
        self._handle_connection(connection, address)

    def handle_stream(self, stream: tornado.iostream.IOStream, address: Any) -> None:
        self.open_by_address[_host(address)] += 1
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        # called once the connection has closed, or left Tornado (a WebSocket, counted apart)
        host = _host(getattr(getattr(server_conn, "context", None), "address", None))
        self.open_by_address[host] -= 1
        if self.open_by_address[host] <= 0:
            del self.open_by_address[host]
        super().on_close(server_conn)


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) else str(address)


def accept_connections(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Accept connections on ``sock`` as they come, handing each to ``callback``; pause when
    the process is out of file descriptors rather than fail in a loop. Returns what stops it."""
    io_loop = IOLoop.current()
    stopped = False
    pause = PAUSE_FIRST
    said_at = 0.0
    missed = 0

    def resume() -> None:
        if not stopped:
            io_loop.add_handler(sock, on_readable, IOLoop.READ)

    def on_readable(fd: Any, events: int) -> None:
        nonlocal pause, said_at, missed
        for _ in range(ACCEPT_AT_ONCE):
            if stopped:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:
                if err.errno not in _OUT_OF_FILES:
                    raise
                io_loop.remove_handler(sock)
                io_loop.call_later(pause, resume)
                missed += 1
                now = time.monotonic()
                if now - said_at >= SAY_EVERY:
                    log.warning(
                        "cannot accept connections: %s; pausing %.1f s (%d pauses since last said)",
                        errno.errorcode.get(err.errno or 0, err), pause, missed,
                    )  # fmt: skip
                    said_at, missed = now, 0
                pause = min(pause * 2, PAUSE_LAST)
                return
            pause = PAUSE_FIRST
            callback(connection, address)

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            io_loop.remove_handler(sock)

    io_loop.add_handler(sock, on_readable, IOLoop.READ)
    return stop
