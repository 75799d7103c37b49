"""Writing and pruning events on SQLite."""

from __future__ import annotations

import asyncio

from edge.db.repositories.events import EventFilter
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Role
from edge.model.events import STORED_FIELDS, StoredEvent


def row(i: int, ts_ms: int = 1_700_000_000_000) -> tuple:
    event = StoredEvent(f"{i:030x}", "click", ts_ms + i, 1, "track.test", url=f"https://e/{i}")
    return tuple(getattr(event, name) for name in STORED_FIELDS)


def test_inserting_an_event_id_twice_stores_it_once(tmp_path):
    async def go():
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            for rows in ([row(1), row(2)], [row(2), row(3)]):
                async with store.transaction(Role.INGESTER) as tx:
                    await tx.event_writer.insert(rows)
            async with store.reading() as db:
                return [e.id for e in await db.events.page(EventFilter(None), limit=10)]

    assert asyncio.run(go()) == [f"{i:030x}" for i in (1, 2, 3)]


def test_an_inserted_row_reads_back_as_the_same_stored_event(tmp_path):
    event = StoredEvent(
        "0" * 38, "open", 5, 1, "t.test", "m", "r", None, None, "203.0.113.1", "UA", "HEAD",
        True, "scanner", "head_request",
    )  # fmt: skip

    async def go():
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([tuple(getattr(event, f) for f in STORED_FIELDS)])
            async with store.reading() as db:
                return await db.events.page(EventFilter(1), limit=1)

    assert asyncio.run(go()) == [event]


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
