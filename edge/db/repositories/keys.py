"""``signing_keys``: the generated signing secret a cluster shares (``EDGE_SECRET_KEYS`` unset)."""

from __future__ import annotations

from edge.db.connection import Connection


class SigningKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ensure(self, candidate: str) -> list[str]:
        """The stored keys, newest first; ``candidate`` becomes the first one if none is
        stored yet (nodes starting together all get the one that was stored first)."""
        await self.conn.execute(
            "INSERT INTO signing_keys (position, secret) VALUES (0, ?) ON CONFLICT DO NOTHING",
            (candidate,),
        )
        rows = await self.conn.fetchall("SELECT secret FROM signing_keys ORDER BY position")
        return [str(r[0]) for r in rows]
