"""Writing and pruning ``events`` on PostgreSQL, and each node's spool progress.

Events go in by COPY, the fastest bulk path, into the day's partition, each stamped with the
node that stored it and the number of that node's ingest transaction (``batch``): the
roll-up counts every node's events in that node's commit order. Retention drops whole day
partitions once the roll-up has counted everything in them.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from edge.db.postgres.connection import PostgresConnection
from edge.db.postgres.rollups import progress_of
from edge.model.events import STORED_FIELDS

log = logging.getLogger("edge.db.postgres")

DAY_MS = 86_400_000
_TS = operator.itemgetter(STORED_FIELDS.index("ts_ms"))
#: This node's next batch number ($1 node), made the transaction's ``edge.node`` and
#: ``edge.batch``, which the events' ``node`` and ``batch`` columns default to.
_NEXT_BATCH = (
    "WITH b AS (INSERT INTO ingest_batches (node, batch) VALUES ($1, 1) ON CONFLICT (node) "
    "DO UPDATE SET batch = ingest_batches.batch + 1 RETURNING batch) "
    "SELECT set_config('edge.node', $1, true), set_config('edge.batch', batch::text, true) "
    "FROM b"
)


class PostgresEventWriter:
    #: Partitions made ahead of each day events arrive for: a week, so that the default
    #: partition only ever holds events from clocks far off.
    days_ahead = 8

    def __init__(self, conn: PostgresConnection, node: str, ensured_days: set[int]) -> None:
        self.conn = conn
        self.node = node
        #: Days (ms // DAY_MS) whose partitions this store has made sure of.
        self.ensured_days = ensured_days

    async def insert(self, rows: Sequence[Sequence[object]]) -> None:
        """Insert rows in :data:`~edge.model.events.STORED_FIELDS` order by COPY, as this
        node's next batch."""
        if not rows:
            return
        await self._ensure_days(rows)
        # The rows go as they are: each takes its node and batch from the transaction's
        # settings (the columns' defaults, migration 10), set here with the batch number.
        raw = self.conn.raw
        await raw.execute(_NEXT_BATCH, self.node)
        try:
            async with raw.transaction():  # a savepoint: a duplicate must not abort the batch
                await raw.copy_records_to_table("events", records=rows, columns=STORED_FIELDS)
        except asyncpg.UniqueViolationError:
            # Never in normal operation (the spool offsets are committed with the events);
            # an id already stored is skipped, as on every engine.
            await raw.execute(
                "CREATE TEMP TABLE IF NOT EXISTS events_incoming "
                "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            await raw.copy_records_to_table("events_incoming", records=rows, columns=STORED_FIELDS)
            await raw.execute(
                "INSERT INTO events SELECT * FROM events_incoming ON CONFLICT DO NOTHING"
            )

    async def prune(self, older_than_ms: int, limit: int) -> int:
        """Drop the day partitions wholly older than ``older_than_ms`` whose events are all
        counted (oldest first, until about ``limit`` events went), else delete up to
        ``limit`` such events from the default partition; returns how many events went."""
        dropped = 0
        for name, end_ms in await self._day_partitions():
            if end_ms > older_than_ms or dropped >= limit:
                break
            if await self._uncounted(name):
                return dropped  # the roll-up is behind: nothing newer may go yet
            row = await self.conn.fetchone(f'SELECT count(*) FROM "{name}"')
            await self.conn.execute(f'DROP TABLE "{name}"')
            dropped += int(row[0]) if row else 0
        if dropped:
            return dropped
        return await self.conn.execute(
            "DELETE FROM events_default WHERE ctid IN (SELECT e.ctid FROM events_default e "
            f"LEFT JOIN rollup_progress p ON {progress_of('e')} "
            "WHERE e.ts_ms < ? AND e.batch <= coalesce(p.batch, 0) LIMIT ?)",
            (older_than_ms, limit),
        )

    async def _ensure_days(self, rows: Sequence[Sequence[object]]) -> None:
        """Make sure the day partitions of these rows' days exist, and the next days'
        (checked once a day per day and process: creating one locks the events table)."""
        days = {int(ts) // DAY_MS for ts in map(_TS, rows)}
        for day in days - self.ensured_days:
            date = datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date()
            try:
                async with self.conn.raw.transaction():  # a savepoint
                    await self.conn.raw.execute(
                        "SELECT ensure_event_partitions($1::date - 1, $2)",
                        date,
                        self.days_ahead + 1,
                    )
            except asyncpg.PostgresError as exc:
                # The default partition already holds rows of that day (a clock far off
                # earlier): the rows go there too; nothing is lost.
                log.warning("no partition made for %s: %s", date, exc)
            self.ensured_days.add(day)

    async def _day_partitions(self) -> list[tuple[str, int]]:
        """``(name, end in ms)`` of every day partition, oldest first."""
        rows = await self.conn.fetchall(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{8}$' "
            "ORDER BY c.relname"
        )
        out = []
        for (name,) in rows:
            day = datetime.strptime(name[7:], "%Y%m%d").replace(tzinfo=UTC)
            out.append((name, int(day.timestamp() * 1000) + DAY_MS))
        return out

    async def _uncounted(self, partition: str) -> bool:
        row = await self.conn.fetchone(
            f'SELECT 1 FROM "{partition}" e LEFT JOIN rollup_progress p ON {progress_of("e")} '
            "WHERE e.batch > coalesce(p.batch, 0) LIMIT 1"
        )
        return row is not None


class PostgresSpool:
    """``spool_progress`` rows of this node: how far its ingester read each segment."""

    def __init__(self, conn: PostgresConnection, node: str) -> None:
        self.conn = conn
        self.node = node

    async def offsets(self) -> dict[str, int]:
        rows = await self.conn.fetchall(
            'SELECT segment, "offset" FROM spool_progress WHERE node = ?', (self.node,)
        )
        return {r[0]: int(r[1]) for r in rows}

    async def advance(self, progress: Sequence[tuple[str, int]]) -> None:
        if progress:
            await self.conn.executemany(
                'INSERT INTO spool_progress (node, segment, "offset") VALUES (?, ?, ?) '
                'ON CONFLICT (node, segment) DO UPDATE SET "offset" = excluded."offset"',
                [(self.node, segment, offset) for segment, offset in progress],
            )

    async def forget(self, segment: str) -> None:
        await self.conn.execute(
            "DELETE FROM spool_progress WHERE node = ? AND segment = ?", (self.node, segment)
        )
