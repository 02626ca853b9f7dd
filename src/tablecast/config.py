"""Settings: one dataclass, filled from defaults, TABLECAST_* environment variables and CLI flags.

Precedence is flag > environment > default. Every field is both a flag (``--data-dir``) and an
environment variable (``TABLECAST_DATA_DIR``), so a systemd unit and a shell command say the
same things the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB}

# The log's lines (--log-level says which): set by the CLI, each worker's naming it
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def parse_size(text: str) -> int:
    """``"256MiB"``, ``"10M"``, ``"4096"`` -> bytes. Units are binary: MB is read as MiB."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (try 1048576, 512KiB or 256MiB)")
    number, unit = match.groups()
    return int(number) * _UNITS[(unit or "")[:1].lower()]


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` -> seconds."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (try 30s, 15m or 2h)")
    number, unit = match.groups()
    return float(number) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def parse_origins(text: str) -> tuple[str, ...]:
    """``"https://a.example, https://b.example:8443"`` -> origins as browsers send them."""
    origins = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item == "*":
            origins.append(item)
            continue
        match = re.fullmatch(r"(https?)://([^/?#\s]+)/?", item, re.IGNORECASE)
        if not match:
            raise ValueError(f"not an origin: {item!r} (try https://tables.example.com)")
        origins.append(f"{match.group(1)}://{match.group(2)}".lower())
    return tuple(origins)


def parse_names(text: str) -> tuple[str, ...]:
    """``"tables.example.com, tables"`` -> host names, lower-case."""
    names = []
    for item in filter(None, (part.strip().lower() for part in text.split(","))):
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", item):
            raise ValueError(f"not a host name: {item!r} (try tables.example.com)")
        names.append(item)
    return tuple(names)


EVICTION_POLICIES = ("none", "lru")


def parse_eviction(text: str) -> str:
    """``none`` (the default: nothing is deleted to make room) or ``lru``."""
    policy = text.strip().lower()
    if policy not in EVICTION_POLICIES:
        raise ValueError(f"not an eviction policy: {text!r} (none or lru)")
    return policy


def parse_store_url(text: str) -> str:
    """``""`` (SQLite under the data directory) or a PostgreSQL URL."""
    text = text.strip()
    if text and not re.match(r"^postgres(ql)?://", text, re.IGNORECASE):
        raise ValueError(
            f"not a store URL: {text!r} (try postgresql://tablecast@db.example.com/tablecast,"
            " or leave it empty for SQLite under the data directory)"
        )
    return text


def _setting(
    default: Any,
    help: str,
    parse: Callable[[str], Any] = str,
    metavar: str = "",
    aliases: tuple[str, ...] = (),
) -> Any:
    return field(
        default=default,
        metadata={"help": help, "parse": parse, "metavar": metavar, "aliases": aliases},
    )


def _event_loop(name: str) -> str:
    if name not in ("uvloop", "asyncio"):
        raise ValueError("uvloop or asyncio")
    return name


@dataclass(frozen=True)
class Settings:
    host: str = _setting("127.0.0.1", "address to listen on", metavar="ADDR")
    port: int = _setting(8080, "port to listen on (0 picks a free one)", int, "PORT")
    data_dir: Path = _setting(Path("data"), "where the SQLite store lives", Path, "DIR")
    store_url: str = _setting(
        "",
        "a PostgreSQL database to keep documents in, shared by every node of a cluster, e.g."
        " postgresql://tablecast@db.example.com/tablecast (default: SQLite under --data-dir)",
        parse_store_url,
        "URL",
        aliases=("--store",),
    )
    workers: int = _setting(
        1, "processes serving the one port (more than 1 needs a PostgreSQL store)", int, "N"
    )
    event_loop: str = _setting(
        "uvloop",
        "the event loop: uvloop (libuv's, its sockets written in C) or asyncio (the standard"
        " library's, pure Python around the socket calls)",
        _event_loop,
        "LOOP",
    )
    public_url: str = _setting(
        "",
        "base URL for share links, e.g. https://tables.example.com (default: from the request)",
        metavar="URL",
    )
    # 2 GiB: a gigabyte table (issue 17) fits with room to spare. An upload streams to disk
    # as it arrives; what a file this large costs (disk: about 4 times the file per version;
    # memory: when its columns are made) is in docs/operations.md, "Why 2 GiB a file".
    max_upload_bytes: int = _setting(
        2 * GiB, "largest file one upload may send", parse_size, "SIZE"
    )
    max_message_bytes: int = _setting(
        4 * MiB, "largest single WebSocket message from a tablecast.v1 client", parse_size, "SIZE"
    )
    viewer_buffer: int = _setting(
        1 * MiB,
        "unsent bytes a slow viewer may hold before it is sent only the newest page",
        parse_size,
        "SIZE",
    )
    slow_viewer_timeout: float = _setting(
        60.0,
        "close a viewer that has been that far behind for this long",
        parse_duration,
        "DURATION",
    )
    page_size: int = _setting(
        100, "rows per page (legacy clients never get more than 100)", int, "ROWS"
    )
    empty_document_ttl: float = _setting(
        3600.0,
        "remove documents never uploaded to, with no viewers, after this long",
        parse_duration,
        "DURATION",
    )
    ping_interval: float = _setting(
        20.0,
        "seconds between server pings, which keep idle viewers alive behind proxies",
        parse_duration,
        "DURATION",
    )
    compression: bool = _setting(
        True,
        "compress WebSocket messages (permessage-deflate, once for all viewers)",
        parse_bool,
        "BOOL",
    )
    trust_proxy: bool = _setting(
        False,
        "believe X-Forwarded-For/-Proto from a reverse proxy in front (e.g. nginx)",
        parse_bool,
        "BOOL",
    )
    open_edit: bool = _setting(
        False,
        "let anyone with a view link upload and turn the shared page, as the article did",
        parse_bool,
        "BOOL",
    )
    allowed_origin: tuple[str, ...] = _setting(
        (),
        "other sites (e.g. https://intranet.example.com, comma-separated, or *) whose pages may"
        " open WebSockets here",
        parse_origins,
        "ORIGINS",
    )
    server_name: tuple[str, ...] = _setting(
        (),
        "host names this server is reached by (comma-separated), whose pages may open"
        " WebSockets here when --public-url is not set (IP addresses and localhost always may)",
        parse_names,
        "NAMES",
    )
    page_rate: float = _setting(
        20.0,
        "page requests per second one viewer may make, in bursts of up to twice that",
        float,
        "RATE",
    )
    max_connections_per_ip: int = _setting(
        1000, "open WebSockets one client address may hold (0: no limit)", int, "COUNT"
    )
    max_http_connections_per_ip: int = _setting(
        256,
        "HTTP connections (not yet WebSockets) one client address may hold open; more are"
        " closed at once. Not applied with --trust-proxy, where the proxy limits them (0: no"
        " limit)",
        int,
        "COUNT",
    )
    header_timeout: float = _setting(
        10.0,
        "close a connection that has not sent a whole request's headers within this long (and"
        " a kept-alive connection idle for this long)",
        parse_duration,
        "DURATION",
    )
    max_documents: int = _setting(
        100_000,
        "documents kept; past that new ones are refused, unless --eviction lru (0: no limit)",
        int,
        "COUNT",
    )
    max_stored_bytes: int = _setting(
        20 * GiB,
        "bytes of tables kept (every version); past that uploads are refused, unless"
        " --eviction lru (0: no limit)",
        parse_size,
        "SIZE",
    )
    eviction: str = _setting(
        "none",
        "at --max-documents or --max-stored-bytes: none (refuse what does not fit, delete"
        " nothing) or lru (delete the least recently used tables nobody is viewing, to make"
        " room: other people's tables are lost)",
        parse_eviction,
        "POLICY",
    )
    create_rate: float = _setting(
        60.0,
        "new tables one client address may create a minute, in bursts of up to that many (0: no"
        " limit)",
        float,
        "COUNT",
    )
    max_uploading_bytes: int = _setting(
        4 * GiB,
        "bytes that unfinished uploads may hold together; past that uploads are refused"
        " (too_many_uploads) until some finish (0: no limit)",
        parse_size,
        "SIZE",
    )
    max_uploading_bytes_per_ip: int = _setting(
        2 * GiB,
        "bytes that one client address's unfinished uploads may hold (0: no limit)",
        parse_size,
        "SIZE",
    )
    upload_idle_timeout: float = _setting(
        60.0,
        "end an upload (upload_timeout) that sends nothing for this long",
        parse_duration,
        "DURATION",
    )
    upload_timeout: float = _setting(
        3600.0,
        "end an upload (upload_timeout) still unfinished after this long",
        parse_duration,
        "DURATION",
    )
    reader_memory: int = _setting(
        2 * GiB,
        "memory one workbook, Parquet, Arrow or JSON file may take to read (its own process);"
        " a file that needs more is refused (too_large)",
        parse_size,
        "SIZE",
    )
    reader_seconds: float = _setting(
        120.0,
        "CPU time one workbook, Parquet, Arrow or JSON file may take to read",
        parse_duration,
        "DURATION",
    )
    document_ttl: float = _setting(
        0.0,
        "remove documents nobody has viewed or changed for this long (0: keep them)",
        parse_duration,
        "DURATION",
    )
    view_memory: int = _setting(
        64 * MiB,
        "memory for sorting and searching: each version's columns (64 KiB once mapped from"
        " their file), sort orders and search results, least recently used out (4 MB per sort"
        " or search of a 1,000,000-row table)",
        parse_size,
        "SIZE",
    )
    export_cache_bytes: int = _setting(
        1 * GiB,
        "bytes of typed downloads (Parquet, Arrow, XLSX) kept under --data-dir's exports/, to"
        " answer HEAD and byte ranges and download them again unencoded; least recently used"
        " out (0: each is removed once sent)",
        parse_size,
        "SIZE",
    )
    log_level: str = _setting("info", "debug, info, warning or error", metavar="LEVEL")

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 10_000:
            raise ValueError("page size must be between 1 and 10000")
        if self.max_message_bytes < 64 * KiB:
            raise ValueError("max message size must be at least 64KiB")
        if self.page_rate <= 0:
            raise ValueError("page rate must be above 0")
        if self.create_rate < 0:
            raise ValueError("create rate must be 0 (no limit) or above")
        if self.upload_idle_timeout <= 0 or self.upload_timeout <= 0:
            raise ValueError("upload timeouts must be above 0")
        if self.header_timeout <= 0:
            raise ValueError("header timeout must be above 0")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.workers > 1 and not self.store_url:
            raise ValueError(
                f"--workers {self.workers} needs a store every worker shares: SQLite is one"
                " process's file. Give --store postgresql://... or run one worker"
            )
        if self.public_url.endswith("/"):
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    @property
    def legacy_page_size(self) -> int:
        """The article's clients were written for pages of at most 100 rows."""
        return min(self.page_size, 100)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "tablecast.sqlite3"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(Settings):
        env = "TABLECAST_" + f.name.upper()
        parser.add_argument(
            _flag(f.name),
            *f.metadata["aliases"],
            dest=f.name,
            metavar=f.metadata["metavar"] or None,
            help=f"{f.metadata['help']} [env {env}, default {f.default}]",
        )


def load(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from parsed flags (strings) over environment variables over defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = getattr(args, f.name, None) if args is not None else None
        source = _flag(f.name)
        if raw is None:
            source = "TABLECAST_" + f.name.upper()
            raw = environ.get(source)
        if raw is None:
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            raise SystemExit(f"tablecast: {source}: {exc}") from None
    try:
        return Settings(**values)
    except ValueError as exc:
        raise SystemExit(f"tablecast: {exc}") from None
