"""Documents and versions, kept. ``open_store`` picks the implementation from the settings."""

from __future__ import annotations

from ..config import Settings
from ..model import Document, Version, VersionMeta
from ..table.blocks import BLOCK_RECORDS
from .base import Store

__all__ = ["BLOCK_RECORDS", "Document", "Store", "Version", "VersionMeta", "open_store"]


def open_store(settings: Settings, node: int) -> Store:
    """The store the settings name; ``node``: this process among those sharing it."""
    if settings.store_url:
        from .postgres import PostgresStore

        return PostgresStore(settings.store_url, node)
    from .sqlite import SQLiteStore

    return SQLiteStore(settings.database_path)
