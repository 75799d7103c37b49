"""Writing events and reading them back, on every engine."""

from __future__ import annotations

import asyncio

from edge.db.repositories.events import EventFilter
from edge.db.store import Role
from edge.model.events import STORED_FIELDS, StoredEvent
from edge.model.labels import MessageLabels


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


def _labelled_events(make_store, work):
    """Events of messages m0..m3 (one each, in time order), m1 and m3 in campaign 'spring',
    m3 tagged 'news'; then ``work(db)`` on the read connection."""

    async def go():
        async with make_store() as store:
            rows = []
            for i in range(4):
                event = StoredEvent(f"{i:030x}", "click", 1_000 + i, 1, "t.test", f"m{i}")
                rows.append(tuple(getattr(event, name) for name in STORED_FIELDS))
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert(rows)
            async with store.transaction() as tx:
                await tx.labels.replace(1, MessageLabels("m1", "spring", ()))
                await tx.labels.replace(1, MessageLabels("m3", "spring", ("news",)))
            async with store.reading() as db:
                return await work(db)

    return asyncio.run(go())


def test_latest_reads_the_newest_events_first(make_store):
    found = _labelled_events(make_store, lambda db: db.events.latest(EventFilter(1), limit=3))
    assert [e.message for e in found] == ["m3", "m2", "m1"]


def test_events_are_filtered_by_their_messages_campaign_and_tag(make_store):
    spring = _labelled_events(
        make_store, lambda db: db.events.page(EventFilter(1, campaign="spring"), limit=10)
    )
    news = _labelled_events(
        make_store, lambda db: db.events.latest(EventFilter(1, tag="news"), limit=10)
    )
    other = _labelled_events(
        make_store, lambda db: db.events.page(EventFilter(2, campaign="spring"), limit=10)
    )
    assert ([e.message for e in spring], [e.message for e in news], other) == (
        ["m1", "m3"],
        ["m3"],
        [],
    )
