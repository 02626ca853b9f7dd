"""A cluster's nodes, as the shared database knows them: which are alive, how many viewers
each holds of each document, and what they tell each other.

Each node holds a session advisory lock, ``(NODE_LOCKS, node)``, for as long as it runs: a node
whose lock anyone can take is gone, and what it left (uploads in progress, viewer counts) is
removed by whichever node notices first (:meth:`ClusterNodes.remove_abandoned`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import psycopg

from ...bus.events import CHANNEL, ViewersCounted, encode
from .pool import CONNECT_SECONDS, Connection, Pool, reachable

# Advisory lock keys (NODE_LOCKS, node), in the two-int key space, mark live nodes.
NODE_LOCKS = 0x74636E64  # "tcnd"
NODE_LOCK_WAIT = "5s"  # at open: time for a killed predecessor with our node number to go


class ClusterNodes:
    """This node among those sharing the database (see tablecast.store.base.Nodes)."""

    def __init__(self, url: str, node: int, pool: Pool) -> None:
        self.node = node
        self._url = url
        self._pool = pool
        self._liveness: Connection | None = None
        self._liveness_lock = threading.Lock()

    def hold_lock(self, *, wait: bool) -> bool:
        """Take (NODE_LOCKS, node) on a connection of its own, if we do not hold it; whether
        it had to be taken again. ``wait`` (at open): a predecessor just killed may hold it a
        moment longer; anyone holding it after that is another live process with our node
        number, a mistake worth stopping for. Later (``wait`` False) we only try: the writer
        thread must not stall."""
        with self._liveness_lock, reachable():
            if self._liveness is not None:
                try:
                    self._liveness.execute("")  # an empty query: is it still there?
                    return False
                except psycopg.OperationalError:
                    self._liveness.close()  # lost (a restart): the lock went with it
                    self._liveness = None
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=CONNECT_SECONDS,
                application_name=f"tablecast node {self.node} liveness",
            )
            try:
                if wait:
                    conn.execute(f"SET lock_timeout = '{NODE_LOCK_WAIT}'")
                    try:
                        conn.execute("SELECT pg_advisory_lock(%s, %s)", (NODE_LOCKS, self.node))
                    except psycopg.errors.LockNotAvailable:
                        raise RuntimeError(
                            f"another process holds node {self.node} of this database"
                        ) from None
                    got = True
                else:
                    row = conn.execute(
                        "SELECT pg_try_advisory_lock(%s, %s)", (NODE_LOCKS, self.node)
                    ).fetchone()
                    got = bool(row and row[0])
            except BaseException:
                conn.close()
                raise
            if got:
                self._liveness = conn
            else:  # a session of ours the database has not yet seen end: try again later
                conn.close()
            return got

    def forget(self, conn: Connection, node: int) -> None:
        """In the caller's transaction, delete a node's uploads in progress (blocks cascade)
        and its viewer counts, announcing each as 0. Only for a node known to be gone (or
        ourselves, at open)."""
        conn.execute("DELETE FROM versions WHERE node = %s AND number IS NULL", (node,))
        gone = conn.execute(
            "DELETE FROM viewers WHERE node = %s RETURNING document_id", (node,)
        ).fetchall()
        if gone:
            payloads = [encode(ViewersCounted(doc, node, 0)) for (doc,) in gone]
            conn.execute(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, payloads)
            )

    def remove_abandoned(self) -> bool:
        # a restarted database forgot our lock: take it again, and say so (other nodes may
        # have taken us for gone meanwhile, and forgotten our viewer counts)
        lost = self.hold_lock(wait=False)
        with self._pool.connection() as conn:
            nodes = conn.execute(
                "SELECT node FROM versions WHERE number IS NULL AND node <> %(me)s"
                " UNION SELECT node FROM viewers WHERE node <> %(me)s",
                {"me": self.node},
            ).fetchall()
            for (node,) in nodes:
                with conn.transaction():
                    # Taken: nobody holds that node's lock, it is gone. (Held until we commit,
                    # so a node restarting with that number waits for us to finish.)
                    row = conn.execute(
                        "SELECT pg_try_advisory_xact_lock(%s, %s)", (NODE_LOCKS, node)
                    ).fetchone()
                    if row and row[0]:
                        self.forget(conn, node)
        return lost

    def save_viewers(self, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        ids = list(counts)
        payloads = [encode(ViewersCounted(d, self.node, counts[d])) for d in ids]
        with self._pool.connection() as conn:
            # One statement, one transaction. Documents since deleted are left out (locked
            # KEY SHARE, so one being deleted is waited for and then skipped, not an error).
            conn.execute(
                """WITH counted AS (
                       SELECT c.id, c.n, c.payload FROM documents d
                       JOIN unnest(%(ids)s::text[], %(counts)s::int[], %(payloads)s::text[])
                            AS c(id, n, payload) ON c.id = d.id
                       FOR KEY SHARE OF d),
                   saved AS (
                       INSERT INTO viewers (document_id, node, viewers)
                       SELECT id, %(node)s, n FROM counted WHERE n > 0
                       ON CONFLICT (document_id, node) DO UPDATE SET viewers = EXCLUDED.viewers),
                   cleared AS (
                       DELETE FROM viewers WHERE node = %(node)s
                       AND document_id IN (SELECT id FROM counted WHERE n = 0))
                   SELECT count(pg_notify(%(channel)s, payload)) FROM counted""",
                {
                    "ids": ids,
                    "counts": [counts[d] for d in ids],
                    "payloads": payloads,
                    "node": self.node,
                    "channel": CHANNEL,
                },
            )

    def viewers_elsewhere(self, document_ids: Iterable[str]) -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        rows = self._pool.read(
            "SELECT document_id, node, viewers FROM viewers"
            " WHERE document_id = ANY(%s::text[]) AND node <> %s",
            (list(document_ids), self.node),
        )
        for document_id, node, viewers in rows:
            found.setdefault(document_id, {})[node] = viewers
        return found

    def announce(self, payload: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def close(self) -> None:
        with self._liveness_lock:
            if self._liveness is not None:
                self._liveness.close()  # our node lock goes with the session
                self._liveness = None
