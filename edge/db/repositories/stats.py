"""Reads of the hourly and daily roll-ups, for the stats API.

Whole UTC days inside a range are read from the daily roll-up and the hours at its ends from
the hourly one, so a 30-day query reads a few thousand rows whatever the number of events
behind them. The roll-ups are written by the engine's roll-up pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.db.connection import Connection
from edge.db.repositories.labels import labelled
from edge.model.events import COUNTED_VERDICTS, EventType

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: The counted verdicts as an SQL list (``('human', 'proxy_open')``).
COUNTED_SQL = "(" + ", ".join(f"'{v}'" for v in sorted(COUNTED_VERDICTS)) + ")"


@dataclass(frozen=True)
class RollupQuery:
    """A range of an account's roll-ups, with filters; ``start_ms``/``end_ms`` aligned to
    the hour (to the day when ``slot_ms`` is a day)."""

    account_id: int
    start_ms: int
    end_ms: int
    #: Width of a series point (``HOUR_MS``, ``DAY_MS``), 0 for totals only.
    slot_ms: int = 0
    domain: str | None = None
    message: str | None = None
    campaign: str | None = None
    tag: str | None = None
    #: Narrows clicks (and top links) to one link; opens are not per link and stay whole.
    link: str | None = None

    def segments(self) -> list[tuple[str, int, int]]:
        """(table, start, end) pieces covering the range: daily rows for whole days."""
        if self.slot_ms == HOUR_MS:
            return [("rollups_hourly", self.start_ms, self.end_ms)]
        first_day = self.start_ms + (-self.start_ms % DAY_MS)
        last_day = self.end_ms - self.end_ms % DAY_MS
        if first_day >= last_day:
            return [("rollups_hourly", self.start_ms, self.end_ms)]
        pieces = [("rollups_daily", first_day, last_day)]
        if self.start_ms < first_day:
            pieces.append(("rollups_hourly", self.start_ms, first_day))
        if last_day < self.end_ms:
            pieces.append(("rollups_hourly", last_day, self.end_ms))
        return pieces


# Not frozen: a frozen dataclass's __init__ costs several times a plain one's, and a query
# builds a few hundred of these.
@dataclass(slots=True)
class RollupCounts:
    """Summed roll-up rows of one series slot (0 without a series), type and verdict."""

    slot_ms: int
    type: str
    verdict: str
    events: int
    uniq_counted: int
    uniq_any: int


@dataclass(slots=True)
class LinkCounts:
    link: str | None
    clicks: int
    unique_clicks: int


class StatsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def counts(self, q: RollupQuery) -> list[RollupCounts]:
        slot = f"bucket - bucket % {q.slot_ms}" if q.slot_ms else "0"
        source, args = _source(q, "bucket, type, verdict, events, uniq_counted, uniq_any")
        rows = await self.conn.fetchall(
            # Sums cast back to integers (PostgreSQL's sum of a bigint is a numeric).
            f"SELECT {slot} AS slot, type, verdict, CAST(sum(events) AS BIGINT), "
            "CAST(sum(uniq_counted) AS BIGINT), CAST(sum(uniq_any) AS BIGINT) "
            f"FROM ({source}) AS r GROUP BY slot, type, verdict",
            args,
        )
        return [RollupCounts(*r) for r in rows]

    async def top_links(
        self, q: RollupQuery, *, limit: int, include_machine: bool
    ) -> list[LinkCounts]:
        """Links by clicks (people's only unless ``include_machine``), most clicked first."""
        uniq = "link_uniq_any" if include_machine else "link_uniq_counted"
        extra = f"type = '{EventType.CLICK}'"
        if not include_machine:
            extra += f" AND verdict IN {COUNTED_SQL}"
        source, args = _source(q, f"link, events, {uniq} AS uniq", extra)
        rows = await self.conn.fetchall(
            "SELECT link, CAST(sum(events) AS BIGINT) AS clicks, CAST(sum(uniq) AS BIGINT) "
            f"FROM ({source}) AS r "
            "GROUP BY link HAVING sum(events) > 0 ORDER BY clicks DESC, link LIMIT ?",
            [*args, limit],
        )
        return [LinkCounts(r[0] or None, r[1], r[2]) for r in rows]


def _source(q: RollupQuery, columns: str, extra: str = "") -> tuple[str, list[object]]:
    """A UNION ALL over the segments, with the filters applied in each."""
    parts: list[str] = []
    args: list[object] = []
    for table, start, end in q.segments():
        where = ["account_id = ?", "bucket >= ?", "bucket < ?"]
        part_args: list[object] = [q.account_id, start, end]
        if q.domain is not None:
            where.append("domain = ?")
            part_args.append(q.domain)
        if q.message is not None:
            where.append("message = ?")
            part_args.append(q.message)
        for kind, label in (("campaign", q.campaign), ("tag", q.tag)):
            if label is not None:
                clause, label_args = labelled(q.account_id, kind, label)
                where.append(clause)
                part_args += label_args
        if q.link is not None:
            where.append(f"(type != '{EventType.CLICK}' OR link = ?)")
            part_args.append(q.link)
        if extra:
            where.append(extra)
        parts.append(f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}")
        args += part_args
    return " UNION ALL ".join(parts), args
