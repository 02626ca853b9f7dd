"""Documents and versions, kept. ``open_store`` picks the implementation from the settings."""

from __future__ import annotations

from ..config import Settings
from .base import BLOCK_RECORDS, Document, Store, Version, VersionMeta

__all__ = ["BLOCK_RECORDS", "Document", "Store", "Version", "VersionMeta", "open_store"]


def open_store(settings: Settings) -> Store:
    from .sqlite import SQLiteStore

    return SQLiteStore(settings.database_path)
