"""``acme_challenges``: HTTP-01 answers, readable by whichever worker the CA reaches."""

from __future__ import annotations

from edge.db.connection import Connection


class ChallengeRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def publish(self, domain: str, token: str, key_authorization: str, *, now: int) -> None:
        await self.conn.execute(
            "INSERT INTO acme_challenges (token, domain, key_authorization, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (token) DO UPDATE SET domain = excluded.domain, "
            "key_authorization = excluded.key_authorization, created_at = excluded.created_at",
            (token, domain, key_authorization, now),
        )

    async def withdraw(self, token: str) -> None:
        await self.conn.execute("DELETE FROM acme_challenges WHERE token = ?", (token,))

    async def answer(self, domain: str, token: str) -> str | None:
        """The key authorisation for ``token``, only on the host it was issued for."""
        row = await self.conn.fetchone(
            "SELECT key_authorization FROM acme_challenges WHERE token = ? AND domain = ?",
            (token, domain),
        )
        return row[0] if row is not None else None
