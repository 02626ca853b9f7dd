"""Connections to the shared database: a small pool that outlives a database restart, and
a database that cannot be reached said as the user's 503 (``store_unavailable``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import DiskFull, TablecastError

Connection = psycopg.Connection[tuple[Any, ...]]

POOL_MIN, POOL_MAX = 2, 8  # 4 reader threads and 1 writer use it; more would only sit idle
WAIT_SECONDS = 3.0  # longest a call waits for a connection before store_unavailable
CONNECT_SECONDS = 5  # longest one connection attempt takes (an unreachable host)
# After a lost connection the pool retries with exponential backoff until this, then gives up
# and the next call starts afresh: a database back after a restart is used within seconds.
RECONNECT_SECONDS = 5.0
CHECK_IDLE_SECONDS = 1.0  # a pooled connection idle longer is checked before use


@contextmanager
def reachable() -> Iterator[None]:
    """A database that cannot be reached is the user's 503, not a traceback. (PoolTimeout,
    AdminShutdown and lost connections are all OperationalErrors.) The message is for users:
    where the database is and what libpq said stay in the chained cause, for the log."""
    try:
        yield
    except psycopg.errors.DiskFull as exc:  # an OperationalError too, but the user's 507
        raise DiskFull() from exc
    except psycopg.OperationalError as exc:
        raise unavailable() from exc


def unavailable() -> TablecastError:
    return TablecastError(
        "store_unavailable", "the database is unavailable just now: try again shortly"
    )


class Pool:
    """Connections for the caller's threads (the writer and the readers), borrowed a call
    at a time."""

    def __init__(self, url: str, node: int) -> None:
        self._used: dict[int, float] = {}  # when each pooled connection was last used, by id
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            timeout=WAIT_SECONDS,
            reconnect_timeout=RECONNECT_SECONDS,
            check=self._check,
            kwargs={
                "autocommit": True,  # one statement, one round trip; transactions say so
                "connect_timeout": CONNECT_SECONDS,
                "application_name": f"tablecast node {node}",
            },
            open=False,
        )

    def open(self) -> None:
        self._pool.open()

    def close(self) -> None:
        self._pool.close()

    def _check(self, conn: Connection) -> None:
        """Before a connection is handed out: one a database restart broke is replaced rather
        than failing a request. Checking costs a round trip (a third of a page read), so only
        a connection idle for a while is checked: one in steady use would have failed already.
        """
        if time.monotonic() - self._used.get(id(conn), 0.0) > CHECK_IDLE_SECONDS:
            ConnectionPool.check_connection(conn)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with reachable(), self._pool.connection() as conn:
            try:
                yield conn
            finally:
                self._used[id(conn)] = time.monotonic()

    def read(self, query: str, params: Sequence[Any], *, binary: bool = False) -> list[Any]:
        """The rows of a read. A read is safe to make twice: on a connection that a database
        restart broke it is made once more, on a fresh one, rather than failing a viewer."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    try:
                        return conn.execute(query, params, binary=binary).fetchall()
                    finally:
                        self._used[id(conn)] = time.monotonic()
            except PoolTimeout as exc:  # waited long enough already
                raise unavailable() from exc
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    raise unavailable() from exc
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.connection() as conn, conn.transaction():
            yield conn
