"""What only the PostgreSQL store does: schema set-up shared by several nodes, NOTIFY in the
same transaction as each change, node liveness, and riding out a database restart. The store
contract itself runs on PostgreSQL in test_store.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import psycopg
import pytest

from postgres import PostgreSQL
from support import many_versions, meta, rows, sql, write_version
from tablecast.bus.events import (
    CHANNEL,
    Event,
    PageTurned,
    VersionCommitted,
    ViewersCounted,
    decode,
)
from tablecast.errors import TablecastError
from tablecast.store.postgres import NODE_LOCKS, SCHEMA_VERSION, PostgresStore
from tablecast.table.originals import Rebuilt

StoreFactory = Callable[..., PostgresStore]


@pytest.fixture
def open_pg(pg_url: str) -> Iterator[StoreFactory]:
    """Opens stores on one fresh database: ``open_pg(node)``."""
    opened: list[PostgresStore] = []

    def make(node: int, url: str = pg_url) -> PostgresStore:
        store = PostgresStore(url, node)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


class Listener:
    """A connection LISTENing on tablecast's channel, as a node's bus would."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def events(self, timeout: float = 0.5, stop_after: int | None = None) -> list[Event | None]:
        return [
            decode(n.payload)
            for n in self.conn.notifies(timeout=timeout, stop_after=stop_after)
            if n.channel == CHANNEL
        ]

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def listener(pg_url: str) -> Iterator[Listener]:
    heard = Listener(pg_url)
    yield heard
    heard.close()


NODE_HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s"
    " AND objsubid = 2 AND granted"
)


def wait_until_released(url: str, node: int) -> None:
    """A session ends on the server a moment after its client closes it."""
    deadline = time.monotonic() + 5
    while sql(url, NODE_HOLDER, NODE_LOCKS, node):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_nodes_starting_together_create_the_schema_once(pg_url, open_pg):
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one(node: int) -> None:
        try:
            start.wait()
            open_pg(node)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_a_schema_1_database_is_migrated(pg_url, open_pg):
    store = open_pg(1)
    document = store.create_document(None)
    store.close()
    sql(pg_url, "ALTER TABLE documents DROP COLUMN shared_view")  # as schema 1 had it
    sql(pg_url, "DROP TABLE originals")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN ragged_rows")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN blocks_of")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN pieces")
    sql(pg_url, "DROP TABLE piece_chunks")
    sql(pg_url, "ALTER TABLE versions DROP COLUMN source")
    sql(pg_url, "UPDATE schema_version SET version = 1")
    store = open_pg(2)
    found = store.get_document(document.id)
    assert found is not None and found.shared_view == ""
    store.set_shared_page(document.id, 2, '{"sort": 1}')
    assert store.get_document(document.id).shared_view == '{"sort": 1}'
    assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    pending = store.begin_version(document.id)  # originals kept as schema 4 keeps them
    store.write_blocks(pending, [], [(0, Rebuilt(record_count=2, end=8, eol="\n")), (1, b"x\ty\n")])
    assert store.read_original(pending, 0, 2) == [
        Rebuilt(record_count=2, end=8, eol="\n", going=False),
        b"x\ty\n",
    ]


def test_a_database_from_a_newer_tablecast_is_refused(pg_url, open_pg):
    open_pg(1).close()
    sql(pg_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="upgrade tablecast"):
        PostgresStore(pg_url, 2)


def test_two_processes_with_one_node_number_are_refused(open_pg):
    open_pg(1)
    with pytest.raises(RuntimeError, match="node 1"):
        open_pg(1)


def test_a_version_is_heard_of_only_once_it_can_be_read(pg_url, open_pg, listener):
    writer, reader = open_pg(1), open_pg(2)
    document = writer.create_document(None)
    pending = write_version(writer, document.id, 300)
    committed: list[int] = []
    # Another node holds the document row: this commit must wait for it, unheard meanwhile.
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT 1 FROM documents WHERE id = %s FOR UPDATE", (document.id,))
        thread = threading.Thread(
            target=lambda: committed.append(writer.commit_version(pending, meta(300)).version.id)  # type: ignore[union-attr]
        )
        thread.start()
        assert listener.events(timeout=0.5) == []
        assert reader.get_document(document.id).version is None  # type: ignore[union-attr]
    heard = listener.events(timeout=5, stop_after=1)
    assert heard == [VersionCommitted(document.id, 1, 1)]
    # the moment it is heard, any node reads it
    got = reader.get_document(document.id)
    assert got is not None and got.version is not None and got.version.number == 1
    assert orjson.loads(reader.read_rows(got.version.id, 0, 300)) == rows(300)
    thread.join()
    assert committed == [got.version.id]


