"""The data layer from synchronous tests: run repository calls on a store of a data directory.

::

    domain_id = in_store(settings, lambda tx: tx.domains.insert(1, "a.test", secure=False, now=0))
    rows = in_store(settings, lambda db: db.events.page(EventFilter(None), limit=10), write=False)

Each call opens the store (migrating a new file), runs ``work`` inside one transaction (or,
with ``write=False``, on the read connection) and closes it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from edge.config import Settings
from edge.db.repositories import Repositories
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store

T = TypeVar("T")


Where = Settings | Path | Callable[[], Store]


def store_at(where: Where) -> Store:
    """The store of ``settings`` (its data directory), of the SQLite file at a path, or the
    one a factory makes (``make_store`` in tests/edge/db)."""
    if isinstance(where, Settings):
        return SQLiteStore(where.database_path)
    if isinstance(where, Path):
        return SQLiteStore(where)
    return where()


def in_store(
    where: Where,
    work: Callable[[Repositories], Awaitable[T]],
    *,
    write: bool = True,
) -> T:
    async def go() -> T:
        async with store_at(where) as store:
            if write:
                async with store.transaction() as tx:
                    return await work(tx)
            async with store.reading() as db:
                return await work(db)

    return asyncio.run(go())
