"""What the rest of the code asks of a database: a :class:`Store`, per process.

A store hands out :class:`~edge.db.repositories.Repositories` (one attribute per table group:
``domains``, ``accounts``, ``events``, ``webhooks``...) in two ways::

    async with store.reading() as db:           # autocommit reads; never waits on writers
        domains = await db.domains.in_account(account_id)

    async with store.transaction() as tx:       # one transaction: committed, or rolled back
        if await tx.domains.taken_for(account_id, name):
            raise Conflict(...)
        await tx.domains.insert(account_id, name, secure=False)

Each :class:`Role` has a connection of its own with its own settings, so that the work of one
never queues behind another's: the domain table's polls never wait on the admin API's
transactions, and the event ingester gives up on a locked database quickly (its events wait
in the spool) where the admin API waits its turn.

Exceptions::

    StoreUnavailable    the database cannot be reached or written right now (locked, read-only,
                        gone): callers retry later; the admin API answers 503
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from edge.db.repositories import Repositories


class Role(StrEnum):
    """Who a connection works for; each role's connection has its own settings."""

    #: Reads: the in-memory copies' polls, ACME answers, the API's lists and stats.
    SERVING = "serving"
    #: Event batches and roll-ups: gives up on a locked database within ``EDGE_DB_BUSY_TIMEOUT``.
    INGESTER = "ingester"
    #: The admin API, the CLI and background jobs: write transactions that wait their turn.
    ADMIN = "admin"


class StoreUnavailable(Exception):
    """The database cannot take this work right now (locked, read-only, gone).

    The ingester leaves the events in the spool and tries again; the admin API answers 503.
    """


class Store(Protocol):
    """A database for one process: SQLite (the embedded default) or a shared engine."""

    async def open(self) -> None:
        """Bring the schema up to date; connections open on first use. Raises
        :class:`StoreUnavailable` when the database cannot be reached; a shared store then
        opens on first use (a node starting from its saved copies, edge/serving/snapshot.py)."""

    async def close(self) -> None: ...

    async def __aenter__(self) -> Store:
        """``open``, for ``async with store_for(settings) as store:``."""

    async def __aexit__(self, *exc: object) -> None: ...

    def reading(self) -> AbstractAsyncContextManager[Repositories]:
        """Repositories for reads outside any transaction (each statement sees the latest
        commit)."""

    async def claim_node(self) -> bool:
        """Claim this node's name for the calling process's ingester, until the store
        closes: ``False`` while another process holds it (two nodes given one
        ``EDGE_NODE_ID``, whose spool offsets and batch numbers would mix). On one machine
        the data directory's lock is the claim: always ``True``."""

    def transaction(self, role: Role = Role.ADMIN) -> AbstractAsyncContextManager[Repositories]:
        """Repositories inside one write transaction on ``role``'s connection, taken at the
        start (so it never fails halfway for a lock), committed when the block ends."""
