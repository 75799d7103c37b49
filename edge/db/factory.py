"""The one place that decides which engine a process's :class:`~edge.db.store.Store` uses."""

from __future__ import annotations

import os
import secrets

from edge.config import Settings
from edge.db.postgres.store import PostgresStore
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store


def store_for(settings: Settings) -> Store:
    """PostgreSQL at ``EDGE_DATABASE_URL`` as this node, else SQLite in the data directory."""
    if settings.database_url:
        return PostgresStore(
            settings.database_url,
            node=node_id_for(settings),
            ingester_busy_timeout=settings.db_busy_timeout,
        )
    return SQLiteStore(settings.database_path, ingester_busy_timeout=settings.db_busy_timeout)


def node_id_for(settings: Settings) -> str:
    """``EDGE_NODE_ID``, else the id generated once for this data directory.

    Created atomically (a hard link cannot replace an existing file), so processes starting
    together agree on one id; it must outlive restarts, since the node's spool progress and
    events are kept under it.
    """
    if settings.node_id:
        return settings.node_id
    path = settings.data_dir / "node_id"
    if not path.exists():
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = settings.data_dir / f".node_id.{secrets.token_hex(8)}"
        tmp.write_text(f"node-{secrets.token_hex(6)}\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
