"""The data layer from synchronous tests: run repository calls on a store of a data directory.

::

    domain_id = in_store(settings, lambda tx: tx.domains.insert(1, "a.test", secure=False, now=0))
    rows = in_store(settings, lambda db: db.events.page(EventFilter(None), limit=10), write=False)
    events = stored_events(settings)                 # every event, in time order

Each call opens the store (migrating a new file), runs ``work`` inside one transaction (or,
with ``write=False``, on the read connection) and closes it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from edge.config import Settings
from edge.db.factory import store_for
from edge.db.repositories import Repositories
from edge.db.repositories.events import EventFilter
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store
from edge.model.events import StoredEvent

T = TypeVar("T")


Where = Settings | Path | Callable[[], Store]


def store_at(where: Where) -> Store:
    """The store of ``settings`` (its data directory), of the SQLite file at a path, or the
    one a factory makes (``make_store`` in tests/edge/db)."""
    if isinstance(where, Settings):
        return store_for(where)
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


async def every_event(db: Repositories) -> list[StoredEvent]:
    """Every stored event of every account, in time order (``ts_ms``, then id)."""
    return [e async for page in db.events.pages(EventFilter(None), page=5000) for e in page]


def stored_events(where: Settings | Path) -> list[StoredEvent]:
    """Every event stored in the data directory of ``settings`` (or the file at a path)."""
    return in_store(where, every_event, write=False)


async def put_domain(
    tx: Repositories,
    account_id: int,
    name: str,
    *,
    cname_status: str = "valid",
    compliance_status: str = "valid",
) -> int:
    """Add a tracking domain and bring it to the given states the way the admin API does
    (verification, then the operator's block); return its id."""
    now = int(time.time())
    domain_id = await tx.domains.insert(account_id, name, secure=False, now=now)
    if cname_status == "pending":
        await tx.domains.mark_pending(domain_id, now=now)
    elif cname_status in ("valid", "invalid"):
        await tx.domains.mark_valid(domain_id, "", checked=time.time(), now=now)
        if cname_status == "invalid":  # verified once, then the CNAME went away
            await tx.domains.mark_invalid(domain_id, "", checked=time.time(), now=now)
    if compliance_status == "blocked":
        await tx.domains.set_compliance(domain_id, blocked=True, now=now)
    domain = await tx.domains.get(domain_id)
    assert domain is not None
    assert (domain.cname_status, domain.compliance_status) == (cname_status, compliance_status)
    return domain_id