def test_a_cancelled_commit_announces_nothing(open_pg, listener):
    store = open_pg(1)
    document = store.create_document(None)
    pending = write_version(store, document.id, 10)
    store.abort_version(pending)
    with pytest.raises(TablecastError) as err:
        store.commit_version(pending, meta(10))
    assert err.value.code == "no_upload"
    store.nodes.announce("marker")  # whatever the failed commit sent would arrive before this
    assert [n.payload for n in listener.conn.notifies(timeout=5, stop_after=1)] == ["marker"]


def test_page_turns_and_viewer_counts_are_announced(pg_url, open_pg, listener):
    store = open_pg(7)
    document = store.create_document(None)
    store.set_shared_page(document.id, 4)
    store.set_shared_page("00000000-0000-4000-8000-000000000000", 2)  # no such document
    store.nodes.save_viewers({document.id: 3, "00000000-0000-4000-8000-000000000000": 1})
    store.nodes.save_viewers({document.id: 0})
    assert listener.events(timeout=5, stop_after=3) == [
        PageTurned(document.id, 7, 4),
        ViewersCounted(document.id, 7, 3),
        ViewersCounted(document.id, 7, 0),
    ]
    assert listener.events(timeout=0.3) == []
    assert store.get_document(document.id).shared_page == 4  # type: ignore[union-attr]
    assert sql(pg_url, "SELECT count(*) FROM viewers") == [(0,)]


def test_viewers_elsewhere_are_other_nodes_counts(open_pg):
    a, b, c = open_pg(1), open_pg(2), open_pg(3)
    shared, alone = a.create_document(None), a.create_document(None)
    a.nodes.save_viewers({shared.id: 3, alone.id: 5})
    b.nodes.save_viewers({shared.id: 2})
    assert a.nodes.viewers_elsewhere([shared.id, alone.id]) == {shared.id: {2: 2}}
    assert b.nodes.viewers_elsewhere([shared.id, alone.id]) == {shared.id: {1: 3}, alone.id: {1: 5}}
    assert c.nodes.viewers_elsewhere([shared.id]) == {shared.id: {1: 3, 2: 2}}
    a.nodes.save_viewers({shared.id: 4})
    assert b.nodes.viewers_elsewhere([shared.id]) == {shared.id: {1: 4}}
    assert c.nodes.viewers_elsewhere([]) == {}


def test_a_gone_nodes_uploads_and_viewers_are_forgotten_a_live_ones_kept(pg_url, open_pg, listener):
    gone, live, sweeper = open_pg(1), open_pg(2), open_pg(3)
    document = gone.create_document(None)
    gone_upload = write_version(gone, document.id, 600)
    live_upload = write_version(live, document.id, 300)
    gone.nodes.save_viewers({document.id: 2})
    live.nodes.save_viewers({document.id: 1})
    listener.events(timeout=5, stop_after=2)
    sweeper.nodes.remove_abandoned()  # everyone is alive: nothing goes
    assert listener.events(timeout=0.3) == []
    gone.close()  # the process stops: its lock goes with its session
    wait_until_released(pg_url, 1)
    sweeper.nodes.remove_abandoned()
    assert listener.events(timeout=5, stop_after=1) == [ViewersCounted(document.id, 1, 0)]
    assert sweeper.nodes.viewers_elsewhere([document.id]) == {document.id: {2: 1}}
    assert sql(pg_url, "SELECT id FROM versions") == [(live_upload,)]
    assert sql(pg_url, "SELECT DISTINCT version_id FROM blocks") == [(live_upload,)]
    assert live.commit_version(live_upload, meta(300)).version.number == 1  # type: ignore[union-attr]
    assert gone_upload != live_upload


def test_a_node_that_lost_its_lock_takes_it_again(pg_url, open_pg):
    node, sweeper = open_pg(1), open_pg(2)
    document = node.create_document(None)
    upload = write_version(node, document.id, 10)
    [(pid,)] = sql(pg_url, NODE_HOLDER, NODE_LOCKS, 1)
    sql(pg_url, "SELECT pg_terminate_backend(%s)", pid)  # as a network cut would
    wait_until_released(pg_url, 1)
    node.nodes.remove_abandoned()  # its periodic call notices, and holds the lock again
    assert sql(pg_url, NODE_HOLDER, NODE_LOCKS, 1) != []
    sweeper.nodes.remove_abandoned()
    assert node.commit_version(upload, meta(10)).version.number == 1  # type: ignore[union-attr]


def test_reopening_a_node_forgets_its_own_leftovers(pg_url, open_pg, listener):
    store = open_pg(5)
    document = store.create_document(None)
    write_version(store, document.id, 10)
    store.nodes.save_viewers({document.id: 1})
    store.close()  # a restart with the same node number, nobody having swept meanwhile
    listener.events(timeout=5, stop_after=1)
    open_pg(5)
    assert listener.events(timeout=5, stop_after=1) == [ViewersCounted(document.id, 5, 0)]
    assert sql(pg_url, "SELECT count(*) FROM versions") == [(0,)]


