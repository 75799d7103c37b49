"""Every engine's store: transactions whole or not at all, reads apart from writes."""

from __future__ import annotations

import asyncio

import pytest

from edge.db.store import StoreUnavailable


def test_a_transaction_commits_what_its_block_wrote(make_store):
    async def go():
        async with make_store() as store:
            async with store.transaction() as tx:
                await tx.accounts.ensure("acme", now=5)
            async with store.reading() as db:
                return await db.accounts.by_name("acme")

    found = asyncio.run(go())
    assert (found.id, found.name) == (2, "acme")


def test_a_transaction_whose_block_raises_writes_nothing(make_store):
    async def go():
        async with make_store() as store:
            with pytest.raises(RuntimeError):
                async with store.transaction() as tx:
                    await tx.accounts.ensure("acme", now=5)
                    raise RuntimeError("changed my mind")
            async with store.reading() as db:
                return await db.accounts.by_name("acme")

    assert asyncio.run(go()) is None


def test_the_reading_connection_refuses_writes(make_store):
    async def go():
        async with make_store() as store, store.reading() as db:
            await db.conn.execute("INSERT INTO accounts (name) VALUES ('sneaky')")

    with pytest.raises(StoreUnavailable, match=r"read-?only"):
        asyncio.run(go())


def test_reads_do_not_wait_for_an_open_write_transaction(make_store):
    async def go():
        store = make_store()
        async with store, store.transaction() as tx:
            await tx.accounts.ensure("acme", now=5)
            # A read while this transaction is open: it sees the last commit, not this
            # transaction's work, and does not wait for it.
            async with store.reading() as db:
                return await asyncio.wait_for(db.accounts.by_name("acme"), 1.0)

    assert asyncio.run(go()) is None


def test_several_stores_on_one_database_see_each_others_commits(make_store):
    async def go():
        async with make_store(node="a") as a, make_store(node="b") as b:
            async with a.transaction() as tx:
                await tx.accounts.ensure("acme", now=5)
            async with b.reading() as db:
                return await db.accounts.by_name("acme")

    assert asyncio.run(go()).name == "acme"
