"""Change counters: one number per table that triggers move on every change.

Workers keep tracking domains, certificates and privacy switches in memory and poll these
one-row counters a few times a second, reloading only when a counter moved: a change made by
any process is seen everywhere within a second, without a read per request.
"""

from __future__ import annotations

from edge.db.connection import Connection


async def change_counter(conn: Connection, name: str) -> int:
    row = await conn.fetchone("SELECT value FROM change_counters WHERE name = ?", (name,))
    return int(row[0]) if row is not None else 0
