"""``webhook_endpoints`` and ``webhook_queue``.

The roll-up pass enqueues each stored event for each matching endpoint in the transaction
that counts it (the engine's roll-up repository), so the queue survives restarts. A batch is
*leased* while in flight; a lease left by a process that died runs out and the rows are
delivered again, with the same event ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.db.connection import Connection, Row
from edge.db.repositories.events import STORED_COLUMNS, stored_event
from edge.model.events import StoredEvent
from edge.model.webhooks import DueEndpoint, Endpoint

_SELECT = (
    "SELECT w.id, w.account_id, w.url, w.event_types, w.active, w.created_at, w.failures, "
    "w.retry_at_ms, w.last_success_ms, w.last_error_ms, w.last_error, w.delivered, "
    "w.expired, (SELECT count(*) FROM webhook_queue q WHERE q.endpoint_id = w.id) "
    "FROM webhook_endpoints w"
)


@dataclass(frozen=True, slots=True)
class WebhookTotals:
    #: Events queued and not yet delivered, for every endpoint.
    backlog: int
    delivered: int
    expired: int
    #: Endpoints whose last attempt failed.
    failing_endpoints: int


def _types(types: Sequence[str]) -> str:
    # Stored comma-wrapped (",click,open,") so that one containment test matches a type.
    return f",{','.join(types)},"


def _endpoint(row: Row) -> Endpoint:
    return Endpoint(
        row[0], row[1], row[2], tuple(row[3].strip(",").split(",")), bool(row[4]), *row[5:]
    )


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class WebhookRepository:
    #: Appended to the lease's row selection: an engine where several nodes lease at once
    #: skips the rows another transaction is leasing (``FOR UPDATE SKIP LOCKED``) rather
    #: than wait for them. SQLite has one writer at a time: nothing to add.
    lease_rows_lock = ""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- endpoints ----------------------------------------------------------------------------

    async def insert(
        self, account_id: int, url: str, secret: str, event_types: Sequence[str], *, now: int
    ) -> int:
        row = await self.conn.fetchone(
            "INSERT INTO webhook_endpoints (account_id, url, secret, event_types, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account_id, url, secret, _types(event_types), now),
        )
        assert row is not None
        return int(row[0])

    async def get(self, account_id: int, endpoint_id: int) -> Endpoint | None:
        row = await self.conn.fetchone(
            f"{_SELECT} WHERE w.id = ? AND w.account_id = ?", (endpoint_id, account_id)
        )
        return _endpoint(row) if row is not None else None

    async def destination(self, account_id: int, endpoint_id: int) -> DueEndpoint | None:
        """What a delivery to the account's endpoint needs (its URL and secret)."""
        row = await self.conn.fetchone(
            "SELECT id, url, secret FROM webhook_endpoints WHERE id = ? AND account_id = ?",
            (endpoint_id, account_id),
        )
        return DueEndpoint(*row) if row is not None else None

    async def in_account(self, account_id: int) -> list[Endpoint]:
        rows = await self.conn.fetchall(
            f"{_SELECT} WHERE w.account_id = ? ORDER BY w.id", (account_id,)
        )
        return [_endpoint(r) for r in rows]

    async def update(
        self,
        account_id: int,
        endpoint_id: int,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        active: bool | None = None,
    ) -> None:
        changes: list[tuple[str, object]] = []
        if url is not None:
            changes.append(("url", url))
        if event_types is not None:
            changes.append(("event_types", _types(event_types)))
        if active is not None:
            changes.append(("active", int(active)))
        if changes:
            await self.conn.execute(
                f"UPDATE webhook_endpoints SET {', '.join(f'{c} = ?' for c, _ in changes)} "
                "WHERE id = ? AND account_id = ?",
                (*(v for _, v in changes), endpoint_id, account_id),
            )

    async def delete(self, account_id: int, endpoint_id: int) -> bool:
        """Delete an endpoint of the account and its queue; False if there was none."""
        await self.conn.execute(
            "DELETE FROM webhook_queue WHERE endpoint_id = ? AND endpoint_id IN "
            "(SELECT id FROM webhook_endpoints WHERE account_id = ?)",
            (endpoint_id, account_id),
        )
        return (
            await self.conn.execute(
                "DELETE FROM webhook_endpoints WHERE id = ? AND account_id = ?",
                (endpoint_id, account_id),
            )
            > 0
        )

    # -- the queue ----------------------------------------------------------------------------

    async def due(self, now_ms: int) -> list[DueEndpoint]:
        """Active endpoints past their backoff with at least one row not leased."""
        # EXISTS stops at the first row due: a long backlog is not scanned every round.
        rows = await self.conn.fetchall(
            "SELECT w.id, w.url, w.secret FROM webhook_endpoints w "
            "WHERE w.active = 1 AND w.retry_at_ms <= ? AND EXISTS (SELECT 1 FROM "
            "webhook_queue q WHERE q.endpoint_id = w.id AND q.lease_until_ms <= ?)",
            (now_ms, now_ms),
        )
        return [DueEndpoint(*r) for r in rows]

    async def expire(self, enqueued_before_ms: int, now_ms: int) -> list[tuple[int, int]]:
        """Drop rows enqueued before the cutoff and not in flight; count them in each
        endpoint's ``expired``. Returns ``(endpoint id, rows dropped)``."""
        rows = await self.conn.fetchall(
            "SELECT endpoint_id, count(*) FROM webhook_queue WHERE enqueued_ms < ? "
            "AND lease_until_ms <= ? GROUP BY endpoint_id",
            (enqueued_before_ms, now_ms),
        )
        expired = [(int(r[0]), int(r[1])) for r in rows]
        if expired:
            await self.conn.execute(
                "DELETE FROM webhook_queue WHERE enqueued_ms < ? AND lease_until_ms <= ?",
                (enqueued_before_ms, now_ms),
            )
            await self.conn.executemany(
                "UPDATE webhook_endpoints SET expired = expired + ? WHERE id = ?",
                [(n, endpoint_id) for endpoint_id, n in expired],
            )
        return expired

    async def lease(self, endpoint_id: int, *, until_ms: int, now_ms: int, limit: int) -> list[str]:
        """Lease up to ``limit`` rows of the endpoint's queue not in flight; their event ids."""
        rows = await self.conn.fetchall(
            "UPDATE webhook_queue SET lease_until_ms = ?, attempts = attempts + 1 "
            "WHERE endpoint_id = ? AND event_id IN (SELECT event_id FROM webhook_queue "
            f"WHERE endpoint_id = ? AND lease_until_ms <= ? ORDER BY event_id LIMIT ?"
            f"{self.lease_rows_lock}) RETURNING event_id",
            (until_ms, endpoint_id, endpoint_id, now_ms, limit),
        )
        return [r[0] for r in rows]

    async def events(self, event_ids: Sequence[str]) -> list[StoredEvent]:
        """The stored events among ``event_ids`` (retention may have pruned some), by id."""
        if not event_ids:
            return []
        rows = await self.conn.fetchall(
            f"SELECT {STORED_COLUMNS} FROM events WHERE id IN ({_marks(len(event_ids))}) "
            "ORDER BY id",
            list(event_ids),
        )
        return [stored_event(r) for r in rows]

    async def drop(self, endpoint_id: int, event_ids: Sequence[str]) -> None:
        """Remove rows from the queue (delivered, or their events are gone)."""
        await self.conn.execute(
            f"DELETE FROM webhook_queue WHERE endpoint_id = ? AND event_id IN "
            f"({_marks(len(event_ids))})",
            [endpoint_id, *event_ids],
        )

    async def release(self, endpoint_id: int, event_ids: Sequence[str]) -> None:
        """Give leased rows back at once (a failed attempt, a stop)."""
        await self.conn.execute(
            f"UPDATE webhook_queue SET lease_until_ms = 0 WHERE endpoint_id = ? "
            f"AND event_id IN ({_marks(len(event_ids))})",
            [endpoint_id, *event_ids],
        )

    async def delivered(self, endpoint_id: int, event_ids: Sequence[str], *, now_ms: int) -> None:
        await self.drop(endpoint_id, event_ids)
        await self.conn.execute(
            "UPDATE webhook_endpoints SET failures = 0, retry_at_ms = 0, "
            "last_success_ms = ?, delivered = delivered + ? WHERE id = ?",
            (now_ms, len(event_ids), endpoint_id),
        )

    async def failures(self, endpoint_id: int) -> int:
        row = await self.conn.fetchone(
            "SELECT failures FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        )
        return int(row[0]) if row is not None else 0

    async def failed(
        self, endpoint_id: int, *, failures: int, retry_at_ms: int, now_ms: int, error: str
    ) -> None:
        await self.conn.execute(
            "UPDATE webhook_endpoints SET failures = ?, retry_at_ms = ?, last_error_ms = ?, "
            "last_error = ? WHERE id = ?",
            (failures, retry_at_ms, now_ms, error, endpoint_id),
        )

    async def totals(self) -> WebhookTotals:
        """Every endpoint's queue and outcomes, summed (for metrics)."""
        row = await self.conn.fetchone(
            "SELECT (SELECT count(*) FROM webhook_queue), "
            "coalesce(sum(delivered), 0), coalesce(sum(expired), 0), "
            "count(*) FILTER (WHERE failures > 0) FROM webhook_endpoints"
        )
        assert row is not None
        return WebhookTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
