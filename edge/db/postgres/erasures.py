"""Erasures on PostgreSQL, where ingesters and roll-up passes of several nodes run at once."""

from __future__ import annotations

from edge.db.postgres.rollups import ROLLUP_LOCK
from edge.db.repositories.erasures import ErasureRepository


class PostgresErasures(ErasureRepository):
    # An erasure's update of the guard row waits for the ingest transactions holding it.
    guard_read_lock = " FOR SHARE"

    async def _exclude_rollups(self) -> None:
        # The pass's own lock (it only tries it): a pass under way is waited for, and passes
        # that start meanwhile leave the work to the next one.
        await self.conn.execute("SELECT pg_advisory_xact_lock(?)", (ROLLUP_LOCK,))
