"""``erased_recipients``, and the erasure itself: a recipient's rows gone in one transaction.

What an erasure deletes and keeps, and why a record is left, is :mod:`edge.model.erasure`'s.
Here is how it stays erased while events keep arriving:

- **Ingest.** Every ingest transaction first reads the erasures at or after its oldest event
  and drops the rows they cover (:meth:`ErasureRepository.since`). On SQLite one writer runs
  at a time, so that is all. On PostgreSQL an ingest first reads the guard (the
  ``erased_recipients`` change counter row) ``FOR SHARE`` and an erasure updates it before it
  deletes anything, so an erasure waits for ingest transactions under way (and then deletes
  what they stored), and those that start meanwhile wait for it (and then see its record):
  no event of the recipient is stored behind the erasure's back.
- **Roll-up.** Unique keys and the webhook queue are written by roll-up passes; an erasure
  must not run alongside one (the pass could add a key of the recipient after the erasure
  looked). On SQLite the write lock sees to it; on PostgreSQL the erasure takes the passes'
  advisory locks, every part's (:meth:`ErasureRepository._exclude_rollups`).
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.connection import Connection
from edge.model.erasure import ErasedRecipients, Erasure, ErasureCounts, recipient_digest

GUARD = "erased_recipients"


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class ErasureRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def erase(
        self, account_id: int, references: Sequence[str], *, now_ms: int
    ) -> ErasureCounts:
        """Delete the account's events of any of ``references`` (every verdict), the unique
        keys of those references, and the events' queued webhook deliveries; record the
        erasure. The roll-ups are left as they are: they hold counts, no recipient."""
        await self._exclude_rollups()
        await self.conn.execute(
            "UPDATE change_counters SET value = value + 1 WHERE name = ?", (GUARD,)
        )
        # An empty reference names nobody: unique keys of events without one hold ''. Nor
        # does one holding a NUL: no stored recipient can (the API refuses them, and
        # PostgreSQL's text cannot hold one).
        refs = [r for r in references if r and "\x00" not in r]
        if not refs:
            return ErasureCounts(0, 0, 0)
        marks = _marks(len(refs))
        deliveries = await self.conn.execute(
            "DELETE FROM webhook_queue WHERE event_id IN (SELECT id FROM events "
            f"WHERE account_id = ? AND recipient IN ({marks}))",
            [account_id, *refs],
        )
        keys = await self._delete_keys(account_id, refs, marks)
        events = await self.conn.execute(
            f"DELETE FROM events WHERE account_id = ? AND recipient IN ({marks})",
            [account_id, *refs],
        )
        if events:
            await self._events_deleted()
        # Erasing again moves the time on (never back, whatever the clock did meanwhile).
        await self.conn.executemany(
            "INSERT INTO erased_recipients (account_id, digest, erased_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, digest) DO UPDATE SET erased_ms = CASE "
            "WHEN excluded.erased_ms > erased_recipients.erased_ms THEN excluded.erased_ms "
            "ELSE erased_recipients.erased_ms END",
            [(account_id, recipient_digest(r), now_ms) for r in refs],
        )
        return ErasureCounts(events, keys, deliveries)

    async def _delete_keys(self, account_id: int, refs: Sequence[str], marks: str) -> int:
        """Delete the unique keys of ``refs`` (``marks``: a placeholder each); return how
        many (a key per scope)."""
        return await self.conn.execute(
            f"DELETE FROM engagement_firsts WHERE account_id = ? AND recipient IN ({marks})",
            [account_id, *refs],
        )

    async def since(self, oldest_ms: int) -> ErasedRecipients:
        """The erasures that may cover events served from ``oldest_ms`` on, for an ingest
        transaction: read after the guard, which keeps erasures out until it commits."""
        await self._hold_guard()
        rows = await self.conn.fetchall(
            "SELECT account_id, digest, erased_ms FROM erased_recipients WHERE erased_ms >= ?",
            (oldest_ms,),
        )
        return ErasedRecipients.of(Erasure(int(r[0]), r[1], int(r[2])) for r in rows)

    async def all(self) -> list[Erasure]:
        rows = await self.conn.fetchall(
            "SELECT account_id, digest, erased_ms FROM erased_recipients "
            "ORDER BY account_id, digest"
        )
        return [Erasure(int(r[0]), r[1], int(r[2])) for r in rows]

    async def _hold_guard(self) -> None:
        """Keep erasures out until this ingest transaction ends. SQLite: nothing to do, its
        write lock does (one writer at a time)."""

    async def _exclude_rollups(self) -> None:
        """Keep roll-up passes out until this erasure's transaction ends. SQLite: its write
        lock does."""

    async def _events_deleted(self) -> None:
        """What the engine's roll-up needs to know when events were deleted (nothing here:
        PostgreSQL counts by batch number, :mod:`edge.db.sqlite.erasures` for SQLite)."""
