"""Erasures on PostgreSQL, where ingesters and roll-up passes of several nodes run at once."""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.postgres.rollups import PARTS, ROLLUP_LOCK
from edge.db.repositories.erasures import GUARD, ErasureRepository


class PostgresErasures(ErasureRepository):
    async def _hold_guard(self) -> None:
        # Shared among ingest transactions; an erasure's update of the row waits for them,
        # and they wait for an erasure that updated it first (then see its record).
        await self.conn.fetchone(
            "SELECT value FROM change_counters WHERE name = ? FOR SHARE", (GUARD,)
        )

    async def _exclude_rollups(self) -> None:
        # The passes' own locks, every part's in order (they only try theirs): a pass under
        # way is waited for, and passes that start meanwhile leave the work to the next one.
        for part in range(PARTS):
            await self.conn.execute("SELECT pg_advisory_xact_lock(?)", (ROLLUP_LOCK + part,))

    async def _delete_keys(self, account_id: int, refs: Sequence[str], marks: str) -> int:
        # One row per key here (engagement_keys), counted as the other engine counts: a key
        # per scope, a message's first clicks (flags on a link key) among them.
        row = await self.conn.fetchone(
            "WITH gone AS (DELETE FROM engagement_keys WHERE account_id = ? AND recipient IN "
            f"({marks}) RETURNING counted_event, message_any, message_counted) "
            "SELECT count(*) + count(counted_event) + count(*) FILTER (WHERE message_any) "
            "+ count(counted_event) FILTER (WHERE message_counted) FROM gone",
            [account_id, *refs],
        )
        return int(row[0]) if row else 0
