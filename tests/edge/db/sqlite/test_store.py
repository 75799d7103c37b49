"""The SQLite store: a connection per role with its settings, transactions in turn."""

from __future__ import annotations

import asyncio
import sqlite3

from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Role, StoreUnavailable


def run(coro):
    return asyncio.run(coro)


def test_transactions_on_one_role_take_turns(tmp_path):
    order: list[str] = []

    async def go():
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            entered = asyncio.Event()

            async def first():
                async with store.transaction():
                    order.append("first in")
                    entered.set()
                    await asyncio.sleep(0.05)
                    order.append("first out")

            async def second():
                await entered.wait()
                async with store.transaction():
                    order.append("second in")

            await asyncio.gather(first(), second())

    run(go())
    assert order == ["first in", "first out", "second in"]


def test_a_locked_database_raises_store_unavailable_after_the_ingesters_timeout(tmp_path):
    path = tmp_path / "edge.sqlite3"

    async def go():
        async with SQLiteStore(path, ingester_busy_timeout=0.05) as store:
            lock = sqlite3.connect(path, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                async with store.transaction(Role.INGESTER):
                    pass
            except StoreUnavailable as exc:
                return str(exc)
            finally:
                lock.execute("ROLLBACK")
                lock.close()

    assert run(go()) == "database is locked"


def test_each_role_has_its_own_connection_with_its_settings(tmp_path):
    async def go():
        store = SQLiteStore(tmp_path / "edge.sqlite3", ingester_busy_timeout=0.25)
        async with store:
            answers = {}
            async with store.reading() as db:
                answers[Role.SERVING] = await db.conn.fetchone("PRAGMA query_only")
            for role in (Role.INGESTER, Role.ADMIN):
                async with store.transaction(role) as tx:
                    answers[role] = (
                        await tx.conn.fetchone("PRAGMA foreign_keys"),
                        await tx.conn.fetchone("PRAGMA synchronous"),
                        await tx.conn.fetchone("PRAGMA busy_timeout"),
                    )
            return answers

    answers = run(go())
    assert answers[Role.SERVING] == (1,)
    assert answers[Role.INGESTER] == ((1,), (1,), (250,))  # synchronous 1 is NORMAL
    assert answers[Role.ADMIN] == ((1,), (1,), (5000,))
