"""``tablecast upload`` and ``tablecast watch`` against a live server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from support import expect, http, table, v1


def tablecast(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tablecast", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def watch(path, server) -> subprocess.Popen[str]:
    """``tablecast watch`` running, looking at the file ten times a second."""
    return subprocess.Popen(
        [sys.executable, "-m", "tablecast", "watch", str(path), "--server", server.url,
         "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def new_table(server, path) -> tuple[str, str]:
    """Upload a file as a new table; its id and edit key, from the links printed."""
    result = tablecast("upload", str(path), "--server", server.url)
    assert result.returncode == 0, result.stderr
    view = re.search(r"^view: (\S+)$", result.stdout, re.M)
    edit = re.search(r"^edit: (\S+)#key=(\S+)$", result.stdout, re.M)
    assert view and edit, result.stdout
    assert view.group(1) == edit.group(1)
    return view.group(1).rsplit("/", 1)[1], edit.group(2)


def test_upload_prints_the_links_and_then_adds_versions(server, tmp_path):
    path = tmp_path / "people.tsv"
    path.write_bytes(table(1234))
    document_id, key = new_table(server, path)
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


def test_upload_errors_are_one_plain_line(server, tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(table(3))
    document_id, _ = new_table(server, path)
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


async def test_watch_uploads_each_change_as_a_new_version(server, tmp_path):
    path = tmp_path / "live.tsv"
    path.write_bytes(table(10))
    watcher = watch(path, server)
    try:
        assert watcher.stdout is not None
        first = [watcher.stdout.readline() for _ in range(3)]
        assert first[0].startswith("version 1: 10 rows"), first
        document_id = first[1].strip().rsplit("/", 1)[1]
        viewer = await v1(server, document_id)
        await expect(viewer, "page")

        # a script rewrites the file: the viewer sees each finished version, once
        for rows in (20, 30):
            temporary = tmp_path / "live.tsv.tmp"
            temporary.write_bytes(table(rows))
            os.replace(temporary, path)
            page = await expect(viewer, "page", cause="version", timeout=15)
            assert page["total_number"] == rows
            assert watcher.stdout.readline().startswith(f"version {page['version']}: {rows} rows")

        path.write_bytes(b"\x00 not a table")  # refused; the watch goes on
        time.sleep(1)
        path.write_bytes(table(40))
        page = await expect(viewer, "page", cause="version", timeout=15)
        assert page["total_number"] == 40
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(10) == 0
    assert watcher.stderr is not None
    assert "tablecast: not_text: " in watcher.stderr.read()


def test_watch_waits_for_a_server_that_is_away(server_factory, tmp_path):
    server = server_factory()
    assert server.stop() == 0
    path = tmp_path / "live.tsv"
    path.write_bytes(table(7))
    watcher = watch(path, server)
    try:
        assert watcher.stderr is not None and watcher.stdout is not None
        assert "could not upload to" in watcher.stderr.readline()
        server_factory(data_dir=server.data_dir, port=server.port)  # back
        assert watcher.stdout.readline().startswith("version 1: 7 rows")
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(10) == 0
