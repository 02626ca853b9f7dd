"""The ``tablecast`` command. ``tablecast serve`` (the default) runs the server."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from . import __version__, client, config


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="tablecast",
        description="Share a TSV or CSV table live: upload it, get a link, browse it together.",
    )
    parser.add_argument("--version", action="version", version=f"tablecast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server (the default)",
        description="Run the tablecast server. Every option can also be set with an"
        " environment variable, shown with its default.",
    )
    config.add_arguments(serve)
    for name, help, description in (
        (
            "upload",
            "upload a file as a new table, or a new version of one",
            "Upload a table (TSV, CSV, a workbook, Parquet, Arrow or JSON) to a tablecast server"
            " and print its view and edit links."
            " With --doc and --key, the file becomes a new version of that table.",
        ),
        (
            "watch",
            "upload a file, then a new version each time it changes",
            "Upload a file, then a new version of it whenever it changes (once it has stayed"
            " unchanged for --interval), so a script's output becomes a live shared table."
            " Stop with Ctrl-C (SIGINT) or SIGTERM.",
        ),
    ):
        command = commands.add_parser(name, help=help, description=description)
        _client_arguments(command)
        if name == "watch":
            command.add_argument(
                "--interval",
                type=config.parse_duration,
                default=1.0,
                metavar="DURATION",
                help="how often to look at the file, and how long it must stay unchanged"
                " [default 1s]",
            )
    append = commands.add_parser(
        "append",
        help="add rows to a table as they come",
        description="Add rows, one line each (TSV, CSV without line breaks in cells, or JSON"
        " Lines), from a file or standard input to a table, as they come: a batch each"
        " --interval, each a new version. `tail -f log.tsv | tablecast append --doc EDIT_LINK`"
        " publishes a log as it grows. A first line naming the table's columns is skipped.",
    )
    append.add_argument(
        "file", nargs="?", default="-", help="the rows [default: -, standard input]"
    )
    append.add_argument("--doc", required=True, metavar="LINK", help="the table's edit link")
    append.add_argument(
        "--server", metavar="URL", help="the tablecast server [default: the link's]"
    )
    append.add_argument("--key", metavar="KEY", help="its edit key [default: the edit link's]")
    append.add_argument(
        "--interval",
        type=config.parse_duration,
        default=0.5,
        metavar="DURATION",
        help="how long rows wait to go together [default 0.5s]",
    )
    diff = commands.add_parser(
        "diff",
        help="say what changed between two versions of a table",
        description="Print the rows added, removed and changed (with their changed cells)"
        " between two versions of a table: by default its current version and the one before."
        " Exits 0 if no row changed, 1 if some did, 2 on trouble, as diff does.",
    )
    diff.add_argument("--doc", required=True, metavar="ID|LINK", help="the table: its id or link")
    diff.add_argument(
        "--server",
        metavar="URL",
        help="the tablecast server [default: the --doc link's, else env TABLECAST_SERVER,"
        f" else {client.DEFAULT_SERVER}]",
    )
    diff.add_argument("--from", dest="since", type=int, metavar="V", help="the older version")
    diff.add_argument("--to", type=int, metavar="W", help="the newer version [default: current]")
    diff.add_argument(
        "--key", metavar="COLUMN", help="match rows by this column (a name or 0-based number)"
    )
    diff.add_argument(
        "--limit", type=int, metavar="N", help="rows listed of each kind [default: 1,000]"
    )
    diff.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    _change_commands(commands)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = parser.parse_args(argv)
    if args.command in ("upload", "watch"):
        sys.exit(_run_client(args))
    if args.command == "diff":
        sys.exit(_run_diff(args))
    if args.command == "append":
        sys.exit(_run_append(args))
    if args.command in ("upsert", "delete", "set"):
        sys.exit(_run_change(args))
    if args.command == "serve":
        settings = config.load(args)
        _configure_logging(settings.log_level)
        if settings.workers > 1:
            from . import workers

            sys.exit(workers.run(settings))
        from .web import server

        server.run(settings, server.serve(settings))


def _change_commands(commands: Any) -> None:
    """``upsert``, ``delete`` and ``set``: one change to a table's rows each."""
    upsert = commands.add_parser(
        "upsert",
        help="replace rows by a key column, adding the rest",
        description="Send rows (TSV, CSV or JSON Lines, from a file or standard input): each"
        " row of the table whose --key cell holds a value a row sent holds takes that row's"
        " cells; a row whose value no row holds is added. One new version.",
    )
    upsert.add_argument("file", nargs="?", default="-", help="the rows [default: -, stdin]")
    upsert.add_argument("--key", required=True, metavar="COLUMN", help="a name or 0-based number")
    delete = commands.add_parser(
        "delete",
        help="delete rows, by number or by a key column's value",
        description="Delete rows: --row N (repeatable, counted from 1 under the header, as"
        " --version numbered them), or every row whose --key cell is a --value. One new version.",
    )
    delete.add_argument("--row", type=int, action="append", default=[], metavar="N")
    delete.add_argument("--key", metavar="COLUMN", help="a name or 0-based number")
    delete.add_argument("--value", action="append", default=[], metavar="TEXT")
    set_ = commands.add_parser(
        "set",
        help="set a cell",
        description="Set one cell: --row N (counted from 1 under the header, as --version"
        " numbered them), --column (a name or 0-based number), to VALUE. One new version.",
    )
    set_.add_argument("value", metavar="VALUE")
    set_.add_argument("--row", type=int, required=True, metavar="N")
    set_.add_argument("--column", required=True, metavar="COLUMN")
    for command in (upsert, delete, set_):
        command.add_argument("--doc", required=True, metavar="LINK", help="the table's edit link")
        command.add_argument(
            "--server", metavar="URL", help="the tablecast server [default: the link's]"
        )
        command.add_argument(
            "--edit-key", metavar="KEY", help="its edit key [default: the edit link's]"
        )
    for command in (delete, set_):
        command.add_argument(
            "--version", type=int, metavar="V", help="rows as this version numbered them"
        )


