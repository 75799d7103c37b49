"""Engagement statistics, read from the roll-ups (:mod:`edge.rollup`).

A :class:`StatsQuery` names an account, a time range, an optional grouping (``hour`` or
``day``, UTC) and filters; :func:`run_stats` answers it with totals, a time series and the
top links. Whole UTC days inside the range are read from the daily roll-up, the hours at its
ends from the hourly one, so a 30-day query reads a few thousand rows whatever the number of
events behind them.

Metrics (``include_machine`` false, the default, counts people only: verdicts ``human`` and
``proxy_open``; true counts every verdict):

=================  ===========================================================================
opens              ``open`` events (the pixel at the end of the message)
initial_opens      ``initial_open`` events (the optional pixel at its top)
unique_opens       message/recipient pairs whose first open (either pixel) is in the range
machine_opens      ``open`` events with verdict ``machine_open`` (Apple MPP), always reported
proxied_opens      ``open`` events with verdict ``proxy_open`` (Gmail, Yahoo caches)
clicks             ``click`` events
unique_clicks      message/recipient pairs whose first click is in the range
scanner_clicks     ``click`` events with verdict ``scanner``, always reported
bot_clicks         ``click`` events with verdict ``bot``, always reported
click_to_open_rate unique_clicks / unique_opens, 4 decimals; ``null`` without unique opens
=================  ===========================================================================

The ``link`` filter narrows clicks (and top links) to one link name; opens are not per link,
so it leaves them whole and the click-to-open rate stays meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from admin.api.timestamps import iso_utc
from edge.events.rollup import DAY_MS, HOUR_MS
from edge.model.events import COUNTED_VERDICTS, HONEYPOT_LINK

GROUPS = {"hour": HOUR_MS, "day": DAY_MS}
#: Most points a series may have (a year of days, or 93 days of hours).
MAX_POINTS = 2232
METRICS = (
    "opens",
    "initial_opens",
    "unique_opens",
    "machine_opens",
    "proxied_opens",
    "clicks",
    "unique_clicks",
    "scanner_clicks",
    "bot_clicks",
    "click_to_open_rate",
)


class StatsError(ValueError):
    """A query that cannot be answered; ``field`` names the parameter at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StatsQuery:
    account_id: int
    #: Start (inclusive) and end (exclusive), in ms, aligned to the hour (to the day when
    #: grouping by day).
    start_ms: int
    end_ms: int
    group_by: str | None = None
    domain: str | None = None
    message: str | None = None
    campaign: str | None = None
    tag: str | None = None
    link: str | None = None
    include_machine: bool = False
    top_links: int = 10

    def __post_init__(self) -> None:
        if self.group_by is not None and self.group_by not in GROUPS:
            raise StatsError("group_by must be hour or day", "group_by")
        unit = GROUPS.get(self.group_by or "hour", HOUR_MS)
        if self.start_ms % unit or self.end_ms % unit:
            raise StatsError("the range must be aligned to the grouping", "from")
        if self.end_ms <= self.start_ms:
            raise StatsError("'to' must be after 'from'", "to")
        if self.group_by and (self.end_ms - self.start_ms) // unit > MAX_POINTS:
            raise StatsError(f"a series has at most {MAX_POINTS} points", "group_by")
        if not 0 <= self.top_links <= 100:
            raise StatsError("top_links must be between 0 and 100", "top_links")

    @classmethod
    def aligned(cls, account_id: int, start_ms: int, end_ms: int, **kw) -> StatsQuery:
        """A query whose range is widened to whole hours (whole days when grouping by day)."""
        unit = GROUPS.get(kw.get("group_by") or "hour", HOUR_MS)
        start = start_ms - start_ms % unit
        end = end_ms + (-end_ms % unit)
        return cls(account_id, start, end, **kw)


def _segments(q: StatsQuery) -> list[tuple[str, int, int]]:
    """(table, start, end) pieces covering the range: daily rows for whole days."""
    if q.group_by == "hour":
        return [("rollups_hourly", q.start_ms, q.end_ms)]
    first_day = q.start_ms + (-q.start_ms % DAY_MS)
    last_day = q.end_ms - q.end_ms % DAY_MS
    if first_day >= last_day:
        return [("rollups_hourly", q.start_ms, q.end_ms)]
    pieces = [("rollups_daily", first_day, last_day)]
    if q.start_ms < first_day:
        pieces.append(("rollups_hourly", q.start_ms, first_day))
    if last_day < q.end_ms:
        pieces.append(("rollups_hourly", last_day, q.end_ms))
    return pieces