def test_documents_viewed_on_another_node_are_never_evicted(open_pg):
    here, there = open_pg(1), open_pg(2)
    viewed, unused = here.create_document(None), here.create_document(None)
    viewed_empty, empty = here.create_document(None), here.create_document(None)
    for document in (viewed, unused):
        here.commit_version(write_version(here, document.id, 10), meta(10))
    there.nodes.save_viewers({viewed.id: 1, viewed_empty.id: 1})
    assert here.remove_empty_documents(time.time() + 1, keep=()) == [empty.id]
    assert here.remove_unused(time.time() + 1, None, None, keep=()) == [unused.id]
    there.nodes.save_viewers({viewed.id: 0, viewed_empty.id: 0})  # they leave
    assert here.remove_empty_documents(time.time() + 1, keep=()) == [viewed_empty.id]
    assert here.remove_unused(time.time() + 1, None, None, keep=()) == [viewed.id]


def test_a_database_restart_is_ridden_out(open_pg):
    server = PostgreSQL().start()
    store = None
    try:
        url = server.new_database()
        store = open_pg(1, url)
        document = store.create_document(None)
        committed = [
            store.commit_version(write_version(store, document.id, n), meta(n)).version
            for n in (300, 600)
        ]
        server.stop()
        for call in (
            lambda: store.get_document(document.id),
            lambda: store.read_rows(committed[0].id, 0, 10),  # type: ignore[union-attr]
            lambda: store.begin_version(document.id),
            store.nodes.remove_abandoned,
        ):
            started = time.monotonic()
            with pytest.raises(TablecastError) as err:
                call()
            assert err.value.code == "store_unavailable"
            assert time.monotonic() - started < 8  # a clear answer, not a hang
        with pytest.raises(TablecastError, match="cannot open the PostgreSQL store") as err:
            PostgresStore(url, 2)  # a node starting meanwhile says why it cannot
        assert err.value.code == "store_unavailable"
        server.start()
        deadline = time.monotonic() + 20
        while True:  # the pool reconnects by itself
            try:
                got = store.get_document(document.id)
                break
            except TablecastError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert got is not None and got.version == committed[1]
        for version in committed:
            assert version is not None
            records = version.meta.record_count
            assert orjson.loads(store.read_rows(version.id, 0, records)) == rows(records)
        store.nodes.remove_abandoned()  # holds its node lock again
        after = store.commit_version(write_version(store, document.id, 5), meta(5))
        assert after.version.number == 3  # type: ignore[union-attr]
    finally:
        if store is not None:
            store.close()
        server.remove()


def test_without_psycopg_the_store_says_what_to_install():
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "try:\n    import tablecast.store.postgres\n"
        "except RuntimeError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "tablecast[postgres]" in out.stdout


def test_nodes_committing_to_one_document_at_once_number_in_turn(open_pg):
    stores = [open_pg(1), open_pg(2)]
    document = stores[0].create_document(None)
    uploads = [[write_version(store, document.id, 3) for _ in range(8)] for store in stores]
    numbers: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def commit(store: PostgresStore, pending: list[int]) -> None:
        try:
            start.wait()
            for p in pending:
                numbers.append(store.commit_version(p, meta(3)).version.number)  # type: ignore[union-attr]
        except BaseException as exc:
            errors.append(exc)

    pairs = zip(stores, uploads, strict=True)
    threads = [threading.Thread(target=commit, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 17))
    assert stores[1].get_document(document.id).version.number == 16  # type: ignore[union-attr]


def index_scans(plan: dict) -> list[dict]:
    """The index scans of an EXPLAIN (FORMAT JSON) plan, outermost first."""
    found = [plan] if plan["Node Type"].startswith("Index") else []
    for child in plan.get("Plans", []):
        found += index_scans(child)
    return found


def test_postgres_finds_versions_by_document_and_number_through_the_index(pg_url, open_pg):
    """One version, or a page of them, is a scan of versions_by_number that reads the rows it
    returns (EXPLAIN ANALYZE counts them): never the document's whole history."""
    from tablecast.store import postgres

    store = open_pg(1)
    document = store.create_document(None)
    many_versions(store, document.id, 5000)
    sql(pg_url, "ANALYZE versions")
    for query, args, returned in (
        (postgres.VERSION_QUERY, (document.id, 1), 1),
        (postgres.VERSIONS_QUERY, (document.id, 10), 10),
        (postgres.VERSIONS_BEFORE_QUERY, (document.id, 2500, 10), 10),
    ):
        ((explained,),) = sql(pg_url, "EXPLAIN (ANALYZE, FORMAT JSON) " + query, *args)
        plan = explained[0]["Plan"]
        (scan,) = index_scans(plan)
        assert scan["Index Name"] == "versions_by_number", plan
        assert scan["Actual Rows"] == returned and "Sort" not in str(plan), plan
    assert store.version(document.id, 1).number == 1  # type: ignore[union-attr]
    assert store.version(document.id, 5001) is None
    assert [v.number for v in store.versions(document.id, 3, 2500)] == [2499, 2498, 2497]
