"""``tablecast upload`` and ``tablecast watch`` against a live server."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import (
    eventually,
    expect,
    http,
    run,
    start_process,
    stop_all,
    stop_process,
    table,
    v1,
    wait_for,
)
from tablecast import client
from tablecast.client import ClientError, Link, changes_text, read_link, size_of
from tablecast.table.parsing import DELIMITER_NAMES

# what the tests' own environment might say about servers and keys is not theirs to use
ENV = {k: v for k, v in os.environ.items() if k not in ("TABLECAST_SERVER", "TABLECAST_EDIT_KEY")}


def tablecast(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "tablecast", *args], env={**ENV, **(env or {})})


class Running:
    """``tablecast ARGS`` running; what it writes is read as it comes, into ``out`` and ``err``
    (``terminal``: both written to a terminal of its own, as a person sees them, into ``out``).
    ``sigint_ignored``: started as a shell starts a background job (`cmd &`). ``tmp``: its
    temporary directory (TMPDIR)."""

    def __init__(
        self,
        *args: str,
        terminal: bool = False,
        sigint_ignored: bool = False,
        tmp: Path | None = None,
    ) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        command = [sys.executable, "-m", "tablecast", *args]
        env = ENV if tmp is None else {**ENV, "TMPDIR": str(tmp)}
        prepare = ignore_sigint if sigint_ignored else None
        if terminal:
            screen, tty = pty.openpty()
            self.proc = start_process(
                command, stdin=tty, stdout=tty, stderr=tty, env=env, preexec_fn=prepare
            )
            os.close(tty)
            readers = [lambda: self._read_terminal(screen)]
        else:
            self.proc = start_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                preexec_fn=prepare,
            )
            readers = [
                lambda: self._read_lines(self.proc.stdout, self.out),
                lambda: self._read_lines(self.proc.stderr, self.err),
            ]
        self.readers = [threading.Thread(target=read, daemon=True) for read in readers]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read_lines(pipe: Any, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line)

    def _read_terminal(self, screen: int) -> None:
        with open(screen, "rb", buffering=0) as terminal:
            while True:
                try:
                    data = terminal.read(65536)
                except OSError:  # EIO: the last writer has gone
                    return
                if not data:
                    return
                self.out.append(data.decode(errors="replace"))

    def said(self, pattern: str, stream: str = "out", timeout: float = 20) -> re.Match[str]:
        """Wait until it has written something matching ``pattern``; the match."""
        lines = self.out if stream == "out" else self.err
        return wait_for(
            lambda: re.search(pattern, "".join(lines), re.M),
            timeout,
            f"{pattern!r} on its std{stream}: {''.join(lines)!r}",
        )

    async def saying(self, pattern: str, stream: str = "out", timeout: float = 20) -> re.Match[str]:
        """:meth:`said`, for a test whose event loop must go on meanwhile."""
        lines = self.out if stream == "out" else self.err
        return await eventually(
            lambda: re.search(pattern, "".join(lines), re.M),
            timeout,
            f"{pattern!r} on its std{stream}: {''.join(lines)!r}",
        )

    def finished(self) -> int:
        """Wait for it to end by itself; its exit status."""
        status = self.proc.wait(20)
        for reader in self.readers:
            reader.join(5)
        return status

    def stop(self, sig: int = signal.SIGTERM) -> int:
        try:
            return stop_process(self.proc, sig, timeout=10)
        finally:
            for reader in self.readers:
                reader.join(5)


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def running() -> Iterator[Any]:
    """``running(*args, ...)``: a :class:`Running` tablecast, stopped when the test ends,
    whatever happened to it."""
    started: list[Running] = []

    def start(*args: str, **options: Any) -> Running:
        started.append(Running(*args, **options))
        return started[-1]

    yield start
    stop_all([process.stop for process in started])


def watch(running: Any, path: Path, server: Any, *args: str, **options: Any) -> Running:
    """``tablecast watch`` running, looking at the file ten times a second."""
    return running(
        "watch", str(path), "--server", server.url, "--interval", "0.1", *args, **options
    )  # fmt: skip


def new_table(server, path) -> tuple[str, str, str]:
    """Upload a file as a new table; its id and edit key and its edit link, as printed."""
    result = tablecast("upload", str(path), "--server", server.url)
    assert result.returncode == 0, result.stderr
    view = re.search(r"^view: (\S+)$", result.stdout, re.M)
    edit = re.search(r"^edit: ((\S+)#key=(\S+))$", result.stdout, re.M)
    assert view and edit, result.stdout
    assert view.group(1) == edit.group(2)
    return view.group(1).rsplit("/", 1)[1], edit.group(3), edit.group(1)


def test_upload_prints_the_links_and_then_adds_versions(server, tmp_path):
    path = tmp_path / "people.tsv"
    path.write_bytes(table(1234))
    document_id, key, _ = new_table(server, path)
    status, page, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}/pages/13")
    assert status == 200 and page["total_number"] == 1234 and page["filename"] == "people.tsv"

    path.write_bytes(table(5))
    result = tablecast(
        "upload", str(path), "--server", server.url, "--doc", document_id, "--key", key,
        "--name", "renamed.tsv", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"version":2' in result.stdout and '"filename":"renamed.tsv"' in result.stdout
    assert "edit_key" not in result.stdout  # only a new table's answer carries it


def test_one_row_is_one_row(server, tmp_path):
    path = tmp_path / "one.tsv"
    path.write_bytes(table(1))
    result = tablecast("upload", str(path), "--server", server.url)
    assert result.stdout.splitlines()[0] == "version 1: 1 row", result.stdout
    path.write_bytes(table(0))
    result = tablecast("upload", str(path), "--server", server.url)
    assert result.stdout.splitlines()[0] == "version 1: 0 rows", result.stdout
    path.write_bytes(table(1234))
    result = tablecast("upload", str(path), "--server", server.url)
    assert result.stdout.splitlines()[0] == "version 1: 1,234 rows", result.stdout


def test_upload_takes_the_tables_link_as_well_as_its_id(server, tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(table(3))
    document_id, key, edit_link = new_table(server, path)
    view_link = f"{server.url}/parser/share/{document_id}"
    away = {"TABLECAST_SERVER": "http://127.0.0.1:9"}  # the link says where the table is
    for args, rows, env in (
        (["--doc", edit_link], 4, away),  # the edit link's key opens it
        (["--doc", view_link, "--key", key], 5, away),
        (["--doc", f"{server.url}/parser/api/docs/{document_id}", "--key", key], 6, {}),
        (["--doc", document_id, "--key", key, "--server", server.url], 7, {}),
        # --server has the last word (an address of its own for the same server)
        (
            ["--doc", edit_link.replace(server.url, "http://127.0.0.1:9"), "--server", server.url],
            8,
            {},
        ),
        (["--doc", view_link], 9, {"TABLECAST_EDIT_KEY": key}),
    ):
        path.write_bytes(table(rows))
        result = tablecast("upload", str(path), *args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith(f"version {rows - 2}: {rows} rows"), result.stdout
    for args, said in (
        (["--doc", view_link], "needs the document's edit key: --key KEY, or --doc EDIT_LINK"),
        (["--doc", edit_link.replace("#key=", "#key=x")], "wrong_edit_key"),
        (["--doc", "people"], "not a table's id or link: 'people'"),
        (["--doc", f"{server.url}/parser/"], "not a link to a table"),
    ):
        result = tablecast("upload", str(path), *args, env=ENV)
        assert result.returncode == 1 and said in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_links_are_read_as_the_app_and_the_api_give_them():
    doc = "0b4c6b1e-0000-4000-8000-000000000001"
    for text, server, key in (
        (f"https://tables.example.com/parser/share/{doc}", "https://tables.example.com", None),
        (f"https://t.example.com/parser/share/{doc}#key=kq3_-X", "https://t.example.com", "kq3_-X"),
        (f"http://127.0.0.1:8080/parser/share/{doc.upper()}/", "http://127.0.0.1:8080", None),
        (f"https://example.com/tables/parser/share/{doc}#key=k", "https://example.com/tables", "k"),
        (f"https://example.com/parser/api/docs/{doc}/pages/2", "https://example.com", None),
        (f" {doc}\n", None, None),
    ):  # fmt: skip
        assert read_link(text) == Link(doc, server, key), text
    for bad in ("http://x/parser/share/nope", f"ftp://x/parser/share/{doc}", "x y", ""):
        with pytest.raises(ClientError):
            read_link(bad)


def test_upload_errors_are_one_plain_line(server, tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(table(3))
    document_id, _, _ = new_table(server, path)
    for args, expected in (
        (["--doc", document_id, "--key", "wrong"], "tablecast: wrong_edit_key: "),
        (["--doc", document_id], "needs the document's edit key"),
        (["--server", "ftp://x"], "not a server address"),
    ):
        result = tablecast("upload", str(path), "--server", server.url, *args)
        assert result.returncode == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    result = tablecast("upload", str(binary), "--server", server.url)
    assert result.returncode == 1 and "not_text" in result.stderr
    result = tablecast("upload", str(tmp_path / "missing.tsv"), "--server", server.url)
    assert result.returncode == 1 and "no such file" in result.stderr


def test_sizes_read_as_people_read_them():
    assert [size_of(n) for n in (0, 16, 999, 1000, 1500, 12_345, 999_960, 2_500_000)] == [
        "0 B", "16 B", "999 B", "1.0 kB", "1.5 kB", "12 kB", "1.0 MB", "2.5 MB",
    ]  # fmt: skip
    assert [size_of(n) for n in (340_000_000, 1_234_000_000)] == ["340 MB", "1.2 GB"]


def test_the_progress_bar_is_drawn_once_with_sizes_people_read(running, server, tmp_path):
    small, big = tmp_path / "small.tsv", tmp_path / "big.tsv"
    small.write_bytes(b"a\tb\n1\t2\n3\t4\n")
    big.write_bytes(table(100_000))  # 2.7 MB
    shown = running("upload", str(small), "--server", server.url, terminal=True)
    assert shown.finished() == 0
    screen = "".join(shown.out)
    assert screen.count("small.tsv") == 1, screen  # one bar, ended once
    assert "[##############################] 100% 12 B of 12 B," in screen, screen
    assert "version 1: 2 rows" in screen and "0.0 MB" not in screen, screen

    # a file uploaded again and again: one bar each time
    watching = watch(running, big, server, terminal=True)
    watching.said(r"^edit: ")
    big.write_bytes(table(100_001).replace(b"\n", b"\nchanged\t", 1))  # sent whole again
    watching.said(r"^version 2: 100,001 rows")
    screen = "".join(watching.out)
    assert screen.count("] 100% 2.7 MB of 2.7 MB") == 2, screen
    assert watching.stop() == 0


async def test_watch_uploads_each_change_as_a_new_version(running, server, tmp_path):
    path = tmp_path / "live.tsv"
    path.write_bytes(table(10))
    watcher = watch(running, path, server)
    document_id = (await watcher.saying(r"^view: \S+/(\S+)$")).group(1)
    assert watcher.out[0].startswith("version 1: 10 rows"), watcher.out
    viewer = await v1(server, document_id)
    await expect(viewer, "page")

    # a script rewrites the file: the viewer sees each finished version, once; a file that
    # grew by whole lines sends them alone, as rows added
    for rows in (20, 30):
        temporary = tmp_path / "live.tsv.tmp"
        temporary.write_bytes(table(rows))
        os.replace(temporary, path)
        page = await expect(viewer, "page", cause="version", timeout=15)
        assert page["total_number"] == rows
        await watcher.saying(rf"^version {page['version']}: {rows} rows \(10 rows added\)$")
    # (a version made by adding rows keeps no file as uploaded: the file was not sent whole)
    original = f"{server.url}/parser/api/docs/{document_id}/download?format=original"
    status, answer, _ = http("GET", original)
    assert (status, answer["error"]["code"]) == (404, "original_not_kept")
    # a row changed: the whole file
    path.write_bytes(table(30).replace(b"\n", b"\nchanged\t", 1))
    page = await expect(viewer, "page", cause="version", timeout=15)
    await watcher.saying(rf"^version {page['version']}: 30 rows$")

    path.write_bytes(b"\x00 not a table")  # refused; the watch goes on
    await watcher.saying(r"^tablecast: not_text: ", "err")
    path.write_bytes(table(40))
    page = await expect(viewer, "page", cause="version", timeout=15)
    assert page["total_number"] == 40
    await viewer.close()
    assert watcher.stop() == 0


async def test_watch_sends_the_cells_that_changed_and_the_rows_gone(running, server, tmp_path):
    # a file changed in place, or that lost lines, is sent as that change: not the whole file
    path = tmp_path / "live.tsv"
    path.write_bytes(table(2_000))
    kept = tmp_path / "tmp"
    kept.mkdir()
    watcher = watch(running, path, server, tmp=kept)
    document_id = (await watcher.saying(r"^view: \S+/(\S+)$")).group(1)
    viewer = await v1(server, document_id)
    await expect(viewer, "page")
    edited = table(2_000).replace(b"r5c1", b"five").replace(b"r1500c2", b"late")
    path.write_bytes(edited)
    page = await expect(viewer, "page", cause="version", timeout=15)
    await watcher.saying(rf"^version {page['version']}: 2,000 rows \(2 cells set\)$")
    assert page["data"][5][1] == "five"
    lines = edited.split(b"\n")
    del lines[1_001], lines[11]  # rows 1,000 and 10
    path.write_bytes(b"\n".join(lines))
    page = await expect(viewer, "page", cause="version", timeout=15)
    await watcher.saying(rf"^version {page['version']}: 1,998 rows \(2 rows deleted\)$")
    # the table as the file is, row for row
    status, body, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}/download")
    assert status == 200 and body.encode() == b"\n".join(lines)
    # a line that changed its number of cells: the whole file
    path.write_bytes(b"\n".join(lines).replace(b"r7c1", b"r7c1\textra"))
    page = await expect(viewer, "page", cause="version", timeout=15)
    await watcher.saying(rf"^version {page['version']}: 1,998 rows$")
    await viewer.close()
    assert watcher.stop() == 0
    assert not list(kept.iterdir())  # the copy of the file as sent: gone with the watch


def test_the_clients_delimiters_are_the_servers():
    assert {char: name for name, char in client.DELIMITERS.items()} == DELIMITER_NAMES


def test_watch_waits_for_a_server_that_is_away(running, server_factory, tmp_path):
    server = server_factory()
    assert server.stop() == 0
    path = tmp_path / "live.tsv"
    path.write_bytes(table(7))
    watcher = watch(running, path, server)
    watcher.said("could not upload to", "err")
    server_factory(data_dir=server.data_dir, port=server.port)  # back
    watcher.said(r"^version 1: 7 rows$")
    assert watcher.stop() == 0


def test_watch_takes_the_tables_link(running, server, tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(table(3))
    document_id, _, edit_link = new_table(server, path)
    path.write_bytes(table(4))
    watcher = running("watch", str(path), "--doc", edit_link, "--interval", "0.1")
    watcher.said(r"^version 2: 4 rows$")
    assert watcher.stop() == 0
    _, meta, _ = http("GET", f"{server.url}/parser/api/docs/{document_id}")
    assert (meta["version"], meta["total_number"]) == (2, 4)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_watch_stops_cleanly_on_a_signal_even_as_a_background_job(running, server, tmp_path, sig):
    path = tmp_path / "live.tsv"
    path.write_bytes(table(3))
    # a shell starts `tablecast watch ... &` with SIGINT ignored; SIGTERM is what `kill` and
    # service managers send
    watcher = watch(running, path, server, sigint_ignored=True)
    watcher.said(r"^edit: ")
    assert watcher.stop(sig) == 0
    assert "".join(watcher.err) == ""


def silent_server() -> socket.socket:
    """A server that takes connections and never answers: a client stays mid-upload."""
    listening = socket.create_server(("127.0.0.1", 0))
    listening.settimeout(20)
    return listening


@pytest.mark.parametrize("command", ["upload", "watch"])
def test_a_signal_mid_upload_stops_it_cleanly(running, tmp_path, command):
    path = tmp_path / "big.tsv"
    path.write_bytes(table(300_000))  # more than the connection holds unread
    with silent_server() as listening:
        port = listening.getsockname()[1]
        client = running(command, str(path), "--server", f"http://127.0.0.1:{port}")
        connection, _ = listening.accept()  # the upload has begun, and waits for us
        with connection:
            status = client.stop(signal.SIGTERM)
    if command == "watch":
        assert status == 0  # how a watch ends
        assert "".join(client.err) == ""
    else:
        assert status == 128 + signal.SIGTERM
        assert "".join(client.err) == "tablecast: stopped before the server answered\n"


def test_diff_says_what_changed_as_diff_would(server):
    first = b"id\tname\tcity\n1\tAda\tLondon\n2\tAlan\tWilmslow\n3\tGrace\tArlington\n"
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", first)
    second = first.replace(b"Arlington", b"New York").replace(b"2\tAlan\tWilmslow\n", b"")
    second += b"4\tEdsger\t \n"
    put = {"Authorization": f"Bearer {doc['edit_key']}"}
    assert http("PUT", doc["api_url"], second, put)[0] == 200

    done = tablecast("diff", "--doc", doc["url"])  # a view link: no key needed to read
    assert done.returncode == 1, done.stderr  # rows changed, as diff(1) says
    assert done.stdout.splitlines() == [
        "version 1 → version 2: 1 row added, 1 changed, 1 removed",
        '~ row 2 (was row 3): city: "Arlington" → "New York"',
        '+ row 3: "4", "Edsger", " "',
        '- row 2 of version 1: "2", "Alan", "Wilmslow"',
    ]
    by_key = tablecast("diff", "--doc", doc["id"], "--server", server.url, "--key", "id", "--json")
    answer = json.loads(by_key.stdout)
    assert (answer["key"], answer["counts"]) == (0, {"added": 1, "removed": 1, "changed": 1})

    same = tablecast("diff", "--doc", doc["url"], "--from", "2", "--to", "2")
    assert (same.returncode, same.stdout.strip()) == (0, "version 2 → version 2: no row changed")
    wrong = tablecast("diff", "--doc", doc["url"], "--from", "9")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "tablecast: version_not_found: the document has no version 9"


def test_a_diff_reads_plainly_whatever_it_holds():
    answer = {
        "from": 3,
        "to": 4,
        "columns": ["id", "town"],
        "from_columns": ["id", "city"],
        "counts": {"added": 2, "removed": 0, "changed": 1},
        "added": [{"row": 7, "cells": ["7", ""]}],
        "removed": [],
        "changed": [{"row": 2, "from_row": 2, "cells": {"1": ["Oslo", "Lima"], "2": [None, "x"]}}],
        "truncated": True,
    }
    assert changes_text(answer).splitlines() == [
        "version 3 → version 4: 2 rows added, 1 changed",
        'columns: "id", "city" → "id", "town"',
        '~ row 2: town: "Oslo" → "Lima"; column 3: (none) → "x"',  # past a ragged row's end
        '+ row 7: "7", ""',
        "(listed 2 of 3 changes: --limit lists more)",
    ]


def test_append_adds_a_files_rows_and_a_pipes_as_they_come(server, tmp_path):
    first = b"id\tname\n1\tAda\n"
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", first)
    rows = tmp_path / "more.tsv"
    rows.write_bytes(b"id\tname\n2\tAlan\n3\tGrace\n")  # the header is skipped
    done = tablecast("append", str(rows), "--doc", doc["edit_url"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["version 2: 3 rows"]

    def version() -> tuple[int, int]:
        _, meta, _ = http("GET", doc["api_url"])
        return meta["version"], meta["total_number"]

    # a pipe: rows sent in batches as they come (tail -f log.tsv | tablecast append ...)
    command = [sys.executable, "-m", "tablecast", "append", "--doc", doc["edit_url"]]
    proc = start_process(
        [*command, "--interval", "0.2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"4\tEdsger\n5\tBar")
        proc.stdin.flush()
        wait_for(lambda: version() == (3, 4), what="the first line, its own batch")
        proc.stdin.write(b"bara\n6\tLinus\n")  # (a line in two pieces is one row)
        proc.stdin.flush()
        wait_for(lambda: version() == (4, 6), what="the next two lines")
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
        _, page, _ = http("GET", f"{doc['api_url']}/pages/1")
        assert [row[1] for row in page["data"]] == [
            "Ada",
            "Alan",
            "Grace",
            "Edsger",
            "Barbara",
            "Linus",
        ]
    finally:
        stop_process(proc)
    wrong = tablecast("append", str(rows), "--doc", doc["url"], "--key", "nope")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().startswith("tablecast: wrong_edit_key:")


def test_upsert_delete_and_set_change_rows_where_they_are(server, tmp_path):
    first = b"id\tname\tcity\n1\tAda\tLondon\n2\tAlan\tWilmslow\n3\tGrace\tArlington\n"
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs", first)
    edit = doc["edit_url"]
    sent = tmp_path / "people.tsv"
    sent.write_bytes(b"id\tname\tcity\n2\tAlan\tManchester\n4\tEdsger\tNuenen\n")
    done = tablecast("upsert", "--doc", edit, "--key", "id", str(sent))
    assert (done.returncode, done.stdout) == (0, "version 2: 4 rows (1 updated, 1 added)\n")
    done = tablecast("set", "--doc", edit, "--row", "1", "--column", "city", "Paris")
    assert (done.returncode, done.stdout) == (0, "version 3: 4 rows (1 updated)\n")
    # a cell set as version 2 numbered it, over a value its maker had not seen
    done = tablecast("set", "--doc", edit, "--version", "2", "--row", "1", "--column", "2", "Oslo")
    assert done.stdout.splitlines() == [
        "version 4: 4 rows (1 updated)",
        'row 1, column 2: "Paris" overwritten with "Oslo"',
    ]
    done = tablecast("delete", "--doc", edit, "--key", "city", "--value", "Oslo")
    assert (done.returncode, done.stdout) == (0, "version 5: 3 rows (1 deleted)\n")
    done = tablecast("delete", "--doc", edit, "--row", "3", "--row", "1")
    assert (done.returncode, done.stdout) == (0, "version 6: 1 row (2 deleted)\n")
    _, page, _ = http("GET", f"{doc['api_url']}/pages/1")
    assert page["data"] == [["3", "Grace", "Arlington"]]
    wrong = tablecast("delete", "--doc", edit, "--row", "9")
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("tablecast: row_not_found: version 6 has no row 9")
    assert tablecast("delete", "--doc", edit).returncode == 1  # which rows?
    unkeyed = tablecast("set", "--doc", doc["url"], "--row", "1", "--column", "0", "x")
    assert unkeyed.returncode == 1 and "edit_key_required" in unkeyed.stderr


async def test_watch_sends_a_json_lines_file_whole_each_time_it_changes(running, server, tmp_path):
    """A file read by the reader process (here JSON Lines: one that grows by lines, as a
    log does) is not a text table's lines: each change is the whole file, read again."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"at": 1, "what": "start"}\n')
    watcher = watch(running, path, server)
    document_id = (await watcher.saying(r"^view: \S+/(\S+)$")).group(1)
    viewer = await v1(server, document_id)
    page = await expect(viewer, "page")
    assert (page["format"], page["columns"], page["data"]) == (
        "jsonl",
        ["at", "what"],
        [["1", "start"]],
    )
    with path.open("ab") as log:
        log.write(b'{"at": 2, "what": "more", "who": "me"}\n')
    page = await expect(viewer, "page", cause="version", timeout=15)
    assert page["columns"] == ["at", "what", "who"]
    assert page["data"] == [["1", "start", ""], ["2", "more", "me"]]
    line = await watcher.saying(rf"^version {page['version']}: 2 rows")
    assert "added" not in line.group(0)
    await viewer.close()
    assert watcher.stop() == 0
