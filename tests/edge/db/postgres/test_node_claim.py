"""One running ingester per node name in a cluster: a second node given the same
``EDGE_NODE_ID`` would mix its spool offsets and batch numbers with the first's."""

from __future__ import annotations

import asyncio

from edge.db.postgres.store import PostgresStore


def test_a_node_name_is_claimed_by_one_store_at_a_time(pg_url):
    async def go():
        async with (
            PostgresStore(pg_url, node="a") as first,
            PostgresStore(pg_url, node="a") as second,
            PostgresStore(pg_url, node="b") as other,
        ):
            return (
                await first.claim_node(),
                await first.claim_node(),
                await second.claim_node(),
                await other.claim_node(),
            )

    assert asyncio.run(go()) == (True, True, False, True)


def test_a_closed_store_frees_its_node_name(pg_url):
    async def go():
        second = PostgresStore(pg_url, node="a")
        async with second:
            async with PostgresStore(pg_url, node="a") as first:
                assert await first.claim_node() is True
                refused = await second.claim_node()
            return refused, await second.claim_node()

    assert asyncio.run(go()) == (False, True)


def test_a_claim_lost_with_its_connection_is_taken_again(pg_url):
    async def go():
        async with PostgresStore(pg_url, node="a") as store:
            assert await store.claim_node() is True
            assert store._claim is not None
            async with store.reading() as db:  # the server ends the claim's session
                (ended,) = await db.conn.fetchall(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                    "pg_stat_activity WHERE application_name = 'tracking-edge ingester a') t"
                )
            for _ in range(100):
                if store._claim.is_closed():
                    break
                try:
                    await store._claim.fetchval("SELECT 1")
                except Exception:
                    break
            return ended, await store.claim_node()

    assert asyncio.run(go()) == ((1,), True)
