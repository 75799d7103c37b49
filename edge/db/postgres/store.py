"""The shared store: PostgreSQL, reached through asyncpg, for a cluster of edge nodes.

A pool per :class:`~edge.db.store.Role`, opened on first use: the serving reads, the
ingester and the admin side never queue behind each other's connections. The ingester's
connections give up on a lock after ``EDGE_DB_BUSY_TIMEOUT`` (its events wait in the spool),
the others wait longer. Every failure to reach the server, or to get a lock in time, is a
:class:`~edge.db.store.StoreUnavailable`: a node keeps redirecting from memory meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import cached_property

import asyncpg

from edge.db.postgres.connection import PostgresConnection
from edge.db.postgres.erasures import PostgresErasures
from edge.db.postgres.events import PostgresEventWriter, PostgresSpool
from edge.db.postgres.migrate import migrate
from edge.db.postgres.neighbours import PostgresEvents
from edge.db.postgres.rollups import PARTS, PostgresRollups
from edge.db.postgres.webhooks import PostgresWebhooks
from edge.db.repositories import Repositories
from edge.db.store import Role, StoreUnavailable

#: Seed of the hash that turns a node's name into its advisory lock key (the migration and
#: roll-up locks are small constants, far from any 64-bit hash).
NODE_LOCK_SEED = 0x6E6F6465

#: What says the server cannot be reached or a lock not taken in time: retry later.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: the connection failed
    asyncpg.InterfaceError,  # the connection is closed, the pool too
    asyncpg.OperatorInterventionError,  # class 57: shut down, cancelled, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: disk full, too many connections
    asyncpg.InvalidCatalogNameError,  # the database is gone
    asyncpg.LockNotAvailableError,  # lock_timeout
    asyncpg.ReadOnlySQLTransactionError,  # the serving role's reads, or a standby
)


class PostgresRepositories(Repositories):
    #: The engine's writers need the asyncpg connection under the portable interface.
    conn: PostgresConnection

    def __init__(self, conn: PostgresConnection, node: str, ensured_days: set[int]) -> None:
        super().__init__(conn)
        self.node = node
        self.ensured_days = ensured_days

    @cached_property
    def event_writer(self) -> PostgresEventWriter:
        return PostgresEventWriter(self.conn, self.node, self.ensured_days)

    @cached_property
    def rollups(self) -> PostgresRollups:
        return PostgresRollups(self.conn, self.node)

    @cached_property
    def events(self) -> PostgresEvents:
        return PostgresEvents(self.conn, self.node)

    @cached_property
    def spool(self) -> PostgresSpool:  # type: ignore[override]
        return PostgresSpool(self.conn, self.node)

    @cached_property
    def webhooks(self) -> PostgresWebhooks:
        return PostgresWebhooks(self.conn)

    @cached_property
    def erasures(self) -> PostgresErasures:
        return PostgresErasures(self.conn)


class PostgresStore:
    """:class:`~edge.db.store.Store` on the PostgreSQL database at ``url``, for node ``node``."""

    #: Connections per role's pool (the serving reads are many and short; the ingester's
    #: round beside a roll-up pass per part, edge/db/postgres/rollups.py).
    pool_sizes: dict[Role, int] = {Role.SERVING: 4, Role.INGESTER: 1 + PARTS, Role.ADMIN: 4}
    #: Milliseconds a statement waits for a lock, per role: the ingester's is short.
    lock_timeouts: dict[Role, float] = {Role.SERVING: 5.0, Role.INGESTER: 1.0, Role.ADMIN: 5.0}
    #: Seconds to connect (and to get a connection from a pool) before giving up.
    connect_timeout = 5.0
    #: TCP keepalives of the node-name claim's connection (idle seconds, seconds between
    #: probes, probes): the server drops the claim of a machine that vanished (power lost)
    #: within about half a minute, so that the node can start again under its name.
    claim_keepalives = ("10", "5", "3")

    def __init__(self, url: str, *, node: str, ingester_busy_timeout: float | None = None) -> None:
        self.url = url
        self.node = node
        if ingester_busy_timeout is not None:
            self.lock_timeouts = {**self.lock_timeouts, Role.INGESTER: ingester_busy_timeout}
        self._pools: dict[Role, asyncpg.Pool] = {}
        #: Days whose event partitions this store has made sure of (edge/db/postgres/events.py).
        self._ensured_days: set[int] = set()
        self._opening = asyncio.Lock()
        #: Whether :meth:`open` brought the schema up to date. A store whose open found the
        #: database unreachable (a node started from its saved copies, edge/serving/snapshot.py)
        #: opens on first use instead: nothing reads a schema it has not checked.
        self._opened = False
        self._migrating = asyncio.Lock()
        #: The connection holding this node's name (:meth:`claim_node`), for as long as open.
        self._claim: asyncpg.Connection | None = None

    async def open(self) -> None:
        async with self._migrating:
            await self._migrate()

    async def _open_on_first_use(self) -> None:
        if not self._opened:
            async with self._migrating:
                if not self._opened:  # not by another task meanwhile
                    await self._migrate()

    async def _migrate(self) -> None:
        try:
            conn = await asyncpg.connect(self.url, timeout=self.connect_timeout)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        self._opened = True

    async def claim_node(self) -> bool:
        """A session advisory lock on the node's name, on a connection of its own: held
        until it closes, or its process dies (the server then ends the session)."""
        if self._claim is not None and not self._claim.is_closed():
            return True
        await self._open_on_first_use()
        idle, interval, count = self.claim_keepalives
        try:
            conn = await asyncpg.connect(
                self.url,
                timeout=self.connect_timeout,
                server_settings={
                    "application_name": f"tracking-edge ingester {self.node}"[:63],
                    "tcp_keepalives_idle": idle,
                    "tcp_keepalives_interval": interval,
                    "tcp_keepalives_count": count,
                },
            )
            try:
                held = await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, $2))",
                    self.node,
                    NODE_LOCK_SEED,
                )
            except BaseException:
                await conn.close()
                raise
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        if not held:
            await conn.close()
            return False
        self._claim = conn
        return True

    async def close(self) -> None:
        claim, self._claim = self._claim, None
        if claim is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(claim.close(), 5.0)
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 5.0)

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _pool(self, role: Role) -> asyncpg.Pool:
        pool = self._pools.get(role)
        if pool is not None:
            return pool
        await self._open_on_first_use()
        async with self._opening:
            pool = self._pools.get(role)
            if pool is None:
                settings = {"lock_timeout": str(int(self.lock_timeouts[role] * 1000))}
                if role is Role.SERVING:
                    settings["default_transaction_read_only"] = "on"
                pool = await asyncpg.create_pool(
                    self.url,
                    min_size=0,
                    max_size=self.pool_sizes[role],
                    timeout=self.connect_timeout,
                    server_settings=settings,
                    reset=_nothing_to_reset,
                )
                self._pools[role] = pool
        return pool

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Repositories]:
        try:
            pool = await self._pool(Role.SERVING)
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                yield PostgresRepositories(PostgresConnection(conn), self.node, self._ensured_days)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc

    @contextlib.asynccontextmanager
    async def transaction(self, role: Role = Role.ADMIN) -> AsyncIterator[Repositories]:
        try:
            pool = await self._pool(role)
            async with pool.acquire(timeout=self.connect_timeout) as conn, conn.transaction():
                yield PostgresRepositories(PostgresConnection(conn), self.node, self._ensured_days)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A pooled connection goes back as it is (asyncpg still rolls back a transaction left
    open). Its default reset is one more round trip per transaction, to undo what this store
    never leaves on a pooled connection: session advisory locks and LISTEN (the node's claim
    and migrations have connections of their own), cursors, and SET (only SET LOCAL here)."""
