"""The store a cluster's nodes share: one PostgreSQL database (see :mod:`.store`)."""

from __future__ import annotations

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:  # the optional dependency is not installed
    raise RuntimeError("a PostgreSQL store needs psycopg: install tablecast[postgres]") from exc

from .nodes import NODE_LOCKS, ClusterNodes
from .schema import SCHEMA_VERSION
from .store import VERSION_QUERY, VERSIONS_BEFORE_QUERY, VERSIONS_QUERY, PostgresStore

__all__ = [
    "NODE_LOCKS",
    "SCHEMA_VERSION",
    "VERSIONS_BEFORE_QUERY",
    "VERSIONS_QUERY",
    "VERSION_QUERY",
    "ClusterNodes",
    "PostgresStore",
]
