"""The roll-up pass on PostgreSQL: a unique key another transaction inserts while the pass
runs (a relabelled event's hand-over) stays that transaction's, and the pass still counts."""

from __future__ import annotations

import asyncio

import asyncpg

from edge.db.postgres.store import PostgresStore
from edge.db.store import Role
from edge.model.events import STORED_FIELDS, StoredEvent

T0 = 1_900_000_000_000


def click(i: int, recipient: str) -> tuple:
    event = StoredEvent(f"{i:030x}", "click", T0 + i, 1, "t.test", "m", recipient, "l", "https://e/")
    return tuple(getattr(event, name) for name in STORED_FIELDS)


def test_a_key_inserted_by_another_transaction_during_the_pass_is_skipped_not_an_error(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            async with store.transaction(Role.INGESTER) as tx:
                await tx.event_writer.insert([click(1, "r1"), click(2, "r2")])
            other = await asyncpg.connect(pg_url)
            try:
                # A hand-over elsewhere holds r1's click key, not committed yet: the pass's
                # look-up cannot see it, and its INSERT waits for that transaction.
                held = other.transaction()
                await held.start()
                await other.execute(
                    "INSERT INTO engagement_firsts (account_id, kind, scope, message, "
                    "recipient, link, event_id, ts_ms) VALUES (1, 'click', 1, 'm', 'r1', '', "
                    "'elsewhere', 0)"
                )

                async def count() -> int:
                    async with store.transaction(Role.INGESTER) as tx:
                        return await tx.rollups.count_next(10, now_ms=0)

                pass_ = asyncio.create_task(count())
                while not await other.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                ):
                    await asyncio.sleep(0.01)  # polls the lock table: the pass is now waiting
                await held.commit()
                counted = await pass_
                rows = await other.fetch(
                    "SELECT kind, scope, recipient, event_id FROM engagement_firsts "
                    "ORDER BY recipient, kind, scope"
                )
                sums = await other.fetch(
                    "SELECT events, uniq_counted, uniq_any, link_uniq_counted, link_uniq_any "
                    "FROM rollups_daily"
                )
            finally:
                await other.close()
        return counted, [tuple(r) for r in rows], [tuple(r) for r in sums]

    counted, rows, sums = asyncio.run(go())
    assert counted == 2
    r1, r2 = f"{1:030x}", f"{2:030x}"
    assert rows == [
        ("click", 0, "r1", r1), ("click", 1, "r1", "elsewhere"),
        ("link", 0, "r1", r1), ("link", 1, "r1", r1),
        ("click", 0, "r2", r2), ("click", 1, "r2", r2),
        ("link", 0, "r2", r2), ("link", 1, "r2", r2),
    ]  # fmt: skip
    # r1's click opened every key but the one held elsewhere ("any" clicks: r2's only).
    assert sums == [(2, 2, 1, 2, 2)]
