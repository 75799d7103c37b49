"""The admin side's own connection to the store's SQLite file.

The admin API writes in multi-statement transactions (check, then change); those must not
interleave with other coroutines on one connection, nor with the edge's event writer. So the
admin side has its own connection and an :class:`asyncio.Lock` around each transaction, and
starts them with ``BEGIN IMMEDIATE`` so that another process's writer is waited for at the
start rather than failing halfway. Every change to ``tracking_domains`` bumps the change
counter through triggers (migration 0002), which is how every worker's domain table learns.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from edge.db.store import migrate


class AdminDatabase:
    #: Seconds a statement waits for another process's lock before failing.
    busy_timeout = 5.0

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        migrate(self.path)  # a no-op when the store already did it
        conn = await aiosqlite.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> AdminDatabase:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("admin database is not open")
        return self._conn

    # Reads take the lock too: on a shared connection they would otherwise see another
    # coroutine's uncommitted (and perhaps rolled back) changes.
    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Any:
        async with self._lock:
            return await fetch_one(self.conn, sql, args)

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list:
        async with self._lock:
            return await fetch_all(self.conn, sql, args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")


async def fetch_one(conn: aiosqlite.Connection, sql: str, args: Sequence[Any] = ()) -> Any:
    """One row (a tuple) or ``None``; for use inside :meth:`AdminDatabase.transaction`."""
    async with conn.execute(sql, args) as cur:
        return await cur.fetchone()


async def fetch_all(conn: aiosqlite.Connection, sql: str, args: Sequence[Any] = ()) -> list:
    async with conn.execute(sql, args) as cur:
        return list(await cur.fetchall())
