"""Events on PostgreSQL: daily partitions made as days arrive, dropped whole by retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from edge.db.postgres.store import PostgresStore
from edge.db.store import Role
from edge.events.rollup import Rollup
from tests.edge.db.test_events import row

DAY = 86_400_000
T0 = int(datetime(2031, 3, 4, tzinfo=UTC).timestamp() * 1000)  # far from any migration's days


async def partitions(store: PostgresStore) -> list[str]:
    async with store.reading() as db:
        rows = await db.conn.fetchall(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass ORDER BY 1"
        )
    return [r[0] for r in rows]


def test_a_day_s_partition_is_made_before_its_first_events_go_in(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([row(1, T0)])
            names = await partitions(store)
            async with store.reading() as db:
                (default,) = await db.conn.fetchall("SELECT count(*) FROM events_default")
            return names, default

    names, default = asyncio.run(go())
    assert {"events_20310303", "events_20310304", "events_20310311"} <= set(names)
    assert default == (0,)


def test_retention_drops_a_whole_counted_day_and_keeps_the_uncounted(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([row(1, T0), row(2, T0)])
            await Rollup(store).run_once(10)
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([row(3, T0 + DAY)])  # not counted yet
            async with store.transaction() as tx:
                first = await tx.event_writer.prune(T0 + 3 * DAY, 1000)
            async with store.transaction() as tx:
                second = await tx.event_writer.prune(T0 + 3 * DAY, 1000)
            return first, second, await partitions(store)

    first, second, names = asyncio.run(go())
    assert (first, second) == (2, 0)  # the next day waits for the roll-up
    assert "events_20310304" not in names and "events_20310305" in names
