"""``spool_progress``: how far the ingester has read each event spool segment.

The offsets are written in the transaction that stores the events read up to them, so a
crash at any point neither loses nor repeats an event.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.connection import Connection


class SpoolRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def offsets(self) -> dict[str, int]:
        rows = await self.conn.fetchall('SELECT segment, "offset" FROM spool_progress')
        return {r[0]: int(r[1]) for r in rows}

    async def advance(self, progress: Sequence[tuple[str, int]]) -> None:
        """Store ``(segment, offset)`` pairs (inside the events' transaction)."""
        if progress:
            await self.conn.executemany(
                'INSERT INTO spool_progress (segment, "offset") VALUES (?, ?) '
                'ON CONFLICT (segment) DO UPDATE SET "offset" = excluded."offset"',
                progress,
            )

    async def forget(self, segment: str) -> None:
        """Drop the offset of a segment that was read to its end and deleted."""
        await self.conn.execute("DELETE FROM spool_progress WHERE segment = ?", (segment,))