def _source(q: StatsQuery, columns: str, extra: str = "") -> tuple[str, list]:
    """A UNION ALL over the segments, with the filters applied in each."""
    parts, args = [], []
    for table, start, end in _segments(q):
        where = ["account_id = ?", "bucket >= ?", "bucket < ?"]
        part_args: list = [q.account_id, start, end]
        if q.domain is not None:
            where.append("domain = ?")
            part_args.append(q.domain)
        if q.message is not None:
            where.append("message = ?")
            part_args.append(q.message)
        for kind, label in (("campaign", q.campaign), ("tag", q.tag)):
            if label is not None:
                where.append(
                    "message IN (SELECT message FROM message_labels "
                    "WHERE account_id = ? AND kind = ? AND label = ?)"
                )
                part_args += [q.account_id, kind, label]
        if q.link is not None:
            where.append("(type != 'click' OR link = ?)")
            part_args.append(q.link)
        if extra:
            where.append(extra)
        parts.append(f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}")
        args += part_args
    return " UNION ALL ".join(parts), args


def _empty() -> dict:
    return dict.fromkeys(METRICS[:-1], 0)


def _add(metrics: dict, q: StatsQuery, type_: str, verdict: str, counts: tuple) -> None:
    events, uniq_counted, uniq_any = counts
    counted = q.include_machine or verdict in COUNTED_VERDICTS
    uniq = uniq_any if q.include_machine else uniq_counted
    if type_ == "click":
        if counted:
            metrics["clicks"] += events
        metrics["unique_clicks"] += uniq
        if verdict == "scanner":
            metrics["scanner_clicks"] += events
        elif verdict == "bot":
            metrics["bot_clicks"] += events
        return
    metrics["unique_opens"] += uniq
    if type_ == "initial_open":
        if counted:
            metrics["initial_opens"] += events
        return
    if counted:
        metrics["opens"] += events
    if verdict == "machine_open":
        metrics["machine_opens"] += events
    elif verdict == "proxy_open":
        metrics["proxied_opens"] += events


def _finish(metrics: dict) -> dict:
    opens = metrics["unique_opens"]
    rate = round(metrics["unique_clicks"] / opens, 4) if opens else None
    return {**metrics, "click_to_open_rate": rate}


def iso(ms: int) -> str:
    return iso_utc(ms / 1000)  # type: ignore[return-value]  # never None for a number


async def run_stats(conn: aiosqlite.Connection, q: StatsQuery) -> dict:
    """Totals, series (when grouped) and top links for ``q``."""
    unit = GROUPS.get(q.group_by or "", 0)
    slot = f"bucket - bucket % {unit}" if unit else "0"
    source, args = _source(q, "bucket, type, verdict, events, uniq_counted, uniq_any")
    sql = (
        f"SELECT {slot} AS slot, type, verdict, sum(events), sum(uniq_counted), "
        f"sum(uniq_any) FROM ({source}) GROUP BY slot, type, verdict"
    )
    totals = _empty()
    by_slot: dict[int, dict] = {}
    async with conn.execute(sql, args) as cur:
        for slot_ms, type_, verdict, *counts in await cur.fetchall():
            _add(totals, q, type_, verdict, tuple(counts))
            if unit:
                _add(by_slot.setdefault(slot_ms, _empty()), q, type_, verdict, tuple(counts))
    result: dict = {
        "from": iso(q.start_ms),
        "to": iso(q.end_ms),
        "group_by": q.group_by,
        "include_machine": q.include_machine,
        "totals": _finish(totals),
    }
    if unit:
        result["series"] = [
            {"time": iso(t), **_finish(by_slot.get(t, _empty()))}
            for t in range(q.start_ms, q.end_ms, unit)
        ]
    result["top_links"] = await _top_links(conn, q) if q.top_links else []
    return result


async def _top_links(conn: aiosqlite.Connection, q: StatsQuery) -> list[dict]:
    uniq = "link_uniq_any" if q.include_machine else "link_uniq_counted"
    extra = "type = 'click'"
    if not q.include_machine:
        extra += " AND verdict IN ('human', 'proxy_open')"
    source, args = _source(q, f"link, events, {uniq} AS uniq", extra)
    sql = (
        f"SELECT link, sum(events) AS clicks, sum(uniq) FROM ({source}) "
        "GROUP BY link HAVING clicks > 0 ORDER BY clicks DESC, link LIMIT ?"
    )
    async with conn.execute(sql, [*args, q.top_links]) as cur:
        rows = await cur.fetchall()
    return [
        {"link": link or None, "clicks": clicks, "unique_clicks": uniq}
        for link, clicks, uniq in rows
        if q.include_machine or link != HONEYPOT_LINK
    ]
