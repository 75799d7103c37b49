"""Pruning events on SQLite: batch by batch, counted events only."""

from __future__ import annotations

import asyncio

from edge.db.repositories.events import EventFilter
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Role
from tests.edge.db.test_events import row


def test_pruning_removes_only_old_events_the_roll_up_has_counted(tmp_path):
    async def go():
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([row(1, 0), row(2, 0)])
                await tx.rollups.count_next(1, now_ms=0)  # counts the first only
                await tx.event_writer.insert([row(3, 0), row(4, 10_000)])
                pruned = await tx.event_writer.prune(1_000, 100)
            async with store.reading() as db:
                left = [e.id for e in await db.events.page(EventFilter(None), limit=10)]
            return pruned, left

    pruned, left = asyncio.run(go())
    assert pruned == 1
    assert left == [f"{i:030x}" for i in (2, 3, 4)]
