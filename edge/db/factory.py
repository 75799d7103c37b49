"""The one place that decides which engine a process's :class:`~edge.db.store.Store` uses."""

from __future__ import annotations

from edge.config import Settings
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store


def store_for(settings: Settings) -> Store:
    """The store the settings name: SQLite in the data directory (the embedded default)."""
    return SQLiteStore(settings.database_path, ingester_busy_timeout=settings.db_busy_timeout)
