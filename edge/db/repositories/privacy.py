"""``account_settings``: each account's privacy and tracking switches."""

from __future__ import annotations

from edge.db.connection import Connection, Row
from edge.db.repositories.counters import change_counter
from edge.model.privacy import PrivacySettings

_COLUMNS = "client_ip, user_agent, track_opens, track_clicks"


def _settings(row: Row) -> PrivacySettings:
    return PrivacySettings(row[0], row[1], bool(row[2]), bool(row[3]))


class PrivacyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def version(self) -> int:
        """Moves whenever any account's switches change (a trigger keeps it)."""
        return await change_counter(self.conn, "account_settings")

    async def all(self) -> dict[int, PrivacySettings]:
        """Every account that changed its switches; the others have the defaults."""
        rows = await self.conn.fetchall(f"SELECT account_id, {_COLUMNS} FROM account_settings")
        return {r[0]: _settings(r[1:]) for r in rows}

    async def get(self, account_id: int) -> PrivacySettings:
        row = await self.conn.fetchone(
            f"SELECT {_COLUMNS} FROM account_settings WHERE account_id = ?", (account_id,)
        )
        return _settings(row) if row is not None else PrivacySettings()

    async def put(self, account_id: int, settings: PrivacySettings, *, now: int) -> None:
        await self.conn.execute(
            f"INSERT INTO account_settings (account_id, {_COLUMNS}, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET "
            "client_ip = excluded.client_ip, user_agent = excluded.user_agent, "
            "track_opens = excluded.track_opens, track_clicks = excluded.track_clicks, "
            "updated_at = excluded.updated_at",
            (
                account_id,
                settings.client_ip,
                settings.user_agent,
                int(settings.track_opens),
                int(settings.track_clicks),
                now,
            ),
        )
