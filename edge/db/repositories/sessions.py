"""``console_sessions`` and ``signin_attempts``: the admin console's sign-in state.

Both live in the database, not in a worker's memory, so that a session and the sign-in limit
hold across worker processes and the nodes of a cluster.
"""

from __future__ import annotations

from edge.db.connection import Connection
from edge.db.repositories.accounts import KEY_COLUMNS, account_from_row, key_from_row
from edge.model.accounts import ConsoleSession


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def create(
        self, id_hash: str, key_id: int, account_id: int, *, now: int, expires_at: int
    ) -> None:
        """A new session; sessions that have expired are deleted on the way."""
        await self.conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))
        await self.conn.execute(
            "INSERT INTO console_sessions (id_hash, key_id, account_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (id_hash, key_id, account_id, now, expires_at),
        )

    async def get(self, id_hash: str, *, now: int) -> ConsoleSession | None:
        """The session, while it has not expired and its key is not revoked."""
        row = await self.conn.fetchone(
            f"SELECT {KEY_COLUMNS}, s.account_id, v.name, v.cname_label, s.created_at, "
            "s.expires_at "
            "FROM console_sessions s JOIN api_keys k ON k.id = s.key_id "
            "JOIN accounts a ON a.id = k.account_id JOIN accounts v ON v.id = s.account_id "
            "WHERE s.id_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
            (id_hash, now),
        )
        if row is None:
            return None
        return ConsoleSession(key_from_row(row), account_from_row(row[9:12]), row[12], row[13])

    async def look_at(self, id_hash: str, account_id: int) -> None:
        """The session looks at another account (an operator's choice)."""
        await self.conn.execute(
            "UPDATE console_sessions SET account_id = ? WHERE id_hash = ?", (account_id, id_hash)
        )

    async def delete(self, id_hash: str) -> None:
        await self.conn.execute("DELETE FROM console_sessions WHERE id_hash = ?", (id_hash,))

    async def count_attempt(self, client: str, window_start: int) -> int:
        """Count one sign-in attempt of ``client`` in the window starting at ``window_start``
        (seconds); returns the attempts in that window, this one included. Earlier windows
        are forgotten on the way."""
        await self.conn.execute(
            "DELETE FROM signin_attempts WHERE window_start < ?", (window_start,)
        )
        row = await self.conn.fetchone(
            "INSERT INTO signin_attempts (client, window_start, attempts) VALUES (?, ?, 1) "
            "ON CONFLICT (client, window_start) DO UPDATE "
            "SET attempts = signin_attempts.attempts + 1 RETURNING attempts",
            (client, window_start),
        )
        assert row is not None
        return int(row[0])