def _said(trouble: str) -> int:
    """Trouble told on standard error; the exit status it makes, 1."""
    print(f"tablecast: {trouble}", file=sys.stderr)
    return 1


def _run_change(args: argparse.Namespace) -> int:
    """``tablecast upsert``, ``delete``, ``set``: 0 once made, 1 if refused or unreachable."""
    try:
        target = _target(args, args.edit_key)
        if args.command == "upsert":
            if args.file == "-":
                body = sys.stdin.buffer.read()
            else:
                with open(args.file, "rb") as file:
                    body = file.read()
            answer = client.upsert(target, body, args.key)
        elif args.command == "delete":
            if bool(args.row) == (args.key is not None):
                raise client.ClientError("say which rows: --row N, or --key COLUMN --value TEXT")
            answer = client.delete_rows(target, args.row, args.key, args.value, args.version)
        else:
            answer = client.set_cells(target, [(args.row, args.column, args.value)], args.version)
    except client.ClientError as err:
        return _said(str(err))
    except OSError as err:
        return _said(f"cannot read {args.file}: {err.strerror}")
    print(client.changed(answer))
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=config.LOG_FORMAT,
        stream=sys.stderr,
    )
    # one line per request is Tornado's; ours already say what matters about uploads and sockets
    logging.getLogger("tornado.access").setLevel(max(logging.WARNING, logging.root.level))


def _client_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "file",
        type=Path,
        help="the table: TSV, CSV, a workbook (xlsx, xlsm, xlsb, xls, ods), Parquet, Arrow or JSON",
    )
    command.add_argument(
        "--server",
        metavar="URL",
        help="the tablecast server [default: the --doc link's, else env TABLECAST_SERVER,"
        f" else {client.DEFAULT_SERVER}]",
    )
    command.add_argument(
        "--doc",
        metavar="ID|LINK",
        help="add a version to this table: its id, or its view or edit link",
    )
    command.add_argument(
        "--key",
        metavar="KEY",
        help="its edit key [default: the --doc edit link's, else env TABLECAST_EDIT_KEY]",
    )
    command.add_argument("--name", help="the file name viewers see (default: the file's)")
    command.add_argument(
        "--no-header", action="store_true", help="the first row is data, not column names"
    )
    command.add_argument("--delimiter", help="tab, comma, semicolon or pipe (default: detected)")
    command.add_argument("--encoding", help="e.g. utf-8, cp1252 (default: detected)")
    command.add_argument(
        "--sheet", help="a workbook's sheet to read (default: the table's sheet, else the first)"
    )
    command.add_argument(
        "--json", action="store_true", help="print the server's answer as JSON (upload only)"
    )


