"""Writing and pruning ``events`` on SQLite."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain

from edge.db.connection import Connection
from edge.db.repositories.events import STORED_COLUMNS
from edge.db.sqlite.rollups import SQLiteRollups
from edge.model.events import STORED_FIELDS


class SQLiteEventWriter:
    #: Rows in one INSERT statement (15 parameters each; SQLite allows 32,766 per statement).
    rows_per_statement = 500

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def insert(self, rows: Sequence[Sequence[object]]) -> None:
        """Insert rows in :data:`~edge.model.events.STORED_FIELDS` order; an id already
        stored is skipped (event ids are made at the edge: no path stores one twice)."""
        # Many rows per statement, not executemany: executemany releases the GIL around each
        # row's step and must win it back from the busy event loop before the next row (up
        # to a switch interval each), so under load 5,000 rows took seconds instead of
        # ~70 ms and the queue grew without bound. A multi-row VALUES list is bound in C and
        # runs as one step: one hand-off per chunk.
        for start in range(0, len(rows), self.rows_per_statement):
            chunk = rows[start : start + self.rows_per_statement]
            await self.conn.execute(_insert_sql(len(chunk)), list(chain.from_iterable(chunk)))

    async def prune(self, older_than_ms: int, limit: int) -> int:
        """Delete up to ``limit`` events older than ``older_than_ms`` that the roll-up has
        counted (an uncounted event is never pruned); returns how many went."""
        pruned = await self.conn.execute(
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
            "WHERE ts_ms < ? AND rowid <= (SELECT value FROM rollup_state "
            "WHERE name = 'events') LIMIT ?)",
            (older_than_ms, limit),
        )
        if pruned:  # all of them, perhaps: the next event must still be counted
            await SQLiteRollups(self.conn).events_deleted()
        return pruned


@functools.lru_cache(maxsize=8)
def _insert_sql(rows: int) -> str:
    """``INSERT OR IGNORE INTO events ... VALUES (...), (...), ...`` for ``rows`` rows."""
    one = "(" + ", ".join("?" * len(STORED_FIELDS)) + ")"
    return f"INSERT OR IGNORE INTO events ({STORED_COLUMNS}) VALUES " + ", ".join([one] * rows)
