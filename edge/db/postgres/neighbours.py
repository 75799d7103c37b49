"""Events of the other nodes, for a node's behaviour rules (a burst whose clicks reached two
nodes is judged as one)."""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.postgres.connection import PostgresConnection
from edge.db.repositories.events import EventRepository, stored_event
from edge.model.events import HONEYPOT_LINK, STORED_FIELDS, StoredEvent

_COLUMNS = ", ".join(f"e.{name}" for name in STORED_FIELDS)


class PostgresEvents(EventRepository):
    def __init__(self, conn: PostgresConnection, node: str) -> None:
        super().__init__(conn)
        self.node = node

    async def others_near(
        self, keys: Sequence[tuple[int, str]], start_ms: int, end_ms: int, honeypot_since_ms: int
    ) -> list[StoredEvent]:
        if not keys:
            return []
        conn = self.conn
        assert isinstance(conn, PostgresConnection)
        rows = await conn.raw.fetch(
            f"SELECT {_COLUMNS} FROM events e "
            "JOIN unnest($1::bigint[], $2::text[]) AS k(account_id, message) "
            "ON e.account_id = k.account_id AND e.message = k.message "
            "WHERE e.node <> $3 AND ((e.ts_ms >= $4 AND e.ts_ms <= $5) "
            "OR (e.link = $6 AND e.ts_ms >= $7)) ORDER BY e.id",
            [k[0] for k in keys],
            [k[1] for k in keys],
            self.node,
            start_ms,
            end_ms,
            HONEYPOT_LINK,
            honeypot_since_ms,
        )
        return [stored_event(tuple(r)) for r in rows]
