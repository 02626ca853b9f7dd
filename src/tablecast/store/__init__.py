"""Documents and versions, kept. ``open_store`` picks the implementation from the settings."""

from __future__ import annotations

from ..config import Settings
from .base import Store

__all__ = ["Store", "open_store"]


def open_store(settings: Settings, node: int) -> Store:
    """The store the settings name; ``node``: this process among those sharing it."""
    if settings.store_url:
        from .postgres import PostgresStore

        return PostgresStore(settings.store_url, node)
    from .sqlite import SQLiteStore

    return SQLiteStore(settings.database_path)
