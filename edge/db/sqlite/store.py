"""The embedded default: one SQLite file in WAL mode, reached through aiosqlite.

One connection per :class:`~edge.db.store.Role`, opened on first use, each with the settings
of its role (:data:`SQLiteStore.pragmas`): reads never wait on writers (WAL), and each
writing role has its own connection, so a role's write transaction never shares a connection
with another's. Transactions on one connection are taken in turn (an ``asyncio.Lock``) and
start with ``BEGIN IMMEDIATE``, so that a writer in another process is waited for at the
start rather than failing halfway.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import aiosqlite

from edge.db.repositories import Repositories
from edge.db.sqlite.connection import SQLiteConnection
from edge.db.sqlite.erasures import SQLiteErasures
from edge.db.sqlite.events import SQLiteEventWriter
from edge.db.sqlite.migrate import migrate
from edge.db.sqlite.rollups import SQLiteRollups
from edge.db.store import Role, StoreUnavailable


class SQLiteRepositories(Repositories):
    @cached_property
    def event_writer(self) -> SQLiteEventWriter:
        return SQLiteEventWriter(self.conn)

    @cached_property
    def rollups(self) -> SQLiteRollups:
        return SQLiteRollups(self.conn)

    @cached_property
    def erasures(self) -> SQLiteErasures:
        return SQLiteErasures(self.conn)


@dataclass
class _Handle:
    conn: aiosqlite.Connection
    repositories: SQLiteRepositories
    #: Transactions on this connection, one at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SQLiteStore:
    """:class:`~edge.db.store.Store` on the SQLite file at ``path``."""

    #: Statements run on every new connection, per role. ``synchronous=NORMAL`` in WAL mode
    #: keeps every commit across a process crash (only an OS crash can lose the last ones)
    #: for a large gain in commit speed. The serving connection is read-only.
    pragmas: dict[Role, tuple[str, ...]] = {
        Role.SERVING: ("PRAGMA query_only=ON",),
        Role.INGESTER: ("PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL"),
        Role.ADMIN: ("PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL"),
    }
    #: Seconds a statement waits for another connection's lock, per role. The ingester's is
    #: short (``EDGE_DB_BUSY_TIMEOUT``): its events wait in the spool instead.
    busy_timeouts: dict[Role, float] = {Role.SERVING: 5.0, Role.INGESTER: 1.0, Role.ADMIN: 5.0}

    def __init__(self, path: Path, *, ingester_busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        if ingester_busy_timeout is not None:
            self.busy_timeouts = {**self.busy_timeouts, Role.INGESTER: ingester_busy_timeout}
        self._handles: dict[Role, _Handle] = {}
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        try:
            await asyncio.to_thread(migrate, self.path)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc

    async def close(self) -> None:
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await handle.conn.close()

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _handle(self, role: Role) -> _Handle:
        handle = self._handles.get(role)
        if handle is not None:
            return handle
        async with self._opening:
            handle = self._handles.get(role)
            if handle is None:
                conn = await aiosqlite.connect(
                    self.path, timeout=self.busy_timeouts[role], isolation_level=None
                )
                for pragma in self.pragmas[role]:
                    await conn.execute(pragma)
                handle = _Handle(conn, SQLiteRepositories(SQLiteConnection(conn)))
                self._handles[role] = handle
        return handle

    async def claim_node(self) -> bool:
        return True  # one machine: the data directory's ingester lock is the claim

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Repositories]:
        try:
            handle = await self._handle(Role.SERVING)
            yield handle.repositories
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc

    @contextlib.asynccontextmanager
    async def transaction(self, role: Role = Role.ADMIN) -> AsyncIterator[Repositories]:
        try:
            handle = await self._handle(role)
            async with handle.lock:
                conn = handle.conn
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield SQLiteRepositories(SQLiteConnection(conn))
                    await conn.execute("COMMIT")
                except BaseException:
                    # Fails harmlessly when no transaction is open any more.
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:
            # "database is locked", "disk I/O error", "attempt to write a readonly database"
            raise StoreUnavailable(str(exc)) from exc
