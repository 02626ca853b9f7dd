"""The ``tablecast`` command. ``tablecast serve`` (the default) runs the server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from . import __version__, config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


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
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = parser.parse_args(argv)
    if args.command == "serve":
        settings = config.load(args)
        _configure_logging(settings.log_level)
        if settings.workers > 1:
            from . import workers

            sys.exit(workers.run(settings))
        from .server import serve as run_server

        asyncio.run(run_server(settings))


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    # one line per request is Tornado's; ours already say what matters about uploads and sockets
    logging.getLogger("tornado.access").setLevel(max(logging.WARNING, logging.root.level))
