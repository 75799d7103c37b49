"""Writing events and reading them back, on every engine."""

from __future__ import annotations

import asyncio

from edge.db.repositories.events import EventFilter
from edge.db.store import Role
from edge.model.events import STORED_FIELDS, StoredEvent


def row(i: int, ts_ms: int = 1_700_000_000_000) -> tuple:
    event = StoredEvent(f"{i:030x}", "click", ts_ms + i, 1, "track.test", url=f"https://e/{i}")
    return tuple(getattr(event, name) for name in STORED_FIELDS)


def test_inserting_an_event_id_twice_stores_it_once(make_store):
    async def go():
        async with make_store() as store:
            for rows in ([row(1), row(2)], [row(2), row(3)]):
                async with store.transaction(Role.INGESTER) as tx:
                    await tx.event_writer.insert(rows)
            async with store.reading() as db:
                return [e.id for e in await db.events.page(EventFilter(None), limit=10)]

    assert asyncio.run(go()) == [f"{i:030x}" for i in (1, 2, 3)]


def test_an_inserted_row_reads_back_as_the_same_stored_event(make_store):
    event = StoredEvent(
        "0" * 38, "open", 5, 1, "t.test", "m", "r", None, None, "203.0.113.1", "UA", "HEAD",
        True, "scanner", "head_request",
    )  # fmt: skip

    async def go():
        async with make_store() as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([tuple(getattr(event, f) for f in STORED_FIELDS)])
            async with store.reading() as db:
                return await db.events.page(EventFilter(1), limit=1)

    assert asyncio.run(go()) == [event]
