"""``sending_domains``, each joined with the name of the tracking domain it uses."""

from __future__ import annotations

from edge.db.connection import Connection
from edge.db.repositories.domains import COLUMNS as TRACKING_COLUMNS
from edge.db.repositories.domains import domain_from_row
from edge.model.domains import TrackingDomain
from edge.model.sending import SendingDomain

_COLUMNS = (
    "s.id, s.account_id, s.domain, s.tracking_domain_id, t.domain, s.created_at, s.updated_at"
)
_FROM = "sending_domains s LEFT JOIN tracking_domains t ON t.id = s.tracking_domain_id"


class SendingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def in_account(self, account_id: int) -> list[SendingDomain]:
        rows = await self.conn.fetchall(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE s.account_id = ? ORDER BY s.id", (account_id,)
        )
        return [SendingDomain(*r) for r in rows]

    async def get_in_account(self, account_id: int, domain_id: int) -> SendingDomain | None:
        row = await self.conn.fetchone(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE s.id = ? AND s.account_id = ?",
            (domain_id, account_id),
        )
        return SendingDomain(*row) if row is not None else None

    async def name_taken(self, account_id: int, name: str) -> bool:
        """Names are unique within an account only (migration 0006)."""
        return (
            await self.conn.fetchone(
                "SELECT 1 FROM sending_domains WHERE account_id = ? AND domain = ?",
                (account_id, name),
            )
            is not None
        )

    async def insert(
        self, account_id: int, name: str, tracking_domain_id: int | None, *, now: int
    ) -> int:
        row = await self.conn.fetchone(
            "INSERT INTO sending_domains (account_id, domain, tracking_domain_id, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account_id, name, tracking_domain_id, now, now),
        )
        assert row is not None
        return int(row[0])

    async def assign(self, domain_id: int, tracking_domain_id: int | None, *, now: int) -> None:
        await self.conn.execute(
            "UPDATE sending_domains SET tracking_domain_id = ?, updated_at = ? WHERE id = ?",
            (tracking_domain_id, now, domain_id),
        )

    async def delete(self, domain_id: int) -> None:
        await self.conn.execute("DELETE FROM sending_domains WHERE id = ?", (domain_id,))

    async def names_using(self, tracking_domain_id: int) -> list[str]:
        """Sending domains assigned to a tracking domain (which may then not be deleted)."""
        rows = await self.conn.fetchall(
            "SELECT domain FROM sending_domains WHERE tracking_domain_id = ? ORDER BY domain",
            (tracking_domain_id,),
        )
        return [r[0] for r in rows]

    async def tracking_candidates(
        self, account_id: int, sender: str | None
    ) -> list[TrackingDomain]:
        """The tracking domain assigned to sending domain ``sender`` first, then the account's
        default one (the caller takes the first that is served)."""
        rows = await self.conn.fetchall(
            f"SELECT {', '.join('t.' + c.strip() for c in TRACKING_COLUMNS.split(','))} "
            "FROM tracking_domains t LEFT JOIN sending_domains s "
            "ON s.tracking_domain_id = t.id AND s.domain = ? AND s.account_id = t.account_id "
            "WHERE t.account_id = ? AND (s.id IS NOT NULL OR t.is_default = 1) "
            "ORDER BY s.id IS NULL",
            (sender, account_id),
        )
        return [domain_from_row(r) for r in rows]