class Stopped(BaseException):
    """SIGTERM or SIGINT: stop where we are. (Not an Exception: nothing on the way may take
    it for an error of its own.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> None:
    """Stop cleanly on SIGTERM (service managers, `kill`) and SIGINT (Ctrl-C), even when
    started with SIGINT ignored, as a shell starts `tablecast watch ... &`: as `serve` does."""

    def stop(signum: int, _frame: object) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):  # one stop: a second signal waits for it
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def _target(args: argparse.Namespace, key: str | None) -> client.Target:
    """Where to upload: a --doc link names its server and may carry the edit key, which
    --server and ``key`` (given) override; the environment fills in what neither says."""
    server, document_id = args.server, None
    if args.doc:
        link = client.read_link(args.doc)
        document_id = link.document_id
        server = server or link.server
        key = key or link.edit_key
    return client.Target(
        server or os.environ.get("TABLECAST_SERVER") or client.DEFAULT_SERVER,
        document_id,
        key or os.environ.get("TABLECAST_EDIT_KEY"),
    )


def _run_append(args: argparse.Namespace) -> int:
    """``tablecast append``: 0 once every row is added (the input ended), 1 if a batch was
    refused, or the server could not be reached."""
    _stop_on_signals()
    try:
        target = _target(args, args.key)
        fd = sys.stdin.fileno() if args.file == "-" else os.open(args.file, os.O_RDONLY)
    except client.ClientError as err:
        return _said(str(err))
    except OSError as err:
        return _said(f"cannot read {args.file}: {err.strerror}")
    try:
        client.append(fd, target, interval=args.interval, say=lambda text: print(text, flush=True))
    except client.ClientError as err:
        print(f"tablecast: {err}", file=sys.stderr)
        return 1
    except Stopped as stopped:
        return 128 + stopped.signum
    return 0


def _run_diff(args: argparse.Namespace) -> int:
    """``tablecast diff``: 0 no row changed, 1 some did, 2 trouble (as diff(1) says)."""
    try:
        answer = client.changes(_target(args, None), args.since, args.to, args.key, args.limit)
    except client.ClientError as err:
        print(f"tablecast: {err}", file=sys.stderr)
        return 2
    print(orjson.dumps(answer).decode() if args.json else client.changes_text(answer))
    return 1 if any(answer["counts"].values()) else 0


def _run_client(args: argparse.Namespace) -> int:
    _stop_on_signals()
    try:
        target = _target(args, args.key)
    except client.ClientError as err:
        print(f"tablecast: {err}", file=sys.stderr)
        return 1
    options = client.Options(
        args.name, not args.no_header, args.delimiter, args.encoding, args.sheet
    )
    terminal = sys.stderr.isatty()
    if args.command == "watch":
        with contextlib.suppress(Stopped):  # how a watch ends
            client.watch(
                args.file,
                target,
                options,
                interval=args.interval,
                say=lambda text: print(text, flush=True),
                complain=lambda text: print(text, file=sys.stderr, flush=True),
                progress=lambda name: client.progress_bar(name) if terminal else None,
            )
        return 0
    try:
        answer = client.upload(
            args.file, target, options, client.progress_bar(args.file.name) if terminal else None
        )
    except client.ClientError as err:
        print(f"tablecast: {err}", file=sys.stderr)
        return 1
    except Stopped as stopped:
        end_bar = "\n" if terminal else ""  # the bar may have been drawn half-way
        print(f"{end_bar}tablecast: stopped before the server answered", file=sys.stderr)
        return 128 + stopped.signum  # as a shell reports a command a signal ended
    print(orjson.dumps(answer).decode() if args.json else client.links(answer))
    return 0
