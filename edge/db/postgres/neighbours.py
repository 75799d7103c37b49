"""Events of the other nodes, for a node's behaviour rules (a burst whose clicks reached two
nodes is judged as one)."""

from __future__ import annotations

from collections.abc import Sequence

from edge.db.postgres.connection import PostgresConnection
from edge.db.repositories.events import EventRepository, Neighbourhood, stored_event
from edge.model.events import HONEYPOT_LINK, STORED_FIELDS, StoredEvent

_COLUMNS = ", ".join(f"e.{name}" for name in STORED_FIELDS)


class PostgresEvents(EventRepository):
    def __init__(self, conn: PostgresConnection, node: str) -> None:
        super().__init__(conn)
        self.node = node

    async def others_near(
        self,
        keys: Sequence[tuple[int, str]],
        start_ms: int,
        end_ms: int,
        honeypot_since_ms: int,
        covered: Neighbourhood | None = None,
    ) -> tuple[list[StoredEvent], Neighbourhood | None]:
        if not keys:
            return [], None
        conn = self.conn
        assert isinstance(conn, PostgresConnection)
        # Read first: a node's batch number moves in the transaction that stores the batch,
        # and its batches commit in order, so every batch up to these is visible below.
        marks = await conn.raw.fetch(
            "SELECT node, batch FROM ingest_batches WHERE node <> $1", self.node
        )
        now = Neighbourhood(frozenset(keys), start_ms, end_ms, {r[0]: int(r[1]) for r in marks})
        if not marks:
            # No other node ever stored a batch (a node alone): nothing to read. The query
            # below would still walk this node's own events of the window to leave them out,
            # a fifth of the ingester's time on one node.
            return [], now
        if covered is None:  # no earlier look: it covered nothing
            covered = Neighbourhood(frozenset(), 0, -1, {})
        # An event the previous call already gave (its key and time were covered, and its
        # batch was committed then) is left out: each batch's window overlaps the last one's,
        # and at a high click rate the same events would be read again and again.
        rows = await conn.raw.fetch(
            f"SELECT {_COLUMNS} FROM events e "
            "JOIN unnest($1::bigint[], $2::text[], $3::bool[]) AS k(account_id, message, known) "
            "ON e.account_id = k.account_id AND e.message = k.message "
            "LEFT JOIN unnest($9::text[], $10::bigint[]) AS m(node, batch) ON m.node = e.node "
            "WHERE e.node <> $4 AND ((e.ts_ms >= $5 AND e.ts_ms <= $6 AND NOT (k.known "
            "AND e.ts_ms >= $11 AND e.ts_ms <= $12 AND e.batch <= coalesce(m.batch, 0))) "
            "OR (e.link = $7 AND e.ts_ms >= $8)) ORDER BY e.id",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k in covered.keys for k in keys],
            self.node,
            start_ms,
            end_ms,
            HONEYPOT_LINK,
            honeypot_since_ms,
            list(covered.batches),
            list(covered.batches.values()),
            covered.start_ms,
            covered.end_ms,
        )
        return [stored_event(tuple(r)) for r in rows], now
