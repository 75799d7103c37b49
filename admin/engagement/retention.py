"""Retention: raw events older than a configured age are pruned, in small batches.

Only the ``events`` table is pruned. What the stats API reads is kept: the hourly and daily
roll-ups, and the unique keys (``engagement_firsts``) that keep a late open of an old message
from being counted as unique again. Events the roll-up has not counted yet are never
pruned. Each batch is its own short transaction, so the event writer (which gives up on a
locked database after ``EDGE_DB_BUSY_TIMEOUT``) is never held up for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from edge.db.store import Store
from edge.periodic import Periodic, once_per_cluster

log = logging.getLogger("admin.retention")

DAY_MS = 86_400_000


class Retention:
    #: Events deleted per transaction.
    batch_size = 2000

    def __init__(self, store: Store, *, max_age_days: float, interval: float = 3600.0) -> None:
        self.store = store
        self.max_age_days = max_age_days
        self.interval = interval

    async def prune(self, now_ms: int | None = None) -> int:
        """Delete events older than the age, batch by batch; returns how many were deleted."""
        if self.max_age_days <= 0:
            return 0
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - int(self.max_age_days * DAY_MS)
        deleted = 0
        while True:
            async with self.store.transaction() as tx:
                pruned = await tx.event_writer.prune(cutoff, self.batch_size)
            deleted += pruned
            if pruned < self.batch_size:
                break
            await asyncio.sleep(0)  # let the writer and requests in between batches
        if deleted:
            log.info("retention: pruned %d events older than %s days", deleted, self.max_age_days)
        return deleted

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Retention]:
        """Prune every ``interval`` seconds while entered (never, with no age limit)."""
        if self.max_age_days <= 0:
            yield self
            return
        prune = once_per_cluster(self.store, "retention", self.prune, interval=self.interval)
        async with Periodic("retention", prune, interval=self.interval):
            yield self
