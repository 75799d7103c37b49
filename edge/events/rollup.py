"""Roll-up passes behind the ingester: unique keys, hourly and daily roll-ups, webhook queue.

The ingester (:mod:`edge.events.ingester`) only inserts classified events and runs passes
between its rounds; the stats API runs one before it reads (:meth:`Rollup.catch_up`), so its
answers include every event stored before the request. What a pass does, and why it counts
every event exactly once, is the engine's (``edge.db.sqlite.rollups``): it moves its mark in
the transaction that counts the events.
"""

from __future__ import annotations

import asyncio
import time

from edge.db.store import Role, Store


class Rollup:
    """Runs roll-up passes in this process, one round at a time: a pass per part of the
    events at once (``RollupRepository.parts``; SQLite has one)."""

    #: Most events one pass (one transaction) counts: keeps the write lock short.
    chunk = 2000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def run_once(self, chunk: int | None = None) -> int:
        """One pass per part of the events, at once, each in its own transaction; returns
        how many events they counted."""
        return await self._passes(chunk or self.chunk, until_done=False)

    async def catch_up(self, chunk: int | None = None) -> int:
        """Pass until every event stored so far is counted; returns how many were. Each
        part passes on its own, without waiting for the others' passes between its own."""
        return await self._passes(chunk or self.chunk, until_done=True)

    async def _passes(self, chunk: int, *, until_done: bool) -> int:
        async with self._lock:
            # Look before taking the write lock: an idle pass must not contend with the
            # ingester (reads never wait in WAL mode).
            async with self.store.reading() as db:
                if not await db.rollups.pending():
                    return 0
                parts = db.rollups.parts
            # Every part's passes run to their end, whatever another's do: a pass cancelled
            # halfway would leave its transaction to the pool to roll back.
            counted = await asyncio.gather(
                *(self._part(part, chunk, until_done) for part in range(parts)),
                return_exceptions=True,
            )
            for result in counted:
                if isinstance(result, BaseException):
                    raise result
            return sum(c for c in counted if isinstance(c, int))

    async def _part(self, part: int, chunk: int, until_done: bool) -> int:
        total = 0
        while True:
            async with self.store.transaction(Role.INGESTER) as tx:
                counted = await tx.rollups.count_next(
                    chunk, now_ms=int(time.time() * 1000), part=part
                )
            total += counted
            if not (until_done and counted):
                return total
